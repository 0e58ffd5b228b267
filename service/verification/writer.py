"""Group commit of verifications: many requests' results, nonces and audit events in one transaction.

A verification writes three things that must commit together: the nonce it used (a second use is a
replay, so the nonce is claimed in the database, the one place every worker shares), its result, and
its audit event. One commit per verification makes the database the bottleneck; the writer instead
queues what each request wants written and commits everything queued so far in one transaction. A
request is answered only after the transaction holding its verification has committed, so nothing
accepted is lost; while one batch commits, the next one gathers. No timer: a lone request is written
at once.

Each item says how to finish itself once its nonce's first use is known (``finish``): the verdict of a
replay is "invalid", decided inside the transaction that recorded the nonce. The request finishes its
item beforehand for the use it expects (:meth:`Item.prepare`, decision 0037), so the transaction only
writes; it finishes an item again only when the database answers otherwise (a replay).

On PostgreSQL (and wherever sessions join a transaction the caller opened, as in the tests) the batch
is SQLAlchemy Core in a session, run through ``AsyncSession.run_sync`` (:class:`_CoreStore`). On an
SQLite file the writer keeps a connection of its own and runs the whole batch on it, on the event
loop's thread, as plain ``sqlite3`` calls (:class:`_SQLiteStore`, decision 0039): no thread hop, no
SQLAlchemy statement machinery, and no wait for the GIL between statements (a thread that gives the
GIL up for every SQLite step waited up to the 5 ms switch interval each time to get it back while the
loop verified). Around it, an exclusive lock on a file beside the database (:class:`_BatchLock`)
queues the batch writers of every worker process in the kernel, which wakes a waiter when the lock is
released; without it they met in SQLite's busy handler, which polls with sleeps of up to 100 ms and
let one worker's batch wait 0.1 to 2.4 s while the other committed batch after batch (the p99 of
450 ms over HTTP: docs/PERFORMANCE.md). Both stores run :func:`write_batch`, the one copy of the
batch's logic.
"""

import asyncio
import contextlib
import datetime as dt
import fcntl
import logging
import operator
import os
import sqlite3
import stat
import struct
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import msgspec
from sqlalchemy import JSON, Date, DateTime, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from service import audit
from service.db import Database, UTCDateTime
from service.verification import repository
from service.verification.errors import RequestAnswered, RequestExpired

_log = logging.getLogger("service.verification")

MAX_BATCH: Final = 256
PRUNE_EVERY: Final = 1000
"""Batches between two deletions of used nonces past their life."""
BATCH_ATTEMPTS: Final = 3
"""Tries of a batch refused with an IntegrityError: its audit events lost their place in the chain (the
primary key or the tail trigger refused them, decision 0052) to an appender that does not wait for the
appenders' lock; ours wait for each other (the advisory lock on PostgreSQL, the write lock on SQLite)."""

Finish = Callable[[bool], tuple[dict[str, Any], audit.Entry, Any]]
"""Given whether the nonce was unused: the verification row, its audit event, and the answer."""


@dataclass
class Item:
    finish: Finish
    nonce: str | None
    """The nonce the presentations' key-binding JWTs answer (None: none passed far enough to record)."""
    nonce_expires: dt.datetime
    request_id: uuid.UUID | None = None
    """The presentation request this answers: it must be pending and unexpired, and becomes answered."""
    prepared: tuple[bool, tuple[dict[str, Any], audit.Entry, Any]] | None = field(default=None, repr=False)
    """``finish`` already called, outside the transaction, for the nonce use expected (first use when
    there is a nonce): ``(first_use, its result)``. Used only if the database says the same."""
    future: "asyncio.Future[Any] | None" = field(default=None, repr=False)

    def result(self, first_use: bool) -> tuple[dict[str, Any], audit.Entry, Any]:
        if self.prepared is not None and self.prepared[0] is first_use:
            return self.prepared[1]
        return self.finish(first_use)

    def prepare(self) -> "Item":
        """Finish the item now for the expected nonce use, so the transaction only writes (the sealing,
        policy and encoding then run while other requests' transactions commit, not inside one)."""
        expected = self.nonce is not None
        self.prepared = (expected, self.finish(expected))
        return self


