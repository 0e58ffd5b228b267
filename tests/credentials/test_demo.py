"""The demo step: the demo doctor's wallet under var/demo-wallet, their credentials issued to its key and
saved in it; a second run reuses the wallet and its key."""

import datetime as dt
from pathlib import Path

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.config import Settings
from service.credentials.demo import seed_credentials, wallet_dir
from service.credentials.models import HolderKey
from service.keys import KeyStore
from service.passport import presentation
from service.passport.encryption import DataKeyStore
from service.wallet.status import issuer_keys
from service.wallet.store import Wallet
from tests.credentials import factories as cf
from tests.factories import TEST_PASSPHRASE
from tests.passport import factories as pf

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


async def test_the_demo_doctor_gets_a_wallet_with_credentials_once(
    session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    keys = tmp_path / "demo-keys"
    KeyStore(keys, TEST_PASSPHRASE).init(NOW)
    DataKeyStore(keys, TEST_PASSPHRASE).init(NOW)
    demo = msgspec.structs.replace(settings, keys_dir=keys)
    world = await pf.create_world(session)
    await cf.submit(
        session,
        DataKeyStore(keys, TEST_PASSPHRASE).load(),
        cf.records_of(world.doctor, world.tree),
        world.tree.trust,
        NOW,
    )
    lines = await seed_credentials(session, demo, world.doctor.id, now=NOW)
    assert "4 credential(s) issued" in lines[0]
    wallet = Wallet(wallet_dir(demo))
    held = wallet.credentials()
    assert sorted(h.kind for h in held) == [
        "core_skills",
        "identity_link",
        "occupational_health",
        "training_placement",
    ]
    lookup = issuer_keys(wallet.folder / "issuer-jwks.json")
    for item in held:
        report = presentation.verify_credential(item.credential, issuer_keys=lookup, now=int(NOW.timestamp()))
        assert report.valid
    first_key = wallet.public_jwk()
    again = await seed_credentials(session, demo, world.doctor.id, now=NOW)
    assert "0 credential(s) issued" in again[0]  # same key, same claims: nothing re-issued
    assert wallet.public_jwk() == first_key
    count = await session.scalar(
        select(func.count()).select_from(HolderKey).where(HolderKey.person_id == world.doctor.id)
    )
    assert count == 1
    assert jws.jwk_thumbprint(first_key) in {
        k.thumbprint for k in (await session.scalars(select(HolderKey))).all()
    }


async def test_no_holder_no_wallet(session: AsyncSession, settings: Settings) -> None:
    lines = await seed_credentials(session, settings, None, now=NOW)
    assert "no demo doctor" in lines[0]
    assert not Wallet(wallet_dir(settings)).exists
