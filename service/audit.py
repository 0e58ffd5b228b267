"""Append-only, hash-chained audit log.

Every state-changing request and every verification appends one event. Each event's hash covers
its fields and the previous event's hash, so an edited, removed or reordered row breaks the chain
at that point; ``passport audit verify`` finds the first broken link. The table has no update or
delete path in the code, and database triggers (see the migration) refuse UPDATE and DELETE.

An event has at most one successor, enforced by the database (decision 0052): every appender writes the
event's ``id`` itself, as the tail's id + 1 (1 for the first event), read together with the tail's hash,
and an INSERT trigger (migration 0020) refuses an event unless its id is the largest id + 1 and its
``prev_hash`` is that event's hash (id 1 and :data:`GENESIS` on an empty table). Two appenders extending
the same tail both write id N + 1: the primary key (or the trigger) refuses the second with an
IntegrityError, and :func:`append_retrying` tries again from the new tail.
"""

import asyncio
import datetime as dt
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, NamedTuple, cast

import msgspec
from litestar import Request
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.types import Scope
from sqlalchemy import BigInteger, Integer, String, Table, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, Database

log = logging.getLogger("service.audit")

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x5041_5353  # "PASS": serialises appenders on PostgreSQL


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    """Written by the appender, the tail's id + 1 (no sequence: migration 0020); the trigger of 0020
    refuses any other, so two events can never take the same place in the chain."""
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str] = mapped_column(String(400))
    request_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(40))
    prev_hash: Mapped[str] = mapped_column(String(64))
    """The hash of the event before (the largest id when it was inserted: the trigger of migration 0020
    checks it). Not indexed since 0020: its unique index put every event in a random page of it."""
    hash: Mapped[str] = mapped_column(String(64))
    """Not indexed (migration 0017): computed from the fields and ``prev_hash`` and recomputed by
    :func:`verify_chain`; no query looks an event up by it."""


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """What is recorded; never a token, key, credential or health data."""

    at: dt.datetime
    actor: str
    organisation: str | None
    action: str
    subject: str
    request_id: str | None
    outcome: str


def _canonical_time(at: dt.datetime) -> str:
    """``at`` in UTC as ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` writes it (formatted directly from 1000 on,
    where ``%Y`` has four digits: the same text at a third of the cost; strftime before)."""
    at = at.astimezone(dt.UTC)
    if at.year < 1000:
        return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - the fields of the strftime above
        at.year,
        at.month,
        at.day,
        at.hour,
        at.minute,
        at.second,
        at.microsecond,
    )