class BatchWriter:
    def __init__(self, database: Database, clock: Callable[[], dt.datetime]) -> None:
        self.database = database
        self.clock = clock
        self._queue: list[Item] = []
        self._task: asyncio.Task[None] | None = None
        self._batches = 0
        path = own_connection_path(database)
        self._own = _OwnConnection(path, database.engine.dialect) if path is not None else None

    async def submit(self, item: Item) -> Any:
        """Queue ``item``; return its answer once its transaction has committed (or raise its error)."""
        item.future = asyncio.get_running_loop().create_future()
        self._queue.append(item)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await item.future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                answers = await self._write(batch)
            except Exception as exc:  # the whole transaction failed: every item gets the error
                for item in batch:
                    if item.future is not None and not item.future.done():
                        item.future.set_exception(exc)
                continue
            for item, answer in zip(batch, answers, strict=True):
                if item.future is None or item.future.done():
                    continue
                if isinstance(answer, Exception):
                    item.future.set_exception(answer)
                else:
                    item.future.set_result(answer)

    async def _write(self, batch: list[Item]) -> list[Any]:
        now = self.clock()
        self._batches += 1
        prune = self._batches % PRUNE_EVERY == 0
        attempt = 1
        while True:
            try:
                return await self._write_once(batch, now, prune)
            except IntegrityError:  # rolled back: the batch is written again, on the new tail
                if attempt >= BATCH_ATTEMPTS:
                    raise
                attempt += 1

    async def _write_once(self, batch: list[Item], now: dt.datetime, prune: bool) -> list[Any]:
        if self._own is not None:
            return await self._own.write(batch, now, prune)
        async with self.database.session(write=True) as session:
            answers = await session.run_sync(_write_core, batch, now, prune)
            await session.commit()
        return answers

    def close(self) -> None:
        """Close the writer's own SQLite connection and lock file, if open (reopened when needed)."""
        if self._own is not None:
            self._own.close()


def own_connection_path(database: Database) -> str | None:
    """The SQLite file the writer keeps its own connection to, or None: PostgreSQL, an in-memory
    database, or sessions that join a transaction the caller opened (the tests' rolled-back one)."""
    engine = database.engine
    if engine.dialect.name != "sqlite" or not isinstance(database.session().bind, AsyncEngine):
        return None
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


# ---------------------------------------------------------------- the batch, over either store


class _Store(Protocol):
    def claim_requests(self, ids: Collection[uuid.UUID], now: dt.datetime) -> set[uuid.UUID]: ...
    def claim_nonces(self, expiry: dict[str, dt.datetime], now: dt.datetime) -> set[str]: ...
    def request_state(self, request_id: uuid.UUID) -> str | None: ...
    def insert(self, rows: list[dict[str, Any]], entries: list[audit.Entry]) -> None: ...
    def prune(self, now: dt.datetime) -> None: ...


def write_batch(store: _Store, batch: list[Item], now: dt.datetime, prune: bool) -> list[Any]:
    """One batch in the store's transaction: claim the requests and the nonces, finish each item, insert
    the rows and the audit events. Each item's answer, or the exception its request gets."""
    wanted = {item.request_id for item in batch if item.request_id is not None}
    claimed = store.claim_requests(wanted, now) if wanted else set()
    expiry: dict[str, dt.datetime] = {}
    for item in batch:
        if item.nonce is not None and (item.request_id is None or item.request_id in claimed):
            expiry.setdefault(item.nonce, item.nonce_expires)
    fresh = store.claim_nonces(expiry, now) if expiry else set()
    answers: list[Any] = []
    rows: list[dict[str, Any]] = []
    entries: list[audit.Entry] = []
    taken: set[uuid.UUID] = set()
    for item in batch:
        if item.request_id is not None and item.request_id not in claimed:
            state = store.request_state(item.request_id)
            answers.append(
                RequestAnswered("The request has already been answered; a nonce is used once.")
                if state == "answered"
                else RequestExpired("The request has expired; ask the verifier for a new one.")
            )
            continue
        if item.request_id is not None and item.request_id in taken:  # twice in one batch
            answers.append(RequestAnswered("The request has already been answered."))
            continue
        if item.request_id is not None:
            taken.add(item.request_id)
        unused = item.nonce is not None and item.nonce in fresh
        if unused:
            fresh.discard(item.nonce)  # the next item with this nonce replays it
        row, entry, answer = item.result(unused)
        rows.append(row)
        entries.append(entry)
        answers.append(answer)
    store.insert(rows, entries)
    if prune:
        store.prune(now)
    return answers


