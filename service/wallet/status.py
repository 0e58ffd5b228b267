"""What a credential copy's status list says about it, read as a verifier reads it (``list --check-status``,
``present``).

The wallet fetches the list at the copy's ``status.status_list.uri`` and checks it with
:func:`service.passport.status_list.verify_token` against the issuer's keys that ``fetch`` saved
(``issuer-jwks.json``): ``typ``, the signature (ES256 or EdDSA), ``sub`` = the list's address, ``iss`` = the
credential's, ``iat`` and ``exp``; then it reads the 2-bit entry at ``idx``. Each list is fetched once per
command, however many copies point into it. A list that cannot be fetched or does not check out gives
``unavailable`` with the reason: the caller says "status not checked" and goes on (the verifier checks the
status anyway).
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import httpx

from service import jws
from service.passport import presentation, sdjwt
from service.passport.status_list import (
    CredentialStatus,
    StatusListError,
    StatusListToken,
    StatusReference,
    verify_token,
)
from service.wallet.store import JWKS_FILE, Wallet, WalletError

FETCH_TIMEOUT: Final = 10.0
"""Seconds the wallet waits for a status list before it gives up checking."""
WORDS: Final = {
    CredentialStatus.VALID: "valid",
    CredentialStatus.INVALID: "revoked",
    CredentialStatus.SUSPENDED: "suspended",
}


@dataclass(frozen=True, slots=True)
class Checked:
    """A copy's status: ``valid``, ``invalid`` (revoked), ``suspended``, or ``unavailable`` and why."""

    status: CredentialStatus
    reason: str = ""

    @property
    def withdrawn(self) -> bool:
        return self.status in (CredentialStatus.INVALID, CredentialStatus.SUSPENDED)

    @property
    def words(self) -> str:
        """``valid``, ``revoked``, ``suspended`` or ``status not checked (<reason>)``."""
        return WORDS.get(self.status) or f"status not checked ({self.reason})"


def issuer_keys(path: Path) -> Any:
    """The ES256 and EdDSA keys of a saved JWKS file, by ``kid``; :class:`WalletError` without any."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise WalletError(f"{path}: not a readable JWKS file") from None
    keys = []
    for jwk in document.get("keys", []) if isinstance(document, dict) else []:
        try:
            public = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "alg", "kid")}
            keys.append(jws.key_from_jwk(public))
        except jws.JWSError:
            continue
    if not keys:
        raise WalletError(f"{path}: no usable ES256 or EdDSA key")
    return presentation.keys_by_kid(keys)


class StatusChecker:
    """Checks copies against their status lists; one fetch per list. Use as a context manager when it
    opens its own HTTP client (no ``client`` given)."""

    def __init__(
        self,
        wallet: Wallet,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.wallet = wallet
        self._client = client
        self._own = client is None
        self._clock = clock
        self._keys: Any = None
        self._lists: dict[str, StatusListToken | str] = {}
        """A list's verified token, or why it could not be had, by its URI."""

    def __enter__(self) -> "StatusChecker":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._own and self._client is not None:
            self._client.close()
            self._client = None

    def check(self, held: sdjwt.HeldCredential) -> Checked:
        try:
            ref = StatusReference.from_claim(held.payload.get("status"))
        except StatusListError as exc:
            return Checked(CredentialStatus.UNAVAILABLE, str(exc))
        found = self._list(ref.uri, held.payload.get("iss"))
        if isinstance(found, str):
            return Checked(CredentialStatus.UNAVAILABLE, found)
        status = found.status_list.status_of(ref.idx)
        if status is CredentialStatus.UNAVAILABLE:
            return Checked(status, f"entry {ref.idx} is not in the status list")
        return Checked(status)

    def _list(self, uri: str, iss: object) -> StatusListToken | str:
        if uri not in self._lists:
            self._lists[uri] = self._fetch(uri, iss if isinstance(iss, str) else None)
        return self._lists[uri]

    def _fetch(self, uri: str, iss: str | None) -> StatusListToken | str:
        try:
            if self._keys is None:
                self._keys = issuer_keys(self.wallet.folder / JWKS_FILE)
        except WalletError as exc:
            return f"{exc}: run `passport wallet fetch`"
        if self._client is None:
            self._client = httpx.Client(timeout=FETCH_TIMEOUT)
        try:
            response = self._client.get(uri, timeout=FETCH_TIMEOUT)
        except httpx.HTTPError as exc:
            return f"the status list could not be fetched: {type(exc).__name__}"
        if response.status_code != 200:
            return f"the status list could not be fetched: HTTP {response.status_code}"
        try:
            return verify_token(response.text, self._keys, uri=uri, now=int(self._clock()), iss=iss)
        except StatusListError as exc:
            return f"the status list did not check out: {exc.code}"
