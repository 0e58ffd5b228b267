"""Occupational health sealed with AES-GCM under rotating data keys (service/passport/encryption.py)."""

import datetime as dt
import stat
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.keys import KeyProblem
from service.passport.encryption import DataKeyRing, DataKeyStore, DecryptionFailed

PASSPHRASE = "data-key-test-passphrase"
NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> DataKeyRing:
    store = DataKeyStore(tmp_path_factory.mktemp("keys"), PASSPHRASE)
    store.init(NOW)
    return store.load()


@given(plaintext=st.binary(max_size=300), context=st.binary(min_size=1, max_size=40))
def test_what_is_sealed_opens_with_its_context_only(
    ring: DataKeyRing, plaintext: bytes, context: bytes
) -> None:
    sealed = ring.seal(plaintext, context)
    assert sealed.kid == ring.active_kid
    assert ring.open(sealed.kid, sealed.blob, context) == plaintext
    if len(plaintext) >= 8:  # a shorter run of bytes may occur in any random string
        assert plaintext not in sealed.blob
    with pytest.raises(DecryptionFailed):
        ring.open(sealed.kid, sealed.blob, context + b"x")


@given(st.data())
def test_any_changed_byte_is_refused(ring: DataKeyRing, data: st.DataObject) -> None:
    sealed = ring.seal(b'{"item":"hepatitis_b","outcome":"immune"}', b"row-1")
    position = data.draw(st.integers(min_value=0, max_value=len(sealed.blob) - 1))
    flipped = bytearray(sealed.blob)
    flipped[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(DecryptionFailed):
        ring.open(sealed.kid, bytes(flipped), b"row-1")


def test_a_ciphertext_moved_to_another_row_or_key_id_does_not_open(ring: DataKeyRing) -> None:
    one, two = uuid.uuid4().bytes, uuid.uuid4().bytes
    sealed = ring.seal(b"outcome", one)
    with pytest.raises(DecryptionFailed):
        ring.open(sealed.kid, sealed.blob, two)
    with pytest.raises(DecryptionFailed):
        ring.open("dk-unknown", sealed.blob, one)
    with pytest.raises(DecryptionFailed):
        ring.open(sealed.kid, sealed.blob[:10], one)


def test_rotation_keeps_old_ciphertexts_readable(tmp_path: Path) -> None:
    store = DataKeyStore(tmp_path, PASSPHRASE)
    first = store.init(NOW)
    assert first is not None
    assert store.init(NOW) is None  # idempotent
    old = store.load().seal(b"old", b"ctx")
    second = store.rotate(NOW + dt.timedelta(days=1))
    ring = store.load()
    assert ring.active_kid == second.kid != first.kid
    assert ring.open(old.kid, old.blob, b"ctx") == b"old"
    assert ring.seal(b"new", b"ctx").kid == second.kid
    statuses = {m.kid: m.status for m in store.metas()}
    assert statuses == {first.kid: "retired", second.kid: "active"}


def test_keys_are_wrapped_private_files_and_a_wrong_passphrase_opens_nothing(tmp_path: Path) -> None:
    store = DataKeyStore(tmp_path, PASSPHRASE)
    meta = store.create(NOW)
    path = tmp_path / "data" / f"{meta.kid}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert set(store.load().kids) == {meta.kid}
    with pytest.raises(KeyProblem, match="PASSPORT_KEY_PASSPHRASE"):
        DataKeyStore(tmp_path, "not-the-passphrase").load()
    with pytest.raises(KeyProblem, match="PASSPORT_KEY_PASSPHRASE"):
        DataKeyStore(tmp_path, None).load()
    with pytest.raises(KeyProblem, match="PASSPORT_KEY_PASSPHRASE"):
        DataKeyStore(tmp_path, "not-the-passphrase").rotate(NOW)
    assert len(store.metas()) == 1


def test_an_empty_ring_cannot_seal(tmp_path: Path) -> None:
    ring = DataKeyStore(tmp_path, PASSPHRASE).load()
    assert not ring.usable
    with pytest.raises(KeyProblem, match="passport keys init"):
        ring.seal(b"x", b"y")
