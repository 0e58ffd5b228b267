"""Compact JWS: published vectors, round trips and one test per attack (RFC 8725)."""

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given
from hypothesis import strategies as st

from service import jws
from service.jws import JWSError, VerificationKey
from tests.factories import load_test_key

# RFC 7515 appendix A.3: ES256 example (JWK and compact serialisation, line breaks removed).
RFC7515_A3_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
}
RFC7515_A3_TOKEN = (
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)
# RFC 8037 appendix A.4: Ed25519 signature over "Example of Ed25519 signing" (deterministic).
RFC8037_A4_TOKEN = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def _ed25519_vector_key() -> ed25519.Ed25519PrivateKey:
    key = load_test_key("rfc8037-ed25519.pem")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}.{_b64(signature)}"


def test_rfc7515_a3_es256_vector_verifies() -> None:
    key = jws.key_from_jwk(RFC7515_A3_JWK)
    verified = jws.verify(RFC7515_A3_TOKEN, key, typ=None)
    assert verified.claims() == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}


def test_rfc8037_a4_ed25519_vector_is_reproduced_and_verifies() -> None:
    private = _ed25519_vector_key()
    assert jws.sign(b"Example of Ed25519 signing", private, typ=None) == RFC8037_A4_TOKEN
    key = VerificationKey("EdDSA", private.public_key())
    assert jws.verify(RFC8037_A4_TOKEN, key, typ=None).payload == b"Example of Ed25519 signing"


def test_the_rfc7515_vector_with_one_bit_changed_is_refused() -> None:
    key = jws.key_from_jwk(RFC7515_A3_JWK)
    tampered = RFC7515_A3_TOKEN[:-1] + "A"
    with pytest.raises(JWSError) as caught:
        jws.verify(tampered, key, typ=None)
    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
@given(claims=st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=20), max_size=6))
def test_sign_then_verify_returns_the_payload(alg: str, claims: dict[str, Any]) -> None:
    private: jws.PrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else ed25519.Ed25519PrivateKey.generate()
    )
    token = jws.sign(claims, private, typ="example+jwt", kid="k1")
    key = VerificationKey(jws.algorithm_of(private), private.public_key())
    verified = jws.verify(token, key, typ="example+jwt")
    assert verified.claims() == claims
    assert verified.header == {"alg": alg, "typ": "example+jwt", "kid": "k1"}


def test_detached_signature_covers_the_payload() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = VerificationKey("ES256", private.public_key())
    token = jws.sign(b"report bytes", private, typ="doc+jws", detached=True)
    assert token.split(".")[1] == ""
    assert jws.verify(token, key, typ="doc+jws", detached_payload=b"report bytes").payload == b"report bytes"
    with pytest.raises(JWSError) as caught:
        jws.verify(token, key, typ="doc+jws", detached_payload=b"report bytez")
    assert caught.value.code == "bad_signature"


# ---------------------------------------------------------------- attacks, one test each


@pytest.fixture
def es256() -> tuple[ec.EllipticCurvePrivateKey, VerificationKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    return private, VerificationKey("ES256", private.public_key(), "k1")


def _code(token: str, key: jws.KeySource, typ: str | None = "at+jwt", **kwargs: Any) -> str:
    with pytest.raises(JWSError) as caught:
        jws.verify(token, key, typ=typ, **kwargs)
    return caught.value.code


def test_alg_none_is_refused(es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey]) -> None:
    token = _forge({"alg": "none", "typ": "at+jwt"}, {"sub": "attacker"}, b"")
    assert _code(token, es256[1]) == "unsupported_alg"


def test_hs256_signed_with_the_public_key_is_refused(
    es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey],
) -> None:
    public_pem = json.dumps(jws.public_jwk(es256[1].public_key)).encode()
    header, payload = {"alg": "HS256", "typ": "at+jwt"}, {"sub": "attacker"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}".encode()
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    assert _code(_forge(header, payload, signature), es256[1]) == "unsupported_alg"


def test_an_algorithm_off_the_callers_allow_list_is_refused() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    token = jws.sign({"a": 1}, private, typ="at+jwt")
    key = VerificationKey("EdDSA", private.public_key())
    assert _code(token, key, algorithms={"ES256"}) == "unsupported_alg"


