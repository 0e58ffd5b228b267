"""Encryption at rest of occupational health outcomes: AES-256-GCM under rotating data keys (pure).

Data keys live beside the signing keys, under ``<keys dir>/data/<kid>.json``, each wrapped (AES-GCM)
under a key derived from ``PASSPORT_KEY_PASSPHRASE`` with scrypt and a salt of its own; the plaintext key
never touches the disk. One key is active and encrypts; retired keys still decrypt, so a rotation never
makes a record unreadable, and ``passport keys reencrypt`` moves old ciphertexts to the active key.

Every ciphertext is stored with the id of its key. The associated data binds it to its row (the caller
passes the record id and person id) and to its key id: a ciphertext copied to another row, or relabelled
with another key id, fails to decrypt instead of showing someone else's outcome.

Nothing here logs, and no exception message carries a key or a plaintext.
"""

import base64
import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Final, Literal

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from service.config import Settings
from service.keys import KeyProblem, demo_passphrase

FOLDER: Final = "data"
FORMAT: Final = 1
"""First byte of every sealed value: the layout ``format | nonce (12) | ciphertext and tag``."""
NONCE_BYTES: Final = 12
KEY_BYTES: Final = 32
SCRYPT_N: Final = 2**15
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
_WRAP_LABEL: Final = b"passport data key "
_SEAL_LABEL: Final = b"passport sealed v1 "


class DecryptionFailed(Exception):
    """A sealed value does not open: wrong row, wrong key id, unknown key or tampered bytes."""


class DataKeyMeta(msgspec.Struct, frozen=True, kw_only=True):
    """One data key on disk: its id, state and the key wrapped under the passphrase."""

    kid: str
    status: Literal["active", "retired"]
    created_at: dt.datetime
    retired_at: dt.datetime | None = None
    salt: str
    nonce: str
    wrapped: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _kek(passphrase: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)


class Sealed(msgspec.Struct, frozen=True):
    """A sealed value and the data key that sealed it (a struct: made on every seal, cheaper than a
    frozen dataclass)."""

    kid: str
    blob: bytes


class DataKeyRing:
    """The opened data keys: seal with the active one, open with whichever a value names."""

    def __init__(self, keys: dict[str, bytes], active: str | None) -> None:
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active_kid = active

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @property
    def usable(self) -> bool:
        return self.active_kid is not None

    def seal(self, plaintext: bytes, context: bytes) -> Sealed:
        """Encrypt under the active key; ``context`` (e.g. record and person ids) is bound to it."""
        if self.active_kid is None:
            raise KeyProblem("no active data key: run `passport keys init`")
        nonce = os.urandom(NONCE_BYTES)
        kid = self.active_kid
        body = self._keys[kid].encrypt(nonce, plaintext, _SEAL_LABEL + kid.encode("ascii") + b" " + context)
        return Sealed(kid, bytes([FORMAT]) + nonce + body)

    def open(self, kid: str, blob: bytes, context: bytes) -> bytes:
        key = self._keys.get(kid)
        if key is None or len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != FORMAT:
            raise DecryptionFailed("the value cannot be opened")
        nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return key.decrypt(nonce, body, _SEAL_LABEL + kid.encode("ascii") + b" " + context)
        except InvalidTag:
            raise DecryptionFailed("the value cannot be opened") from None


class DataKeyStore:
    """The ``data`` folder of the keys folder. Methods that write take ``now`` (reproducible tests)."""

    def __init__(self, keys_dir: Path, passphrase: str | None) -> None:
        self.folder = keys_dir / FOLDER
        self._passphrase = passphrase

    def _secret(self) -> bytes:
        if not self._passphrase:
            raise KeyProblem("PASSPORT_KEY_PASSPHRASE: required to open the data keys (not set)")
        return self._passphrase.encode("utf-8")

    def metas(self) -> list[DataKeyMeta]:
        """Every data key, newest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("*.json"):
            try:
                found.append(msgspec.json.decode(path.read_bytes(), type=DataKeyMeta))
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise KeyProblem(f"{path}: unreadable data key file") from None
        return sorted(found, key=lambda m: (m.created_at, m.kid), reverse=True)

    def _write(self, meta: DataKeyMeta) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = self.folder / f".{meta.kid}.json.partial"
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(msgspec.json.format(msgspec.json.encode(meta)))
        partial.replace(self.folder / f"{meta.kid}.json")

    def _unwrap(self, meta: DataKeyMeta, secret: bytes) -> bytes:
        try:
            kek = _kek(secret, _unb64(meta.salt))
            return AESGCM(kek).decrypt(
                _unb64(meta.nonce), _unb64(meta.wrapped), _WRAP_LABEL + meta.kid.encode()
            )
        except (InvalidTag, ValueError):
            raise KeyProblem(
                f"PASSPORT_KEY_PASSPHRASE: does not open the data key {meta.kid} (wrong passphrase?)"
            ) from None

    def create(self, now: dt.datetime) -> DataKeyMeta:
        secret = self._secret()
        kid = f"dk-{now:%Y%m%d}-{secrets.token_hex(6)}"
        salt, nonce, key = os.urandom(16), os.urandom(NONCE_BYTES), AESGCM.generate_key(bit_length=256)
        wrapped = AESGCM(_kek(secret, salt)).encrypt(nonce, key, _WRAP_LABEL + kid.encode())
        meta = DataKeyMeta(
            kid=kid,
            status="active",
            created_at=now,
            salt=_b64(salt),
            nonce=_b64(nonce),
            wrapped=_b64(wrapped),
        )
        self._write(meta)
        return meta

    def init(self, now: dt.datetime) -> DataKeyMeta | None:
        """Create the first data key if there is no active one; None when one exists (it must open)."""
        active = [m for m in self.metas() if m.status == "active"]
        if active:
            self._unwrap(active[0], self._secret())
            return None
        return self.create(now)

    def rotate(self, now: dt.datetime) -> DataKeyMeta:
        """A new active key; the previous one is retired but still decrypts."""
        secret = self._secret()
        previous = [m for m in self.metas() if m.status == "active"]
        for meta in previous:
            self._unwrap(meta, secret)  # refuse a wrong passphrase before changing anything
        created = self.create(now)
        for meta in previous:
            self._write(msgspec.structs.replace(meta, status="retired", retired_at=now))
        return created

    def load(self) -> DataKeyRing:
        """Open every data key (an empty ring when there are none)."""
        metas = self.metas()
        if not metas:
            return DataKeyRing({}, None)
        secret = self._secret()
        keys = {m.kid: self._unwrap(m, secret) for m in metas}
        active = next((m.kid for m in metas if m.status == "active"), None)
        return DataKeyRing(keys, active)


def open_data_keys(settings: Settings, now: dt.datetime) -> DataKeyRing:
    """The data keys of the registry's keys folder; in demo mode the first one is made on first use.

    Outside demo mode a missing data key is not fatal (the server starts; storing an occupational health
    record then answers 503 until ``passport keys init`` creates one), but a wrong passphrase is.
    """
    passphrase = settings.key_passphrase
    if passphrase is None and settings.demo_mode:
        passphrase = demo_passphrase(settings.var_dir)
    store = DataKeyStore(settings.keys_dir, passphrase)
    if settings.demo_mode:
        store.init(now)
    return store.load()
