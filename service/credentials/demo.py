"""Demo step of the credentials: the demo doctor's wallet under ``var/demo-wallet`` and their credentials.

The wallet folder (format: :mod:`service.wallet`) is made once and reused; its key is registered for the
demo doctor (as ``POST /api/v1/holder/keys`` would, without the proof: the seed holds the private key
itself) and their four credentials are issued to it and saved in the folder, so
``passport wallet --dir var/demo-wallet list`` works at once. The lifecycle's cursor then starts at the end
of the change feed (everything seeded so far is already reflected). The demo colleagues
(``DemoCast.colleagues``) get the same, each in ``var/demo-wallet-<GMC number>``; the ``suspended`` one's
occupational health credential is then suspended by the demo trust's issuer.
"""

import datetime as dt
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.auth import Principal, Role
from service.config import Settings
from service.credentials import repository, service
from service.credentials.models import HolderKey
from service.credentials.schemas import KINDS
from service.wallet.store import StoredCredential, Wallet

WALLET_DIR = "demo-wallet"


def wallet_dir(settings: Settings) -> Path:
    return settings.var_dir / WALLET_DIR


def colleague_wallet_dir(settings: Settings, gmc_number: str) -> Path:
    """The wallet folder of a demo colleague (``DemoCast.colleagues``): ``var/demo-wallet-<GMC number>``."""
    return settings.var_dir / f"{WALLET_DIR}-{gmc_number}"


SUSPENDED_KIND = "occupational_health"
SUSPENSION_REASON = "Occupational health review pending after a sharps injury (demo)"


async def seed_credentials(
    session: AsyncSession,
    settings: Settings,
    holder_id: uuid.UUID | None,
    *,
    now: dt.datetime,
    folder: Path | None = None,
    who: str = "the demo doctor",
    suspended_by: str | None = None,
) -> list[str]:
    """A wallet in ``folder`` (default :func:`wallet_dir`) for ``holder_id`` with their credentials; with
    ``suspended_by`` (an organisation code), that organisation's issuer suspends their occupational health
    credential first (as ``POST /api/v1/credentials/{id}/suspend`` would), so it is held suspended."""
    if holder_id is None:
        return ["credentials: no demo doctor at this scale, so no wallet"]
    from service.app import open_keyring
    from service.keys import KeyProblem
    from service.passport.encryption import open_data_keys

    try:
        keyring = open_keyring(settings, lambda: now)
    except KeyProblem as exc:
        return [f"credentials: not issued ({exc})"]
    issuer = service.Issuer(
        keyring=keyring,
        data_keys=open_data_keys(settings, now),
        base_url=settings.public_base_url,
        alg=settings.credential_alg,
        lifetime_days=settings.credential_lifetime_days,
    )
    wallet = Wallet(folder or wallet_dir(settings))
    if not wallet.exists:
        wallet.init()
    jwk = wallet.public_jwk()
    thumbprint = jws.jwk_thumbprint(jwk)
    key = await repository.key_of(session, holder_id, thumbprint)
    if key is None:
        key = HolderKey(
            id=uuid.uuid4(),
            person_id=holder_id,
            jwk=jwk,
            thumbprint=thumbprint,
            alg="ES256",
            registered_at=now,
        )
        session.add(key)
        await session.flush()
    await repository.replace_keys(session, holder_id, key.id, now)
    result = await service.issue(
        session, issuer, [(holder_id, kind) for kind in KINDS], now=now, reason="demo seed", tell=False
    )
    if suspended_by is not None:
        await _suspend(session, issuer, holder_id, suspended_by, now)
    held = await service.holder_credentials(session, issuer, holder_id)
    wallet.save_credentials(
        [
            StoredCredential(
                id=str(h.id),
                kind=h.kind,
                vct=h.vct,
                state=h.state,
                issued_at=h.issued_at.isoformat(),
                expires_at=h.expires_at.isoformat(),
                credential=h.credential,
            )
            for h in held
        ]
    )
    wallet.save_jwks(issuer.keyring.jwks("credential"))
    meta = wallet.meta()
    meta.update(
        registry=settings.issuer, key_thumbprint=thumbprint, registered_at=key.registered_at.isoformat()
    )
    wallet.save_meta(meta)
    await service.start_over(session, now)
    suspended = f"; its {SUSPENDED_KIND.replace('_', ' ')} credential suspended" if suspended_by else ""
    return [
        f"credentials: {who}'s wallet is {wallet.folder} (key {thumbprint[:12]}...), "
        f"{result.issued} credential(s) issued to it{suspended}: passport wallet --dir {wallet.folder} list"
    ]


async def _suspend(
    session: AsyncSession, issuer: service.Issuer, holder_id: uuid.UUID, organisation: str, now: dt.datetime
) -> None:
    """The organisation's issuer suspends the holder's occupational health credential (a hold on the type,
    decision 0046); already suspended (a second seed), nothing changes."""
    held = await service.holder_credentials(session, issuer, holder_id)
    target = next((h for h in held if h.kind == SUSPENDED_KIND), None)
    if target is None or target.state != "valid":
        return
    principal = Principal(
        subject="passport demo seed", kind="client", role=Role.ISSUER, organisation=organisation
    )
    await service.change_state(session, issuer, principal, target.id, "suspend", SUSPENSION_REASON, now=now)