def event_hash(entry: Entry, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of the entry's fields and the previous hash."""
    body = [
        prev_hash,
        _canonical_time(entry.at),
        entry.actor,
        entry.organisation,
        entry.action,
        entry.subject,
        entry.request_id,
        entry.outcome,
    ]
    return hashlib.sha256(msgspec.json.encode(body)).hexdigest()


class Tail(NamedTuple):
    """The newest event's id and hash: the next event takes ``id + 1`` and follows ``hash``."""

    id: int
    hash: str


EMPTY = Tail(0, GENESIS)
"""The tail of an empty chain: the first event is id 1 and follows :data:`GENESIS`."""

AUDIT_TABLE = cast(Table, AuditEvent.__table__)

TAIL = select(AUDIT_TABLE.c.id, AUDIT_TABLE.c.hash).order_by(AUDIT_TABLE.c.id.desc()).limit(1)
"""The chain's tail, ``(id, hash)``, or no row: a Core statement (plain columns, no ORM entity to load),
for the ORM appenders here and the batch writer's Core store alike."""


def tail_of(row: Sequence[Any] | None) -> Tail:
    """The :class:`Tail` of a row of :data:`TAIL` (None: the chain is empty)."""
    return EMPTY if row is None else Tail(int(row[0]), str(row[1]))


async def _tail(session: AsyncSession) -> Tail:
    return tail_of((await session.execute(TAIL)).first())


async def chain_tail(session: AsyncSession) -> str:
    """The hash of the newest event (the chain's tail): proves the audit table is there and readable."""
    return (await _tail(session)).hash


async def append(session: AsyncSession, entry: Entry) -> AuditEvent:
    """Append ``entry`` to the chain inside the caller's transaction."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    tail = await _tail(session)
    prev = tail.hash
    event = AuditEvent(
        id=tail.id + 1,
        at=entry.at,
        actor=entry.actor,
        organisation=entry.organisation,
        action=entry.action,
        subject=entry.subject,
        request_id=entry.request_id,
        outcome=entry.outcome,
        prev_hash=prev,
        hash=event_hash(entry, prev),
    )
    session.add(event)
    await session.flush()
    return event


PG_LOCK = text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_PG_LOCK_KEY)
"""On PostgreSQL, serialises appenders for the rest of the transaction."""


def chained(entries: Sequence[Entry], tail: Tail) -> list[dict[str, Any]]:
    """Rows of ``audit_events`` for ``entries`` in order, chained from ``tail``: ids ``tail.id + 1`` on,
    the first following ``tail.hash`` (pure)."""
    rows = []
    prev = tail.hash
    for number, entry in enumerate(entries, start=tail.id + 1):
        digest = event_hash(entry, prev)
        rows.append(
            {
                "id": number,
                "at": entry.at,
                "actor": entry.actor,
                "organisation": entry.organisation,
                "action": entry.action,
                "subject": entry.subject,
                "request_id": entry.request_id,
                "outcome": entry.outcome,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


async def append_many(session: AsyncSession, entries: Sequence[Entry]) -> None:
    """Append ``entries`` in order inside the caller's transaction: one lock, one read, one insert.

    For writers that record many events at once: the chain is the same as appending them one by one.
    """
    if not entries:
        return
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(PG_LOCK)
    tail = await _tail(session)
    # Core executemany, in order (each row's id is the one before + 1); no ORM unit of work needed
    await session.execute(AUDIT_TABLE.insert(), chained(entries, tail))


def _lost_race(exc: IntegrityError | OperationalError) -> bool:
    """Another appender took the place (the primary key or the tail trigger of migration 0020 refused
    the event) or held SQLite's write lock."""
    if isinstance(exc, IntegrityError):
        return True
    return "locked" in str(exc.orig).lower()


async def append_retrying(sessions: Any, entry: Entry, attempts: int = 8) -> None:
    """Append in a transaction of its own (for refused requests), retrying a lost race for a place.

    ``sessions`` opens write sessions: on SQLite they take the write lock first, waiting up to the
    busy timeout (decision 0045). A race for a place (PostgreSQL) or a lock held longer than that is
    backed off and tried again.
    """
    for attempt in range(attempts):
        async with sessions() as session:
            try:
                await append(session, entry)
                await session.commit()
                return
            except (IntegrityError, OperationalError) as exc:
                await session.rollback()
                if attempt == attempts - 1 or not _lost_race(exc):
                    raise
        await asyncio.sleep(0.02 * 2**attempt)


class Break(msgspec.Struct, frozen=True):
    """The first event whose link or hash does not hold."""

    event_id: int
    reason: str


def check_link(event_id: int, entry: Entry, prev_hash: str, hash_: str, expected_prev: str) -> Break | None:
    """Whether one stored event follows ``expected_prev`` and its contents match its hash."""
    if prev_hash != expected_prev:
        return Break(event_id, "its previous-hash does not match the event before it")
    if event_hash(entry, prev_hash) != hash_:
        return Break(event_id, "its contents do not match its hash")
    return None


def first_break(events: Iterable[tuple[int, Entry, str, str]]) -> Break | None:
    """The first broken link among ``(id, entry, prev_hash, hash)`` in chain order, or None (pure)."""
    expected = GENESIS
    for event_id, entry, prev_hash, hash_ in events:
        broken = check_link(event_id, entry, prev_hash, hash_, expected)
        if broken is not None:
            return broken
        expected = hash_
    return None


def entry_of(event: AuditEvent) -> Entry:
    return Entry(
        at=event.at,
        actor=event.actor,
        organisation=event.organisation,
        action=event.action,
        subject=event.subject,
        request_id=event.request_id,
        outcome=event.outcome,
    )


async def _events(session: AsyncSession, batch: int = 5000) -> AsyncIterator[AuditEvent]:
    last_id = 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        last_id = rows[-1].id


async def verify_chain(session: AsyncSession) -> tuple[int, Break | None]:
    """(events checked, first break or None)."""
    prev = GENESIS
    count = 0
    async for event in _events(session):
        count += 1
        broken = check_link(event.id, entry_of(event), event.prev_hash, event.hash, prev)
        if broken is not None:
            return count, broken
        prev = event.hash
    return count, None


# ---------------------------------------------------------------- request wiring

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


DbSession = NamedDependency[AsyncSession]
"""Handler parameter ``db_session: DbSession``: the request's audited transaction."""


def set_subject(request: Request[Any, Any, Any], subject: str) -> None:
    """Name what a request acted on (default: its path), e.g. ``person:<id>``."""
    request.scope.setdefault("state", {})["audit_subject"] = subject


def _entry(scope: Scope, outcome: str, now: dt.datetime) -> Entry:
    state = scope.get("state", {})
    principal = state.get("principal")
    handler = scope.get("route_handler")
    action = getattr(handler, "operation_id", None)
    if not isinstance(action, str):
        action = getattr(handler, "handler_name", None) or "unknown"
    return Entry(
        at=now,
        actor=getattr(principal, "subject", None) or state.get("audit_actor") or "anonymous",
        organisation=getattr(principal, "organisation", None),
        action=f"{scope.get('method', '')} {action}".strip(),
        subject=str(state.get("audit_subject") or scope.get("path", ""))[:400],
        request_id=state.get("request_id"),
        outcome=outcome,
    )


async def provide_db_session(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """The request's transaction: committed with its audit event on success, rolled back on error.

    A write session for POST, PUT, PATCH and DELETE, and for a GET whose route says it writes
    (``opt={"writes": True}``); a read session otherwise (decision 0045)."""
    database: Database = request.app.state.database
    write = request.method in STATE_CHANGING or request.route_handler.opt.get("writes") is True
    async with database.session(write=write) as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        if request.method in STATE_CHANGING:
            await append(session, _entry(request.scope, "success", request.app.state.clock()))
        await session.commit()


def _outcome(exc: Exception) -> str:
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None) or 500
    if status in (401, 403):
        return f"denied {status}"
    if 400 <= status < 500:
        return f"rejected {status}"
    return f"failed {status}"


async def record_refusal(exc: Exception, scope: Scope) -> None:
    """``after_exception`` hook: a refused state-changing request is audited in its own transaction."""
    if scope.get("type") != ScopeType.HTTP or scope.get("method") not in STATE_CHANGING:
        return
    app = scope["litestar_app"]
    try:
        sessions = functools.partial(app.state.database.session, write=True)
        await append_retrying(sessions, _entry(scope, _outcome(exc), app.state.clock()))
    except Exception:  # the database may be the reason for the refusal
        log.warning(
            "could not audit a refused request",
            extra={"request_id": scope.get("state", {}).get("request_id")},
        )
