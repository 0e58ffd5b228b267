"""Detached signatures of published benchmark files, and their verification against a JWKS.

A signature is a compact JWS with a detached payload (RFC 7515 appendix F): ``header..signature``,
the payload being the file's bytes. The protected header says what was signed: ``typ``
``benchmark+jws``, ``kid`` (the registry's credential key, RFC 7638 thumbprint), and ``benchmark``
with the format, financial year, registry version, the inputs' SHA-256 and the file's SHA-256. Anyone
can check a file with the registry's published keys (``/.well-known/jwks.json``).

Pure module: no web or database imports.
"""

import hashlib
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from service import jws
from service.keys import SigningKey

TYP: Final = "benchmark+jws"


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """A signature that verifies: who signed it (``kid``, ``alg``) and what it says was signed."""

    kid: str
    alg: str
    benchmark: dict[str, Any]


class SignatureInvalid(Exception):
    """The signature does not verify; ``code`` is machine-readable, ``str()`` says why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def describe(
    data: bytes, *, fmt: str, financial_year: str, registry_version: str, inputs_sha256: str
) -> dict[str, str]:
    return {
        "format": fmt,
        "financial_year": financial_year,
        "registry_version": registry_version,
        "inputs_sha256": inputs_sha256,
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def sign(data: bytes, key: SigningKey, about: Mapping[str, str]) -> str:
    """The detached JWS of ``data`` with ``about`` (see :func:`describe`) in the protected header."""
    return jws.sign(
        data, key.private_key, typ=TYP, kid=key.kid, headers={"benchmark": dict(about)}, detached=True
    )


def _keys(jwks: Mapping[str, Any]) -> dict[str, jws.VerificationKey]:
    members = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(members, list):
        raise SignatureInvalid("invalid_jwks", "the key set is not a JWKS (no 'keys' list)")
    found: dict[str, jws.VerificationKey] = {}
    for member in members:
        try:
            key = jws.key_from_jwk(member)
        except jws.JWSError:
            continue  # a key kind we do not use cannot have signed a benchmark
        kid = key.kid or jws.jwk_thumbprint(member)
        found[kid] = key
    return found


def verify(data: bytes, signature: str, jwks: Mapping[str, Any]) -> Verdict:
    """Check that ``signature`` signs exactly ``data`` with a key of ``jwks``; :class:`SignatureInvalid`
    otherwise (also when the header's file hash does not match)."""
    keys = _keys(jwks)
    token = signature.strip()
    try:
        header = jws.unverified_header(token)
        checked = jws.verify(
            token,
            lambda h: keys.get(h["kid"]) if isinstance(h.get("kid"), str) else None,
            typ=TYP,
            detached_payload=data,
        )
    except jws.JWSError as exc:
        messages = {
            "bad_signature": "the signature does not match this file: "
            "the file was changed or is not the one signed",
            "unknown_key": "the signature was made with a key that the key set does not publish",
            "wrong_typ": f"this is not a benchmark signature (typ must be {TYP})",
        }
        raise SignatureInvalid(exc.code, messages.get(exc.code, str(exc))) from None
    about = header.get("benchmark")
    if not isinstance(about, dict):
        raise SignatureInvalid("malformed", "the signature does not say which benchmark it signs")
    if about.get("sha256") != hashlib.sha256(data).hexdigest():
        raise SignatureInvalid("bad_signature", "the file's SHA-256 differs from the one signed")
    return Verdict(kid=str(checked.header.get("kid")), alg=checked.key.alg, benchmark=about)
