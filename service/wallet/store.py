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
from service.passport import sdjwt

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
        """Replace the stored copies with ``items``: the first of each type in ``<kind>.json``, any other
        copy of that type in ``<kind>.2.json``, ``<kind>.3.json``, ... in the order given."""
        folder = self.folder / CREDENTIALS
        folder.mkdir(exist_ok=True, mode=0o700)
        by_kind: dict[str, list[StoredCredential]] = {}
        for item in items:
            if item.kind in KINDS:
                by_kind.setdefault(item.kind, []).append(item)
        for kind in KINDS:
            kept = set()
            for n, item in enumerate(by_kind.get(kind, []), start=1):
                path = folder / _file_name(kind, n)
                _write(path, msgspec.json.format(msgspec.json.encode(item)))
                kept.add(path.name)
            for path in _copy_files(folder, kind):
                if path.name not in kept:
                    path.unlink(missing_ok=True)

    def copies(self, kind: str) -> list[StoredCredential]:
        """Every stored copy of a type, the one in ``<kind>.json`` first."""
        found = []
        for path in _copy_files(self.folder / CREDENTIALS, kind):
            try:
                found.append(msgspec.json.decode(path.read_bytes(), type=StoredCredential))
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                raise WalletError(f"{path} is not a stored credential") from None
        return found

    def credentials(self) -> list[StoredCredential]:
        return [item for kind in KINDS for item in self.copies(kind)]

    def credential(self, kind: str) -> StoredCredential:
        """The first copy of a type (``<kind>.json``)."""
        for item in self.copies(kind):
            return item
        raise WalletError(f"the wallet holds no {kind} credential: run `passport wallet fetch`")


def _file_name(kind: str, n: int) -> str:
    return f"{kind}.json" if n == 1 else f"{kind}.{n}.json"


def _copy_files(folder: Path, kind: str) -> list[Path]:
    """The files of a type's copies, in order: ``<kind>.json``, then ``<kind>.<n>.json`` by ``n``."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if path.name == f"{kind}.json":
            found.append((1, path))
        elif path.name.startswith(f"{kind}.") and path.name.endswith(".json"):
            middle = path.name[len(kind) + 1 : -len(".json")]
            if middle.isdigit() and int(middle) > 1:
                found.append((int(middle), path))
    return [path for _, path in sorted(found)]


def bound_to(credential: str, thumbprint: str) -> bool:
    """Whether a credential's ``cnf.jwk`` is the key of this thumbprint (the wallet's)."""
    try:
        cnf = sdjwt.HeldCredential.parse(credential).payload.get("cnf")
        jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
        return isinstance(jwk, dict) and jws.jwk_thumbprint(jwk) == thumbprint
    except (KeyError, TypeError, ValueError, jws.JWSError):
        return False
