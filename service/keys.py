"""Signing keys on disk: encrypted PKCS#8, ``kid`` = RFC 7638 thumbprint, published as a JWKS.

Two purposes never share a key: ``token`` keys sign API access tokens and web sessions;
``credential`` keys sign credentials and published documents. Layout under the keys folder::

    <purpose>/<kid>.pem    encrypted PKCS#8 private key
    <purpose>/<kid>.json   metadata: alg, status, created_at, retired_at, publish_until

Pure module: no web or database imports.
"""

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

Purpose = Literal["token", "credential"]
Algorithm = Literal["ES256", "EdDSA"]
PURPOSES: tuple[Purpose, ...] = ("token", "credential")
ALGORITHMS: tuple[Algorithm, ...] = ("ES256", "EdDSA")

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class KeyProblem(Exception):
    """Keys are missing, unreadable or the passphrase does not open them. ``str()`` is one line."""


class KeyMeta(msgspec.Struct, frozen=True, kw_only=True):
    kid: str
    purpose: Purpose
    alg: Algorithm
    status: Literal["active", "retired"]
    created_at: dt.datetime
    retired_at: dt.datetime | None = None
    publish_until: dt.datetime | None = None
    """A retired key stays in the JWKS until this time (the last credential it signed has expired)."""

    def published_at(self, now: dt.datetime) -> bool:
        return self.status == "active" or (self.publish_until is not None and now < self.publish_until)


@dataclass(frozen=True)
class SigningKey:
    meta: KeyMeta
    private_key: PrivateKey

    @property
    def kid(self) -> str:
        return self.meta.kid

    @property
    def alg(self) -> Algorithm:
        return self.meta.alg

    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.private_key.public_key(), self.meta.alg, self.meta.kid)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwk_members(public_key: PublicKey) -> dict[str, str]:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}


def thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of the public key: the required members, sorted, no spaces."""
    members = _jwk_members(public_key)
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _b64(hashlib.sha256(canonical).digest())


def public_jwk(public_key: PublicKey, alg: Algorithm, kid: str) -> dict[str, str]:
    return {**_jwk_members(public_key), "kid": kid, "alg": alg, "use": "sig"}


def generate(alg: Algorithm) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


class KeyStore:
    """The keys folder. Methods that write take the clock's ``now`` so tests are reproducible."""

    def __init__(self, directory: Path, passphrase: str | None) -> None:
        self.directory = directory
        self._passphrase = passphrase

    def _folder(self, purpose: Purpose) -> Path:
        return self.directory / purpose

    def metas(self) -> list[KeyMeta]:
        """All keys on disk, newest first."""
        found: list[KeyMeta] = []
        for purpose in PURPOSES:
            folder = self._folder(purpose)
            if not folder.is_dir():
                continue
            for path in folder.glob("*.json"):
                try:
                    found.append(msgspec.json.decode(path.read_bytes(), type=KeyMeta))
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    raise KeyProblem(f"{path}: unreadable key metadata ({exc})") from None
        return sorted(found, key=lambda m: (m.created_at, m.kid), reverse=True)

    def _require_passphrase(self) -> bytes:
        if not self._passphrase:
            raise KeyProblem("PASSPORT_KEY_PASSPHRASE: required to open the keys (not set)")
        return self._passphrase.encode("utf-8")

    def _write(self, meta: KeyMeta, private_key: PrivateKey | None) -> None:
        folder = self._folder(meta.purpose)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if private_key is not None:
            pem = private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(self._require_passphrase()),
            )
            pem_path = folder / f"{meta.kid}.pem"
            fd = os.open(pem_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        tmp = folder / f".{meta.kid}.json.tmp"
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(meta)))
        tmp.replace(folder / f"{meta.kid}.json")

    def files(self) -> dict[Path, bytes]:
        """Every key file as it is now (private keys encrypted, as stored): what :meth:`restore` puts back.
        Every folder of the keys folder: the signing keys' and the data keys' (``data``, wrapped)."""
        if not self.directory.is_dir():
            return {}
        return {
            path: path.read_bytes()
            for folder in self.directory.iterdir()
            if folder.is_dir()
            for path in folder.iterdir()
            if path.suffix in (".pem", ".json") and path.is_file()
        }

    def restore(self, files: dict[Path, bytes]) -> None:
        """Undo a change: remove key files made since :meth:`files` gave ``files``, put the others back
        as they were (each replaced whole, with its own permissions; a private key's stay 0600)."""
        now = self.files()
        for path in now.keys() - files.keys():
            path.unlink()
        for path, content in files.items():
            if now.get(path) == content:
                continue
            mode = path.stat().st_mode & 0o777 if path in now else 0o600
            tmp = path.with_name(f".{path.name}.restore.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            tmp.replace(path)

    def create(self, purpose: Purpose, alg: Algorithm, now: dt.datetime) -> KeyMeta:
        private_key = generate(alg)
        meta = KeyMeta(
            kid=thumbprint(private_key.public_key()),
            purpose=purpose,
            alg=alg,
            status="active",
            created_at=now,
        )
        self._write(meta, private_key)
        return meta

    def init(self, now: dt.datetime) -> list[KeyMeta]:
        """Create what is missing: one token key (ES256), credential keys ES256 and EdDSA. Idempotent."""
        self._require_passphrase()
        wanted: list[tuple[Purpose, Algorithm]] = [
            ("token", "ES256"),
            ("credential", "ES256"),
            ("credential", "EdDSA"),
        ]
        existing = [m for m in self.metas() if m.status == "active"]
        # A wrong passphrase must not add keys that the existing ones cannot be opened beside.
        for meta in existing:
            self.load_private(meta)
        active = {(m.purpose, m.alg) for m in existing}
        return [self.create(p, a, now) for p, a in wanted if (p, a) not in active]

    def retire(self, kid: str, now: dt.datetime, publish_for: dt.timedelta) -> KeyMeta:
        meta = self.find(kid)
        if meta.status == "retired":
            return meta
        retired = msgspec.structs.replace(
            meta, status="retired", retired_at=now, publish_until=now + publish_for
        )
        self._write(retired, None)
        return retired

    def rotate(
        self, purpose: Purpose, alg: Algorithm, now: dt.datetime, publish_for: dt.timedelta
    ) -> KeyMeta:
        """Create a new active key; the previous active key of this purpose and algorithm is retired."""
        previous = [m for m in self.metas() if m.purpose == purpose and m.alg == alg and m.status == "active"]
        for meta in previous:
            self.load_private(meta)  # refuse a wrong passphrase before changing anything
        created = self.create(purpose, alg, now)
        for meta in previous:
            self.retire(meta.kid, now, publish_for)
        return created

    def find(self, kid: str) -> KeyMeta:
        for meta in self.metas():
            if meta.kid == kid:
                return meta
        raise KeyProblem(f"no key with kid {kid} under {self.directory}")

    def load_private(self, meta: KeyMeta) -> PrivateKey:
        path = self._folder(meta.purpose) / f"{meta.kid}.pem"
        try:
            data = path.read_bytes()
        except OSError:
            raise KeyProblem(f"{path}: private key file missing") from None
        try:
            key = serialization.load_pem_private_key(data, password=self._require_passphrase())
        except (ValueError, TypeError):
            raise KeyProblem(f"PASSPORT_KEY_PASSPHRASE: does not open {path} (wrong passphrase?)") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise KeyProblem(f"{path}: not an ES256 or EdDSA key")
        if thumbprint(key.public_key()) != meta.kid:
            raise KeyProblem(f"{path}: key does not match its kid")
        return key

    def load(self, now: dt.datetime) -> "KeyRing":
        """Open every published key; fail with one clear line if a purpose has no active key."""
        signing: dict[tuple[Purpose, Algorithm], SigningKey] = {}
        published: list[SigningKey] = []
        for meta in self.metas():
            if not meta.published_at(now):
                continue
            key = SigningKey(meta=meta, private_key=self.load_private(meta))
            published.append(key)
            if meta.status == "active":
                signing.setdefault((meta.purpose, meta.alg), key)
        # Access tokens and sessions are signed only with ES256 (auth.ACCESS_TOKEN_ALGORITHMS).
        if ("token", "ES256") not in signing:
            raise KeyProblem(f"no active token ES256 key under {self.directory}: run `passport keys init`")
        if not any(p == "credential" for p, _ in signing):
            raise KeyProblem(f"no active credential key under {self.directory}: run `passport keys init`")
        return KeyRing(signing=signing, published=published)


@dataclass(frozen=True)
class KeyRing:
    """The opened keys: the active signing key per purpose and algorithm, and every published key."""

    signing: dict[tuple[Purpose, Algorithm], SigningKey]
    published: list[SigningKey]

    def signer(self, purpose: Purpose, alg: Algorithm = "ES256") -> SigningKey:
        key = self.signing.get((purpose, alg))
        if key is None:
            raise KeyProblem(f"no active {purpose} key for {alg}")
        return key

    def verification_key(self, purpose: Purpose, kid: str) -> SigningKey | None:
        for key in self.published:
            if key.meta.purpose == purpose and key.kid == kid:
                return key
        return None

    def jwks(self, purpose: Purpose) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.published if k.meta.purpose == purpose]}


def demo_passphrase(var_dir: Path) -> str:
    """Demo mode only: the passphrase kept in ``var/key-passphrase``, created on first use."""
    path = var_dir / "key-passphrase"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    passphrase = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(passphrase + "\n")
    return passphrase
