"""``passport credentials reissue-all`` (worker processes, progress bar) and ``lifecycle --once`` on a
real SQLite file."""

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.cli import main
from service.credentials import service
from service.credentials.models import Credential
from service.db import Database, make_engine, upgrade
from service.keys import KeyStore
from service.passport.encryption import DataKeyStore
from tests.credentials import factories as cf
from tests.factories import TEST_PASSPHRASE
from tests.passport import factories as pf

pytestmark = pytest.mark.slow


async def _seed(url: str, keys: Path, now: dt.datetime) -> None:
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            world = await pf.create_world(session)
            data_keys = DataKeyStore(keys, TEST_PASSPHRASE).load()
            for person in (world.doctor, world.other):
                await cf.submit(session, data_keys, cf.records_of(person, world.tree), world.tree.trust, now)
                await cf.add_holder_key(session, person.id, cf.new_key(), now)
            await session.commit()
    finally:
        await database.dispose()


async def _count(url: str) -> tuple[int, int]:
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            total = await session.scalar(select(func.count()).select_from(Credential))
            valid = await session.scalar(
                select(func.count()).select_from(Credential).where(Credential.state == "valid")
            )
            return int(total or 0), int(valid or 0)
    finally:
        await database.dispose()


def seeded_registry(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, now: dt.datetime) -> Path:
    """Keys and the two seeded holders (``_seed``) on the migrated database ``url``, and the settings a
    ``passport`` command in this process reads; the keys folder."""
    keys = tmp_path / "keys"
    KeyStore(keys, TEST_PASSPHRASE).init(now)
    DataKeyStore(keys, TEST_PASSPHRASE).init(now)
    asyncio.run(_seed(url, keys, now))
    for name, value in {
        "PASSPORT_DATABASE_URL": url,
        "PASSPORT_KEYS_DIR": str(keys),
        "PASSPORT_KEY_PASSPHRASE": TEST_PASSPHRASE,
        "PASSPORT_VAR_DIR": str(tmp_path / "var"),
        "PASSPORT_PUBLIC_BASE_URL": cf.BASE_URL,
    }.items():
        monkeypatch.setenv(name, value)
    return keys


def test_reissue_all_then_lifecycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    seeded_registry(url, tmp_path, monkeypatch, now)
    assert main(["credentials", "reissue-all", "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "re-issued 8 credential(s) of 2 holder(s)" in captured.out
    assert "re-issuing" in captured.err  # the progress bar
    assert asyncio.run(_count(url)) == (8, 8)
    assert main(["credentials", "reissue-all", "--workers", "0"]) == 0
    assert asyncio.run(_count(url)) == (16, 8)
    assert main(["credentials", "lifecycle", "--once"]) == 0
    assert "changes 0 issued" in capsys.readouterr().out  # reissue-all moved the cursor past the feed


async def _revoke_core_skills(url: str, keys: Path, now: dt.datetime) -> None:
    """An issuer revokes one doctor's core skills ("left the trust"): a hold on that (holder, type)."""
    database = Database(make_engine(url, pool_size=1))
    issuer = service.Issuer(
        keyring=KeyStore(keys, TEST_PASSPHRASE).load(now),
        data_keys=DataKeyStore(keys, TEST_PASSPHRASE).load(),
        base_url=cf.BASE_URL,
    )
    try:
        async with database.session(write=True) as session:
            core = await session.scalar(
                select(Credential)
                .where(Credential.kind == "core_skills", Credential.state == "valid")
                .order_by(Credential.person_id)
                .limit(1)
            )
            assert core is not None
            principal = pf.issuer_principal(core.origins[0])
            await service.change_state(
                session, issuer, principal, core.id, "revoke", "left the trust", now=now
            )
            await session.commit()
    finally:
        await database.dispose()


@pytest.mark.parametrize("workers", [0, 1])
def test_reissue_all_says_how_many_pairs_a_hold_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], workers: int
) -> None:
    now = dt.datetime.now(dt.UTC)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    keys = seeded_registry(url, tmp_path, monkeypatch, now)
    assert main(["credentials", "reissue-all", "--workers", str(workers)]) == 0
    assert ", 0 not re-issued (held by an issuer's revocation)," in capsys.readouterr().out
    asyncio.run(_revoke_core_skills(url, keys, now))
    assert main(["credentials", "reissue-all", "--workers", str(workers)]) == 0
    out = capsys.readouterr().out
    assert "re-issued 7 credential(s) of 2 holder(s)" in out, out
    assert ", 1 not re-issued (held by an issuer's revocation)," in out, out
