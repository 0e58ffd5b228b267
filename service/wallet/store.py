"""The wallet folder (format in :mod:`service.wallet`): the holder key and the credentials."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service import jws

FORMAT: Final = 1
KEY_FILE: Final = "holder-key.pem"
META_FILE: Final = "wallet.json"
JWKS_FILE: Final = "issuer-jwks.json"
CREDENTIALS: Final = "credentials"
KINDS: Final = ("core_skills", "occupational_health", "training_placement", "identity_link")


class WalletError(Exception):
    """Something the wallet cannot do; ``str()`` is one line for the user."""


class StoredCredential(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    vct: str
    state: str
    issued_at: str
    expires_at: str
    credential: str


def _write(path: Path, data: bytes, mode: int = 0o600) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Wallet:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def exists(self) -> bool:
        return (self.folder / KEY_FILE).is_file()

    def init(self) -> str:
        """Make the folder and a P-256 holder key; the key's thumbprint. Refuses to replace a key."""
        if self.exists:
            raise WalletError(f"{self.folder} already holds a wallet key (remove the folder to start again)")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.folder / CREDENTIALS).mkdir(exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write(self.folder / KEY_FILE, pem)
        thumbprint = jws.jwk_thumbprint(jws.public_jwk(key.public_key()))
        self.save_meta(
            {"format": FORMAT, "key_thumbprint": thumbprint, "registry": None, "registered_at": None}
        )
        return thumbprint

    def key(self) -> jws.PrivateKey:
        path = self.folder / KEY_FILE
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError:
            raise WalletError(
                f"{self.folder} has no wallet key: run `passport wallet init --dir {self.folder}`"
            ) from None
        except ValueError:
            raise WalletError(f"{path} is not a PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise WalletError(f"{path} is not a P-256 key")
        return key

    def public_jwk(self) -> dict[str, str]:
        return jws.public_jwk(self.key().public_key())

    def meta(self) -> dict[str, Any]:
        try:
            found: dict[str, Any] = json.loads((self.folder / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"format": FORMAT, "key_thumbprint": None, "registry": None, "registered_at": None}
        return found

    def save_meta(self, meta: dict[str, Any]) -> None:
        _write(self.folder / META_FILE, json.dumps(meta, indent=2).encode("utf-8"))

    def save_jwks(self, jwks: dict[str, Any]) -> None:
        _write(self.folder / JWKS_FILE, json.dumps(jwks, indent=2).encode("utf-8"), mode=0o644)

    def save_credentials(self, items: list[StoredCredential]) -> None:
        folder = self.folder / CREDENTIALS
        folder.mkdir(exist_ok=True, mode=0o700)
        kept = set()
        for item in items:
            if item.kind not in KINDS:
                continue
            _write(folder / f"{item.kind}.json", msgspec.json.format(msgspec.json.encode(item)))
            kept.add(item.kind)
        for kind in KINDS:
            if kind not in kept:
                (folder / f"{kind}.json").unlink(missing_ok=True)

    def credentials(self) -> list[StoredCredential]:
        found = []
        for kind in KINDS:
            path = self.folder / CREDENTIALS / f"{kind}.json"
            if path.is_file():
                try:
                    found.append(msgspec.json.decode(path.read_bytes(), type=StoredCredential))
                except (msgspec.DecodeError, msgspec.ValidationError):
                    raise WalletError(f"{path} is not a stored credential") from None
        return found

    def credential(self, kind: str) -> StoredCredential:
        for item in self.credentials():
            if item.kind == kind:
                return item
        raise WalletError(f"the wallet holds no {kind} credential: run `passport wallet fetch`")
