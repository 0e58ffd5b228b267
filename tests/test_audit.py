"""The hash-chained audit log (service/audit.py): links, tamper detection, refusals, races, requests."""

import asyncio
import datetime as dt
import secrets

import httpx
import msgspec
import pytest
from sqlalchemy import column, func, insert, select, table, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.audit import (
    AUDIT_TABLE,
    GENESIS,
    AuditEvent,
    Break,
    Entry,
    append,
    append_retrying,
    entry_of,
    event_hash,
    first_break,
    verify_chain,
)
from service.auth import Role
from service.db import Database, make_engine
from tests.factories import create_client, create_organisation

T0 = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
CONTENTS = "its contents do not match its hash"
LINK = "its previous-hash does not match the event before it"

Chain = list[tuple[int, Entry, str, str]]


def entry(n: int, *, actor: str | None = None) -> Entry:
    return Entry(
        at=T0 + dt.timedelta(seconds=n, microseconds=n),
        actor=actor or f"issuer-rrk-{n:04d}",
        organisation="RRK" if n % 2 else None,
        action="POST oauth_token",
        subject=f"/api/v1/people/{n}",
        request_id=f"request-{n:08d}",
        outcome="success" if n % 3 else "denied 401",
    )


def chain(length: int) -> Chain:
    events: Chain = []
    prev = GENESIS
    for n in range(1, length + 1):
        item = entry(n)
        digest = event_hash(item, prev)
        events.append((n, item, prev, digest))
        prev = digest
    return events


def altered(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(microseconds=1)
    if value is None:
        return "X99"
    assert isinstance(value, str)
    return value + "."


# ---------------------------------------------------------------- the chain, without a database


def test_an_untouched_chain_has_no_break() -> None:
    events = chain(6)
    assert first_break(events) is None
    assert events[0][2] == GENESIS
    assert all(events[i][2] == events[i - 1][3] for i in range(1, len(events)))


@pytest.mark.parametrize("field", Entry.__struct_fields__)
def test_changing_any_field_of_any_event_breaks_the_chain_at_that_event(field: str) -> None:
    events = chain(5)
    for position in range(len(events)):
        event_id, item, prev, digest = events[position]
        changed = msgspec.structs.replace(item, **{field: altered(getattr(item, field))})
        tampered = [*events[:position], (event_id, changed, prev, digest), *events[position + 1 :]]
        assert first_break(tampered) == Break(event_id, CONTENTS)


def test_rewriting_an_event_and_its_hash_breaks_the_link_of_the_next_one() -> None:
    events = chain(4)
    event_id, item, prev, _ = events[1]
    forged = msgspec.structs.replace(item, outcome="success", actor="someone-else")
    tampered = [events[0], (event_id, forged, prev, event_hash(forged, prev)), *events[2:]]
    assert first_break(tampered) == Break(3, LINK)


def test_a_removed_event_breaks_the_chain_at_the_one_after_it() -> None:
    events = chain(4)
    assert first_break([events[0], *events[2:]]) == Break(3, LINK)
    assert first_break(events[1:]) == Break(2, LINK)


def test_swapped_events_break_the_chain() -> None:
    events = chain(4)
    assert first_break([events[0], events[2], events[1], events[3]]) == Break(3, LINK)


def test_the_hash_does_not_depend_on_the_time_zone_of_the_timestamp() -> None:
    item = entry(1)
    elsewhere = msgspec.structs.replace(item, at=item.at.astimezone(dt.timezone(dt.timedelta(hours=5))))
    assert event_hash(elsewhere, GENESIS) == event_hash(item, GENESIS)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (
            dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC),
            "a15b88fdf5fb20b780859627dbc4df14627e56261f68eeae6ea623698279e8ba",
        ),
        (
            dt.datetime(2026, 3, 1, 9, 30, 0, 7, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "42ca2e155583588d8098b519b291332a9504c1fc3dfea897c956d8ab70e1753c",
        ),
        (
            dt.datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
            "b913c6a852d945af76132b90db795192dfffc9aa2770c5183c9edfa3562f9328",
        ),
    ],
    ids=["utc", "another-zone-microseconds", "year-999"],
)
def test_an_event_hashes_as_chains_already_stored_do(at: dt.datetime, expected: str) -> None:
    # known answers from the implementation that wrote the stored chains (strftime of the UTC time,
    # it is now formatted directly): a stored chain still verifies
    item = Entry(
        at=at, actor="a", organisation=None, action="POST x", subject="s", request_id=None, outcome="success"
    )
    assert event_hash(item, GENESIS) == expected


def test_moving_text_between_fields_changes_the_hash() -> None:
    item = msgspec.structs.replace(entry(1), actor="ab", action="c")
    moved = msgspec.structs.replace(item, actor="a", action="bc")
    assert event_hash(moved, GENESIS) != event_hash(item, GENESIS)


