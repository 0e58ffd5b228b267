"""Database engine, sessions, base model and the clock.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL via asyncpg is selected by the
URL alone. The schema is built only by the alembic migrations in ``migrations/``.
"""

import collections
import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, Row, Select, event
from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, UOWTransaction
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_, greenlet_spawn

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """The default clock: timezone-aware UTC now."""
    return dt.datetime.now(dt.UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}  # noqa: RUF012


# ---------------------------------------------------------------- SQLite: one thread hop per statement
#
# aiosqlite runs every call on one thread per connection, and SQLAlchemy's adapter makes a call for
# each step: open a cursor, execute, fetch the rows, close the cursor; BEGIN is a statement of its
# own; the pool rolls back on return even after a commit. A small read was nine hops to the thread
# and back (tens of microseconds each, most of an authenticated read: docs/PERFORMANCE.md). The
# adapter below does the same work in as few hops as the semantics allow:
# - a statement, its rows and its cursor's life are one call on the connection's thread;
# - BEGIN is sent in the same call as the first statement after it (nothing else can run on the
#   connection in between: it is checked out to one session); a write session's is BEGIN IMMEDIATE
#   (decision 0045);
# - COMMIT and ROLLBACK are skipped when SQLite has no transaction open, exactly as the sqlite3
#   module itself does, only without the hop to find that out.
# It relies on SQLAlchemy 2.1's asyncio adapter classes and aiosqlite's ``_execute``/``_conn``
# (both pinned in pyproject.toml); tests/test_db.py counts the hops and fails if that changes.


