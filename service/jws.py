"""Compact JWS (RFC 7515) signing and verification on ``cryptography`` + msgspec, and JWK keys.

One lean implementation for every signed thing the registry makes or checks: access tokens and
sessions, SD-JWT credentials and key-binding JWTs, status list tokens, detached signatures of
published documents. It exists because a general JOSE library spends more time on checks in Python
than on the signature itself (docs/decisions/0005-lean-jws.md).

Rules (RFC 8725):
- the algorithm comes from the key we chose, never from the token: the header's ``alg`` must equal
  the key's algorithm, and that algorithm must be on the caller's allow-list (a subset of
  :data:`ALLOWED_ALGORITHMS`: ES256 and EdDSA/Ed25519; ``none`` and HMAC never);
- ``typ`` is checked on every verification, so one kind of token can never pass as another;
- base64url is strict (no padding, no characters outside the URL-safe alphabet);
- a ``crit`` header is refused (we understand no extensions).

Pure module: no web or database imports.
"""

import base64
import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec
import pybase64
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

Algorithm = Literal["ES256", "EdDSA"]
ALLOWED_ALGORITHMS: Final[frozenset[str]] = frozenset({"ES256", "EdDSA"})
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_ECDSA: Final = ec.ECDSA(hashes.SHA256())
_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_b64decode: Final = pybase64.b64decode
_B64URL_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CANONICAL_LAST: Final = tuple(
    frozenset(c for i, c in enumerate(_B64URL_ALPHABET) if not i & unused) for unused in (0, 0, 0x0F, 0x03)
)
"""By ``len % 4``: the characters that may end a canonical encoding, those whose low bits that encode
no data (4 of them after 2 characters of a group, 2 after 3) are zero."""
_PADDING: Final = ("", "", "==", "=")
_json_decoder: Final = msgspec.json.Decoder()
_json_encoder: Final = msgspec.json.Encoder()


class JWSError(Exception):
    """A token or key that does not pass. ``code`` is machine-readable, ``str()`` a human sentence."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


# ---------------------------------------------------------------- base64url


def b64url_encode(data: bytes) -> str:
    return base64.b64encode(data).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Strict base64url without padding (RFC 7515 section 2); :class:`JWSError` ``malformed`` otherwise.

    Strict means: only the URL-safe alphabet, no padding, no whitespace, a possible length, and zero
    unused bits in the last character (so each value has exactly one encoding). The decoding is
    pybase64's (SIMD: about 8x faster than ``binascii`` on a 1.5 KB payload), which refuses any
    character outside the alphabet; the checks before it are C-level scans of a ``str``.
    """
    if not isinstance(text, str):
        text = bytes(text).decode("ascii", "replace")  # not ASCII: refused below, as in a str
    tail = len(text) & 3
    if tail == 1:
        raise JWSError("malformed", _UNEXPECTED)
    # The unused low bits of the last character must be zero, so each value has one encoding.
    if tail and text[-1] not in _CANONICAL_LAST[tail]:
        raise JWSError("malformed", "not base64url: non-canonical encoding")
    if "=" in text or "+" in text or "/" in text:  # pybase64 would take the standard alphabet too
        raise JWSError("malformed", _UNEXPECTED)
    try:
        return _b64decode(text + _PADDING[tail], b"-_", True)
    except ValueError:  # binascii.Error: a character outside the alphabet; or not ASCII
        raise JWSError("malformed", _UNEXPECTED) from None


