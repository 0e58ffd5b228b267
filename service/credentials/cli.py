"""``passport credentials lifecycle|reissue-all|send-notifications``."""

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

from service.config import Settings
from service.db import Database, make_engine, utcnow


def add_parser(sub: Any, handler: Callable[..., None]) -> None:
    group = sub.add_parser("credentials", help="credential lifecycle, the changeover, notifications")
    actions = group.add_subparsers(dest="action", required=True)
    life = actions.add_parser(
        "lifecycle",
        help="consume the records change feed and lapses: re-issue, revoke, notify (every "
        "PASSPORT_LIFECYCLE_INTERVAL seconds, or once)",
    )
    life.add_argument("--once", action="store_true", help="one pass, then exit")
    again = actions.add_parser(
        "reissue-all", help="re-issue every credential of every holder (the August changeover)"
    )
    again.add_argument(
        "--workers", type=int, default=2, metavar="N", help="processes building and signing (2); 0: one"
    )
    again.add_argument("--batch", type=int, default=1000, metavar="N", help="holders per transaction (1000)")
    actions.add_parser("send-notifications", help="send the waiting holder notifications once")
    group.set_defaults(func=handler)


def _issuer(settings: Settings) -> Any:
    from service.app import open_keyring
    from service.credentials import service
    from service.passport.encryption import open_data_keys

    keyring = open_keyring(settings, utcnow)
    return service.Issuer(
        keyring=keyring,
        data_keys=open_data_keys(settings, utcnow()),
        base_url=settings.public_base_url,
        alg=settings.credential_alg,
        lifetime_days=settings.credential_lifetime_days,
    )


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


async def _lifecycle(settings: Settings, once: bool) -> None:
    from service.credentials import worker

    issuer = _issuer(settings)
    database = Database(make_engine(settings.database_url, pool_size=2))
    try:
        while True:
            result = await worker.run_once(database, issuer, utcnow())
            sent = await worker.send_notifications(database, settings, utcnow())
            changes, lapses = result.changes, result.lapses
            _out(
                f"lifecycle: changes {changes.issued} issued, {changes.revoked} revoked, {changes.unchanged} "
                f"unchanged; lapses {lapses.issued} issued, {lapses.revoked} revoked; {sent} notification(s) "
                f"sent; feed at {result.feed_cursor}, lapses handled through {result.lapsed_through}"
            )
            if once:
                return
            await asyncio.sleep(max(1, settings.lifecycle_interval))
    finally:
        await database.dispose()


async def _reissue_all(settings: Settings, workers: int, batch: int) -> None:
    from tqdm import tqdm

    from service.credentials import bulk, repository, service
    from service.keys import demo_passphrase

    issuer = _issuer(settings)
    database = Database(make_engine(settings.database_url, pool_size=2))
    try:
        async with database.session(write=False) as session:
            total = await repository.count_holders(session)
        bar = tqdm(total=total, desc="re-issuing", unit="holder", file=sys.stderr)
        started = time.perf_counter()
        now = utcnow()
        if workers > 0:
            passphrase = settings.key_passphrase
            if passphrase is None and settings.demo_mode:
                passphrase = demo_passphrase(settings.var_dir)
            result = await bulk.reissue_all(
                database,
                issuer,
                workers=workers,
                keys_dir=settings.keys_dir,
                passphrase=passphrase,
                database_url=settings.database_url,
                now=now,
                batch=batch,
                progress=bar.update,
            )
        else:
            result = await service.reissue_all(
                database.session, issuer, now=now, batch=batch, progress=bar.update
            )
        bar.close()
        async with database.session(write=True) as session:
            from service.cli import _record

            await _record(session, "credentials reissue-all", f"credentials:{result.issued}", None, utcnow())
            await session.commit()
        _out(
            f"re-issued {result.issued} credential(s) of {total} holder(s), {result.held} not re-issued "
            f"(held by an issuer's revocation), {result.revoked} revoked, "
            f"{result.notified} holder(s) notified, in {time.perf_counter() - started:.1f} s"
        )
    finally:
        await database.dispose()


async def _send(settings: Settings) -> None:
    from service.credentials import worker

    database = Database(make_engine(settings.database_url, pool_size=2))
    try:
        sent = await worker.send_notifications(database, settings, utcnow(), limit=10_000)
        _out(f"{sent} notification(s) sent")
    finally:
        await database.dispose()


def run(settings: Settings, args: argparse.Namespace) -> None:
    if args.action == "lifecycle":
        asyncio.run(_lifecycle(settings, args.once))
    elif args.action == "reissue-all":
        asyncio.run(_reissue_all(settings, args.workers, args.batch))
    else:
        asyncio.run(_send(settings))
