"""The notification sender mails with no transaction open: a slow SMTP server never holds SQLite's write
lock (decision 0045) or PostgreSQL's row locks, so the requests that write do not wait for it.

Real databases of the test's own (committed rows, other connections), a real SMTP receiver on a socket.
"""

import asyncio
import contextlib
import datetime as dt
import socketserver
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import msgspec
import pytest
from sqlalchemy import make_url, select, text

from service.config import Settings
from service.credentials import worker
from service.credentials.models import Notification
from service.db import Database, make_engine
from tests.audit.test_issue3_lifecycle_live import Mailbox, _Smtp, mail_server
from tests.credentials import factories as cf
from tests.workforce.factories import create_person

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
STALL = 1.0  # seconds the receiver waits before it greets each connection (one message each)


@contextlib.contextmanager
def stalling_mail_server() -> Iterator[tuple[int, Mailbox, threading.Event]]:
    """An SMTP receiver that stalls ``STALL`` seconds per message; the event is set when one connects."""
    mailbox, connected = Mailbox(), threading.Event()

    class Slow(_Smtp):
        def handle(self) -> None:
            connected.set()
            time.sleep(STALL)
            super().handle()

    Slow.mailbox = mailbox
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], mailbox, connected
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def own(own_database_url: str) -> AsyncIterator[Database]:
    database = Database(make_engine(own_database_url, pool_size=4))
    yield database
    await database.dispose()


async def _outbox(database: Database, count: int) -> tuple[str, list[uuid.UUID]]:
    """A holder with a web account and ``count`` waiting notifications, committed."""
    async with database.session(write=True) as session:
        person = await create_person(session)
        user = await cf.holder_user(session, person, NOW)
        ids = [uuid.uuid4() for _ in range(count)]
        session.add_all(
            Notification(
                id=note_id,
                person_id=person.id,
                subject=f"Your staff passport credentials have changed ({i})",
                body="Open your passport to see them.",
                created_at=NOW + dt.timedelta(seconds=i),
                sent_at=None,
                attempts=0,
                last_error=None,
            )
            for i, note_id in enumerate(ids)
        )
        await session.commit()
        return user.email, ids


async def _notes(database: Database) -> list[tuple[dt.datetime | None, int, str | None]]:
    """(sent_at, attempts, last_error) of every notification; none is left claimed after a pass."""
    async with database.session(write=False) as session:
        rows = list(await session.scalars(select(Notification).order_by(Notification.created_at)))
        assert [n.claimed_at for n in rows] == [None] * len(rows), "every claim ended with its outcome"
        return [(n.sent_at, n.attempts, n.last_error) for n in rows]


def _sqlite_write_lock_wait(path: str) -> float:
    """Seconds another connection waits for SQLite's write lock (BEGIN IMMEDIATE, 0.2 s busy timeout)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0.2)
    try:
        started = time.monotonic()
        conn.execute("BEGIN IMMEDIATE")
        waited = time.monotonic() - started
        conn.execute("ROLLBACK")
        return waited
    finally:
        conn.close()


async def _another_writer_waits(database: Database, url: str) -> float:
    """How long another connection waits to write what the sender works on; raises if it cannot."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        return await asyncio.to_thread(_sqlite_write_lock_wait, parsed.database)
    async with database.session(write=True) as session:  # PostgreSQL: the rows, not the whole database
        await session.execute(text("SET LOCAL lock_timeout = '200ms'"))
        started = time.monotonic()
        await session.execute(text("SELECT id FROM credential_notifications FOR UPDATE"))
        waited = time.monotonic() - started
        await session.rollback()
        return waited


async def test_a_slow_mail_server_does_not_hold_writers_back(
    own: Database, own_database_url: str, settings: Settings
) -> None:
    address, _ = await _outbox(own, 2)
    with stalling_mail_server() as (port, mailbox, connected):
        smtp = msgspec.structs.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}")
        sending = asyncio.create_task(worker.send_notifications(own, smtp, NOW))
        try:
            assert await asyncio.to_thread(connected.wait, 5), "the sender reached the mail server"
            waited = await _another_writer_waits(own, own_database_url)  # "locked" when sent inside
            assert waited < 0.2
            assert not sending.done(), "the check ran while a message was being sent"
            async with own.session(write=False) as session:
                first = await session.scalar(select(Notification).order_by(Notification.created_at))
            assert first is not None
            assert first.claimed_at is not None, "the message being sent is claimed"
            assert first.last_error is None, "the claim is not written as an error"
        finally:
            sent = await sending  # the sender finishes (and lets go of its connections) either way
        assert sent == 2
    received = mailbox.received()
    assert [to for to, _ in received] == [[address], [address]]
    assert await _notes(own) == [(NOW, 1, None), (NOW, 1, None)], "both recorded sent, one attempt each"


async def test_two_senders_at_once_send_each_message_once(
    own: Database, own_database_url: str, settings: Settings
) -> None:
    await _outbox(own, 3)
    with stalling_mail_server() as (port, mailbox, _):
        smtp = msgspec.structs.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}")
        other = Database(make_engine(own_database_url, pool_size=2))
        try:
            counts = await asyncio.gather(
                worker.send_notifications(own, smtp, NOW), worker.send_notifications(other, smtp, NOW)
            )
        finally:
            await other.dispose()
    assert sum(counts) == 3
    subjects = sorted(str(message["Subject"]) for _, message in mailbox.received())
    assert subjects == [f"Your staff passport credentials have changed ({i})" for i in range(3)]
    assert [attempts for _, attempts, _ in await _notes(own)] == [1, 1, 1]


async def test_a_failed_send_is_counted_and_tried_again_up_to_ten_times(
    own: Database, settings: Settings
) -> None:
    await _outbox(own, 1)
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as closed:
        port = closed.server_address[1]  # bound, then closed: connections are refused
    refused = msgspec.structs.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}")
    assert await worker.send_notifications(own, refused, NOW) == 0
    assert await _notes(own) == [(None, 1, "ConnectionRefusedError")]
    for _ in range(12):
        await worker.send_notifications(own, refused, NOW)
    assert await _notes(own) == [(None, 10, "ConnectionRefusedError")], "ten attempts, then it waits"


@pytest.mark.parametrize("by", ["smtp", "demo log"])
async def test_a_message_another_sender_is_sending_waits_until_its_claim_runs_out(
    own: Database, settings: Settings, by: str
) -> None:
    """A sender that stopped mid-send leaves its claim: after ``CLAIM_LEASE`` the message is sent again
    (at least once); before that, nobody else sends it."""
    _, (note_id,) = await _outbox(own, 1)
    with mail_server() as (port, _):
        if by == "smtp":
            sender = msgspec.structs.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}")
        else:
            sender = msgspec.structs.replace(settings, demo_mode=True)
        await _resent_after_the_lease(own, sender, note_id)


async def _resent_after_the_lease(own: Database, sender: Settings, note_id: uuid.UUID) -> None:

    async def claimed(ago: dt.timedelta) -> None:
        async with own.session(write=True) as session:
            note = await session.get(Notification, note_id)
            assert note is not None
            note.attempts = 1
            note.claimed_at = dt.datetime.now(dt.UTC) - ago
            note.last_error = "ConnectionRefusedError"  # the attempt before: an error, not the claim
            await session.commit()

    await claimed(dt.timedelta(minutes=1))
    assert await worker.send_notifications(own, sender, NOW) == 0
    await claimed(worker.CLAIM_LEASE + dt.timedelta(minutes=1))
    assert await worker.send_notifications(own, sender, NOW) == 1
    assert await _notes(own) == [(NOW, 2, None)]
