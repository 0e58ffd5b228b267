"""service/db.py: the SQLite one-hop adapter keeps every transaction guarantee in fewer thread hops;
reads outside a transaction (``Database.read``, decision 0036), on SQLite on the event loop's thread
(decision 0038); the pools.

Each test uses its own SQLite file through ``make_engine`` (the engine the service uses) and a second,
plain ``sqlite3`` connection where another process's view is needed.
"""

import asyncio
import datetime as dt
import functools
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite.core
import pytest
from sqlalchemy import bindparam, column, func, literal, select, table, text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from service import db
from service.db import Database, ReadRefused, make_engine, upgrade, utcnow
from service.workforce.models import Organisation


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'adapter.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
        await conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
    yield engine
    await engine.dispose()


@pytest.fixture
def other(tmp_path: Path, engine: AsyncEngine) -> Iterator[sqlite3.Connection]:
    """Another writer on the same file, as a second process would be."""
    conn = sqlite3.connect(tmp_path / "adapter.db", isolation_level=None, timeout=5)
    yield conn
    conn.close()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call made on an aiosqlite connection's thread, by name."""
    calls: list[str] = []
    original: Any = aiosqlite.core.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counted)
    return calls


async def values(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars())


async def test_a_small_read_in_a_transaction_is_two_thread_hops(engine: AsyncEngine, hops: list[str]) -> None:
    async with engine.connect() as warm:  # the pool's connection exists before counting
        await warm.execute(text("SELECT 1"))
    hops.clear()
    async with Database(engine).session() as session:
        await session.execute(text("SELECT v FROM t WHERE id = 1"))
        await session.commit()
    assert hops == ["_run_statement", "commit"], "BEGIN rides with the SELECT; no reset after the commit"


@pytest.mark.parametrize(("write", "begin"), [(True, "BEGIN IMMEDIATE"), (False, "BEGIN"), (None, "BEGIN")])
async def test_a_write_session_begins_immediate_in_the_same_hop(
    engine: AsyncEngine, hops: list[str], monkeypatch: pytest.MonkeyPatch, write: bool | None, begin: str
) -> None:
    """Decision 0045: only the verb changes; BEGIN still rides with the first statement."""
    async with engine.connect() as warm:
        await warm.execute(text("SELECT 1"))
    sent: list[str | None] = []
    run = db._run_statement

    @functools.wraps(run)
    def traced(raw: sqlite3.Connection, begin: str | None, *args: Any) -> Any:
        sent.append(begin)
        return run(raw, begin, *args)

    monkeypatch.setattr(db, "_run_statement", traced)
    hops.clear()
    async with Database(engine).session(write=write) as session:
        await session.execute(text("SELECT v FROM t WHERE id = 1"))
        await session.commit()
    assert hops == ["_run_statement", "commit"]
    assert sent == [begin]


async def test_a_transaction_that_ran_nothing_costs_no_hop(engine: AsyncEngine, hops: list[str]) -> None:
    async with engine.connect() as warm:
        await warm.execute(text("SELECT 1"))
    hops.clear()
    async with engine.begin():
        pass
    assert hops == []


T = table("t", column("id"), column("v"))


@pytest.fixture
async def database(engine: AsyncEngine) -> AsyncIterator[Database]:
    database = Database(engine)
    yield database
    await database.dispose()


BY_ID = select(T.c.v).where(T.c.id == bindparam("id"))


async def test_a_small_read_on_a_sqlite_file_makes_no_thread_hop(database: Database, hops: list[str]) -> None:
    assert [tuple(row) for row in await database.read(BY_ID, {"id": 1})] == [("first",)]
    assert [tuple(row) for row in await database.read(BY_ID, {"id": 2})] == []
    assert hops == [], "run on the event loop's thread, on the reader's own connection"


async def test_a_read_sees_what_was_committed_when_it_ran(
    database: Database, other: sqlite3.Connection
) -> None:
    count = select(func.count()).select_from(T)
    assert (await database.read(count))[0][0] == 1
    other.execute("INSERT INTO t (v) VALUES ('written meanwhile')")
    assert (await database.read(count))[0][0] == 2, "another connection's commit is seen at once"
    other.execute("BEGIN")
    other.execute("INSERT INTO t (v) VALUES ('not committed yet')")
    assert (await database.read(count))[0][0] == 2
    other.execute("COMMIT")  # the read left no transaction behind to block on
    assert (await database.read(count))[0][0] == 3


async def test_a_read_neither_waits_for_nor_blocks_a_writer(
    database: Database, other: sqlite3.Connection, hops: list[str]
) -> None:
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    other.execute("INSERT INTO t (v) VALUES ('being written')")
    assert [tuple(row) for row in await database.read(select(T.c.v).order_by(T.c.id))] == [("first",)]
    other.execute("COMMIT")  # not blocked by the reader either
    async with database.session() as session:  # the service's own writer, mid-transaction
        await session.execute(T.insert().values(v="by a session"))
        hops.clear()
        assert len(await database.read(select(T.c.v))) == 2, "the session's work is not seen before COMMIT"
        assert hops == [], "read on the loop, beside the session's open write transaction"
        await session.commit()
    assert len(await database.read(select(T.c.v))) == 3