def _run_statement(
    raw: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """On the connection's thread: (description, rows, rowcount, lastrowid) of one statement, after
    ``begin`` (``BEGIN`` or ``BEGIN IMMEDIATE``) if a transaction is to start with it."""
    if begin is not None:
        raw.execute(begin)
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _OneHopCursor(sa_aiosqlite.AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose ``execute`` is one call on the connection's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # None before any INSERT, as in sqlite3

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt: _OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        async with adapt._execute_mutex:
            begin, adapt.begin_pending = adapt.begin_pending, None
            aio = self._connection
            result = await aio._execute(_run_statement, aio._conn, begin, operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        await self._run(operation, seq_of_parameters, many=True)

    async def _async_soft_close(self) -> None:
        return None  # the rows are already buffered and the sqlite3 cursor closed

    def close(self) -> None:
        self._rows.clear()


class _OneHopConnection(sa_aiosqlite.AsyncAdapt_aiosqlite_connection):
    __slots__ = ("begin_pending",)
    _cursor_cls = _OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.begin_pending: str | None = None
        """SQLAlchemy began a transaction: this BEGIN (deferred or IMMEDIATE) goes with the next statement."""

    def cursor(self, server_side: bool = False) -> Any:
        begin = self.begin_pending
        if server_side and begin is not None:  # a streaming cursor runs its own calls: BEGIN first
            self.begin_pending = None
            try:
                await_(self._connection.execute(begin))
            except Exception as error:
                self._handle_exception(error)
        return super().cursor(server_side)

    def _transaction_open(self) -> bool:
        aio = self._connection
        return aio._connection is not None and bool(aio._conn.in_transaction)

    def commit(self) -> None:
        self.begin_pending = None
        if self._transaction_open():
            super().commit()

    def rollback(self) -> None:
        self.begin_pending = None
        if self._transaction_open():
            super().rollback()


class _OneHopDBAPI(sa_aiosqlite.AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _OneHopConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True
        return _OneHopConnection(self, await_(connection))


def _sqlite_on_connect(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not the driver, manage transactions (savepoints and BEGIN work as documented).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_statement(options: Mapping[str, Any]) -> str | None:
    """How a transaction of a connection with these execution options begins on SQLite.

    A read (``Database.read``) sends no BEGIN: its one statement runs in SQLite's own statement
    transaction. A write session begins IMMEDIATE: it takes the write lock first, waiting for it up to
    the busy timeout, so its reads and writes see one state and a write never fails on the upgrade from
    a stale read snapshot (SQLITE_BUSY_SNAPSHOT, which the busy timeout does not cover; decision 0045).
    Other sessions begin deferred, taking the lock at their first write, as SQLite does by default.
    """
    if options.get(READ_ALONE, False):
        return None
    return "BEGIN IMMEDIATE" if options.get(WRITES, False) else "BEGIN"


def _sqlite_on_begin(conn: Any) -> None:
    begin = _begin_statement(conn.get_execution_options())
    adapted = conn.connection.dbapi_connection
    if isinstance(adapted, _OneHopConnection):
        adapted.begin_pending = begin
    elif begin is not None:
        conn.exec_driver_sql(begin)


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Create the async engine for ``url`` with the settings each backend needs."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A fixed pool (no overflow): an overflow connection is closed when it is returned, and opening
        # one costs a thread, a connect and four PRAGMAs; under steady load SQLAlchemy's default (5 + 10
        # overflow) opened a new connection for about one request in thirteen. Requests beyond the
        # pool wait for a connection (503 after pool_timeout, as on PostgreSQL).
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=5,
            connect_args={"timeout": 10},
            module=_OneHopDBAPI(__import__("aiosqlite"), sqlite3),
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        return engine
    # Up to twice ``pool_size`` connections, all kept open: with SQLAlchemy's overflow (pool_size more,
    # closed when returned) a steady load of more requests than pool_size reopened a connection for
    # about one request in thirty (a PostgreSQL backend started, authentication, asyncpg's set-up),
    # which cost more than the reads themselves (docs/PERFORMANCE.md).
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=2 * pool_size,
        max_overflow=0,
        pool_timeout=5,
        connect_args={"timeout": 5, "command_timeout": 30},
    )
    event.listen(engine.sync_engine, "checkout", _replace_closed_connection)
    return engine


def _replace_closed_connection(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
    """Before a pooled PostgreSQL connection is used: replace it if the server has closed it.

    Instead of ``pool_pre_ping`` (a round trip to the server on every checkout, about a fifth of a small
    read), the driver is asked whether the connection's socket has been closed: a restarted or failed-over
    server, or one that ended the session, closes it, and the pool then opens a new connection. A
    connection that dies without the server closing it fails its first statement; the pool then drops
    every connection opened before (SQLAlchemy's disconnect handling) and the request gets a 503.
    """
    is_closed = getattr(proxy.driver_connection, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("the database server closed this connection")


# ---------------------------------------------------------------- reads outside a transaction
#
# ``Database.read`` is the second kind of database access, besides the session (decision 0036): one
# SELECT, alone, outside any transaction of ours. It sees what was committed when the statement
# started, exactly as that statement would inside a READ COMMITTED transaction on PostgreSQL, and as
# it would as the first statement of a transaction on SQLite; it cannot write, lock rows or see a
# session's uncommitted work. It saves what a transaction costs a one-statement read: BEGIN and
# COMMIT (two round trips on PostgreSQL, one thread hop on SQLite), the ORM's unit of work, and the
# pool checkout's and statement's separate greenlet switches (the whole read is one).

READ_ALONE = "passport_read_alone"
"""Execution option of the connections ``Database.read`` uses: no BEGIN is sent on SQLite."""
WRITES = "passport_writes"
"""Execution option of a write session's connections: BEGIN IMMEDIATE on SQLite (decision 0045)."""


class ReadRefused(TypeError):
    """``Database.read`` was given something other than a plain SELECT."""


def check_read(statement: Select[Any]) -> None:
    if not isinstance(statement, Select):
        raise ReadRefused(f"Database.read runs only SELECT statements, not {type(statement).__name__}")
    if statement._for_update_arg is not None:
        raise ReadRefused("Database.read takes no row locks (SELECT ... FOR UPDATE needs a session)")


def _read_rows(
    engine: Engine, statement: Select[Any], parameters: Mapping[str, Any] | None
) -> list[Row[Any]]:
    """In a greenlet: check a connection out, run the SELECT alone, give the connection back."""
    with engine.connect() as connection:
        return list(connection.execute(statement, parameters).all())


def _read_engine(engine: AsyncEngine) -> Engine:
    if engine.dialect.name == "sqlite":
        return engine.sync_engine.execution_options(**{READ_ALONE: True})
    # asyncpg: no BEGIN/COMMIT around the statement (PostgreSQL's READ COMMITTED gives each statement
    # its own snapshot inside a transaction too). Set on the connection in Python, no round trip.
    return engine.sync_engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_ALONE: True})


# ---------------------------------------------------------------- SQLite: small reads on the loop thread
#
# On SQLite a read through aiosqlite is a hop to the connection's thread and back: a queue put, a
# futex wake-up, the self-pipe write that wakes the event loop and two GIL hand-overs, about ten times
# what a one-row primary-key SELECT costs SQLite itself; under 64 concurrent requests the hops queue
# behind each other (decision 0038). ``LoopReader`` runs ``Database.read``'s statement on the calling
# thread instead, on a connection of its own (one per thread and process, opened on first use):
# - autocommit (no BEGIN): the statement runs in SQLite's own read transaction, which ends when its
#   rows are fetched, all at once, before the call returns. In WAL mode a reader neither waits for a
#   writer nor blocks one, and sees every transaction committed when it started (any process).
# - ``PRAGMA query_only``: SQLite itself refuses anything that would write, whatever the SQL says.
# - the event loop waits while the statement runs: a progress handler interrupts any statement that
#   runs longer than ``LOOP_READ_BUDGET`` seconds and the read is then run again on aiosqlite's thread
#   (one statement outside a transaction either way), so the loop is never held longer than that.
# - ``busy_timeout`` is ``LOOP_BUSY_TIMEOUT_MS``: a reader in WAL mode waits only in rare cases (another
#   connection recovering the WAL after a crash, an exclusive lock of a migration); the error is then
#   the same ``OperationalError`` (a 503) as on the thread.
# - the SELECT is compiled once per statement object by SQLAlchemy's SQLite dialect and its bind and
#   result processors applied as SQLAlchemy would; statements SQLAlchemy must render per call
#   (expanding IN lists, literal_execute) go to the thread.

LOOP_READ_BUDGET = 0.002
"""Seconds a read may hold the event loop before it is interrupted and run on aiosqlite's thread."""
LOOP_BUSY_TIMEOUT_MS = 50
"""How long a read on the loop waits for a lock in the rare cases a WAL reader waits at all."""
_PROGRESS_STEPS = 1000
"""SQLite virtual-machine steps between two looks at the clock (a one-row read takes about 25)."""
_COMPILED_CACHE_SIZE = 256


class _Compiled:
    """A SELECT compiled for the sqlite3 module, with SQLAlchemy's bind and result processors."""

    __slots__ = ("binds", "compiled", "defaults", "plain", "required", "results", "sql", "statement")

    def __init__(self, statement: Select[Any], compiled: Any, dialect: Dialect) -> None:
        self.statement = statement  # kept alive: the cache is keyed by its id
        self.sql = compiled.string
        processors = compiled._bind_processors
        self.binds = tuple((name, processors.get(name)) for name in compiled.positiontup or ())
        self.compiled = compiled
        self.defaults = compiled.construct_params(_check=False)
        self.required = frozenset(key for key, bind in compiled.binds.items() if bind.required)
        names = tuple(name for name, _ in self.binds)
        self.plain: tuple[str, ...] | None = (
            names
            if all(processor is None for _, processor in self.binds) and self.required <= set(names)
            else None
        )
        """The bind names, when none has a processor and every required one is among them: then
        parameters naming them all are taken as they are (what the general way gives too)."""
        self.results = tuple(
            (index, processor)
            for index, column in enumerate(statement.selected_columns)
            if (processor := column.type._cached_result_processor(dialect, None)) is not None
        )

    @classmethod
    def of(cls, statement: Select[Any], dialect: Dialect) -> "_Compiled | None":
        """The compiled statement, or None if SQLAlchemy must render it per call (``IN`` lists)."""
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params or compiled.escaped_bind_names:
            return None
        return cls(statement, compiled, dialect)

    def parameters(self, given: Mapping[str, Any] | None) -> tuple[Any, ...]:
        if given and (plain := self.plain) is not None:
            try:
                return tuple([given[name] for name in plain])
            except KeyError:
                pass  # one is left to its default, or missing: the general way
        if self.required and (not given or not self.required.issubset(given)):
            self.compiled.construct_params(given)  # raises SQLAlchemy's error naming the missing one
        values = self.defaults if not given else {**self.defaults, **given}
        return tuple(
            values[name] if processor is None else processor(values[name]) for name, processor in self.binds
        )

    def rows(self, raw: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not self.results:
            return raw
        out = []
        for row in raw:
            values = list(row)
            for index, processor in self.results:
                values[index] = processor(values[index])
            out.append(tuple(values))
        return out


class _Interrupted(Exception):
    """The read ran past :data:`LOOP_READ_BUDGET`: it goes to aiosqlite's thread instead."""


class LoopReader:
    """``Database.read`` for a SQLite file, on the calling thread (see the comment above)."""

    def __init__(self, path: str, dialect: Dialect, budget: float = LOOP_READ_BUDGET) -> None:
        self.path = path
        self.dialect = dialect
        self.budget = budget
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._compiled: dict[int, _Compiled | None] = {}
        self._no_wal = False
        """The file cannot be put in WAL mode (readers would wait for writers): every read on the thread."""

    def _progress(self) -> int:
        """SQLite's progress handler: non-zero interrupts the statement (it ran past the budget)."""
        return 1 if time.perf_counter() - self._local.started > self.budget else 0

    def _connection(self) -> sqlite3.Connection | None:
        local = self._local
        raw: sqlite3.Connection | None = getattr(local, "raw", None)
        if raw is not None and local.pid == os.getpid():
            return raw
        if self._no_wal:
            return None
        raw = sqlite3.connect(
            self.path, timeout=LOOP_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            mode = raw.execute("PRAGMA journal_mode=WAL").fetchone()
            raw.execute("PRAGMA query_only=ON")
        except sqlite3.Error:
            raw.close()
            raise
        if mode is None or str(mode[0]).lower() != "wal":
            raw.close()
            self._no_wal = True
            return None
        raw.set_progress_handler(self._progress, _PROGRESS_STEPS)
        local.raw, local.pid = raw, os.getpid()
        self._opened.append(raw)
        return raw

    def _compile(self, statement: Select[Any]) -> _Compiled | None:
        key = id(statement)
        if key in self._compiled:
            found = self._compiled[key]
            if found is None or found.statement is statement:
                return found
        compiled = _Compiled.of(statement, self.dialect)
        if len(self._compiled) >= _COMPILED_CACHE_SIZE:
            del self._compiled[next(iter(self._compiled))]
        self._compiled[key] = compiled
        return compiled

    def read(
        self, statement: Select[Any], parameters: Mapping[str, Any] | None
    ) -> list[tuple[Any, ...]] | None:
        """The rows, or None when this read must run on aiosqlite's thread instead."""
        compiled = self._compile(statement)
        if compiled is None:
            return None
        try:
            raw = self._connection()
            if raw is None:
                return None
            values = compiled.parameters(parameters)
            self._local.started = time.perf_counter()
            try:
                fetched = raw.execute(compiled.sql, values).fetchall()
            except sqlite3.OperationalError as error:
                if str(error) == "interrupted" and self._progress():
                    raise _Interrupted from error
                raise
        except _Interrupted:
            return None
        except sqlite3.Error as error:
            self._drop()
            raise DBAPIError.instance(
                compiled.sql, None, error, sqlite3.Error, hide_parameters=True, dialect=self.dialect
            ) from error
        return compiled.rows(fetched)

    def _drop(self) -> None:
        """Forget this thread's connection after an error (the next read opens a new one)."""
        raw: sqlite3.Connection | None = getattr(self._local, "raw", None)
        self._local.raw = None
        if raw is not None:
            with contextlib.suppress(ValueError):
                self._opened.remove(raw)
            raw.close()

    def close(self) -> None:
        for raw in self._opened:
            raw.close()
        self._opened.clear()
        self._local = threading.local()


def _loop_reader(engine: AsyncEngine) -> LoopReader | None:
    url = engine.url
    if engine.dialect.name != "sqlite" or url.query or url.database in (None, "", ":memory:"):
        return None
    return LoopReader(str(url.database), engine.dialect)


# ---------------------------------------------------------------- write and read sessions
#
# A session says whether it will write (decision 0045). On SQLite a write session begins IMMEDIATE
# (see ``_begin_statement``); a read session begins deferred and must not write: a write in it is
# reported with the warning below (an error in the tests, which turn warnings into errors) and still
# runs, as a deferred transaction always did. A session that says neither is deferred, unchecked.


class WriteInReadSession(UserWarning):
    """A session opened with ``Database.session(write=False)`` wrote: open it with ``write=True``."""


class ReadSession(Session):
    """The ORM session class of read sessions: its writes are reported (listeners below)."""


def _report_write(what: str) -> None:
    warnings.warn(
        f"a read session ran {what}; a session that writes is opened with Database.session(write=True)",
        WriteInReadSession,
        stacklevel=2,
    )


@event.listens_for(ReadSession, "do_orm_execute")
def _read_session_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _report_write(type(state.statement).__name__.upper())


@event.listens_for(ReadSession, "before_flush")
def _read_session_flush(session: Session, context: UOWTransaction, instances: object) -> None:
    if session.new or session.deleted or any(session.is_modified(row) for row in session.dirty):
        _report_write("a flush of changed rows")


class Database:
    """The engine and session factories. Tests substitute one bound to a rolled-back connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
        self._write_sessionmaker = async_sessionmaker(
            engine.execution_options(**{WRITES: True}), expire_on_commit=False, autoflush=True
        )
        self._read_sessionmaker = async_sessionmaker(
            engine, expire_on_commit=False, autoflush=True, sync_session_class=ReadSession
        )
        self._read_engine = _read_engine(engine)
        self._loop_reader = _loop_reader(engine)

    def session(self, *, write: bool | None = None) -> AsyncSession:
        """A session; ``write`` says whether its transaction will write (decision 0045).

        ``write=True``: on SQLite the transaction begins IMMEDIATE, taking the write lock at its first
        statement (waiting up to the busy timeout for another writer to commit), so it never fails with
        "database is locked" because another connection committed between its reads and its first
        write. ``write=False``: it only reads (deferred BEGIN; it waits for no writer); a write in it is
        reported as :class:`WriteInReadSession`. Unsaid (None): a deferred transaction, unchecked, as
        before. PostgreSQL is the same for all three (READ COMMITTED, row locks).
        """
        if write is None:
            return self._sessionmaker()
        return self._write_sessionmaker() if write else self._read_sessionmaker()

    async def read(
        self, statement: Select[Any], parameters: Mapping[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        """The rows of one SELECT run alone, outside any transaction (decisions 0036 and 0038).

        For hot reads that are one statement: what it returns was committed when it started. Anything
        that must see a consistent picture across statements, write, or lock uses :meth:`session`.
        ``parameters`` fill the statement's ``bindparam``s (a statement built once, at import). Rows
        are sequences of the statement's columns, in order.

        On a SQLite file the statement runs on the event loop's thread, not aiosqlite's: the loop waits
        for it (a one-row indexed read: a few microseconds; anything past ``LOOP_READ_BUDGET`` is
        interrupted and run on aiosqlite's thread instead). Use it for small indexed reads only.
        PostgreSQL (and SQLite in memory) read through the pool, as sessions do.
        """
        check_read(statement)
        reader = self._loop_reader
        if reader is not None and (rows := reader.read(statement, parameters)) is not None:
            return rows
        return await greenlet_spawn(_read_rows, self._read_engine, statement, parameters)

    async def dispose(self) -> None:
        if self._loop_reader is not None:
            self._loop_reader.close()
        await self.engine.dispose()


@contextlib.asynccontextmanager
async def transaction(database: Database) -> AsyncIterator[AsyncSession]:
    """A write session whose work is committed when the caller finishes without error, else rolled back."""
    async with database.session(write=True) as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


MODEL_MODULES = (
    "service.workforce.models",
    "service.auth",
    "service.audit",
    "service.passport.models",
    "service.additionality.models",
    "service.benchmark.models",
    "service.placements.models",
    "service.verification.models",
    "service.credentials.models",
    "service.oid4vc.models",
)
"""Every module that declares tables: migrations and the drift test import them all."""


def import_models() -> None:
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)


def alembic_config(url: str) -> Any:
    """An alembic Config for ``url``, found beside the package (works from any working folder)."""
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    import sys

    config = Config(str(root / "alembic.ini"), stdout=sys.stdout)
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (synchronous: call it outside a running event loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
