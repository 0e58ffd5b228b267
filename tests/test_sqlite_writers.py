"""Decision 0045: on SQLite a write transaction begins IMMEDIATE, so concurrent writers wait for each
other (up to the busy timeout) instead of one of them failing with "database is locked".

The failure it prevents (WAL): a deferred transaction that has read holds a read snapshot; if another
connection commits before its first write, that write fails at once with SQLITE_BUSY_SNAPSHOT (the
busy timeout does not apply). A request that read then wrote (a token issued while a record was
written, a record posted while the lifecycle pass committed) got a 503.

Real SQLite files, real connections on their own threads, and a real server in a subprocess.
"""

import asyncio
import datetime as dt
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import column, insert, table, text
from sqlalchemy.exc import IntegrityError, OperationalError

from service import auth, cli
from service.db import Database, WriteInReadSession, make_engine, transaction, upgrade
from service.errors import _is_unavailable
from service.keys import KeyStore
from service.passport.encryption import DataKeyStore
from tests.factories import TEST_PASSPHRASE
from tests.live import live_server
from tests.passport import factories as pf


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        await conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
    database = Database(engine)
    yield database
    await database.dispose()


async def _values(database: Database) -> list[str]:
    async with database.session(write=False) as session:
        return list((await session.execute(text("SELECT v FROM t ORDER BY id"))).scalars())


def _other_writer(path: Path, value: str, done: threading.Event, failed: list[BaseException]) -> None:
    """Another process's writer: its own connection and thread, SQLite's default busy handling."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
    except BaseException as exc:
        failed.append(exc)
    finally:
        conn.close()
        done.set()


async def test_a_transaction_that_reads_then_writes_is_not_refused_when_another_commits_between(
    database: Database, tmp_path: Path
) -> None:
    """Read, another connection writes and commits, then write: both writes are kept (on a deferred
    transaction the second write failed at once with "database is locked")."""
    done, failed = threading.Event(), list[BaseException]()
    async with transaction(database) as session:
        seen = (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()
        other = threading.Thread(target=_other_writer, args=(tmp_path / "writers.db", "other", done, failed))
        other.start()
        await asyncio.to_thread(done.wait, 0.5)  # it waits for this transaction, or commits at once
        assert not failed
        await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"after {seen}"})
        still = (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()
        assert still == seen + 1, "one state from the first read to the commit: the other's row is not in it"
    await asyncio.to_thread(other.join, 10)
    assert not failed, failed
    assert await _values(database) == ["first", "after 1", "other"], "both kept, the waiting one second"


async def test_two_write_sessions_that_both_read_first_both_commit(database: Database) -> None:
    """Two requests of one process, interleaved on the event loop: each reads, then writes."""
    have_read: list[str] = []

    async def request(name: str) -> int:
        async with transaction(database) as session:
            count = (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()
            have_read.append(name)
            waited = 0.0  # on a deferred BEGIN both read at once; with IMMEDIATE the second waits
            while len(have_read) < 2 and waited < 0.3:
                await asyncio.sleep(0.01)
                waited += 0.01
            await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"{name} saw {count}"})
            return int(count)

    counts = await asyncio.gather(request("a"), request("b"))
    assert sorted(counts) == [1, 2], "the second saw the first's row: they ran one after the other"
    async with database.session(write=False) as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3


async def test_a_read_session_neither_waits_for_a_writer_nor_holds_one_back(
    database: Database, tmp_path: Path
) -> None:
    async with database.session(write=True) as writer:
        await writer.execute(text("INSERT INTO t (v) VALUES ('uncommitted')"))  # holds the write lock
        started = time.monotonic()
        async with database.session(write=False) as reader:
            values = (await reader.execute(text("SELECT v FROM t"))).scalars().all()
            assert values == ["first"], "it sees what was committed, not the writer's work"
            assert time.monotonic() - started < 1, "it did not wait for the write lock"
            await writer.commit()  # a reader's open snapshot does not hold the writer back
    async with database.session(write=False) as reader:
        assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2


async def test_a_writer_waits_for_the_lock_and_is_refused_only_past_the_busy_timeout(
    database: Database, tmp_path: Path
) -> None:
    holder = sqlite3.connect(tmp_path / "writers.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.3, holder.execute, args=("COMMIT",))
    releaser.start()
    try:  # held for 0.3 s: waited for
        async with transaction(database) as session:
            await session.execute(text("SELECT count(*) FROM t"))
            await session.execute(text("INSERT INTO t (v) VALUES ('waited')"))
    finally:
        releaser.join()
    holder.execute("BEGIN IMMEDIATE")
    try:  # held past the busy timeout (5 s): refused, a 503 for the API
        with pytest.raises(OperationalError, match="database is locked") as refused:
            async with transaction(database) as session:
                await session.execute(text("SELECT count(*) FROM t"))
    finally:
        holder.close()
    assert _is_unavailable(refused.value)


async def test_a_lost_snapshot_is_logged_as_a_bug_and_answered_as_unavailable(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLITE_BUSY_SNAPSHOT is a transaction not opened as a writer (a bug to fix, logged as an error); the
    caller is told to try again (503), which succeeds, rather than given a 500."""
    other = sqlite3.connect(tmp_path / "writers.db", isolation_level=None)
    try:
        async with database.session() as session:  # undeclared: deferred, as before
            await session.execute(text("SELECT count(*) FROM t"))
            other.execute("INSERT INTO t (v) VALUES ('between')")
            with pytest.raises(OperationalError, match="database is locked") as lost:
                await session.execute(text("INSERT INTO t (v) VALUES ('late')"))
    finally:
        other.close()
    assert lost.value.orig.sqlite_errorname == "SQLITE_BUSY_SNAPSHOT"  # type: ignore[union-attr]
    with caplog.at_level(logging.ERROR, logger="service.errors"):
        assert _is_unavailable(lost.value)
    assert "not opened as a writer" in caplog.text


