"""Demo step of the credentials: the demo doctor's wallet under ``var/demo-wallet`` and their credentials.

The wallet folder (format: :mod:`service.wallet`) is made once and reused; its key is registered for the
demo doctor (as ``POST /api/v1/holder/keys`` would, without the proof: the seed holds the private key
itself) and their four credentials are issued to it and saved in the folder, so
``passport wallet --dir var/demo-wallet list`` works at once. The lifecycle's cursor then starts at the end
of the change feed (everything seeded so far is already reflected).
"""

import datetime as dt
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.config import Settings
from service.credentials import repository, service
from service.credentials.models import HolderKey
from service.credentials.schemas import KINDS
from service.wallet.store import StoredCredential, Wallet

WALLET_DIR = "demo-wallet"


def wallet_dir(settings: Settings) -> Path:
    return settings.var_dir / WALLET_DIR


async def seed_credentials(
    session: AsyncSession, settings: Settings, holder_id: uuid.UUID | None, *, now: dt.datetime
) -> list[str]:
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
    wallet = Wallet(wallet_dir(settings))
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
    return [
        f"credentials: the demo doctor's wallet is {wallet.folder} (key {thumbprint[:12]}...), "
        f"{result.issued} credential(s) issued to it: passport wallet --dir {wallet.folder} list"
    ]
