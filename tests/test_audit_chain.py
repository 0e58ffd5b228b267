"""One successor per audit event (decision 0052): migration 0020 on a stored chain, and the batch writer
writing a batch again when its events lost their place in the chain.

Each test has a database of its own (audit events cannot be deleted, so none of them can be rolled back
into the shared one by a migration test).
"""

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import column, func, insert, select, table, text
from sqlalchemy.exc import IntegrityError

from service import audit
from service.db import Database, downgrade, make_engine, upgrade
from service.verification.models import Verification
from tests.verification.test_writer import Scene

T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def entry(n: int) -> audit.Entry:
    return audit.Entry(
        at=T0 + dt.timedelta(minutes=n),
        actor=f"client-{n}",
        organisation="RRK" if n % 2 else None,
        action="POST verify_presentations",
        subject=f"verification:{n}",
        request_id=f"request-{n}",
        outcome="valid",
    )


async def _run(url: str, work: Any) -> Any:
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session(write=True) as session:
            found = await work(session)
            await session.commit()
            return found
    finally:
        await database.dispose()


def run(url: str, work: Any) -> Any:
    """``work(session)`` in one committed transaction (outside an event loop: migrations run their own)."""
    return asyncio.run(_run(url, work))


WITHOUT_ID = table("audit_events", *(column(c.name, c.type) for c in audit.AUDIT_TABLE.c if c.name != "id"))
"""``audit_events`` as an insert that gives no id sees it."""


def old_insert(postgres: bool, skip_an_id: bool) -> Any:
    """Events appended as before 0020: no id given (SQLite's rowid, PostgreSQL's sequence)."""

    async def work(session: Any) -> None:
        tail = audit.tail_of((await session.execute(audit.TAIL)).first())
        for number, row in enumerate(audit.chained([entry(n) for n in range(1, 4)], tail)):
            del row["id"]
            await session.execute(insert(WITHOUT_ID).values(**row))
            if postgres and skip_an_id and number == 0:  # as a rolled-back transaction leaves a gap
                await session.execute(text("SELECT nextval('audit_events_id_seq')"))

    return work


async def ids_and_verdict(session: Any) -> tuple[list[int], int, audit.Break | None]:
    ids = list((await session.scalars(select(audit.AuditEvent.id).order_by(audit.AuditEvent.id))).all())
    checked, broken = await audit.verify_chain(session)
    assert checked == len(ids)
    return ids, checked, broken


async def append_one(session: Any) -> int:
    return (await audit.append(session, entry(9))).id


def test_migration_0020_keeps_a_stored_chain_and_downgrades_and_upgrades_again(own_database_url: str) -> None:
    url = own_database_url
    postgres = url.startswith("postgresql")
    downgrade(url, "0019")
    run(url, old_insert(postgres, skip_an_id=True))
    before, _, broken = run(url, ids_and_verdict)
    assert broken is None
    assert before == ([1, 3, 4] if postgres else [1, 2, 3]), "PostgreSQL's sequence skipped an id"

    upgrade(url, "0020")
    assert run(url, ids_and_verdict) == (before, 3, None), "the events are kept as they were"
    assert run(url, append_one) == before[-1] + 1, "the next event takes the largest id + 1 (gaps stay)"
    with pytest.raises(IntegrityError):  # no id given: refused (no sequence, no rowid default)
        run(url, old_insert(postgres, skip_an_id=False))
    after, checked, broken = run(url, ids_and_verdict)
    assert (after, checked, broken) == ([*before, before[-1] + 1], 4, None)

    downgrade(url, "0019")
    assert run(url, ids_and_verdict) == (after, 4, None)

    async def fork(session: Any) -> None:
        row = audit.chained([entry(7)], audit.Tail(0, audit.GENESIS))[0]
        del row["id"]
        await session.execute(insert(WITHOUT_ID).values(**row))

    with pytest.raises(IntegrityError):  # the unique prev_hash is back: a second event after GENESIS
        run(url, fork)
    run(url, old_insert(postgres, skip_an_id=False))  # ids from the sequence again, past the largest
    downgraded, checked, broken = run(url, ids_and_verdict)
    added = downgraded[len(after) :]
    assert downgraded[: len(after)] == after
    # ids past the largest; on PostgreSQL the refused fork took the next one from the sequence (a gap)
    first = after[-1] + (2 if postgres else 1)
    assert added == [first, first + 1, first + 2]
    assert broken is None

    upgrade(url, "head")
    assert run(url, append_one) == downgraded[-1] + 1
    final, _, broken = run(url, ids_and_verdict)
    assert (final, broken) == ([*downgraded, downgraded[-1] + 1], None)


# ---------------------------------------------------------------- the batch writer


@pytest.fixture
async def scene(own_database_url: str) -> Any:
    found = Scene(own_database_url)
    await found.seed()
    yield found
    await found.close()


async def _stale_tail(scene: Scene) -> audit.Tail:
    """The tail as a writer that read it just before the last event was appended saw it."""
    async with scene.databases[0].session(write=True) as session:
        await audit.append(session, entry(1))
        stale = audit.tail_of((await session.execute(audit.TAIL)).first())
        await audit.append(session, entry(2))
        await session.commit()
    return stale


async def test_the_writer_writes_a_batch_again_when_its_events_lost_their_place(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = await _stale_tail(scene)
    calls: list[audit.Tail] = []
    real = audit.chained

    def chained_first_from_a_stale_tail(entries: Sequence[audit.Entry], tail: audit.Tail) -> Any:
        calls.append(stale if not calls else tail)
        return real(entries, calls[-1])

    monkeypatch.setattr(audit, "chained", chained_first_from_a_stale_tail)
    answers = await asyncio.gather(*(scene.writers[0].submit(scene.item(f"lost-{i}")) for i in range(3)))
    assert [first_use for _, _, first_use in answers] == [True] * 3
    assert len(calls) == 2, "refused once, written again on the new tail"
    async with scene.databases[1].session() as session:
        ids, _, broken = await ids_and_verdict(session)
        stored = await session.scalar(select(func.count()).select_from(Verification))
    assert (ids, broken) == ([1, 2, 3, 4, 5], None)
    assert stored == 3, "each verification once"


async def test_a_batch_that_keeps_losing_its_place_fails_and_writes_nothing(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = await _stale_tail(scene)
    real = audit.chained
    monkeypatch.setattr(audit, "chained", lambda entries, tail: real(entries, stale))
    with pytest.raises(IntegrityError):
        await scene.writers[0].submit(scene.item("never"))
    async with scene.databases[1].session() as session:
        ids, _, broken = await ids_and_verdict(session)
        stored = await session.scalar(select(func.count()).select_from(Verification))
    assert (ids, broken, stored) == ([1, 2], None, 0)
