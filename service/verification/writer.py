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

:func:`write_batch` is the transaction, written once as plain synchronous SQLAlchemy Core and run
through ``AsyncSession.run_sync`` (five statements a batch, whatever its size).
"""

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit
from service.db import Database
from service.verification import repository
from service.verification.errors import RequestAnswered, RequestExpired

MAX_BATCH: Final = 256
PRUNE_EVERY: Final = 1000
"""Batches between two deletions of used nonces past their life."""

_LAST_HASH: Final = select(audit.AUDIT_TABLE.c.hash).order_by(audit.AUDIT_TABLE.c.id.desc()).limit(1)
"""audit.LAST_HASH as a Core statement (no ORM entity to load: the tail hash is a plain column)."""

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
    def __init__(
        self, database: Database, clock: Callable[[], dt.datetime], *, one_hop: bool = False
    ) -> None:
        self.database = database
        self.clock = clock
        self.one_hop = one_hop
        """SQLite only: run each batch in one call on the connection's thread."""
        self._queue: list[Item] = []
        self._task: asyncio.Task[None] | None = None
        self._batches = 0

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
        async with self.database.session() as session:
            answers = await session.run_sync(write_batch, batch, now, prune)
            await session.commit()
        return answers


def write_batch(session: Session, batch: list[Item], now: dt.datetime, prune: bool) -> list[Any]:
    """One batch in the caller's transaction (synchronous: run with ``AsyncSession.run_sync``): claim the
    requests and the nonces, finish each item, insert the rows and the audit events. Each item's answer,
    or the exception its request gets."""
    dialect = session.get_bind().dialect.name
    wanted = {item.request_id for item in batch if item.request_id is not None}
    claimed = set(session.scalars(repository.claim_statement(wanted, now)).all()) if wanted else set()
    expiry: dict[str, dt.datetime] = {}
    for item in batch:
        if item.nonce is not None and (item.request_id is None or item.request_id in claimed):
            expiry.setdefault(item.nonce, item.nonce_expires)
    fresh: set[str] = set()
    if expiry:
        rows_in = repository.nonce_rows(list(expiry.items()), now)
        fresh = set(session.scalars(repository.NONCE_INSERT[dialect], rows_in).all())
    answers: list[Any] = []
    rows: list[dict[str, Any]] = []
    entries: list[audit.Entry] = []
    taken: set[uuid.UUID] = set()
    for item in batch:
        if item.request_id is not None and item.request_id not in claimed:
            state = session.scalar(repository.request_state_statement(item.request_id))
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
    _insert(session, dialect, rows, entries)
    if prune:
        session.execute(repository.prune_statement(now))
    return answers


def _insert(session: Session, dialect: str, rows: list[dict[str, Any]], entries: list[audit.Entry]) -> None:
    """The verification rows, then their audit events chained from the tail (locked on PostgreSQL)."""
    if rows:
        session.execute(repository.VERIFICATIONS.insert(), rows)
    if entries:
        if dialect == "postgresql":
            session.execute(audit.PG_LOCK)
        prev = session.scalar(_LAST_HASH) or audit.GENESIS
        session.execute(audit.AUDIT_TABLE.insert(), audit.chained(entries, prev))
