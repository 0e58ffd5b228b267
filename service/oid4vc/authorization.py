"""OpenID4VP 1.0 authorization requests and ``direct_post`` responses for the registry as verifier (pure).

The registry asks a wallet for presentations with a **signed request object** passed by reference: the QR
code (cross-device) or link (same device) carries only ``openid4vp://?client_id=...&request_uri=...``; the
wallet fetches the request object (``typ: oauth-authz-req+jwt``, ``application/oauth-authz-req+jwt``) and
checks its signature before it shows the doctor anything.

Client identifier: ``decentralized_identifier:did:web:<host>`` (OpenID4VP 1.0 section 5.9.3). It needs no
certificate: a ``did:web`` DID resolves over HTTPS to a DID document the registry publishes
(:func:`did_document`, at ``/.well-known/did.json``) holding the same public keys as its JWKS; the request
object's ``kid`` is a DID URL naming one of them (``did:web:host#<RFC 7638 thumbprint>``). The
``redirect_uri:`` prefix would need no keys either, but its requests cannot be signed; ``x509_san_dns:``
needs a certificate chain. Decision: ``docs/decisions/0029``. The key-binding JWT's ``aud`` is this
client identifier, prefix included, and its ``nonce`` the request's.

The wallet answers with ``response_mode=direct_post``: a form POST to ``response_uri`` with ``vp_token``
(a JSON object: credential query id -> array of presentations) and ``state`` (:func:`parse_direct_post`).
"""

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote, urlsplit

import msgspec

from service import jws
from service.keys import SigningKey
from service.oid4vc import dcql
from service.oid4vc.metadata import ALGORITHMS

REQUEST_TYP: Final = "oauth-authz-req+jwt"
REQUEST_MEDIA_TYPE: Final = "application/oauth-authz-req+jwt"
CLIENT_ID_PREFIX: Final = "decentralized_identifier"
SELF_ISSUED: Final = "https://self-issued.me/v2"
"""The request object's ``aud`` when the wallet is not known in advance (static discovery)."""
WALLET_SCHEME: Final = "openid4vp://"
RESPONSE_TYPE: Final = "vp_token"
RESPONSE_MODE: Final = "direct_post"
REQUEST_LIFETIME: Final = 600
"""Seconds a request object is valid (and the presentation request can be answered)."""
URL_SAFE: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
MAX_PRESENTATIONS: Final = 20
MAX_VP_TOKEN_CHARS: Final = 1_048_576
DID_CONTEXT: Final = ("https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1")


class ResponseError(ValueError):
    """A ``direct_post`` body that cannot be used: ``field`` names the parameter, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


# ---------------------------------------------------------------- the registry's identifier


def did_web(base_url: str) -> str:
    """The ``did:web`` DID of a base URL: ``https://r.example:8443/p`` -> ``did:web:r.example%3A8443:p``."""
    parts = urlsplit(base_url.rstrip("/"))
    if not parts.hostname:
        raise ValueError("the base URL has no host")
    host = parts.hostname + (f"%3A{parts.port}" if parts.port else "")
    segments = [quote(s, safe="") for s in parts.path.split("/") if s]
    return ":".join(["did:web", host, *segments])


def did_document_path(base_url: str) -> str:
    """Where the DID document is served: ``/.well-known/did.json``, or ``<path>/did.json`` for a base URL
    with a path (the did:web method's rule)."""
    path = urlsplit(base_url.rstrip("/")).path
    return f"{path}/did.json" if path else "/.well-known/did.json"


def client_id(base_url: str) -> str:
    """The registry's OpenID4VP client identifier, prefix included: the KB-JWT's ``aud``."""
    return f"{CLIENT_ID_PREFIX}:{did_web(base_url)}"


def verification_method_id(base_url: str, kid: str) -> str:
    return f"{did_web(base_url)}#{kid}"


_PUBLIC_MEMBERS: Final = ("kty", "crv", "x", "y")


