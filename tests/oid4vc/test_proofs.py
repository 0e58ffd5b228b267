"""Key proofs (service/oid4vc/proofs.py): the wallet's proofs pass; each attack is refused with its code."""

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from service import jws
from service.oid4vc import proofs
from tests.oid4vc import wallet
from tests.oid4vc.helpers import BASE, NOW

NONCE = "c-nonce-4f1e"


def _known(nonce: str) -> bool:
    return nonce == NONCE


def check(proof: object, **overrides: Any) -> proofs.CheckedProof:
    options: dict[str, Any] = {"audience": BASE, "now": NOW, "nonce_valid": _known, **overrides}
    return proofs.check_proof(proof, **options)


def refused(proof: object, **overrides: Any) -> proofs.ProofError:
    with pytest.raises(proofs.ProofError) as caught:
        check(proof, **overrides)
    return caught.value


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_the_wallet_s_proof_passes_and_gives_back_its_public_key(alg: str) -> None:
    key = wallet.HolderKey.generate(alg)
    checked = check(wallet.key_proof(key, issuer=BASE, nonce=NONCE, iat=NOW))
    assert checked.jwk == key.public_jwk() | {}  # only the public members
    assert "d" not in checked.jwk
    assert checked.thumbprint == key.thumbprint()
    assert checked.nonce == NONCE
    assert checked.alg == alg


def _header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(wallet.b64u_decode(token.split(".")[0]))
    return header