async def test_a_read_that_would_hold_the_loop_runs_on_the_thread(
    database: Database, hops: list[str]
) -> None:
    numbers = select(literal(1).label("n")).cte("numbers", recursive=True)
    numbers = numbers.union_all(select(numbers.c.n + 1).where(numbers.c.n < 50_000))
    many = select(func.count()).select_from(numbers)
    reader = database._loop_reader
    assert reader is not None
    reader.budget = 0.0  # any statement past the first progress check is over budget
    assert (await database.read(many))[0][0] == 50_000, "interrupted on the loop, run again on the thread"
    assert hops == ["_run_statement"]
    hops.clear()
    assert (await database.read(BY_ID, {"id": 1}))[0][0] == "first"
    assert hops == [], "a one-row read never reaches the first progress check"


async def test_statements_sqlalchemy_renders_per_call_run_on_the_thread(
    database: Database, hops: list[str]
) -> None:
    rows = await database.read(select(T.c.v).where(T.c.id.in_([1, 2])))
    assert [tuple(row) for row in rows] == [("first",)]
    assert hops == ["_run_statement"], "an IN list is rendered per call: one hop, as before"


async def test_values_go_in_and_come_out_as_sqlalchemy_converts_them(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'types.db'}"
    await asyncio.to_thread(upgrade, url)
    database = Database(make_engine(url))
    created = dt.datetime(2026, 8, 5, 9, 30, 15, 123456, tzinfo=dt.UTC)
    try:
        async with database.session() as session:
            session.add(_organisation("RRK", created))
            await session.commit()
        columns = Organisation.__table__.c
        by_time = select(columns.code, columns.created_at).where(columns.created_at == bindparam("at"))
        rows = await database.read(by_time, {"at": created.astimezone(dt.timezone(dt.timedelta(hours=1)))})
        assert [tuple(row) for row in rows] == [("RRK", created)], "bound and read back as aware UTC"
        assert rows[0][1].tzinfo is not None
        with pytest.raises(SQLAlchemyError, match="bind parameter 'at'"):
            await database.read(by_time)
    finally:
        await database.dispose()


async def test_the_readers_connection_refuses_to_write(database: Database, other: sqlite3.Connection) -> None:
    reader = database._loop_reader
    assert reader is not None
    await database.read(BY_ID, {"id": 1})
    raw = reader._connection()
    assert raw is not None
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        raw.execute("INSERT INTO t (v) VALUES ('through the reader')")
    assert [v for (v,) in other.execute("SELECT v FROM t")] == ["first"]


async def test_a_locked_database_is_the_same_error_as_on_the_thread_and_passes(
    database: Database, tmp_path: Path
) -> None:
    await database.read(BY_ID, {"id": 1})
    await database.dispose()  # its connections closed (it opens new ones when used again)
    locker = sqlite3.connect(tmp_path / "adapter.db", isolation_level=None, timeout=5)
    try:  # an exclusive-locking writer (a migration could be one) keeps even WAL readers out
        locker.execute("PRAGMA locking_mode=EXCLUSIVE")
        locker.execute("BEGIN EXCLUSIVE")
        locker.execute("INSERT INTO t (v) VALUES ('locked in')")
        locker.execute("COMMIT")
        with pytest.raises(OperationalError, match="locked") as raised:
            await database.read(BY_ID, {"id": 1})
        assert isinstance(raised.value.orig, sqlite3.OperationalError)
    finally:
        locker.close()
    assert (await database.read(BY_ID, {"id": 2}))[0][0] == "locked in", "a new connection once it is free"


async def test_a_session_after_a_read_on_the_same_connection_keeps_its_snapshot(
    tmp_path: Path, other: sqlite3.Connection
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'adapter.db'}", pool_size=1)
    database = Database(engine)
    try:
        await database.read(select(T.c.v).where(T.c.id.in_([1])))  # on the thread: the pool's connection
        async with database.session() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 1
            other.execute("INSERT INTO t (v) VALUES ('written meanwhile')")
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 1, "BEGIN was sent"
    finally:
        await database.dispose()


async def test_a_read_runs_only_plain_selects(
    database: Database, engine: AsyncEngine, hops: list[str]
) -> None:
    with pytest.raises(ReadRefused, match="only SELECT"):
        await database.read(text("DELETE FROM t"))  # type: ignore[arg-type]
    with pytest.raises(ReadRefused, match="no row locks"):
        await database.read(select(T.c.v).with_for_update())
    with pytest.raises(ReadRefused, match="only SELECT"):
        await database.read(T.delete())  # type: ignore[arg-type]
    assert hops == [], "refused before reaching the database"
    assert await values(engine) == ["first"]


