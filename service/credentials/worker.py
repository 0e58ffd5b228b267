"""The lifecycle worker and the notification sender.

- :func:`run_once`: one lifecycle pass in its own transaction (``passport credentials lifecycle --once``);
- :func:`send_notifications`: drain the outbox: by SMTP to the holder's web account address when
  ``PASSPORT_SMTP_URL`` is set; in demo mode without it, one log line per message,
  ``notification for <person id>: <subject>`` (never the body, never health data); otherwise messages
  wait in the outbox;
- :func:`background`: both, every ``PASSPORT_LIFECYCLE_INTERVAL`` seconds, inside ``passport serve``.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from service.auth import Role, User
from service.config import Settings
from service.credentials import repository, service
from service.credentials.schemas import LifecycleResult
from service.db import Database

log = logging.getLogger("service.credentials")
SENDER = "passport-registry@localhost"


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


async def send_notifications(
    database: Database, settings: Settings, now: dt.datetime, limit: int = 100
) -> int:
    """Send up to ``limit`` waiting notifications; how many were sent (or logged, in demo mode)."""
    if settings.smtp_url is None and not settings.demo_mode:
        return 0
    sent = 0
    async with database.session(write=True) as session:
        for note in await repository.unsent(session, limit):
            note.attempts += 1
            try:
                if settings.smtp_url is None:
                    log.info("notification for %s: %s", note.person_id, note.subject)
                else:
                    email = await session.scalar(
                        select(User.email).where(
                            User.person_id == note.person_id, User.role == Role.HOLDER.value
                        )
                    )
                    if email is None:
                        note.last_error = "no holder account with an email address"
                        continue
                    await asyncio.to_thread(_smtp_send, settings.smtp_url, email, note.subject, note.body)
            except (OSError, smtplib.SMTPException) as exc:
                note.last_error = type(exc).__name__
                continue
            note.sent_at = now
            note.last_error = None
            sent += 1
        await session.commit()
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
