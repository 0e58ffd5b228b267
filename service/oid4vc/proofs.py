"""Key proofs of OpenID4VCI 1.0 (appendix F.1): ``openid4vci-proof+jwt`` (pure).

A wallet proves it holds the private key each credential will be bound to by signing a short JWT with it:
header ``typ: openid4vci-proof+jwt``, ``alg`` (ES256 or EdDSA: our allow-list, never the token's choice),
and the public key itself as ``jwk`` (no ``kid``, ``x5c`` or ``trust_chain``: the registry resolves no key
references and trusts no certificate chains); claims ``aud`` (the credential issuer), ``iat`` (within a
window) and ``nonce`` (a ``c_nonce`` from the nonce endpoint). :func:`check_proof` returns the holder's
public JWK to put in the credential's ``cnf``; :func:`check_proofs` checks the ``proofs`` member of a
credential request (a batch: one key per credential, each key once).

Errors carry the specification's codes: ``invalid_nonce`` when a proof's ``c_nonce`` is not one the registry
issued (or has expired, or was used): the wallet should fetch a new one; ``invalid_proof`` for everything
else, a missing ``nonce`` included. Nonces are only *looked up* here; the caller consumes them once the
whole request passes (:attr:`CheckedProof.nonce`), so a refused request does not burn a good nonce.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

from service import jws
from service.oid4vc.metadata import PROOF_TYP

PROOF_TYPE: Final = "jwt"
ALGORITHMS: Final = frozenset({"ES256", "EdDSA"})
MAX_PROOF_CHARS: Final = 8192
MAX_AGE: Final = 300
"""Oldest proof accepted, in seconds since its ``iat``."""
LEEWAY: Final = 60
"""Clock difference tolerated, in seconds."""
PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
"""JWK members that carry private or symmetric key material (RFC 7518 section 6)."""
KEY_REFERENCES: Final = ("kid", "x5c", "x5u", "jku", "trust_chain")
"""Header members naming a key other than by value: refused, only ``jwk`` is supported."""

NonceCheck = Callable[[str], bool]
"""Whether a ``c_nonce`` was issued by the registry and is still usable (without consuming it)."""


class ProofError(ValueError):
    """A key proof that does not pass. ``error``: ``invalid_proof`` or ``invalid_nonce``; ``field``: where
    (``proofs.jwt[2]``); ``str()``: a sentence for a person."""

    def __init__(self, error: str, field: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CheckedProof:
    jwk: dict[str, str]
    """The holder's public key: only its public members, as the credential's ``cnf.jwk`` will carry it."""
    thumbprint: str
    """RFC 7638 thumbprint of the key."""
    alg: str
    nonce: str
    """The ``c_nonce`` the proof answers: consume it when the request is accepted."""
    key: jws.VerificationKey


def _fail(field: str, reason: str, error: str = "invalid_proof") -> ProofError:
    return ProofError(error, field, reason)


def _holder_key(header: Mapping[str, Any], field: str) -> jws.VerificationKey:
    for name in KEY_REFERENCES:
        if name in header:
            raise _fail(
                field, f"the proof names its key by {name!r}; this registry accepts the key only as 'jwk'"
            )
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise _fail(field, "the proof's header has no 'jwk' (the public key to bind the credential to)")
    if PRIVATE_MEMBERS & set(jwk):
        raise _fail(field, "the proof's 'jwk' contains private key material: never send a private key")
    try:
        return jws.key_from_jwk(jwk)
    except jws.JWSError as exc:
        raise _fail(field, f"the proof's 'jwk' cannot be used: {exc}") from None


def _audience_ok(aud: object, audience: str) -> bool:
    if isinstance(aud, str):
        return aud == audience
    return isinstance(aud, list) and audience in aud and all(isinstance(a, str) for a in aud)


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # not NaN


def _check_claims(
    claims: Mapping[str, Any], field: str, *, audience: str, now: int, client_id: str | None
) -> str:
    if not _audience_ok(claims.get("aud"), audience):
        raise _fail(field, f"the proof's 'aud' must be the credential issuer {audience}")
    iat = claims.get("iat")
    if not _number(iat):
        raise _fail(field, "the proof has no numeric 'iat'")
    if iat > now + LEEWAY:
        raise _fail(field, "the proof's 'iat' is in the future")
    if iat < now - MAX_AGE - LEEWAY:
        raise _fail(field, f"the proof is older than {MAX_AGE} seconds: make a new one")
    exp = claims.get("exp")
    if exp is not None and (not _number(exp) or now - LEEWAY >= exp):
        raise _fail(field, "the proof has expired")
    if client_id is not None and "iss" in claims and claims["iss"] != client_id:
        raise _fail(field, "the proof's 'iss' is not the client the access token was issued to")
    nonce = claims.get("nonce")
    if nonce is None:
        raise _fail(field, "the proof has no 'nonce': get a c_nonce from the nonce endpoint")
    if not isinstance(nonce, str) or not nonce:
        raise _fail(field, "the proof's 'nonce' is not a string")
    return nonce


def check_proof(
    proof: object,
    *,
    audience: str,
    now: int,
    nonce_valid: NonceCheck,
    algorithms: Collection[str] = ALGORITHMS,
    client_id: str | None = None,
    field: str = "proofs.jwt[0]",
) -> CheckedProof:
    """Check one ``openid4vci-proof+jwt``; :class:`ProofError` when it does not pass.

    ``audience`` is the Credential Issuer Identifier; ``now`` seconds since the epoch; ``client_id`` the
    client the access token was issued to (None: anonymous pre-authorized access, ``iss`` is not checked).
    """
    if not isinstance(proof, str) or not proof:
        raise _fail(field, "a jwt proof is a compact JWS string")
    if len(proof) > MAX_PROOF_CHARS:
        raise _fail(field, f"the proof is longer than {MAX_PROOF_CHARS} characters")
    try:
        header = jws.unverified_header(proof)
    except jws.JWSError:
        raise _fail(field, "the proof is not a well-formed compact JWS") from None
    if header.get("typ") != PROOF_TYP:
        raise _fail(field, f"the proof's 'typ' must be {PROOF_TYP}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or alg not in ALGORITHMS:
        raise _fail(
            field, f"the proof's 'alg' must be one of {', '.join(sorted(set(algorithms) & ALGORITHMS))}"
        )
    key = _holder_key(header, field)
    try:
        verified = jws.verify(proof, key, typ=PROOF_TYP, algorithms=algorithms)
        claims = verified.claims()
    except jws.JWSError as exc:
        reasons = {
            "unsupported_alg": "the proof's 'alg' does not match the type of its 'jwk'",
            "crit": "the proof requires extensions this registry does not understand",
            "bad_signature": "the proof's signature does not verify with its 'jwk'",
        }
        raise _fail(field, reasons.get(exc.code, f"the proof is malformed: {exc}")) from None
    nonce = _check_claims(claims, field, audience=audience, now=now, client_id=client_id)
    if not nonce_valid(nonce):
        raise _fail(field, "the proof's nonce is not a current c_nonce: get a new one", "invalid_nonce")
    public = jws.public_jwk(key.public_key)
    return CheckedProof(jwk=public, thumbprint=jws.jwk_thumbprint(public), alg=alg, nonce=nonce, key=key)


def check_proofs(
    proofs: object,
    *,
    audience: str,
    now: int,
    nonce_valid: NonceCheck,
    batch_size: int,
    algorithms: Collection[str] = ALGORITHMS,
    client_id: str | None = None,
) -> list[CheckedProof]:
    """Check the ``proofs`` member of a credential request: ``{"jwt": [proof, ...]}``, 1 to ``batch_size``
    proofs, each of a different key. Returns one checked proof per credential to issue, in order."""
    if not isinstance(proofs, dict) or not proofs:
        raise _fail("proofs", "the request has no 'proofs': {\"jwt\": [<openid4vci-proof+jwt>, ...]}")
    if set(proofs) != {PROOF_TYPE}:
        other = sorted(set(proofs) - {PROOF_TYPE})
        raise _fail("proofs", f"unsupported proof type {other[0]!r}: only 'jwt' proofs are accepted")
    items = proofs[PROOF_TYPE]
    if not isinstance(items, list) or not items:
        raise _fail("proofs.jwt", "'proofs.jwt' must be a non-empty array of proofs")
    if len(items) > batch_size:
        raise _fail("proofs.jwt", f"at most {batch_size} proofs (credentials) per request")
    checked: list[CheckedProof] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        field = f"proofs.jwt[{index}]"
        proof = check_proof(
            item,
            audience=audience,
            now=now,
            nonce_valid=nonce_valid,
            algorithms=algorithms,
            client_id=client_id,
            field=field,
        )
        if proof.thumbprint in seen:
            raise _fail(
                field, "two proofs are for the same key: each credential of a batch needs its own key"
            )
        seen.add(proof.thumbprint)
        checked.append(proof)
    return checked