async def test_commit_keeps_and_rollback_discards(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('kept')"))
        await conn.commit()
        await conn.execute(text("INSERT INTO t (v) VALUES ('discarded')"))
        await conn.rollback()
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('never committed')"))  # closed: rolled back
    assert await values(engine) == ["first", "kept"]


async def test_savepoints_roll_back_only_their_part(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('outer')"))
        nested = await conn.begin_nested()
        await conn.execute(text("INSERT INTO t (v) VALUES ('inner')"))
        await nested.rollback()
    assert await values(engine) == ["first", "outer"]


async def test_a_transaction_begun_lazily_still_reads_one_snapshot(
    engine: AsyncEngine, other: sqlite3.Connection
) -> None:
    async with engine.begin() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
        other.execute("INSERT INTO t (v) VALUES ('written meanwhile')")
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1, "BEGIN came first"
    assert await values(engine) == ["first", "written meanwhile"]


async def test_a_streamed_read_begins_its_transaction_first(
    engine: AsyncEngine, other: sqlite3.Connection
) -> None:
    async with engine.begin() as conn:
        result = await conn.stream(text("SELECT v FROM t"))
        assert [row[0] async for row in result] == ["first"]
        other.execute("INSERT INTO t (v) VALUES ('written meanwhile')")
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1


async def test_rowcount_lastrowid_many_rows_and_errors_come_through(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('x')"))
        assert inserted.lastrowid == 2
        await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": f"bulk {i}"} for i in range(100)])
        updated = await conn.execute(text("UPDATE t SET v = v || '!' WHERE v LIKE 'bulk%'"))
        assert updated.rowcount == 100
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
    assert len(await values(engine)) == 102


def _organisation(code: str, created: dt.datetime) -> Organisation:
    return Organisation(
        code=code,
        name="Test NHS Trust",
        kind="nhs_trust",
        parent_code=None,
        icb_code=None,
        postcode=None,
        latitude=None,
        longitude=None,
        created_at=created,
    )


async def test_the_orm_reads_and_writes_through_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'orm.db'}"
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    database = Database(make_engine(url))
    try:
        async with database.session() as session:
            session.add(_organisation("RRK", utcnow()))
            await session.commit()
        async with database.session() as session:
            found = await session.get(Organisation, "RRK")
            assert found is not None
            assert found.name == "Test NHS Trust"
            assert found.created_at.tzinfo is not None
    finally:
        await database.dispose()


# ---------------------------------------------------------------- PostgreSQL: a connection the server closed


async def test_a_connection_the_server_ended_is_replaced_before_use(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL connections only")
    database, admin = Database(make_engine(database_url, pool_size=1)), make_engine(database_url, pool_size=1)
    try:
        async with database.engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        async with admin.connect() as other:  # as an operator or a server restart would
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.sleep(0.2)  # the server's goodbye reaches the idle pooled connection
        async with database.engine.connect() as conn:
            again = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        assert again != pid, "a new connection, and no error for the caller"
    finally:
        await database.dispose()
        await admin.dispose()


async def test_on_postgresql_a_read_sends_no_begin_and_sessions_still_do(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    database = Database(make_engine(database_url, pool_size=1))
    sent: list[str] = []  # the transaction commands asyncpg sends on the pooled connection
    try:
        async with database.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            raw.add_query_logger(lambda record: sent.append(record.query.split()[0].upper().rstrip(";")))
        for _ in range(2):  # the same pooled connection, read then session, twice
            assert len(await database.read(select(func.current_database()))) == 1
            await asyncio.sleep(0)  # asyncpg calls its query loggers soon after
            assert sent == [], "no BEGIN or COMMIT around the read"
            async with database.session() as session:
                await session.execute(text("SELECT 1"))
                await session.commit()
            await asyncio.sleep(0)
            assert sent == ["BEGIN", "COMMIT"], "a session after a read still has its transaction"
            sent.clear()
    finally:
        await database.dispose()


async def test_postgresql_keeps_its_pool_open_under_concurrent_requests(database_url: str) -> None:
    """Connections are not closed on return under load (they were reopened for 1 request in 30)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    from sqlalchemy import event

    engine = make_engine(database_url, pool_size=1)
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda dbapi_connection, record: opened.append(record))
    try:

        async def request() -> None:
            async with Database(engine).session() as session:
                await session.execute(text("SELECT 1"))
                await asyncio.sleep(0.01)
                await session.commit()

        for _ in range(3):
            await asyncio.gather(*(request() for _ in range(8)))
        assert len(opened) == 2, "twice pool_size, opened once"
    finally:
        await engine.dispose()


async def test_sqlite_keeps_a_fixed_pool_under_concurrent_requests(tmp_path: Path) -> None:
    """No overflow connections: they would be closed on return and reopened (a thread each) under load."""
    from sqlalchemy import event

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}", pool_size=2)
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda dbapi_connection, record: opened.append(record))
    try:

        async def request() -> None:
            async with Database(engine).session() as session:
                await session.execute(text("SELECT 1"))
                await asyncio.sleep(0.01)  # hold the connection, as a handler would
                await session.commit()

        for _ in range(3):
            await asyncio.gather(*(request() for _ in range(8)))
        assert len(opened) == 2
    finally:
        await engine.dispose()