def _signed(key: wallet.HolderKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    return key.sign(header, claims)


KEY = wallet.HolderKey.generate()
GOOD_HEADER = {"typ": "openid4vci-proof+jwt", "jwk": KEY.public_jwk()}
GOOD_CLAIMS = {"aud": BASE, "iat": NOW, "nonce": NONCE}


@pytest.mark.parametrize(
    ("header", "claims", "error", "words"),
    [
        ({"typ": "JWT"}, {}, "invalid_proof", "'typ' must be openid4vci-proof+jwt"),
        ({"typ": "kb+jwt"}, {}, "invalid_proof", "'typ'"),
        ({"kid": "did:example:123#1"}, {}, "invalid_proof", "by 'kid'"),
        ({"x5c": ["MIIB"]}, {}, "invalid_proof", "by 'x5c'"),
        ({"jwk": None}, {}, "invalid_proof", "no 'jwk'"),
        ({"jwk": {**KEY.public_jwk(), "d": "c2VjcmV0"}}, {}, "invalid_proof", "private key material"),
        ({"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}, {}, "invalid_proof", "cannot be used"),
        ({"jwk": wallet.HolderKey.generate().public_jwk()}, {}, "invalid_proof", "signature does not verify"),
        ({}, {"aud": "https://other.example"}, "invalid_proof", "'aud' must be the credential issuer"),
        ({}, {"aud": None}, "invalid_proof", "'aud'"),
        ({}, {"iat": NOW - 3600}, "invalid_proof", "older than 300 seconds"),
        ({}, {"iat": NOW + 3600}, "invalid_proof", "in the future"),
        ({}, {"iat": "now"}, "invalid_proof", "numeric 'iat'"),
        ({}, {"exp": NOW - 120}, "invalid_proof", "expired"),
        ({}, {"nonce": None}, "invalid_proof", "no 'nonce'"),
        ({}, {"nonce": 5}, "invalid_proof", "not a string"),
        ({}, {"nonce": "an-old-one"}, "invalid_nonce", "not a current c_nonce"),
    ],
)
def test_each_bad_proof_is_refused_with_its_code(
    header: dict[str, Any], claims: dict[str, Any], error: str, words: str
) -> None:
    full_header = {**GOOD_HEADER, **header}
    full_claims = {**GOOD_CLAIMS, **claims}
    for name, value in list(full_header.items()):
        if value is None:
            del full_header[name]
    for name, value in list(full_claims.items()):
        if value is None:
            del full_claims[name]
    problem = refused(_signed(KEY, full_header, full_claims))
    assert problem.error == error
    assert words in problem.reason
    assert problem.field == "proofs.jwt[0]"


def _encode(value: dict[str, Any]) -> str:
    return wallet.b64u(json.dumps(value).encode())


def _forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{_encode(header)}.{_encode(claims)}.{wallet.b64u(signature)}"


def test_alg_none_hmac_and_a_mismatched_algorithm_are_refused() -> None:
    assert "'alg'" in refused(_forge({**GOOD_HEADER, "alg": "none"}, GOOD_CLAIMS)).reason
    assert "'alg'" in refused(_forge({**GOOD_HEADER, "alg": "HS256"}, GOOD_CLAIMS, b"x" * 32)).reason
    eddsa_on_ec = _forge({**GOOD_HEADER, "alg": "EdDSA"}, GOOD_CLAIMS, b"x" * 64)
    assert "does not match the type of its 'jwk'" in refused(eddsa_on_ec).reason
    assert (
        "'alg'"
        in refused(wallet.key_proof(KEY, issuer=BASE, nonce=NONCE, iat=NOW), algorithms={"EdDSA"}).reason
    )


@pytest.mark.parametrize("value", [None, 7, "", "not.a.jws", "a" * 9000, ["x"]])
def test_anything_that_is_not_a_compact_jws_is_an_invalid_proof(value: object) -> None:
    assert refused(value).error == "invalid_proof"


def test_iss_is_checked_only_for_a_known_client() -> None:
    proof = _signed(KEY, GOOD_HEADER, {**GOOD_CLAIMS, "iss": "wallet-app"})
    assert check(proof).thumbprint == KEY.thumbprint()
    assert check(proof, client_id="wallet-app").thumbprint == KEY.thumbprint()
    assert "'iss'" in refused(proof, client_id="another-app").reason


def test_an_audience_array_naming_the_issuer_passes() -> None:
    proof = _signed(KEY, GOOD_HEADER, {**GOOD_CLAIMS, "aud": [BASE, "https://other.example"]})
    assert check(proof).nonce == NONCE


def _batch(count: int) -> list[str]:
    return [
        wallet.key_proof(wallet.HolderKey.generate(), issuer=BASE, nonce=NONCE, iat=NOW) for _ in range(count)
    ]


def test_a_batch_binds_one_credential_to_each_key() -> None:
    batch = _batch(10)
    checked = proofs.check_proofs({"jwt": batch}, audience=BASE, now=NOW, nonce_valid=_known, batch_size=10)
    assert len({c.thumbprint for c in checked}) == 10
    assert [c.jwk for c in checked] == [_header(p)["jwk"] for p in batch]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (None, "proofs", "has no 'proofs'"),
        ({}, "proofs", "has no 'proofs'"),
        ({"ldp_vp": []}, "proofs", "unsupported proof type 'ldp_vp'"),
        ({"jwt": "eyJ"}, "proofs.jwt", "non-empty array"),
        ({"jwt": []}, "proofs.jwt", "non-empty array"),
        ({"jwt": _batch(4)}, "proofs.jwt", "at most 3 proofs"),
        ({"jwt": [*_batch(1), _batch(1)[0].replace(".", "!", 1)]}, "proofs.jwt[1]", "well-formed"),
    ],
)
def test_a_bad_proofs_member_is_refused_naming_where(body: object, field: str, words: str) -> None:
    with pytest.raises(proofs.ProofError) as caught:
        proofs.check_proofs(body, audience=BASE, now=NOW, nonce_valid=_known, batch_size=3)
    assert caught.value.error == "invalid_proof"
    assert caught.value.field == field
    assert words in caught.value.reason


def test_the_same_key_twice_in_a_batch_is_refused() -> None:
    one = wallet.key_proof(KEY, issuer=BASE, nonce=NONCE, iat=NOW)
    again = wallet.key_proof(KEY, issuer=BASE, nonce=NONCE, iat=NOW - 1)
    with pytest.raises(proofs.ProofError) as caught:
        proofs.check_proofs({"jwt": [one, again]}, audience=BASE, now=NOW, nonce_valid=_known, batch_size=5)
    assert caught.value.field == "proofs.jwt[1]"
    assert "same key" in caught.value.reason


def test_a_proof_signed_by_the_registry_s_own_jws_code_passes_too_and_crit_is_refused() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public = jws.public_jwk(private.public_key())
    token = jws.sign(GOOD_CLAIMS, private, typ="openid4vci-proof+jwt", headers={"jwk": public})
    assert check(token).jwk == public
    critical = jws.sign(
        GOOD_CLAIMS,
        private,
        typ="openid4vci-proof+jwt",
        headers={"jwk": public, "crit": ["b64"], "b64": True},
    )
    assert "extensions" in refused(critical).reason


VALID = wallet.key_proof(KEY, issuer=BASE, nonce=NONCE, iat=NOW)


@given(st.integers(min_value=0, max_value=len(VALID) - 1), st.sampled_from("AQgw_-.xyz0"))
def test_any_one_character_change_is_refused(position: int, character: str) -> None:
    changed = VALID[:position] + character + VALID[position + 1 :]
    if changed == VALID:
        return
    # Even a change to the unused low bits of a last character is refused: base64url is strict.
    assert refused(changed).error == "invalid_proof"