def did_document(base_url: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """The DID document of the registry: one ``JsonWebKey2020`` verification method per published key
    (``jwks``: the credential JWKS, retired keys included), id ``<did>#<kid>``, public members only."""
    did = did_web(base_url)
    methods = []
    for key in jwks.get("keys", []):
        kid = key.get("kid")
        if not isinstance(kid, str):
            continue
        public = {name: key[name] for name in _PUBLIC_MEMBERS if name in key}
        if "alg" in key:
            public["alg"] = key["alg"]
        methods.append(
            {"id": f"{did}#{kid}", "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": public}
        )
    ids = [m["id"] for m in methods]
    return {
        "@context": list(DID_CONTEXT),
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": ids,
        "authentication": ids,
    }


# ---------------------------------------------------------------- the request


def new_nonce() -> str:
    """A fresh nonce: 128 bits, URL-safe characters only (section 5.2)."""
    return secrets.token_urlsafe(16)


def new_state() -> str:
    return secrets.token_urlsafe(16)


def client_metadata(*, name: str | None = None, algorithms: Sequence[str] = ALGORITHMS) -> dict[str, Any]:
    """``client_metadata``: the formats and algorithms the registry verifies, and its name for the wallet."""
    metadata: dict[str, Any] = {
        "vp_formats_supported": {
            dcql.FORMAT: {"sd-jwt_alg_values": list(algorithms), "kb-jwt_alg_values": list(algorithms)}
        }
    }
    if name:
        metadata["client_name"] = name
    return metadata


def _url_safe(value: str, what: str) -> None:
    if not value or not set(value) <= URL_SAFE:
        raise ValueError(f"{what} must be URL-safe ASCII (letters, digits, '-', '.', '_', '~')")


def request_claims(
    *,
    base_url: str,
    response_uri: str,
    nonce: str,
    state: str,
    dcql_query: dcql.DcqlQuery,
    now: int,
    lifetime: int = REQUEST_LIFETIME,
    verifier_name: str | None = None,
) -> dict[str, Any]:
    """The claims of the request object (section 5 and RFC 9101), JSON-ready."""
    _url_safe(nonce, "nonce")
    _url_safe(state, "state")
    identifier = client_id(base_url)
    return {
        "iss": identifier,
        "aud": SELF_ISSUED,
        "iat": now,
        "exp": now + lifetime,
        "client_id": identifier,
        "response_type": RESPONSE_TYPE,
        "response_mode": RESPONSE_MODE,
        "response_uri": response_uri,
        "nonce": nonce,
        "state": state,
        "dcql_query": dcql.validate(dcql_query).to_builtins(),
        "client_metadata": client_metadata(name=verifier_name),
    }


def sign_request(claims: Mapping[str, Any], key: SigningKey, *, base_url: str) -> str:
    """The signed request object: ``typ: oauth-authz-req+jwt``, ``kid`` the DID URL of ``key`` (a
    credential key of the KeyRing, published in the JWKS and the DID document)."""
    return jws.sign(claims, key.private_key, typ=REQUEST_TYP, kid=verification_method_id(base_url, key.kid))


def request_uri_link(identifier: str, request_uri: str, *, wallet: str = WALLET_SCHEME) -> str:
    """``openid4vp://?client_id=...&request_uri=...``: for the QR code (cross-device) and, opened on the
    phone itself, the same-device deep link. ``wallet`` may be a wallet's own https link instead."""
    separator = "&" if "?" in wallet else "?"
    query = f"client_id={quote(identifier, safe='')}&request_uri={quote(request_uri, safe='')}"
    return f"{wallet}{separator}{query}"


# ---------------------------------------------------------------- the response


class DirectPost(msgspec.Struct, frozen=True, kw_only=True):
    """A successful ``direct_post`` authorization response."""

    vp_token: dict[str, list[str]]
    state: str


class DirectPostError(msgspec.Struct, frozen=True, kw_only=True):
    """The wallet's error response (e.g. ``access_denied`` when the doctor declined)."""

    error: str
    error_description: str | None
    state: str | None


def _one(form: Mapping[str, str | Sequence[str]], name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, str):
        return value
    values = list(value)
    if len(values) != 1:
        raise ResponseError(name, "is given more than once")
    return values[0]


_vp_decoder: Final = msgspec.json.Decoder()


def _vp_token(text: str) -> dict[str, list[str]]:
    if len(text) > MAX_VP_TOKEN_CHARS:
        raise ResponseError("vp_token", f"is longer than {MAX_VP_TOKEN_CHARS} characters")
    try:
        value = _vp_decoder.decode(text)
    except (msgspec.DecodeError, RecursionError):
        raise ResponseError(
            "vp_token", "is not JSON: a JSON object of credential query ids is expected"
        ) from None
    if not isinstance(value, dict) or not value:
        raise ResponseError("vp_token", "must be a non-empty JSON object keyed by credential query id")
    token: dict[str, list[str]] = {}
    count = 0
    for name, items in value.items():
        if not dcql.ID_PATTERN.fullmatch(name):
            raise ResponseError(f"vp_token.{name[:40]}", "is not a credential query id")
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise ResponseError(f"vp_token.{name}", "must be a non-empty array of presentations (strings)")
        count += len(items)
        token[name] = items
    if count > MAX_PRESENTATIONS:
        raise ResponseError("vp_token", f"carries more than {MAX_PRESENTATIONS} presentations")
    return token


def parse_direct_post(form: Mapping[str, str | Sequence[str]]) -> DirectPost | DirectPostError:
    """The wallet's ``direct_post`` body (form fields): presentations or an error; :class:`ResponseError`
    naming the parameter when it is neither. The caller checks ``state`` against its requests."""
    state = _one(form, "state")
    if state is not None and not (0 < len(state) <= 512 and set(state) <= URL_SAFE):
        raise ResponseError("state", "is not a state this registry issues")
    error = _one(form, "error")
    if error is not None:
        if not error or len(error) > 64 or not error.isascii():
            raise ResponseError("error", "is not an error code")
        description = _one(form, "error_description")
        return DirectPostError(error=error, error_description=(description or "")[:500] or None, state=state)
    text = _one(form, "vp_token")
    if text is None:
        raise ResponseError("vp_token", "is required (or error, when the wallet declines)")
    if state is None:
        raise ResponseError("state", "is required")
    return DirectPost(vp_token=_vp_token(text), state=state)