# ---------------------------------------------------------------- the chain in the database


async def last_hash(session: AsyncSession) -> str:
    found = await session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return found or GENESIS


async def test_appended_events_form_a_chain_that_verifies(session: AsyncSession) -> None:
    before = await last_hash(session)
    count_before = await session.scalar(select(func.count()).select_from(AuditEvent))
    stored = [await append(session, entry(n)) for n in range(1, 4)]
    assert stored[0].prev_hash == before
    assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
    for n, event in enumerate(stored, start=1):
        assert event.hash == event_hash(entry(n), event.prev_hash)
    session.expunge_all()
    assert await verify_chain(session) == ((count_before or 0) + 3, None)


async def test_the_database_refuses_update_and_delete_of_audit_events(session: AsyncSession) -> None:
    """Needs the append-only triggers of migration 0002."""
    event = await append(session, entry(1))
    statements = [
        "UPDATE audit_events SET outcome = 'success', actor = 'someone-else' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
    ]
    for statement in statements:
        with pytest.raises(DBAPIError):
            async with session.begin_nested():
                await session.execute(text(statement), {"id": event.id})
    select_row = text("SELECT actor, outcome FROM audit_events WHERE id = :id")
    row = (await session.execute(select_row, {"id": event.id})).one()
    assert tuple(row) == (entry(1).actor, entry(1).outcome)


def raw_event(event_id: int, prev_hash: str, actor: str = "racer") -> dict[str, object]:
    """An ``audit_events`` row as a writer bypassing our code might insert it."""
    return {
        "id": event_id,
        "at": T0,
        "actor": actor,
        "organisation": None,
        "action": "POST x",
        "subject": "/x",
        "request_id": None,
        "outcome": "success",
        "prev_hash": prev_hash,
        "hash": secrets.token_hex(32),
    }


async def count_events(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(AuditEvent)) or 0


@pytest.mark.parametrize(
    ("place", "follows"),
    [
        (0, "prev"),  # the tail's own place, after the event before it: a fork
        (1, "prev"),  # the next place, after the event before the tail: a fork
        (1, "random"),  # the next place, after no event: a dangling link
        (2, "tail"),  # a place past the next one, after the tail: a gap
        (-1, "tail"),  # a place before the tail
    ],
    ids=["fork-same-id", "fork-next-id", "dangling", "gap", "before"],
)
async def test_the_database_refuses_an_event_that_does_not_follow_the_tail(
    session: AsyncSession, place: int, follows: str
) -> None:
    """Needs the tail trigger of migration 0020 (and the primary key)."""
    event = await append(session, entry(1))
    prev = {"prev": event.prev_hash, "tail": event.hash, "random": secrets.token_hex(32)}[follows]
    before = await count_events(session)
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await session.execute(insert(AuditEvent).values(**raw_event(event.id + place, prev)))
    assert await count_events(session) == before
    session.expunge_all()
    assert (await verify_chain(session))[1] is None
    assert (await append(session, entry(2))).id == event.id + 1, "the next appender takes the next place"


async def test_the_database_refuses_an_event_without_its_id(session: AsyncSession) -> None:
    """No sequence on PostgreSQL, and SQLite's rowid is not the largest id + 1 in the trigger."""
    event = await append(session, entry(1))
    without_id = table("audit_events", *(column(c.name) for c in AUDIT_TABLE.c if c.name != "id"))
    row = raw_event(0, event.hash)
    del row["id"]
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await session.execute(insert(without_id).values(**row))
    assert (await session.scalar(select(func.max(AuditEvent.id)))) == event.id


async def test_a_raw_insert_that_follows_the_tail_is_accepted(session: AsyncSession) -> None:
    """The trigger refuses only what breaks the chain: a correct event from elsewhere is stored."""
    event = await append(session, entry(1))
    item = entry(2)
    row = {**raw_event(event.id + 1, event.hash), **msgspec.structs.asdict(item)}
    row["hash"] = event_hash(item, event.hash)
    await session.execute(insert(AuditEvent).values(**row))
    session.expunge_all()
    assert (await verify_chain(session))[1] is None


