"""Detached signatures of benchmark files: they verify against the JWKS, and only for the file signed."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from service import jws
from service.benchmark import signing
from service.keys import KeyRing, KeyStore
from tests.factories import TEST_PASSPHRASE

DATA = b'{"financial_year": "2025-26"}\n'


def about(data: bytes = DATA) -> dict[str, str]:
    return signing.describe(
        data, fmt="json", financial_year="2025-26", registry_version="0.1.0", inputs_sha256="ab" * 32
    )


def test_a_signature_verifies_with_the_published_keys(keyring: KeyRing) -> None:
    key = keyring.signer("credential")
    verdict = signing.verify(DATA, signing.sign(DATA, key, about()), keyring.jwks("credential"))
    assert (verdict.kid, verdict.alg) == (key.kid, "ES256")
    assert verdict.benchmark["financial_year"] == "2025-26"


def test_the_signature_is_detached(keyring: KeyRing) -> None:
    signature = signing.sign(DATA, keyring.signer("credential"), about())
    _protected, payload, _ = signature.split(".")
    assert payload == ""
    assert jws.unverified_header(signature)["typ"] == "benchmark+jws"


def test_eddsa_keys_sign_too(keyring: KeyRing) -> None:
    key = keyring.signer("credential", "EdDSA")
    assert signing.verify(DATA, signing.sign(DATA, key, about()), keyring.jwks("credential")).alg == "EdDSA"


def test_a_changed_file_does_not_verify(keyring: KeyRing) -> None:
    signature = signing.sign(DATA, keyring.signer("credential"), about())
    with pytest.raises(signing.SignatureInvalid) as caught:
        signing.verify(DATA.replace(b"2025", b"2024"), signature, keyring.jwks("credential"))
    assert caught.value.code == "bad_signature"


def test_a_key_the_registry_does_not_publish_is_refused(keyring: KeyRing, tmp_path: Path) -> None:
    other = KeyStore(tmp_path, TEST_PASSPHRASE)
    other.init(dt.datetime.now(dt.UTC))
    foreign = other.load(dt.datetime.now(dt.UTC)).signer("credential")
    with pytest.raises(signing.SignatureInvalid) as caught:
        signing.verify(DATA, signing.sign(DATA, foreign, about()), keyring.jwks("credential"))
    assert caught.value.code == "unknown_key"


def test_another_kind_of_token_is_refused(keyring: KeyRing) -> None:
    key = keyring.signer("credential")
    token = jws.sign(DATA, key.private_key, typ="at+jwt", kid=key.kid, detached=True)
    with pytest.raises(signing.SignatureInvalid) as caught:
        signing.verify(DATA, token, keyring.jwks("credential"))
    assert caught.value.code == "wrong_typ"


def test_a_header_claiming_another_file_is_refused(keyring: KeyRing) -> None:
    signature = signing.sign(DATA, keyring.signer("credential"), about(b"another file"))
    with pytest.raises(signing.SignatureInvalid) as caught:
        signing.verify(DATA, signature, keyring.jwks("credential"))
    assert "SHA-256" in str(caught.value)


@pytest.mark.parametrize("jwks", [{}, {"keys": "nope"}, []])
def test_a_malformed_key_set_is_refused(keyring: KeyRing, jwks: Any) -> None:
    signature = signing.sign(DATA, keyring.signer("credential"), about())
    with pytest.raises(signing.SignatureInvalid):
        signing.verify(DATA, signature, jwks)


def test_garbage_is_refused(keyring: KeyRing) -> None:
    with pytest.raises(signing.SignatureInvalid):
        signing.verify(DATA, "not a jws", keyring.jwks("credential"))
