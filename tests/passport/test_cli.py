"""``passport keys`` for the data keys that seal occupational health: init, rotate, list, reencrypt."""

import asyncio
import datetime as dt
import os
import sqlite3
import uuid
from pathlib import Path

import msgspec
import pytest
from sqlalchemy.exc import IntegrityError

from service.cli import main
from service.db import Database, make_engine, upgrade
from service.passport import service
from service.passport.encryption import DataKeyRing, DataKeyStore
from service.passport.schemas import OccupationalHealthRead, RecordCreate
from tests.passport.factories import create_world, health, issuer_principal

PASSPHRASE = "cli-data-key-passphrase"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("PASSPORT_") and not name.startswith("PASSPORT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PASSPORT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'passport.db'}")
    monkeypatch.setenv("PASSPORT_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("PASSPORT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PASSPORT_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("PASSPORT_LOG_LEVEL", "WARNING")
    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'passport.db'}")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def url(root: Path) -> str:
    return f"sqlite+aiosqlite:///{root / 'passport.db'}"


def seed_outcomes(root: Path, ring: DataKeyRing, count: int) -> list[uuid.UUID]:
    async def work() -> list[uuid.UUID]:
        database = Database(make_engine(url(root), pool_size=1))
        try:
            async with database.session() as session:
                world = await create_world(session)
                bodies = [
                    health(world.doctor, item=item)
                    for item in ("hepatitis_b", "measles_rubella", "varicella")
                ]
                records = msgspec.convert(bodies[:count], list[RecordCreate])
                created = await service.submit(
                    session, issuer_principal(), records, now=dt.datetime.now(dt.UTC), keys=ring
                )
                await session.commit()
                return [r.id for r in created]
        finally:
            await database.dispose()

    return asyncio.run(work())


def read_outcomes(
    root: Path, ring: DataKeyRing, ids: list[uuid.UUID]
) -> tuple[list[str | None], dict[str, int]]:
    async def work() -> tuple[list[str | None], dict[str, int]]:
        database = Database(make_engine(url(root), pool_size=1))
        try:
            async with database.session() as session:
                reads = [await service.get_record(session, issuer_principal(), i, ring) for i in ids]
                outcomes = [r.outcome if isinstance(r, OccupationalHealthRead) else None for r in reads]
                return outcomes, await service.sealed_by_key(session)
        finally:
            await database.dispose()

    return asyncio.run(work())


def test_rotate_then_reencrypt_keeps_every_outcome_readable(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "keys", "init")
    assert code == 0
    store = DataKeyStore(env / "keys", PASSPHRASE)
    (first,) = store.metas()
    assert f"created data key {first.kid}\n" in out
    assert run(capsys, "keys", "init") == (0, "keys already present; nothing created\n")

    ids = seed_outcomes(env, store.load(), 3)
    code, out = run(capsys, "keys", "rotate", "--purpose", "data")
    assert code == 0
    assert "run `passport keys reencrypt`" in out.lower()
    ring = store.load()
    assert ring.active_kid != first.kid
    outcomes, counts = read_outcomes(env, ring, ids)
    assert outcomes == ["immune", "immune", "immune"]  # old ciphertexts still open after the rotation
    assert counts == {first.kid: 3}

    code, out = run(capsys, "keys", "list", "--purpose", "data")
    statuses = {line.split()[0]: line.split()[2] for line in out.splitlines()[1:]}
    assert statuses == {first.kid: "retired", ring.active_kid: "active"}

    code, out = run(capsys, "keys", "reencrypt", "--batch", "2")
    assert code == 0
    assert (
        out.splitlines()[0] == f"re-encrypted 3 occupational health records under data key {ring.active_kid}"
    )
    outcomes, counts = read_outcomes(env, ring, ids)
    assert outcomes == ["immune", "immune", "immune"]
    assert counts == {ring.active_kid: 3}
    assert run(capsys, "keys", "reencrypt")[1].startswith("re-encrypted 0 ")


def test_a_wrong_passphrase_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "keys", "init")[0] == 0
    monkeypatch.setenv("PASSPORT_KEY_PASSPHRASE", "not-the-passphrase")
    code = main(["keys", "rotate", "--purpose", "data"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("passport: PASSPORT_KEY_PASSPHRASE")


def audit_events(root: Path) -> list[tuple[str, str]]:
    """(action, subject) of every audit event, oldest first."""
    with sqlite3.connect(root / "passport.db") as conn:
        return conn.execute("SELECT action, subject FROM audit_events ORDER BY id").fetchall()


def test_data_key_rotation_and_reencryption_are_audited(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``keys rotate --purpose data`` records its key like the signing keys' rotation (the event committed
    with the key, or no key), and ``keys reencrypt`` one event per batch it re-sealed."""
    assert run(capsys, "keys", "init")[0] == 0
    store = DataKeyStore(env / "keys", PASSPHRASE)
    (first,) = store.metas()
    ids = seed_outcomes(env, store.load(), 3)
    before = len(audit_events(env))

    with sqlite3.connect(env / "passport.db") as conn:
        conn.execute(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
    with pytest.raises(IntegrityError, match="no"):
        main(["keys", "rotate", "--purpose", "data"])
    assert store.metas() == [first], "no data key without its audit event; the old one still active"
    with sqlite3.connect(env / "passport.db") as conn:
        conn.execute("DROP TRIGGER refuse_audit")
    capsys.readouterr()

    assert run(capsys, "keys", "rotate", "--purpose", "data")[0] == 0
    second = store.load().active_kid
    assert audit_events(env)[before:] == [("cli keys rotate", f"key:data:{second}")]

    assert run(capsys, "keys", "reencrypt", "--batch", "2")[0] == 0
    assert audit_events(env)[before + 1 :] == [
        ("cli keys reencrypt", f"key:data:{second} records=2"),
        ("cli keys reencrypt", f"key:data:{second} records=1"),
    ]
    assert run(capsys, "keys", "reencrypt")[1].startswith("re-encrypted 0 ")
    assert len(audit_events(env)) == before + 3, "nothing re-sealed, nothing recorded"
    assert read_outcomes(env, store.load(), ids)[0] == ["immune", "immune", "immune"]
    assert run(capsys, "audit", "verify")[1] == f"audit chain intact: {before + 3} events\n"
