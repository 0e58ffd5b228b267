"""Credential issuer metadata (OpenID4VCI 1.0 section 12.2) and the authorization server additions (pure).

:func:`credential_issuer_metadata` is the document served at ``/.well-known/openid-credential-issuer``:
one credential configuration per credential type of :mod:`service.passport.claims`, each of format
``dc+sd-jwt`` with its ``vct``, bound to a holder key given as a JWK
(``cryptographic_binding_methods_supported: ["jwk"]``), proven with ``openid4vci-proof+jwt`` key proofs,
and described for the wallet's screens
(``credential_metadata.display`` and ``credential_metadata.claims``, taken from the SD-JWT VC type metadata so
the two never disagree). The registry is its own authorization server for the pre-authorized code grant:
:func:`authorization_server_additions` gives the members to add to its RFC 8414 metadata.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import msgspec

from service.passport import claims

FORMAT: Final = "dc+sd-jwt"
PRE_AUTHORIZED_GRANT: Final = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP: Final = "openid4vci-proof+jwt"
ALGORITHMS: Final = ("ES256", "EdDSA")
"""The algorithm allow-list of credentials and key proofs (ES256 first: the high-assurance profile's)."""
DEFAULT_BATCH_SIZE: Final = 10
ISSUER_NAME: Final = "NHS Staff Passport Registry"
BACKGROUND_COLOUR: Final = "#005EB8"
"""NHS blue, for the wallet's card; white text on it has a contrast ratio above 4.5:1."""
TEXT_COLOUR: Final = "#FFFFFF"


class Endpoints(msgspec.Struct, frozen=True, kw_only=True):
    """Paths of the issuance endpoints under the registry's base URL."""

    credential: str = "/oid4vci/credential"
    nonce: str = "/oid4vci/nonce"
    notification: str = "/oid4vci/notification"
    token: str = "/oauth/token"  # noqa: S105 - a path, not a secret
    offers: str = "/oid4vci/offers"
    """Credential offers by reference are served at ``<offers>/<offer id>``."""


DEFAULT_ENDPOINTS: Final = Endpoints()


def credential_issuer(base_url: str) -> str:
    """The Credential Issuer Identifier: the registry's public base URL, without a trailing slash."""
    return base_url.rstrip("/")


def configuration_id(kind: str) -> str:
    """The credential configuration identifier of a credential type: its record kind, e.g. ``core_skills``."""
    if kind not in claims.SPECS:
        raise KeyError(kind)
    return kind


def kind_of_configuration(identifier: str) -> str | None:
    """The credential type a configuration identifier names, or None."""
    return identifier if identifier in claims.SPECS else None


def configuration_ids() -> list[str]:
    return [configuration_id(kind) for kind in claims.SPECS]


def _claim_descriptions(base_url: str, kind: str) -> list[dict[str, Any]]:
    """Claims description objects (OpenID4VCI 1.0 appendix B.2) from the type metadata of ``kind``."""
    described = []
    for entry in claims.type_metadata(base_url, kind)["claims"]:
        display = [{"name": d["label"], "locale": d["locale"]} for d in entry["display"]]
        described.append({"path": entry["path"], "mandatory": entry["mandatory"], "display": display})
    return described


def credential_configuration(
    base_url: str,
    kind: str,
    *,
    signing_algorithms: Sequence[str] = ALGORITHMS,
    proof_algorithms: Sequence[str] = ALGORITHMS,
) -> dict[str, Any]:
    """One entry of ``credential_configurations_supported`` (format profile: OpenID4VCI 1.0 appendix A.3)."""
    spec = claims.SPECS[kind]
    return {
        "format": FORMAT,
        "vct": claims.vct(base_url, kind),
        "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": list(signing_algorithms),
        "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": list(proof_algorithms)}},
        "credential_metadata": {
            "display": [
                {
                    "name": spec.name,
                    "locale": claims.LOCALE,
                    "description": spec.description,
                    "background_color": BACKGROUND_COLOUR,
                    "text_color": TEXT_COLOUR,
                }
            ],
            "claims": _claim_descriptions(base_url, kind),
        },
    }


def _check_algorithms(values: Sequence[str], what: str) -> None:
    if not values or any(value not in ALGORITHMS for value in values) or len(set(values)) != len(values):
        raise ValueError(f"{what} must be distinct values among {', '.join(ALGORITHMS)}")


def credential_issuer_metadata(
    base_url: str,
    *,
    signing_algorithms: Sequence[str] = ALGORITHMS,
    proof_algorithms: Sequence[str] = ALGORITHMS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    endpoints: Endpoints = DEFAULT_ENDPOINTS,
    kinds: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The Credential Issuer Metadata document (OpenID4VCI 1.0 section 12.2.4), JSON-ready.

    ``signing_algorithms``: the algorithms of the registry's active credential keys (the credential
    lifecycle signs with one of them); ``batch_size``: the most credentials one request may ask for (one
    per key proof). No ``authorization_servers``: the registry is its own authorization server, so a
    wallet reads ``<credential_issuer>/.well-known/oauth-authorization-server``.
    """
    _check_algorithms(signing_algorithms, "signing_algorithms")
    _check_algorithms(proof_algorithms, "proof_algorithms")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError("batch_size must be an integer of at least 2 (the specification's minimum)")
    issuer = credential_issuer(base_url)
    chosen = list(claims.SPECS) if kinds is None else list(kinds)
    return {
        "credential_issuer": issuer,
        "credential_endpoint": issuer + endpoints.credential,
        "nonce_endpoint": issuer + endpoints.nonce,
        "notification_endpoint": issuer + endpoints.notification,
        "batch_credential_issuance": {"batch_size": batch_size},
        "display": [{"name": ISSUER_NAME, "locale": claims.LOCALE}],
        "credential_configurations_supported": {
            configuration_id(kind): credential_configuration(
                base_url, kind, signing_algorithms=signing_algorithms, proof_algorithms=proof_algorithms
            )
            for kind in chosen
        },
    }


def authorization_server_additions(base_url: str, endpoints: Endpoints = DEFAULT_ENDPOINTS) -> dict[str, Any]:
    """What OpenID4VCI 1.0 adds to the registry's OAuth 2.0 authorization server metadata (RFC 8414):
    the pre-authorized code grant, usable without client authentication (a wallet is a public client)."""
    issuer = credential_issuer(base_url)
    return {
        "token_endpoint": issuer + endpoints.token,
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "pre-authorized_grant_anonymous_access_supported": True,
    }


def merge_authorization_server_metadata(
    existing: Mapping[str, Any], additions: Mapping[str, Any]
) -> dict[str, Any]:
    """``existing`` with ``additions`` merged in: lists are joined without repeats (existing order first),
    other members are added when missing. A different value for a member both have is an error (two
    token endpoints cannot be published in one document)."""
    merged = dict(existing)
    for name, value in additions.items():
        if name not in merged:
            merged[name] = value
        elif isinstance(value, list) and isinstance(merged[name], list):
            merged[name] = [*merged[name], *(v for v in value if v not in merged[name])]
        elif merged[name] != value:
            raise ValueError(f"authorization server metadata: {name} is already {merged[name]!r}")
    return merged