# ---------------------------------------------------------------- SQLAlchemy Core in a session


@dataclass
class _CoreStore:
    session: Session

    def claim_requests(self, ids: Collection[uuid.UUID], now: dt.datetime) -> set[uuid.UUID]:
        return set(self.session.scalars(repository.claim_statement(ids, now)).all())

    def claim_nonces(self, expiry: dict[str, dt.datetime], now: dt.datetime) -> set[str]:
        dialect = self.session.get_bind().dialect.name
        rows_in = repository.nonce_rows(list(expiry.items()), now)
        return set(self.session.scalars(repository.NONCE_INSERT[dialect], rows_in).all())

    def request_state(self, request_id: uuid.UUID) -> str | None:
        state: str | None = self.session.scalar(repository.request_state_statement(request_id))
        return state

    def insert(self, rows: list[dict[str, Any]], entries: list[audit.Entry]) -> None:
        """The verification rows, then their audit events chained from the tail (locked on PostgreSQL)."""
        if rows:
            self.session.execute(repository.VERIFICATIONS.insert(), rows)
        if entries:
            if self.session.get_bind().dialect.name == "postgresql":
                self.session.execute(audit.PG_LOCK)
            tail = audit.tail_of(self.session.execute(audit.TAIL).first())
            self.session.execute(audit.AUDIT_TABLE.insert(), audit.chained(entries, tail))

    def prune(self, now: dt.datetime) -> None:
        self.session.execute(repository.prune_statement(now))


def _write_core(session: Session, batch: list[Item], now: dt.datetime, prune: bool) -> list[Any]:
    """:func:`write_batch` in the session's transaction (synchronous: run with ``run_sync``)."""
    return write_batch(_CoreStore(session), batch, now, prune)


# ---------------------------------------------------------------- SQLite: the writer's own connection