async def test_a_write_in_a_read_session_is_reported(database: Database) -> None:
    """A read session begins deferred; if it writes after all, that is reported (an error in the tests) and
    the write still runs, as a deferred transaction's always did."""
    async with database.session(write=False) as session:
        await session.execute(text("SELECT 1"))
        with pytest.warns(WriteInReadSession):
            await session.execute(insert(table("t", column("v"))).values(v="written"))
        await session.commit()
    assert await _values(database) == ["first", "written"]


# ---------------------------------------------------------------- over HTTP, with the lifecycle loop


async def _seed(url: str) -> tuple[auth.ClientCreated, Any]:
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session(write=True) as session:
            world = await pf.create_world(session)
            issuer = await auth.create_client(
                session,
                name="trust HR",
                role=auth.Role.ISSUER,
                organisation_code=world.tree.trust,
                now=dt.datetime.now(dt.UTC),
            )
            await session.commit()
            return issuer, world.doctor
    finally:
        await database.dispose()


@pytest.mark.slow
def test_concurrent_token_and_record_posts_beside_the_lifecycle_loop_get_no_503(tmp_path: Path) -> None:
    """The newcomer's report: ``POST /oauth/token`` answered 503 about once a minute, when the lifecycle
    pass committed. Here the pass runs every second, beside concurrent token and record posts."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    DataKeyStore(tmp_path / "keys", TEST_PASSPHRASE).init(dt.datetime.now(dt.UTC))
    KeyStore(tmp_path / "keys", TEST_PASSPHRASE).init(dt.datetime.now(dt.UTC))
    issuer, doctor = asyncio.run(_seed(url))
    statuses: dict[str, list[int]] = {"token": [], "record": []}

    async def drive(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            credentials = (issuer.client_id, issuer.client_secret)
            form = {"grant_type": "client_credentials"}
            got = await http.post("/oauth/token", data=form, auth=credentials)
            assert got.status_code == 200, got.text
            bearer = {"Authorization": f"Bearer {got.json()['access_token']}"}
            deadline = time.monotonic() + 5

            async def tokens() -> None:
                while time.monotonic() < deadline:
                    response = await http.post("/oauth/token", data=form, auth=credentials)
                    statuses["token"].append(response.status_code)

            async def records(worker: int) -> None:
                day = 0
                while time.monotonic() < deadline:
                    day += 1
                    awarded = (
                        dt.datetime.now(dt.UTC).date() - dt.timedelta(days=worker * 1000 + day)
                    ).isoformat()
                    body = pf.core_skill(doctor, date_awarded=awarded)
                    response = await http.post("/api/v1/records", json=body, headers=bearer)
                    statuses["record"].append(response.status_code)

            await asyncio.gather(*(tokens() for _ in range(4)), *(records(n) for n in range(4)))

    with live_server(tmp_path, database_url=url, env={"PASSPORT_LIFECYCLE_INTERVAL": "1"}) as server:
        asyncio.run(drive(server.base_url))
    counts = {kind: {code: got.count(code) for code in set(got)} for kind, got in statuses.items()}
    assert len(statuses["token"]) >= 4, counts  # enough to meet each other and the lifecycle passes
    assert len(statuses["record"]) >= 4, counts
    assert set(statuses["token"]) == {200}, counts
    assert set(statuses["record"]) == {201}, counts


# ---------------------------------------------------------------- a key change and its audit event


def test_a_key_change_whose_audit_event_is_refused_leaves_the_keys_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`passport keys rotate` wrote the new key (and retired the old) before inserting its audit events:
    a refused insert left a key nobody's audit log knows about. Now both happen, or neither."""
    for name in [n for n in os.environ if n.startswith("PASSPORT_") and not n.startswith("PASSPORT_TEST_")]:
        monkeypatch.delenv(name)
    db_path, keys = tmp_path / "passport.db", tmp_path / "keys"
    for name, value in {
        "PASSPORT_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        "PASSPORT_KEYS_DIR": str(keys),
        "PASSPORT_VAR_DIR": str(tmp_path / "var"),
        "PASSPORT_KEY_PASSPHRASE": TEST_PASSPHRASE,
        "PASSPORT_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    upgrade(f"sqlite+aiosqlite:///{db_path}")
    assert cli.main(["keys", "init"]) == 0
    before = {path: path.read_bytes() for path in keys.rglob("*") if path.is_file()}
    events_before = _sql(db_path, "SELECT count(*) FROM audit_events")
    _sql(  # the database refuses the audit insert (a full disk, a constraint): a real refusal, not a fake
        db_path,
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )

    with pytest.raises(IntegrityError, match="refused"):
        cli.main(["keys", "rotate", "--purpose", "token"])

    assert {path: path.read_bytes() for path in keys.rglob("*") if path.is_file()} == before
    assert _sql(db_path, "SELECT count(*) FROM audit_events") == events_before
    _sql(db_path, "DROP TRIGGER refuse_audit")
    capsys.readouterr()
    assert cli.main(["keys", "rotate", "--purpose", "token"]) == 0
    new_kid = capsys.readouterr().out.split()[4].rstrip(";")
    assert (keys / "token" / f"{new_kid}.pem").exists()
    assert _sql(db_path, "SELECT subject FROM audit_events ORDER BY id DESC LIMIT 1") == [
        (f"key:token:{new_kid}",)
    ]


def _sql(path: Path, statement: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return conn.execute(statement).fetchall()
    finally:
        conn.close()
