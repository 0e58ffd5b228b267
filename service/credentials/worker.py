"""The lifecycle worker and the notification sender.

- :func:`run_once`: one lifecycle pass in its own transaction (``passport credentials lifecycle --once``);
- :func:`send_notifications`: drain the outbox: by SMTP to the holder's web account address when
  ``PASSPORT_SMTP_URL`` is set; in demo mode without it, one log line per message,
  ``notification for <person id>: <subject>`` (never the body, never health data); otherwise messages
  wait in the outbox. At least once, with no transaction open while a message is sent (each claimed,
  then recorded, in short write transactions of their own; docs/credentials.md);
- :func:`background`: both, every ``PASSPORT_LIFECYCLE_INTERVAL`` seconds, inside ``passport serve``.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import smtplib
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from service.auth import Role, User
from service.config import Settings
from service.credentials import repository, service
from service.credentials.models import Notification
from service.credentials.schemas import LifecycleResult
from service.db import Database

log = logging.getLogger("service.credentials")
SENDER = "passport-registry@localhost"
CLAIM_LEASE = dt.timedelta(minutes=5)
"""How long a claimed notification is left to its sender; past that (the sender stopped) another sends it."""


async def run_once(database: Database, issuer: service.Issuer, now: dt.datetime) -> LifecycleResult:
    async with database.session(write=True) as session:
        result = await service.lifecycle_step(session, issuer, now=now)
        await session.commit()
    return result


def _smtp_send(url: str, recipient: str, subject: str, body: str) -> None:
    parts = urlsplit(url)
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(body)
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_class(parts.hostname or "localhost", port, timeout=10) as smtp:
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)


class _Claimed(NamedTuple):
    """A notification whose attempt this sender counted and will now send."""

    person_id: uuid.UUID
    subject: str
    body: str
    email: str


def _in_flight(note: Notification, now: dt.datetime) -> bool:
    """Whether a sender claimed this notification less than ``CLAIM_LEASE`` before ``now``."""
    return note.claimed_at is not None and now - note.claimed_at < CLAIM_LEASE


async def _claim(database: Database, note_id: uuid.UUID, seen_attempts: int) -> _Claimed | None:
    """Count an attempt of one notification and mark it being sent (``claimed_at``)
    in a short write transaction, if it is still unsent, no other sender counted an attempt since it was
    read, and none is sending it (so two senders at once do not both send it). None when there is nothing
    to send: sent or claimed meanwhile, or no holder account with an address. The lease is timed by the
    wall clock (senders in other processes share it), not by the pass's ``now``: a pass can be long."""
    claimed_at = dt.datetime.now(dt.UTC)
    async with database.session(write=True) as session:
        note = await session.get(Notification, note_id, with_for_update=True)
        if note is None or note.sent_at is not None or note.attempts != seen_attempts:
            return None
        if _in_flight(note, claimed_at):
            return None
        note.attempts += 1
        note.claimed_at = claimed_at
        email = await session.scalar(
            select(User.email).where(User.person_id == note.person_id, User.role == Role.HOLDER.value)
        )
        claimed = None if email is None else _Claimed(note.person_id, note.subject, note.body, email)
        if claimed is None:  # nothing to send: no claim either
            note.claimed_at = None
            note.last_error = "no holder account with an email address"
        await session.commit()
    return claimed


async def _record(database: Database, note_id: uuid.UUID, now: dt.datetime, error: str | None) -> None:
    """The outcome of one attempt, in a short write transaction: sent, or why not; the claim ends."""
    async with database.session(write=True) as session:
        note = await session.get(Notification, note_id, with_for_update=True)
        if note is None:
            return
        if error is None:
            note.sent_at = now
        note.last_error = error
        note.claimed_at = None
        await session.commit()


async def _deliver(smtp_url: str, message: _Claimed) -> str | None:
    """Send one message with no transaction open; None when sent, else the error's type name."""
    try:
        await asyncio.to_thread(_smtp_send, smtp_url, message.email, message.subject, message.body)
    except (OSError, smtplib.SMTPException) as exc:
        return type(exc).__name__
    return None


async def _log_batch(database: Database, now: dt.datetime, limit: int) -> int:
    """Demo mode without SMTP: one log line per message, nothing slow, so one short write transaction
    for the batch (a claim and a record per message cost 25 times as much CPU). A message another
    sender is sending is left to it."""
    logged = 0
    async with database.session(write=True) as session:
        for note in await repository.unsent(session, limit):
            if _in_flight(note, dt.datetime.now(dt.UTC)):
                continue
            note.attempts += 1
            log.info("notification for %s: %s", note.person_id, note.subject)
            note.sent_at = now
            note.last_error = None
            note.claimed_at = None
            logged += 1
        await session.commit()
    return logged


async def send_notifications(
    database: Database, settings: Settings, now: dt.datetime, limit: int = 100
) -> int:
    """Send up to ``limit`` waiting notifications; how many were sent (or logged, in demo mode).

    No transaction is open while a message is sent (SMTP may take up to its 10 s timeout): the batch is
    read in a read session, then each message is claimed (its attempt counted) in a short write
    transaction, sent, and its outcome recorded in another. At least once: a message sent whose outcome
    could not be recorded (the process stopped, the database refused) is sent again once its claim has
    run out. In demo mode without SMTP (a log line each, nothing slow) the batch is one transaction.
    """
    if settings.smtp_url is None:
        return await _log_batch(database, now, limit) if settings.demo_mode else 0
    async with database.session(write=False) as session:
        batch = [(note.id, note.attempts) for note in await repository.unsent(session, limit)]
    sent = 0
    for note_id, seen_attempts in batch:
        claimed = await _claim(database, note_id, seen_attempts)
        if claimed is None:
            continue
        error = await _deliver(settings.smtp_url, claimed)
        await _record(database, note_id, now, error)
        if error is None:
            sent += 1
    return sent


async def _loop(state: Any) -> None:
    settings: Settings = state.settings
    database: Database = state.database
    issuer = service.issuer_from_state(state)
    while True:
        try:
            now = state.clock()
            result = await run_once(database, issuer, now)
            if result.changes.issued or result.lapses.issued:
                log.info(
                    "lifecycle: %d issued, %d revoked",
                    result.changes.issued + result.lapses.issued,
                    result.changes.revoked + result.lapses.revoked,
                )
            await send_notifications(database, settings, state.clock())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next pass tries again; never log data
            log.warning("lifecycle pass failed: %s", type(exc).__name__)
        await asyncio.sleep(settings.lifecycle_interval)


@contextlib.asynccontextmanager
async def background(state: Any, *, enabled: bool) -> AsyncIterator[None]:
    """Run the lifecycle loop while the app runs (when ``enabled``)."""
    if not enabled:
        yield
        return
    task = asyncio.create_task(_loop(state))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
