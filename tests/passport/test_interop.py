"""A second, independent implementation checks what we issue, and we check what it makes.

* the OpenWallet Foundation ``sd-jwt`` reference package (PyPI ``sd-jwt``, on ``jwcrypto``) verifies
  our credentials and presentations, builds presentations from our credentials, and issues
  credentials that our verifier must accept;
* ``joserfc``, a JOSE library the production code does not use, checks the signatures of our
  issuer-signed JWTs, key-binding JWTs and status list tokens.
"""

import json
import time
import warnings
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from service import jws
from service.passport import presentation, sdjwt, status_list
from tests.passport.credential_helpers import (
    AUDIENCE,
    LIST_URI,
    NONCE,
    NOW,
    Wallet,
    core_skills_claims,
    ed25519_key,
    issuer_key,
    kid_of,
    verification_key,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from joserfc import jws as joserfc_jws
    from joserfc.errors import SecurityWarning
    from joserfc.jwk import ECKey, OKPKey


def _jwcrypto(key: jws.PrivateKey) -> JWK:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return JWK.from_pem(pem)


def _public_jwcrypto(key: jws.PrivateKey) -> JWK:
    return JWK.from_json(json.dumps(jws.public_jwk(key.public_key())))


def _reference_verify(text: str, issuer: jws.PrivateKey, **expected: str) -> dict[str, Any]:
    verifier = SDJWTVerifier(text, lambda iss, header: _public_jwcrypto(issuer), **expected)
    payload: dict[str, Any] = verifier.get_verified_payload()
    return payload


# ---------------------------------------------------------------- the reference package checks us


@pytest.mark.parametrize("issuer", [issuer_key(), ed25519_key()], ids=["ES256", "EdDSA"])
def test_the_reference_package_verifies_our_credentials(issuer: jws.PrivateKey) -> None:
    wallet = Wallet(issuer=issuer)
    assert _reference_verify(wallet.issued.combined(), issuer) == wallet.held.claims


def test_the_reference_package_verifies_our_presentations_with_key_binding() -> None:
    wallet = Wallet()
    text = wallet.present(("records/1", "holder/legal_name"))
    theirs = _reference_verify(text, wallet.issuer, expected_aud=AUDIENCE, expected_nonce=NONCE)
    ours = wallet.verify(text)
    assert ours.valid
    assert theirs == ours.claims


def test_the_reference_package_refuses_our_presentation_for_another_verifier() -> None:
    wallet = Wallet()
    text = wallet.present(aud="https://another-verifier.example")
    with pytest.raises(ValueError, match="audience"):
        _reference_verify(text, wallet.issuer, expected_aud=AUDIENCE, expected_nonce=NONCE)


def test_we_verify_a_presentation_the_reference_holder_makes_from_our_credential() -> None:
    wallet = Wallet()
    holder = SDJWTHolder(wallet.issued.combined())
    # The reference holder addresses array elements by position in the signed array (decoys included).
    every_record = [{"subject": True, "date_to": True}] * len(wallet.issued.payload["records"])
    holder.create_presentation(
        {"records": every_record, "holder": {"legal_name": True}},
        nonce=NONCE,
        aud=AUDIENCE,
        holder_key=_jwcrypto(wallet.holder),
        sign_alg="ES256",
    )
    report = wallet.verify(holder.sd_jwt_presentation, now=int(time.time()))
    assert report.valid, report.failures
    assert report.claims is not None
    assert report.claims["records"] == [
        {"subject": r["subject"], "date_to": r["date_to"]} for r in wallet.claims["records"]
    ]
    assert report.claims["holder"]["legal_name"] == "Priya Raman"


def test_we_verify_a_credential_the_reference_issuer_makes() -> None:
    issuer = issuer_key()
    holder = ec.generate_private_key(ec.SECP256R1())
    claims = {
        "iss": "https://passport.nhs.example",
        "iat": NOW,
        "exp": NOW + 3600,
        "vct": "https://passport.nhs.example/vct/identity/1",
        "status": status_list.status_claim(LIST_URI, 3),
        SDObj("given_name"): "Priya",
        "address": {SDObj("locality"): "Leeds", "country": "GB"},
        "languages": [SDObj("en"), "cy", SDObj("ur")],
    }
    made = SDJWTIssuer(
        claims,
        _jwcrypto(issuer),
        holder_key=_jwcrypto(holder),
        sign_alg="ES256",
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": kid_of(issuer)},
    )
    held = sdjwt.HeldCredential.parse(made.sd_jwt_issuance)
    text = held.present(["given_name", "languages/2"], holder_key=holder, aud=AUDIENCE, nonce=NONCE, iat=NOW)
    report = presentation.verify_presentation(
        text, issuer_keys=presentation.keys_by_kid([verification_key(issuer)]), status=lambda ref: (
            status_list.CredentialStatus.VALID), audience=AUDIENCE, nonce=NONCE, now=NOW,
        nonce_unused=lambda nonce: True,
    )  # fmt: skip
    assert report.valid, report.failures
    assert report.claims is not None
    assert report.claims["given_name"] == "Priya"
    assert report.claims["address"] == {"country": "GB"}
    assert report.claims["languages"] == ["cy", "ur"]


# ---------------------------------------------------------------- joserfc checks our signatures


def _joserfc_key(key: jws.PrivateKey) -> ECKey | OKPKey:
    public: dict[str, str | list[str]] = {**jws.public_jwk(key.public_key())}
    return ECKey.import_key(public) if public["kty"] == "EC" else OKPKey.import_key(public)


@pytest.mark.parametrize(
    ("issuer", "holder"),
    [(issuer_key(), ec.generate_private_key(ec.SECP256R1())), (ed25519_key(), ed25519_key())],
    ids=["ES256", "EdDSA"],
)
def test_joserfc_verifies_our_issuer_signature_and_key_binding_jwt(
    issuer: jws.PrivateKey, holder: jws.PrivateKey
) -> None:
    wallet = Wallet(issuer=issuer, holder=holder)
    text = wallet.present(("records/0",))
    parts = sdjwt.split(text)
    algorithm = jws.algorithm_of(issuer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # RFC 9864 deprecates the name "EdDSA"
        credential = joserfc_jws.deserialize_compact(parts.jwt, _joserfc_key(issuer), algorithms=[algorithm])
        kb = joserfc_jws.deserialize_compact(
            parts.kb_jwt, _joserfc_key(holder), algorithms=[jws.algorithm_of(holder)]
        )
    assert credential.headers() == {"alg": algorithm, "typ": "dc+sd-jwt", "kid": kid_of(issuer)}
    assert json.loads(credential.payload) == wallet.issued.payload
    assert kb.headers()["typ"] == "kb+jwt"
    assert json.loads(kb.payload)["sd_hash"] == sdjwt.b64_digest(parts.presented)


def test_joserfc_verifies_our_status_list_token() -> None:
    lst = status_list.StatusList(status_list.MIN_LIST_SIZE)
    lst[99] = status_list.Status.SUSPENDED
    token = status_list.sign_token(
        lst, key=issuer_key(), kid=kid_of(issuer_key()), uri=LIST_URI, iat=NOW, ttl=60
    )
    checked = joserfc_jws.deserialize_compact(token, _joserfc_key(issuer_key()), algorithms=["ES256"])
    assert checked.headers()["typ"] == "statuslist+jwt"
    claims = json.loads(checked.payload)
    assert claims["sub"] == LIST_URI
    assert status_list.StatusList.from_json(claims["status_list"]).status_of(99) == "suspended"


def test_joserfc_refuses_a_credential_we_would_refuse() -> None:
    wallet = Wallet(claims=core_skills_claims())
    header, payload, signature = wallet.issued.jwt.split(".")
    tampered = f"{header}.{payload[:-2]}AA.{signature}"
    with pytest.raises(Exception, match="signature"):
        joserfc_jws.deserialize_compact(tampered, _joserfc_key(wallet.issuer), algorithms=["ES256"])
    assert wallet.verify(wallet.present().replace(wallet.issued.jwt, tampered)).code in (
        "bad_signature",
        "malformed",
    )