def test_header_alg_must_match_the_key(es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey]) -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    token = jws.sign({"a": 1}, other, typ="at+jwt")
    assert _code(token, es256[1]) == "unsupported_alg"


def test_wrong_typ_is_refused(es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey]) -> None:
    token = jws.sign({"a": 1}, es256[0], typ="session+jwt")
    assert _code(token, es256[1], typ="at+jwt") == "wrong_typ"


def test_unknown_kid_is_refused(es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey]) -> None:
    token = jws.sign({"a": 1}, es256[0], typ="at+jwt", kid="someone-else")
    keys = {"k1": es256[1]}
    assert _code(token, lambda header: keys.get(header.get("kid", ""))) == "unknown_key"


def test_tampered_payload_is_refused(es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey]) -> None:
    protected, _, signature = jws.sign({"role": "holder"}, es256[0], typ="at+jwt").split(".")
    forged = f"{protected}.{_b64(json.dumps({'role': 'admin'}).encode())}.{signature}"
    assert _code(forged, es256[1]) == "bad_signature"


def test_crit_header_is_refused(es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey]) -> None:
    token = jws.sign({"a": 1}, es256[0], typ="at+jwt", headers={"crit": ["exp"]})
    assert _code(token, es256[1]) == "crit"


def test_a_header_seen_before_is_judged_again_on_every_token(
    es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey],
) -> None:
    """Decoded headers are remembered (decision 0051), never what a verification of them decided."""
    token = jws.sign({"a": 1}, es256[0], typ="at+jwt", kid="k1")
    assert jws.verify(token, es256[1], typ="at+jwt").header == {"alg": "ES256", "typ": "at+jwt", "kid": "k1"}
    protected, _, signature = token.split(".")
    assert _code(f"{protected}.{_b64(b'{}')}.{signature}", es256[1]) == "bad_signature"
    assert _code(token, es256[1], typ="kb+jwt") == "wrong_typ"
    assert _code(token, es256[1], algorithms={"EdDSA"}) == "unsupported_alg"
    assert _code(token, lambda header: None) == "unknown_key"


def test_the_header_a_verification_returns_is_its_own(
    es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey],
) -> None:
    token = jws.sign({"a": 1}, es256[0], typ="at+jwt", kid="k1")
    first = jws.verify(token, es256[1], typ="at+jwt")
    first.header["typ"] = "changed by a caller"
    first.header["extra"] = "x"
    assert jws.verify(token, es256[1], typ="at+jwt").header == {"alg": "ES256", "typ": "at+jwt", "kid": "k1"}


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t + "=", id="padding"),
        pytest.param(lambda t: t.replace("-", "+").replace("_", "/") + "+", id="standard-alphabet"),
        pytest.param(lambda t: t + ".x", id="four-parts"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="two-parts"),
        pytest.param(lambda t: t + "é", id="not-ascii"),
        pytest.param(lambda t: "e30." + t.split(".", 1)[1].replace(".", ". "), id="space"),
    ],
)
def test_malformed_serialisation_is_refused(
    es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey], mangle: Any
) -> None:
    token = jws.sign({"a": 1}, es256[0], typ="at+jwt")
    assert _code(mangle(token), es256[1]) in {"malformed", "bad_signature", "wrong_typ"}


def test_header_that_is_not_an_object_is_malformed(
    es256: tuple[ec.EllipticCurvePrivateKey, VerificationKey],
) -> None:
    assert _code(f"{_b64(b'[1]')}.{_b64(b'{}')}.{_b64(b'x')}", es256[1]) == "malformed"


def test_b64url_decode_rejects_non_canonical_trailing_bits() -> None:
    assert jws.b64url_decode("QQ") == b"A"
    with pytest.raises(JWSError):
        jws.b64url_decode("QR")  # the same byte with non-zero unused bits