_UNEXPECTED: Final = "not base64url: unexpected characters, padding or length"


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """``data`` parsed as a JSON object, or :class:`JWSError` ``malformed`` naming ``what``."""
    try:
        value = _json_decoder.decode(data)
    except (msgspec.DecodeError, RecursionError):
        raise JWSError("malformed", f"the {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise JWSError("malformed", f"the {what} is not a JSON object")
    return value


def canonical_json(value: Any) -> bytes:
    """Compact JSON (msgspec's encoding: no spaces, keys in insertion order)."""
    return _json_encoder.encode(value)


# ---------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key and the one algorithm it may be used with."""

    alg: Algorithm
    public_key: PublicKey
    kid: str | None = None

    def __post_init__(self) -> None:
        # Checked once here, so verification can go by ``alg`` alone (an ABC isinstance costs 0.7 us).
        expected = ec.EllipticCurvePublicKey if self.alg == "ES256" else ed25519.Ed25519PublicKey
        if self.alg not in ALLOWED_ALGORITHMS or not isinstance(self.public_key, expected):
            raise ValueError(f"a {type(self.public_key).__name__} cannot be an {self.alg} verification key")


def algorithm_of(key: PrivateKey | PublicKey) -> Algorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise JWSError("unsupported_key", "only P-256 elliptic curve keys are supported")
        return "ES256"
    return "EdDSA"


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The public JWK members of ``key`` (RFC 7518 section 6.2, RFC 8037), without ``kid`` or ``alg``."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of a public EC P-256 or OKP Ed25519 JWK."""
    key = key_from_jwk(jwk)
    members = public_jwk(key.public_key)
    ordered = {name: members[name] for name in sorted(members)}
    return b64url_encode(hashlib.sha256(canonical_json(ordered)).digest())


def _member(jwk: Mapping[str, Any], name: str, size: int) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise JWSError("invalid_key", f"the JWK has no {name!r} member")
    raw = b64url_decode(value)
    if len(raw) != size:
        raise JWSError("invalid_key", f"the JWK member {name!r} must be {size} bytes")
    return raw


def key_from_jwk(jwk: Mapping[str, Any]) -> VerificationKey:
    """A verification key from a public JWK: EC P-256 (ES256) or OKP Ed25519 (EdDSA) only.

    A JWK carrying a private member (``d``) is refused: a public key must never travel with its secret.
    """
    if not isinstance(jwk, Mapping):
        raise JWSError("invalid_key", "the JWK is not a JSON object")
    if "d" in jwk:
        raise JWSError("invalid_key", "the JWK contains a private key")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    alg = jwk.get("alg")
    kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
    if kty == "EC" and crv == "P-256" and alg in (None, "ES256"):
        point = b"\x04" + _member(jwk, "x", 32) + _member(jwk, "y", 32)
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except ValueError:
            raise JWSError("invalid_key", "the JWK is not a point on P-256") from None
        return VerificationKey("ES256", public, kid)
    if kty == "OKP" and crv == "Ed25519" and alg in (None, "EdDSA", "Ed25519"):
        public_ed = ed25519.Ed25519PublicKey.from_public_bytes(_member(jwk, "x", 32))
        return VerificationKey("EdDSA", public_ed, kid)
    raise JWSError("unsupported_key", "only EC P-256 and OKP Ed25519 public keys are accepted")


# ---------------------------------------------------------------- signing


def raw_signature(key: PrivateKey, signing_input: bytes) -> bytes:
    """The JWS signature of ``signing_input``: ES256 as raw ``r || s`` (RFC 7518 section 3.4), EdDSA as is."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, _ECDSA))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return key.sign(signing_input)


def sign(
    payload: bytes | Mapping[str, Any],
    key: PrivateKey,
    *,
    typ: str | None,
    kid: str | None = None,
    headers: Mapping[str, Any] | None = None,
    detached: bool = False,
) -> str:
    """Compact JWS of ``payload`` (bytes, or a mapping encoded as compact JSON).

    ``detached=True`` leaves the payload out of the serialisation (RFC 7515 appendix F): the result is
    ``header..signature`` and the verifier supplies the payload.
    """
    header: dict[str, Any] = {"alg": algorithm_of(key)}
    if typ is not None:
        header["typ"] = typ
    if kid is not None:
        header["kid"] = kid
    if headers:
        header.update(headers)
    body = payload if isinstance(payload, bytes) else canonical_json(payload)
    protected = b64url_encode(canonical_json(header))
    encoded = b64url_encode(body)
    signing_input = f"{protected}.{encoded}".encode("ascii")
    signature = b64url_encode(raw_signature(key, signing_input))
    return f"{protected}..{signature}" if detached else f"{protected}.{encoded}.{signature}"


# ---------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True)
class Verified:
    header: dict[str, Any]
    payload: bytes
    key: VerificationKey

    def claims(self) -> dict[str, Any]:
        return json_object(self.payload, "payload")


KeySource = VerificationKey | Callable[[Mapping[str, Any]], VerificationKey | None]
"""The key to check with, or a function choosing it from the (unverified) header, e.g. by ``kid``."""


def split(token: str) -> tuple[str, str, str]:
    """The three base64url parts of a compact JWS; :class:`JWSError` ``malformed`` otherwise."""
    if not isinstance(token, str) or not token.isascii():
        raise JWSError("malformed", "a compact JWS is ASCII text")
    # find/rfind (memchr) rather than split: a credential is 2 KB and this runs twice a verification
    first, last = token.find("."), token.rfind(".")
    if first == last or token.find(".", first + 1, last) >= 0:
        raise JWSError("malformed", "a compact JWS has exactly three parts separated by '.'")
    return token[:first], token[first + 1 : last], token[last + 1 :]


def unverified_header(token: str) -> dict[str, Any]:
    """The protected header, NOT verified: only for choosing a key or reporting."""
    return json_object(b64url_decode(split(token)[0]), "JWS header")


_DER_HEADS: Final = {(r, s): bytes((0x30, r + s + 4, 2, r)) for r in range(1, 34) for s in range(1, 34)}
_DER_INTEGERS: Final = tuple(bytes((2, n)) for n in range(34))


def der_signature(raw: bytes) -> bytes:
    """An ES256 signature ``r || s`` (32 bytes each, RFC 7518 section 3.4) as the DER
    ``SEQUENCE { INTEGER r, INTEGER s }`` OpenSSL verifies (leading zeros dropped, a zero byte added
    before a high bit). The same bytes as ``encode_dss_signature``, without the two big integers."""
    r, s = raw[:32].lstrip(b"\0"), raw[32:].lstrip(b"\0")
    if not r or r[0] > 0x7F:
        r = b"\0" + r
    if not s or s[0] > 0x7F:
        s = b"\0" + s
    return _DER_HEADS[len(r), len(s)] + r + _DER_INTEGERS[len(s)] + s


def _check_signature(key: VerificationKey, signature: bytes, signing_input: bytes) -> bool:
    try:
        if key.alg == "ES256":
            if len(signature) != 64:
                return False
            key.public_key.verify(der_signature(signature), signing_input, _ECDSA)  # type: ignore[call-arg]
        else:
            key.public_key.verify(signature, signing_input)  # type: ignore[call-arg]
    except InvalidSignature:
        return False
    return True


def verify(
    token: str,
    key: KeySource,
    *,
    typ: str | None,
    algorithms: Collection[str] = ALLOWED_ALGORITHMS,
    detached_payload: bytes | None = None,
) -> Verified:
    """Check a compact JWS and return its header and payload bytes.

    Raises :class:`JWSError` with ``code`` one of ``malformed``, ``wrong_typ``, ``unsupported_alg``,
    ``unknown_key``, ``crit`` or ``bad_signature``. ``typ`` is compared exactly (``None``: no ``typ``).
    """
    header, payload, chosen = verify_parts(token, key, typ, algorithms, detached_payload)
    return Verified(header, payload, chosen)


_HEADERS: dict[str, dict[str, Any]] = {}
"""Decoded protected headers by their base64url text: a few per issuer key and holder algorithm, each
seen on every token they sign (only headers of string members, so a copy shares nothing)."""
_HEADERS_MAX: Final = 1024
_HEADER_MAX_CHARS: Final = 512
_STR_ONLY: Final = frozenset({str})


def _header(protected: str) -> dict[str, Any]:
    """The protected header decoded (as ``json_object(b64url_decode(protected))``), a new dict each call."""
    known = _HEADERS.get(protected)
    if known is not None:
        return known.copy()
    header = json_object(b64url_decode(protected), "JWS header")
    if len(protected) <= _HEADER_MAX_CHARS and _STR_ONLY.issuperset(map(type, header.values())):
        if len(_HEADERS) >= _HEADERS_MAX:
            _HEADERS.clear()
        _HEADERS[protected] = header.copy()
    return header


def verify_parts(
    token: str,
    key: KeySource,
    typ: str | None,
    algorithms: Collection[str] = ALLOWED_ALGORITHMS,
    detached_payload: bytes | None = None,
) -> tuple[dict[str, Any], bytes, VerificationKey]:
    """:func:`verify` returning ``(header, payload, key)`` as a plain tuple: for the presentation
    verifier's hot path, where building a :class:`Verified` costs more than the rest of the call."""
    protected, encoded, signature_b64 = split(token)
    header = _header(protected)
    if header.get("typ") != typ:
        raise JWSError("wrong_typ", f"the token is not of type {typ or '(none)'}")
    if "crit" in header:
        raise JWSError("crit", "the token requires extensions this registry does not understand")
    alg = header.get("alg")
    if type(alg) is not str or alg not in algorithms or alg not in ALLOWED_ALGORITHMS:
        raise JWSError("unsupported_alg", "the token's algorithm is not allowed")
    chosen = key if type(key) is VerificationKey else key(header)  # type: ignore[operator]
    if chosen is None:
        raise JWSError("unknown_key", "the token is signed with an unknown key")
    if chosen.alg != alg:
        raise JWSError("unsupported_alg", "the token's algorithm does not match its key")
    if detached_payload is not None:
        if encoded:
            raise JWSError("malformed", "a detached signature carries no payload")
        payload = detached_payload
        signing_input = f"{protected}.{b64url_encode(detached_payload)}".encode("ascii")
    else:
        payload = b64url_decode(encoded)
        signing_input = token[: len(protected) + 1 + len(encoded)].encode("ascii")
    if not _check_signature(chosen, b64url_decode(signature_b64), signing_input):
        raise JWSError("bad_signature", "the signature does not verify")
    return header, payload, chosen


def check_times(claims: Mapping[str, Any], *, now: int, leeway: int = 0, require_exp: bool = True) -> None:
    """Check ``exp``, ``nbf`` and ``iat`` (NumericDate, RFC 7519) against ``now`` with ``leeway`` seconds.

    Raises :class:`JWSError` ``expired``, ``not_yet_valid`` or ``malformed``.
    """
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is None:
            if name == "exp" and require_exp:
                raise JWSError("malformed", "the token has no 'exp' claim")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise JWSError("malformed", f"the {name!r} claim is not a number")
    exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
    if exp is not None and now - leeway >= exp:
        raise JWSError("expired", "the token has expired")
    if nbf is not None and now + leeway < nbf:
        raise JWSError("not_yet_valid", "the token is not valid yet")
    if iat is not None and now + leeway < iat:
        raise JWSError("not_yet_valid", "the token was issued in the future")