class _Insert:
    """A static ``INSERT`` for the ``sqlite3`` connection and, for its columns in order, each column's
    SQLAlchemy bind processor: a row is stored exactly as a Core insert of the same table stores it
    (UUIDs as text, UTC times, dates, JSON)."""

    def __init__(self, sql: str, table: Table, dialect: Dialect) -> None:
        self.sql = sql
        self.columns = tuple(sql[sql.index("(") + 1 : sql.index(")")].split(", "))
        processors = [_processor_of(table, name, dialect) for name in self.columns]
        self._values = operator.itemgetter(*self.columns)
        self._process = [(index, process) for index, process in enumerate(processors) if process is not None]

    def params(self, rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
        """Each row's values in column order, processed as SQLAlchemy would bind them."""
        found = []
        for row in rows:
            values = list(self._values(row))
            for index, process in self._process:
                values[index] = process(values[index])
            found.append(values)
        return found


def _processor(table: Table, column: str, dialect: Dialect) -> Callable[[Any], Any]:
    process = _processor_of(table, column, dialect)
    return process if process is not None else (lambda value: value)


_PROBE_TIMES: Final = (
    dt.datetime(2026, 12, 1, 23, 59, 59, 999_999, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(999, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    None,
)
_PROBE_DAYS: Final = (
    dt.date(2026, 12, 1),
    dt.date(5, 1, 9),
    dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC),
    None,
)


def _utc_text(value: dt.datetime | None) -> str | None:
    """A UTC column's value as SQLAlchemy binds it on SQLite (``UTCDateTime`` then SQLite's ``DATETIME``
    storage format), in one call instead of the two processors and the format's dictionary."""
    if value is None:
        return None
    if value.tzinfo is not dt.UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - as SQLAlchemy's storage format
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def _fast(
    slow: Callable[[Any], Any], fast: Callable[[Any], Any], probes: Sequence[Any]
) -> Callable[[Any], Any]:
    """``fast`` where it gives what ``slow`` (SQLAlchemy's processor) gives for every probe, else ``slow``:
    a change of SQLAlchemy's storage format falls back to its own processor, never stores otherwise."""
    return fast if all(fast(value) == slow(value) for value in probes) else slow


def _date_text(slow: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def process(value: Any) -> Any:
        return value.isoformat() if type(value) is dt.date else slow(value)

    return process


JSON_TEXTS: Final = 1024
"""JSON texts a JSON column's processor remembers (:func:`_remembered_json`)."""


def _remembered_json(slow: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLAlchemy's JSON processor (``json.dumps``), its text remembered for values seen before: a
    verification's ``disclosed`` names are the same for every verification of the same credential type
    disclosed the same way.

    Remembered by the value's MessagePack encoding, and used only for a value equal to the one it was
    made from (decoded from that encoding): MessagePack keeps apart what JSON would write alike (str and
    bytes, int, float and bool, NaN and None, the order of keys), and the equality keeps apart what it
    writes alike that ``json.dumps`` refuses (a date, UUID or Decimal and its text, a set and a list, a
    struct and a dict), which therefore still raises. A value it cannot encode goes to ``json.dumps``
    as before."""
    texts: dict[bytes, tuple[Any, Any]] = {}
    encode, decode = msgspec.msgpack.encode, msgspec.msgpack.decode

    def process(value: Any) -> Any:
        try:
            key = encode(value)
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
            return slow(value)
        found = texts.get(key)
        if found is not None and found[0] == value:
            return found[1]
        text = slow(value)
        if len(texts) >= JSON_TEXTS:
            texts.clear()
        texts[key] = (decode(key), text)
        return text

    return process


def _processor_of(table: Table, column: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's bind processor of ``table.column`` on ``dialect``, or an equivalent cheaper one (the
    same values, checked on probes when the statements are made): UTC times and dates on SQLite, and
    JSON texts remembered."""
    kind = table.c[column].type
    slow = kind.dialect_impl(dialect).bind_processor(dialect)
    if slow is None or dialect.name != "sqlite":
        return slow
    if isinstance(kind, UTCDateTime):
        return _fast(slow, _utc_text, _PROBE_TIMES)
    if isinstance(kind, Date) and not isinstance(kind, DateTime):
        return _fast(slow, _date_text(slow), _PROBE_DAYS)
    if isinstance(kind, JSON):
        return _remembered_json(slow)
    return slow


class SQLiteStatements:
    """The batch's statements as static SQL for the ``sqlite3`` connection, with the processors of their
    parameters (tests/verification/test_writer.py checks the inserts name every column of their table)."""

    def __init__(self, dialect: Dialect) -> None:
        requests = repository.PRESENTATION_REQUESTS
        self.request_id = _processor(requests, "id", dialect)
        self.time = _processor(requests, "expires_at", dialect)
        self.claim = (
            "UPDATE presentation_requests SET state = 'answered', answered_at = ? "
            "WHERE id = ? AND state = 'pending' AND expires_at > ?"
        )
        self.state = "SELECT state FROM presentation_requests WHERE id = ?"
        self.nonce = _Insert(
            "INSERT INTO used_nonces (nonce, used_at, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            repository.USED_NONCES,
            dialect,
        )
        self.used_at = _processor(repository.USED_NONCES, "used_at", dialect)
        self.expires_at = _processor(repository.USED_NONCES, "expires_at", dialect)
        self.prune = "DELETE FROM used_nonces WHERE expires_at < ?"
        self.verification = _Insert(
            "INSERT INTO verifications (id, request_id, organisation_code, verifier, submitted_by, "
            "policy_id, purpose, evaluated_on, verdict, holder_id, holder_jkt, disclosed, result_key_id, "
            "result_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            repository.VERIFICATIONS,
            dialect,
        )
        self.audit = _Insert(
            "INSERT INTO audit_events (id, at, actor, organisation, action, subject, request_id, outcome, "
            "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            audit.AUDIT_TABLE,
            dialect,
        )
        self.tail = "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1"


@dataclass
class _SQLiteStore:
    """The batch's statements on a ``sqlite3`` connection."""

    raw: sqlite3.Connection
    sql: SQLiteStatements

    def claim_requests(self, ids: Collection[uuid.UUID], now: dt.datetime) -> set[uuid.UUID]:
        at = self.sql.time(now)
        return {
            request_id
            for request_id in ids
            if self.raw.execute(self.sql.claim, (at, self.sql.request_id(request_id), at)).rowcount == 1
        }

    def claim_nonces(self, expiry: dict[str, dt.datetime], now: dt.datetime) -> set[str]:
        """The nonces of ``expiry`` not used before (each inserted with ``now`` and its expiry: the rows of
        :func:`repository.nonce_rows`, bound as the nonce insert's columns are, without the dictionaries)."""
        sql, execute, until = self.sql.nonce.sql, self.raw.execute, self.sql.expires_at
        at = self.sql.used_at(now)
        return {
            nonce
            for nonce, expires in expiry.items()
            if execute(sql, (nonce, at, until(expires))).rowcount == 1
        }

    def request_state(self, request_id: uuid.UUID) -> str | None:
        found = self.raw.execute(self.sql.state, (self.sql.request_id(request_id),)).fetchone()
        return None if found is None else str(found[0])

    def insert(self, rows: list[dict[str, Any]], entries: list[audit.Entry]) -> None:
        if rows:
            self.raw.executemany(self.sql.verification.sql, self.sql.verification.params(rows))
        if entries:
            tail = audit.tail_of(self.raw.execute(self.sql.tail).fetchone())
            self.raw.executemany(self.sql.audit.sql, self.sql.audit.params(audit.chained(entries, tail)))

    def prune(self, now: dt.datetime) -> None:
        self.raw.execute(self.sql.prune, (self.sql.time(now),))


LOCK_SUFFIX: Final = "-verification-batch.lock"
CHECKPOINT_LOCK_SUFFIX: Final = "-verification-checkpoint.lock"
"""The file whose ``flock`` the worker running a WAL checkpoint holds: one checkpoint at a time across
the workers (the one that finds the WAL long enough first; the others see it taken and go on)."""
CHECKPOINT_FRAMES: Final = 8192
"""WAL frames (4 KB pages: 32 MB) after which a batch writer starts a checkpoint (decision 0048): the
WAL's length counted by all the workers together, read from the WAL index after each commit. The pass
of each checkpoint under the batch lock pauses every batch of every worker, whatever the WAL holds: one
checkpoint at a time across the workers, where each started its own every 128 of its commits."""
CHECKPOINT_EVERY: Final = 128
"""Commits of the writer's own connection between two checkpoints when the WAL index cannot be read."""
CHECKPOINT_BUDGET: Final = 64
"""WAL frames (pages) a checkpoint pass beside the batches may leave appended behind it and still be the
last one before the pass under the batch lock: a pass that took long enough for the batches to append
more than this meanwhile is followed by another, shorter one, since the pass under the lock copies them
all while every batch waits."""
CHECKPOINT_PASSES: Final = 6
"""At most this many passes beside the batches before the one under the batch lock."""
WAL_SIZE_LIMIT: Final = 64 * 1024 * 1024
"""Bytes the WAL file is cut back to when it starts again (``PRAGMA journal_size_limit``)."""
BUSY_SECONDS: Final = 5.0
"""How long a batch waits for SQLite's write lock held by another kind of writer (as busy_timeout)."""


WAKE_SUFFIX: Final = "-verification-batch.wake"
"""A FIFO beside the database: each release of the batch lock writes a byte to it, which wakes a batch
writer waiting for the lock on its event loop (decision 0048)."""
WAKE_SECONDS: Final = 0.005
"""How long a batch waiting for the batch lock waits for a wake-up before it tries again anyway (a byte
another waiter read, or a FIFO full of bytes nobody waited for)."""


class _BatchLock:
    """An exclusive ``flock`` on a file beside the database, shared by the batch writers of every process.

    Taken without blocking when free. Otherwise, with a ``wake`` FIFO, the waiting batch's event loop
    watches the FIFO, to which each release writes a byte, and takes the lock (without blocking) when
    woken, or every :data:`WAKE_SECONDS` in any case: the lock is taken only by a loop ready to write its
    batch at once (decision 0048). Waited for on a thread instead, the lock was taken by the thread as
    soon as it was free, then held idle while the thread waited for the GIL the loop held verifying (up
    to the 5 ms switch interval), and every other worker's batch waited with it: waits for the lock of
    8 to 15 ms (p90, p99) over HTTP on an idle machine. Without the FIFO (it cannot be made) the lock is
    waited for on a thread as before; a cancelled wait there gives the lock back as soon as the thread
    has it."""

    def __init__(self, path: str, wake: str | None = None) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.wake = -1
        if wake is not None:
            with contextlib.suppress(FileExistsError, OSError):
                os.mkfifo(wake, 0o600)
            with contextlib.suppress(OSError):
                fd = os.open(wake, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    self.wake = fd
                else:
                    os.close(fd)

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        if self.wake < 0:
            await self._acquire_on_a_thread()
            return
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(BlockingIOError):
                os.read(self.wake, 65536)  # bytes of releases nobody waited for
            if self.try_acquire():  # (a release just before the read above)
                return
            woken = loop.create_future()
            loop.add_reader(self.wake, _wake, woken)
            timer = loop.call_later(WAKE_SECONDS, _wake, woken)
            try:
                await woken
            finally:
                loop.remove_reader(self.wake)
                timer.cancel()

    async def _acquire_on_a_thread(self) -> None:
        waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, self.fd, fcntl.LOCK_EX)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            waiting.add_done_callback(lambda done: None if done.exception() else self.release())
            raise

    def release(self) -> None:
        if self.fd >= 0:  # closed meanwhile (the writer shut down): closing gave the lock back
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            if self.wake >= 0:
                with contextlib.suppress(BlockingIOError):  # full: enough wake-ups are waiting
                    os.write(self.wake, b"\0")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.wake >= 0:
            os.close(self.wake)
            self.wake = -1


def _wake(woken: "asyncio.Future[None]") -> None:
    if not woken.done():
        woken.set_result(None)


class _OwnConnection:
    """The writer's own ``sqlite3`` connection to the database file, used on the event loop's thread.

    Its busy timeout is 0, so no call can block the loop waiting for a lock: ``BEGIN IMMEDIATE`` is
    retried with asynchronous sleeps while another kind of writer holds SQLite's write lock (the batch
    writers of other processes wait on the :class:`_BatchLock` first). Once it has begun, the
    transaction holds the write lock, so its statements cannot meet a lock. Its commits never
    checkpoint the WAL (a checkpoint writes the pages back and syncs the file: 10 to 40 ms on the loop,
    every few dozen commits). Instead, when a commit finds the WAL longer than :data:`CHECKPOINT_FRAMES`
    and no other worker is checkpointing (the checkpoint lock file), a checkpoint runs as a task of its
    own, on a thread, on a connection of its own, in two phases (decision 0048):

    1. without the batch lock, beside the writers and readers: a passive pass copying back what the WAL
       holds; again while the batches appended more than :data:`CHECKPOINT_BUDGET` frames during a pass
       (at most :data:`CHECKPOINT_PASSES`): each pass is shorter than the one before;
    2. with the batch lock held (taken like a batch, in turn with this process's batches; the loop goes
       on): one pass copying back the few frames appended meanwhile. The next batch of any worker then
       starts the WAL again from its beginning.

    The second phase is what lets the WAL start again: SQLite restarts the WAL only when a writer begins
    after a checkpoint that copied back every frame, which never happens while batches keep appending
    during a checkpoint (the WAL then grew by about 50 KB a verification without end: 1.5 GB after
    30,000). ``journal_size_limit`` then cuts the file back to :data:`WAL_SIZE_LIMIT` bytes."""

    def __init__(self, path: str, dialect: Dialect) -> None:
        self.path = path
        self.statements = SQLiteStatements(dialect)
        self.dialect = dialect
        self._raw: sqlite3.Connection | None = None
        self._lock: _BatchLock | None = None
        self._index: int | None = None
        """The WAL index (``-shm``) file, read for the WAL's length after each commit."""
        self._turn = asyncio.Lock()
        """One batch, or the checkpoint's pass under the batch lock, at a time in this process (the batch
        lock is one ``flock`` a process: a second taker in the same process would not wait for it)."""
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None

    def _open(self) -> tuple[sqlite3.Connection, _BatchLock]:
        if self._raw is None or self._lock is None:
            raw = sqlite3.connect(self.path, timeout=0, isolation_level=None)
            raw.execute("PRAGMA foreign_keys=ON")
            raw.execute("PRAGMA synchronous=NORMAL")
            raw.execute("PRAGMA wal_autocheckpoint=0")
            raw.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self._raw, self._lock = raw, _BatchLock(self.path + LOCK_SUFFIX, self.path + WAKE_SUFFIX)
        return self._raw, self._lock

    async def write(self, batch: list[Item], now: dt.datetime, prune: bool) -> list[Any]:
        try:
            raw, lock = self._open()
            async with self._turn:
                await lock.acquire()
                try:
                    await _begin_immediate(raw)
                    try:
                        answers = write_batch(_SQLiteStore(raw, self.statements), batch, now, prune)
                        raw.execute("COMMIT")
                    except BaseException:
                        if raw.in_transaction:
                            raw.execute("ROLLBACK")
                        raise
                finally:
                    lock.release()
        except sqlite3.Error as exc:  # as SQLAlchemy reports it (a locked database is a 503)
            raise DBAPIError.instance(
                "verification batch", None, exc, sqlite3.Error, dialect=self.dialect
            ) from exc
        self._commits += 1
        if (self._checkpoint is None or self._checkpoint.done()) and self._checkpoint_due():
            self._checkpoint = asyncio.create_task(self._checkpoint_cycle(lock))
        return answers

    def _checkpoint_due(self) -> bool:
        """Whether the WAL holds :data:`CHECKPOINT_FRAMES` frames (all the workers' commits), or, when its
        index cannot be read, whether this writer has made :data:`CHECKPOINT_EVERY` commits since."""
        try:
            if self._index is None:
                self._index = os.open(self.path + "-shm", os.O_RDONLY | os.O_CLOEXEC)
            return wal_frames(self._index) >= CHECKPOINT_FRAMES
        except (OSError, struct.error):
            return self._commits % CHECKPOINT_EVERY == 0

    async def _checkpoint_cycle(self, lock: _BatchLock) -> None:
        """Both phases of a checkpoint (see the class), unless another worker's is under way."""
        turn = _BatchLock(self.path + CHECKPOINT_LOCK_SUFFIX)
        try:
            if not turn.try_acquire():
                return  # another worker is checkpointing this WAL
            await _first_phase(self.path)
            async with self._turn:  # phase 2: as a batch would, so no batch writes meanwhile
                await lock.acquire()
                try:
                    await _run_checkpoint(self.path)
                finally:
                    lock.release()
        finally:
            turn.close()  # (gives the lock back)

    def close(self) -> None:
        if self._checkpoint is not None:
            self._checkpoint.cancel()
            self._checkpoint = None
        if self._raw is not None:
            self._raw.close()
        if self._lock is not None:
            self._lock.close()
        if self._index is not None:
            os.close(self._index)
        self._raw = self._lock = self._index = None


def wal_frames(index: int) -> int:
    """The frames in the WAL (``mxFrame`` of the WAL index header, at byte 16 of the ``-shm`` file, in the
    machine's byte order: https://sqlite.org/walformat.html), from an open descriptor of that file."""
    return int(struct.unpack("=I", os.pread(index, 4, 16))[0])


def _checkpoint(path: str) -> int | None:
    """A passive WAL checkpoint on a connection of its own (it waits for no one and blocks no one): the
    frames the WAL held when it ran, all of which it copied back unless a reader held some."""
    raw = sqlite3.connect(path, timeout=1, isolation_level=None)
    try:
        found = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        raw.close()
    return int(found[1]) if found is not None and found[1] is not None and found[1] >= 0 else None


async def _run_checkpoint(path: str) -> int | None:
    """:func:`_checkpoint` on a thread; a failure is logged, not raised (the next one tries again)."""
    try:
        return await asyncio.get_running_loop().run_in_executor(None, _checkpoint, path)
    except sqlite3.Error as exc:
        _log.warning("WAL checkpoint failed: %s", type(exc).__name__)
        return None


async def _first_phase(path: str) -> None:
    """The checkpoint's passes beside the batches: again while the WAL grew by more than
    :data:`CHECKPOINT_BUDGET` frames during the last pass, at most :data:`CHECKPOINT_PASSES`."""
    before = await _run_checkpoint(path)
    for _ in range(CHECKPOINT_PASSES - 1):
        if before is None:
            return
        after = await _run_checkpoint(path)
        if after is None or after - before <= CHECKPOINT_BUDGET:  # fewer: the WAL started again
            return
        before = after


async def _begin_immediate(raw: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, waiting (asynchronously, up to :data:`BUSY_SECONDS`) for SQLite's write lock."""
    delay, waited = 0.0005, 0.0
    while True:
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or waited >= BUSY_SECONDS:
                raise
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 0.02)