@given(st.binary(max_size=300))
def test_b64url_round_trip(data: bytes) -> None:
    encoded = jws.b64url_encode(data)
    assert "=" not in encoded
    assert jws.b64url_decode(encoded) == data
    assert jws.b64url_decode(encoded.encode("ascii")) == data


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("QUJD=", id="padding"),
        pytest.param("QUI=", id="padding-of-a-short-group"),
        pytest.param("QU=J", id="padding-inside"),
        pytest.param("ab+/", id="standard-alphabet"),
        pytest.param("ab-+", id="one-standard-character"),
        pytest.param("QUJ", id="unused-bits-set"),
        pytest.param("QUJDR", id="impossible-length"),
        pytest.param("QU JD", id="space"),
        pytest.param("QUJD\n", id="newline"),
        pytest.param("QUJ\u00e9", id="not-ascii"),
        pytest.param("QU.D", id="dot"),
    ],
)
def test_b64url_decode_is_strict(text: str) -> None:
    """Each value has one encoding: anything else is refused, as text or as bytes (pybase64 decodes)."""
    with pytest.raises(JWSError) as refused:
        jws.b64url_decode(text)
    assert refused.value.code == "malformed"
    with pytest.raises(JWSError):
        jws.b64url_decode(text.encode("utf-8"))


@given(st.binary(min_size=64, max_size=64), st.integers(min_value=0, max_value=31))
def test_der_signature_is_what_cryptography_encodes(raw: bytes, zeros: int) -> None:
    """The DER built from ``r || s`` without big integers is byte for byte ``encode_dss_signature``'s,
    leading zero bytes (dropped) and high bits (a zero byte added) included."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    for signature in (raw, bytes(zeros) + raw[zeros:], raw[:32] + bytes(zeros) + raw[32 + zeros :]):
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        assert jws.der_signature(signature) == encode_dss_signature(r, s)


def test_a_verification_key_must_match_its_algorithm() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    ed_key = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(ValueError, match="cannot be an EdDSA"):
        VerificationKey("EdDSA", ec_key)
    with pytest.raises(ValueError, match="cannot be an ES256"):
        VerificationKey("ES256", ed_key)


# ---------------------------------------------------------------- keys and times


def test_jwk_round_trip_and_rfc7638_thumbprint() -> None:
    """RFC 7638 section 3.1 gives no EC example; RFC 8037 A.3 gives the Ed25519 thumbprint."""
    public = _ed25519_vector_key().public_key()
    jwk = jws.public_jwk(public)
    assert jws.jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert jws.key_from_jwk(jwk).alg == "EdDSA"


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({**RFC7515_A3_JWK, "d": "jpsQnnGQmL-YBIffH1136cLJ1lT5w21O2ZXuKAbDr_Q"}, id="private"),
        pytest.param({**RFC7515_A3_JWK, "y": RFC7515_A3_JWK["x"]}, id="not-on-curve"),
        pytest.param({**RFC7515_A3_JWK, "crv": "P-384"}, id="other-curve"),
        pytest.param({"kty": "oct", "k": "c2VjcmV0"}, id="symmetric"),
        pytest.param({**RFC7515_A3_JWK, "alg": "HS256"}, id="alg-mismatch"),
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}, id="short"),
    ],
)
def test_bad_jwks_are_refused(jwk: dict[str, str]) -> None:
    with pytest.raises(JWSError):
        jws.key_from_jwk(jwk)


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": 100}, "expired"),
        ({"exp": 200, "nbf": 160}, "not_yet_valid"),
        ({"exp": 200, "iat": 170}, "not_yet_valid"),
        ({}, "malformed"),
        ({"exp": "200"}, "malformed"),
        ({"exp": True}, "malformed"),
    ],
)
def test_time_claims(claims: dict[str, Any], code: str) -> None:
    with pytest.raises(JWSError) as caught:
        jws.check_times(claims, now=150, leeway=5)
    assert caught.value.code == code


def test_time_claims_within_leeway_pass() -> None:
    jws.check_times({"exp": 147, "nbf": 154, "iat": 154}, now=150, leeway=5)


def test_a_header_nested_too_deep_is_malformed_not_a_crash() -> None:
    key = VerificationKey("ES256", ec.generate_private_key(ec.SECP256R1()).public_key())
    nested = _b64(b"[" * 5000 + b"]" * 5000)
    with pytest.raises(JWSError) as caught:
        jws.verify(f"{nested}.{_b64(b'{}')}.AAAA", key, typ=None)
    assert caught.value.code == "malformed"