async def test_two_appenders_from_the_same_tail_one_takes_the_place_the_other_retries(
    own_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two appenders read the same tail; the first to insert takes its place, the other is refused by
    the database and, through ``append_retrying``, appends after it instead."""
    database = Database(make_engine(own_database_url, pool_size=2))
    try:
        async with database.session(write=True) as setup:
            await append(setup, entry(1, actor="earlier"))
            await setup.commit()
        async with database.session() as reader:
            stale = await audit._tail(reader)
        reads: list[audit.Tail] = []
        real_tail = audit._tail

        async def tail_read_before_the_other_committed(session: AsyncSession) -> audit.Tail:
            found = stale if not reads else await real_tail(session)
            reads.append(found)
            return found

        async with database.session(write=True) as first:
            await append(first, entry(2, actor="first"))
            await first.commit()
        monkeypatch.setattr(audit, "_tail", tail_read_before_the_other_committed)
        await append_retrying(database.session, entry(3, actor="second"))
        assert len(reads) == 2, "the loser was refused once, then retried from the new tail"
        async with database.session() as check:
            rows = (await check.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
            assert [(row.id, row.actor) for row in rows] == [(1, "earlier"), (2, "first"), (3, "second")]
            assert await verify_chain(check) == (3, None)
    finally:
        await database.dispose()


async def test_two_transactions_inserting_at_the_same_place_one_is_refused(own_database_url: str) -> None:
    """Without our lock (a writer bypassing the code): both read the tail and insert the next id. On
    PostgreSQL the second waits for the first to commit, then is refused; SQLite lets one writer in at a
    time, so the second inserts after the first committed, and is refused. One event is added."""
    database = Database(make_engine(own_database_url, pool_size=2))
    postgres = own_database_url.startswith("postgresql")
    try:
        async with database.session(write=True) as setup:
            tail = await append(setup, entry(1))
            await setup.commit()
        winner = {**raw_event(tail.id + 1, tail.hash, "winner")}
        loser = {**raw_event(tail.id + 1, tail.hash, "loser")}
        async with database.session() as first, database.session() as second:
            await first.execute(insert(AuditEvent).values(**winner))
            if postgres:
                racing = asyncio.create_task(second.execute(insert(AuditEvent).values(**loser)))
                await asyncio.sleep(0.2)
                assert not racing.done(), "the second insert waits for the first transaction"
                await first.commit()
                with pytest.raises(IntegrityError):
                    await racing
            else:
                await first.commit()
                with pytest.raises(IntegrityError):
                    await second.execute(insert(AuditEvent).values(**loser))
            await second.rollback()
        async with database.session() as check:
            rows = (await check.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
            assert [row.actor for row in rows] == [entry(1).actor, "winner"]
            assert (await verify_chain(check))[0] == 2
    finally:
        await database.dispose()


async def test_concurrent_appenders_wait_for_each_other_and_never_share_a_place(
    own_database_url: str,
) -> None:
    database = Database(make_engine(own_database_url, pool_size=2))
    try:
        async with database.session() as first:
            await append(first, entry(1, actor="first"))  # holds the place until it commits
            second = asyncio.create_task(append_retrying(database.session, entry(2, actor="second")))
            await asyncio.sleep(0.1)
            assert not second.done(), "the second appender must wait for the first to commit"
            await first.commit()
        await asyncio.wait_for(second, timeout=15)
        async with database.session() as check:
            rows = (await check.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
            assert [row.actor for row in rows] == ["first", "second"]
            assert rows[0].prev_hash == GENESIS
            assert rows[1].prev_hash == rows[0].hash
            assert await verify_chain(check) == (2, None)
    finally:
        await database.dispose()


# ---------------------------------------------------------------- requests are audited


async def events_of(session: AsyncSession, response: httpx.Response) -> list[AuditEvent]:
    request_id = response.headers["x-request-id"]
    return list(
        (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.id)
            )
        ).all()
    )


async def test_token_requests_granted_and_refused_are_each_audited_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await create_organisation(session, "RRK")
    created = await create_client(session, Role.ISSUER, "RRK")
    form = {"grant_type": "client_credentials", "client_id": created.client_id}
    granted = await client.post("/oauth/token", data={**form, "client_secret": created.client_secret})
    refused = await client.post(
        "/oauth/token",
        data={**form, "client_secret": "wrong"},
        headers={"X-Request-ID": "caller-chosen-id-42"},
    )
    assert (granted.status_code, refused.status_code) == (200, 401)
    assert refused.headers["x-request-id"] == "caller-chosen-id-42"
    for response, outcome in ((granted, "success"), (refused, "denied 401")):
        events = await events_of(session, response)
        assert len(events) == 1, response.text
        event = events[0]
        assert (event.actor, event.action, event.outcome) == (created.client_id, "POST oauth_token", outcome)
        assert event.subject == "/oauth/token"
        assert event.request_id == response.headers["x-request-id"]
        assert created.client_secret not in msgspec.json.encode(entry_of(event)).decode()
    session.expunge_all()
    assert (await verify_chain(session))[1] is None


async def test_reads_are_not_audited(client: httpx.AsyncClient, session: AsyncSession) -> None:
    response = await client.get("/oauth/jwks.json")
    assert response.status_code == 200
    assert await events_of(session, response) == []
