"""The ``passport`` command: serve, migrate, keys, clients, audit, demo data.

Every sub-command reads the same ``PASSPORT_*`` settings as the server. A bad setting prints one
line naming the variable and exits 2; other refusals exit 1.
"""

import argparse
import asyncio
import datetime as dt
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec

from service import native
from service.config import ConfigError, Settings, load_settings
from service.db import Database, import_models, make_engine, upgrade, utcnow
from service.keys import ALGORITHMS, PURPOSES, KeyMeta, KeyProblem, KeyStore, demo_passphrase

T = TypeVar("T")


class CommandError(Exception):
    """A refusal to print as one line (exit 1)."""


BUSY = (
    "the database is busy: another process (the running server, for one) held its write lock for longer "
    "than the busy timeout (5 s); this command's database changes were not made: run it again"
)


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _run_with_session(settings: Settings, work: Callable[[Any], Awaitable[T]], *, write: bool = True) -> T:
    """Run ``work(session)`` in one transaction, committed if it returns.

    A write session unless ``write=False`` (a command that only reads: on SQLite it then takes no write
    lock, so a long read never holds the server's writers back; decision 0045)."""
    # Every table, so a flush can resolve any foreign key (api_clients -> organisations) whichever
    # modules the command itself happened to import.
    import_models()

    async def main() -> T:
        database = Database(make_engine(settings.database_url, pool_size=2))
        try:
            async with database.session(write=write) as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await database.dispose()

    return asyncio.run(main())


def _key_store(settings: Settings) -> KeyStore:
    passphrase = settings.key_passphrase
    if passphrase is None and settings.demo_mode:
        passphrase = demo_passphrase(settings.var_dir)
    return KeyStore(settings.keys_dir, passphrase)


# ---------------------------------------------------------------- audit events of CLI actions


def _actor() -> str:
    """Who ran the command, as the audit log names it: ``cli:<operating-system user>``."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid in a minimal container
        user = "unknown"
    return f"cli:{user}"[:200]


async def _record(
    session: Any, action: str, subject: str, organisation: str | None, now: dt.datetime
) -> None:
    """Append the audit event of a CLI action in the caller's transaction (committed with the change)."""
    from service import audit

    entry = audit.Entry(
        at=now,
        actor=_actor(),
        organisation=organisation,
        action=f"cli {action}",
        subject=subject,
        request_id=None,
        outcome="success",
    )
    await audit.append(session, entry)


def _audited_key_change(
    settings: Settings, store: KeyStore, action: str, change: Callable[[], list[Any]]
) -> list[Any]:
    """Make a change to the keys folder and record one audit event per key it touched: both or neither.

    The audit log is read first, in a write transaction (SQLite's write lock is held from there to the
    commit), so a database that is missing or not migrated refuses the command before any key changes.
    The change is made, its events inserted and committed; if any of that fails the keys folder is put
    back as it was (new key files removed, changed ones restored) before the error is reported.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from service import audit

    import_models()

    async def main() -> list[Any]:
        database = Database(make_engine(settings.database_url, pool_size=2))
        try:
            async with database.session(write=True) as session:
                try:
                    await audit.chain_tail(session)
                except SQLAlchemyError as exc:
                    raise CommandError(
                        f"the audit log cannot be written ({type(exc).__name__}): "
                        "run `passport db upgrade` first; no key was changed"
                    ) from None
                before = store.files()
                try:
                    metas = change()
                    for meta in metas:  # a signing key's purpose; a data key (no purpose) is "data"
                        purpose = meta.purpose if isinstance(meta, KeyMeta) else "data"
                        await _record(session, action, f"key:{purpose}:{meta.kid}", None, utcnow())
                    await session.commit()
                except BaseException:
                    store.restore(before)
                    raise
                return metas
        finally:
            await database.dispose()

    return asyncio.run(main())


# ---------------------------------------------------------------- serve and db


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    from service.app import open_keyring

    open_keyring(settings, utcnow)  # fail here, once, with a clear line, rather than in every worker
    _out(f"Staff Passport Registry on http://{args.host}:{args.port}")
    _out(f"  API docs:   http://{args.host}:{args.port}/schema")
    if settings.demo_mode:
        _out(f"  Demo pages: http://{args.host}:{args.port}/  (demo sign-in: /signin)")
        _out(f"  Demo API client credentials: {settings.var_dir / 'demo-clients.json'}")
    from service import serving

    _out(f"  Serving on: {serving.stack_description()}, {args.workers} worker(s)")
    for note in serving.stack_notes():  # a platform without a wheel: still served, slower
        _out(f"  Note: {note}")
    sys.stdout.flush()  # a pipe or a log file is block-buffered, and the server runs until it is stopped
    serving.serve(  # parser, loop, TCP_NODELAY, a listening socket for each worker (decision 0049)
        "service.app:create_app_from_env",
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=args.proxy_headers,
    )


def cmd_db(settings: Settings, args: argparse.Namespace) -> None:
    if args.action == "upgrade":
        upgrade(settings.database_url, args.revision)
        _out(f"database at {args.revision}")
    elif args.action == "downgrade":
        from service.db import downgrade

        downgrade(settings.database_url, args.revision)
        _out(f"database at {args.revision}")


# ---------------------------------------------------------------- keys


def _publish_for(settings: Settings, purpose: str) -> dt.timedelta:
    """How long a retired key stays published: as long as the longest-lived thing it signed."""
    if purpose == "token":  # access tokens and web sessions, not credentials
        return dt.timedelta(seconds=max(settings.access_token_lifetime, settings.session_lifetime))
    return dt.timedelta(days=settings.credential_lifetime_days)


def _data_store(settings: Settings) -> Any:
    from service.passport.encryption import DataKeyStore

    passphrase = settings.key_passphrase
    if passphrase is None and settings.demo_mode:
        passphrase = demo_passphrase(settings.var_dir)
    return DataKeyStore(settings.keys_dir, passphrase)


def cmd_data_keys(settings: Settings, args: argparse.Namespace) -> None:
    """``keys rotate|list --purpose data`` and ``keys reencrypt``: the keys sealing occupational health."""
    store = _data_store(settings)
    if args.action == "rotate":
        # Audited like the signing keys' rotation: the event is committed with the new key, or the
        # keys folder is put back (the signing key store's files() and restore() cover data/ too).
        now = utcnow()
        (meta,) = _audited_key_change(
            settings, _key_store(settings), "keys rotate", lambda: [store.rotate(now)]
        )
        _out(
            f"created data key {meta.kid}; the previous one is retired and still decrypts. "
            "Run `passport keys reencrypt` to seal existing records under the new key."
        )
    elif args.action == "list":
        _out(f"{'kid':<44} {'purpose':<10} {'status':<8} {'created':<17} retired")
        for meta in store.metas():
            retired = f"{meta.retired_at:%Y-%m-%d %H:%M}" if meta.retired_at else "-"
            created = f"{meta.created_at:%Y-%m-%d %H:%M}"
            _out(f"{meta.kid:<44} {'data':<10} {meta.status:<8} {created:<17} {retired}")
    else:
        _reencrypt(settings, store.load(), args.batch)


def _reencrypt(settings: Settings, ring: Any, batch: int) -> None:
    from service.passport import service as passport

    import_models()

    async def main() -> tuple[int, dict[str, int]]:
        database = Database(make_engine(settings.database_url, pool_size=2))
        total = 0
        try:
            while True:  # one transaction per batch: an interrupted run resumes where it stopped
                async with database.session(write=True) as session:
                    done = await passport.reencrypt(session, ring, batch=batch)
                    if done:  # each batch's event is committed with the batch; nothing re-sealed, no event
                        subject = f"key:data:{ring.active_kid} records={done}"
                        await _record(session, "keys reencrypt", subject, None, utcnow())
                    await session.commit()
                total += done
                if done < batch:
                    break
                sys.stderr.write(f"\rre-encrypted {total:,}")
            async with database.session(write=False) as session:
                return total, await passport.sealed_by_key(session)
        finally:
            await database.dispose()

    total, counts = asyncio.run(main())
    _out(f"re-encrypted {total:,} occupational health records under data key {ring.active_kid}")
    for kid, count in sorted(counts.items()):
        _out(f"  {kid}: {count:,} records")


def cmd_keys(settings: Settings, args: argparse.Namespace) -> None:
    if getattr(args, "purpose", None) == "data" or args.action == "reencrypt":
        cmd_data_keys(settings, args)
        return
    store = _key_store(settings)
    now = utcnow()
    if args.action == "init":
        data_store = _data_store(settings)

        def init() -> list[Any]:
            data_key = data_store.init(now)
            return [*store.init(now), *([data_key] if data_key is not None else [])]

        created = _audited_key_change(settings, store, "keys init", init)
        for meta in created:
            if isinstance(meta, KeyMeta):
                _out(f"created {meta.purpose} key {meta.alg} {meta.kid}")
            else:
                _out(f"created data key {meta.kid}")
        if not created:
            _out("keys already present; nothing created")
    elif args.action == "rotate":
        publish_for = _publish_for(settings, args.purpose)
        (meta,) = _audited_key_change(
            settings, store, "keys rotate", lambda: [store.rotate(args.purpose, args.alg, now, publish_for)]
        )
        _out(f"created {meta.purpose} key {meta.alg} {meta.kid}; the previous one is retired")
    elif args.action == "retire":
        publish_for = _publish_for(settings, store.find(args.kid).purpose)
        (meta,) = _audited_key_change(
            settings, store, "keys retire", lambda: [store.retire(args.kid, now, publish_for)]
        )
        _out(f"retired {meta.kid}; published until {meta.publish_until:%Y-%m-%d %H:%M}Z")
    else:
        _out(f"{'kid':<44} {'purpose':<10} {'alg':<6} {'status':<8} {'created':<17} published until")
        for meta in store.metas():
            until = "while active" if meta.status == "active" else f"{meta.publish_until:%Y-%m-%d %H:%M}"
            stamp = f"{meta.created_at:%Y-%m-%d %H:%M}"
            _out(f"{meta.kid:<44} {meta.purpose:<10} {meta.alg:<6} {meta.status:<8} {stamp:<17} {until}")


# ---------------------------------------------------------------- clients


def cmd_clients(settings: Settings, args: argparse.Namespace) -> None:
    from service import auth

    now = utcnow()
    if args.action == "create":

        async def create(s: Any) -> auth.ClientCreated:
            role = auth.Role(args.role)
            created = await auth.create_client(
                s, name=args.name, role=role, organisation_code=args.organisation, now=now
            )
            await _record(s, "clients create", f"client:{created.client_id}", created.organisation_code, now)
            return created

        created = _run_with_session(settings, create)
        _out(msgspec.json.format(msgspec.json.encode(created)).decode())
        sys.stderr.write(
            "Keep the client_secret now: it is stored only as a hash and cannot be shown again.\n"
        )
    elif args.action == "revoke":

        async def revoke(s: Any) -> auth.ApiClient:
            client = await auth.revoke_client(s, args.client_id, now)
            await _record(s, "clients revoke", f"client:{client.client_id}", client.organisation_code, now)
            return client

        client = _run_with_session(settings, revoke)
        _out(f"revoked {client.client_id}")
    else:
        clients = _run_with_session(settings, auth.list_clients, write=False)
        _out(f"{'client_id':<40} {'role':<12} {'organisation':<12} {'status':<8} name")
        for c in clients:
            status = "revoked" if c.revoked_at else "active"
            _out(f"{c.client_id:<40} {c.role:<12} {c.organisation_code or '-':<12} {status:<8} {c.name}")


# ---------------------------------------------------------------- users


def cmd_users(settings: Settings, args: argparse.Namespace) -> None:
    """People who sign in to web pages: provisioned here, bound to the identity provider at first sign-in."""
    import uuid

    from service.auth import Role
    from service.web import service as users

    now = utcnow()
    if args.action == "create":
        try:
            person_id = uuid.UUID(args.person_id) if args.person_id else None
        except ValueError:
            raise CommandError(f"--person-id {args.person_id!r} is not a person id (a UUID)") from None

        async def create(s: Any) -> Any:
            user = await users.create_user(
                s,
                email=args.email,
                name=args.name,
                role=Role(args.role),
                organisation_code=args.organisation,
                person_id=person_id,
                now=now,
            )
            await _record(s, "users create", f"user:{user.id}", user.organisation_code, now)
            return user

        user = _run_with_session(settings, create)
        _out(f"created {user.email} ({user.role}): sign-in binds it to the provider account")
    elif args.action == "disable":

        async def disable(s: Any) -> Any:
            user = await users.disable_user(s, args.email, now)
            await _record(s, "users disable", f"user:{user.id}", user.organisation_code, now)
            return user

        user = _run_with_session(settings, disable)
        _out(f"disabled {user.email}")
    else:
        rows = _run_with_session(settings, users.list_users, write=False)
        _out(f"{'email':<40} {'role':<12} {'organisation':<12} {'status':<9} {'bound':<6} name")
        for u in rows:
            status = "disabled" if u.disabled_at else ("demo" if u.demo else "active")
            bound = "yes" if u.oidc_subject else "no"
            organisation = u.organisation_code or "-"
            _out(f"{u.email:<40} {u.role:<12} {organisation:<12} {status:<9} {bound:<6} {u.display_name}")


# ---------------------------------------------------------------- audit


def cmd_audit(settings: Settings, args: argparse.Namespace) -> None:
    from service import audit

    count, broken = _run_with_session(settings, audit.verify_chain, write=False)
    if broken is not None:
        raise CommandError(
            f"audit chain broken at event {broken.event_id}: {broken.reason} ({count} events read)"
        )
    _out(f"audit chain intact: {count} events")


# ---------------------------------------------------------------- demo


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from service import demo

    if not settings.demo_mode and not args.force:
        raise CommandError("demo data is for demo mode: set PASSPORT_DEMO_MODE=true (or pass --force)")
    report = _run_with_session(
        settings, lambda s: demo.seed(s, settings=settings, scale=args.scale, seed=args.seed, now=utcnow())
    )
    _out(report)


# ---------------------------------------------------------------- additionality

CLI_PRINCIPAL_SUBJECT = "passport cli"


def cmd_additionality(settings: Settings, args: argparse.Namespace) -> None:
    """Check offers, reproduce a check, summarise or export a year (docs/additionality.md)."""
    import uuid

    from service.additionality import report
    from service.additionality import service as additionality
    from service.auth import Principal, Role

    operator = Principal(subject=CLI_PRINCIPAL_SUBJECT, kind="client", role=Role.ADMIN, organisation=None)
    now = utcnow()

    async def audited(session: Any, action: str, subject: str) -> None:
        from service import audit

        entry = audit.Entry(
            at=now,
            actor=operator.subject,
            organisation=None,
            action=action,
            subject=subject,
            request_id=None,
            outcome="success",
        )
        await audit.append(session, entry)

    if args.action == "check" and args.offer is not None:
        try:
            offer_id = uuid.UUID(args.offer)
        except ValueError:
            raise CommandError(f"--offer {args.offer!r} is not an offer id (a UUID)") from None

        async def one(session: Any) -> str:
            checked = await additionality.check_offer(session, operator, offer_id, now)
            await audited(session, "cli additionality_check", f"additionality_check:{checked.id}")
            return report.check_text(checked)

        _out(_run_with_session(settings, one))
    elif args.action == "check":

        async def year(session: Any) -> str:
            run = await additionality.check_year(session, operator, args.year, now)
            subject = f"additionality_run:{run.run_id} year={args.year}"
            await audited(session, "cli additionality_check_year", subject)
            return report.run_text(run)

        _out(_run_with_session(settings, year))
    elif args.action == "reproduce":
        reproduced = _run_with_session(
            settings, lambda s: additionality.reproduce(s, operator, args.check), write=False
        )
        _out(msgspec.json.format(msgspec.json.encode(reproduced)).decode())
    elif args.action == "summary":
        summary = _run_with_session(settings, lambda s: additionality.summary(s, args.year), write=False)
        _out(msgspec.json.format(msgspec.json.encode(summary)).decode())
    else:
        if args.format == "html":
            content = _run_with_session(
                settings, lambda s: additionality.report_html(s, args.year, now), write=False
            ).encode()
        else:
            content = _run_with_session(
                settings, lambda s: additionality.export_csv(s, args.year, args.format), write=False
            )
        args.output.write_bytes(content)
        _out(f"wrote {args.output} ({len(content):,} bytes)")


def _financial_year(text: str) -> int:
    from service.additionality.schemas import FIRST_YEAR, LAST_YEAR

    try:
        year = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a year such as 2026") from None
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise argparse.ArgumentTypeError(f"{year} is not a financial year from {FIRST_YEAR} to {LAST_YEAR}")
    return year


def _additionality_parser(sub: Any) -> None:
    from pathlib import Path

    group = sub.add_parser("additionality", help="workforce additionality checks")
    actions = group.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check", help="check one offer, or every offer of a financial year; results are stored"
    )
    which = check.add_mutually_exclusive_group(required=True)
    which.add_argument("--offer", help="the offer's id")
    which.add_argument(
        "--year", type=_financial_year, help="financial year: 2026 is 1 April 2026 to 31 March 2027"
    )
    again = actions.add_parser("reproduce", help="recompute a stored check and compare (prints JSON)")
    again.add_argument("--check", type=int, required=True, help="the check's id")
    summary = actions.add_parser("summary", help="per-ICB summary of a financial year (prints JSON)")
    summary.add_argument("--year", type=_financial_year, required=True)
    export = actions.add_parser(
        "export", help="write a year's results as CSV or a self-contained HTML report"
    )
    export.add_argument("--year", type=_financial_year, required=True)
    export.add_argument("--format", choices=["results", "evidence", "html"], default="results")
    export.add_argument("--output", type=Path, required=True)
    group.set_defaults(func=cmd_additionality)


# ---------------------------------------------------------------- benchmark


def cmd_benchmark(settings: Settings, args: argparse.Namespace) -> None:
    from service.benchmark import cli as benchmark_cli

    if args.action == "compute":
        benchmark_cli.compute(settings, args, _run_with_session, _out)
    else:
        benchmark_cli.verify(settings, args, _out)


# ---------------------------------------------------------------- placements


def cmd_placements(settings: Settings, args: argparse.Namespace) -> None:
    """``passport placements match --data DIR``: files in, result out, no database."""
    from service.placements import cli as placements_cli

    try:
        placements_cli.match(args)
    except placements_cli.PlacementsCommandError as exc:
        raise CommandError(str(exc)) from None


# ---------------------------------------------------------------- parser


def cmd_credentials(settings: Settings, args: argparse.Namespace) -> None:
    from service.credentials.cli import run

    run(settings, args)


def cmd_wallet(settings: Settings, args: argparse.Namespace) -> None:
    import httpx

    from service.wallet.cli import run
    from service.wallet.store import WalletError

    try:
        run(args)
    except WalletError as exc:
        raise CommandError(str(exc)) from None
    except httpx.HTTPError as exc:
        raise CommandError(f"cannot reach the registry: {type(exc).__name__}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="passport", description="Staff Passport Registry")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API and web pages")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--proxy-headers", action="store_true", help="trust X-Forwarded-* from a proxy")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="action", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations (default: all)")
    up.add_argument("revision", nargs="?", default="head")
    down = db_sub.add_parser("downgrade", help="revert migrations to a revision")
    down.add_argument("revision")
    db.set_defaults(func=cmd_db)

    keys = sub.add_parser("keys", help="signing keys")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    keys_sub.add_parser("init", help="create the keys that are missing")
    listing = keys_sub.add_parser("list", help="list keys and their state")
    listing.add_argument("--purpose", choices=["data"], help="data: the keys sealing occupational health")
    rotate = keys_sub.add_parser("rotate", help="new active key; the old one is retired")
    rotate.add_argument("--purpose", choices=(*PURPOSES, "data"), default="credential")
    rotate.add_argument("--alg", choices=ALGORITHMS, default="ES256")
    retire = keys_sub.add_parser("retire", help="retire a key (stays published while its tokens may live)")
    retire.add_argument("kid")
    reencrypt = keys_sub.add_parser(
        "reencrypt", help="seal every occupational health record under the active data key"
    )
    reencrypt.add_argument("--batch", type=int, default=1000, help="records per transaction")
    keys.set_defaults(func=cmd_keys)

    clients = sub.add_parser("clients", help="API clients")
    clients_sub = clients.add_subparsers(dest="action", required=True)
    create = clients_sub.add_parser("create", help="register a client and print its secret once")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--role", required=True, choices=["holder", "issuer", "verifier", "coordinator", "analyst", "admin"]
    )
    create.add_argument("--organisation", help="ODS code of the client's organisation (all roles but admin)")
    clients_sub.add_parser("list", help="list clients")
    revoke = clients_sub.add_parser("revoke", help="revoke a client at once")
    revoke.add_argument("client_id")
    clients.set_defaults(func=cmd_clients)

    users = sub.add_parser("users", help="people who sign in to web pages")
    users_sub = users.add_subparsers(dest="action", required=True)
    add_user = users_sub.add_parser("create", help="provision a person's account (bound at first sign-in)")
    add_user.add_argument("--email", required=True, help="the email the identity provider verifies for them")
    add_user.add_argument("--name", required=True)
    add_user.add_argument(
        "--role", required=True, choices=["holder", "issuer", "verifier", "coordinator", "analyst", "admin"]
    )
    add_user.add_argument("--organisation", help="ODS code of the user's organisation (all roles but admin)")
    add_user.add_argument("--person-id", help="holders only: the id of their person record")
    users_sub.add_parser("list", help="list users")
    disable = users_sub.add_parser("disable", help="disable a user at once (their sessions end too)")
    disable.add_argument("email")
    users.set_defaults(func=cmd_users)

    audit = sub.add_parser("audit", help="audit log")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    audit_sub.add_parser("verify", help="check the hash chain; report the first broken link")
    audit.set_defaults(func=cmd_audit)

    demo = sub.add_parser("demo", help="demo data")
    demo_sub = demo.add_subparsers(dest="action", required=True)
    seed = demo_sub.add_parser("seed", help="seed a deterministic synthetic England (idempotent)")
    seed.add_argument("--scale", type=float, default=1.0)
    seed.add_argument("--seed", type=int, default=0)
    seed.add_argument("--force", action="store_true", help="seed even outside demo mode")
    demo.set_defaults(func=cmd_demo)

    native_parser = sub.add_parser(
        "native", help="the verifier's hot path compiled with mypyc (decision 0047)"
    )
    native_sub = native_parser.add_subparsers(dest="action", required=True)
    native_build = native_sub.add_parser(
        "build", help="compile it unless up to date; without mypyc or a C compiler, say so and go on"
    )
    native_build.add_argument("--force", action="store_true", help="compile even when up to date")
    native_build.add_argument("--strict", action="store_true", help="exit 1 when it cannot be compiled")
    native_sub.add_parser("status", help="whether the compiled modules are in use, and why")
    native_parser.set_defaults(func=cmd_native)
    _additionality_parser(sub)

    from service.benchmark.cli import add_parser as add_benchmark_parser

    add_benchmark_parser(sub).set_defaults(func=cmd_benchmark)

    from service.placements.cli import add_parser as add_placements

    add_placements(sub, cmd_placements)

    from service.credentials.cli import add_parser as add_credentials

    add_credentials(sub, cmd_credentials)

    from service.wallet.cli import add_parser as add_wallet

    add_wallet(sub, cmd_wallet)
    return parser


def cmd_native(settings: Settings, args: argparse.Namespace) -> None:
    code, line = native.command(
        args.action, force=getattr(args, "force", False), strict=getattr(args, "strict", False)
    )
    sys.stdout.write(line + "\n")
    if code:
        raise CommandError("the native build did not complete (--strict)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"passport: configuration error: {exc}\n")
        return 2
    try:
        args.func(settings, args)
    except (CommandError, KeyProblem) as exc:
        sys.stderr.write(f"passport: {exc}\n")
        return 1
    except BrokenPipeError:  # `passport ... | head`: the reader has gone; no traceback, nothing more to write
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        from sqlalchemy.exc import OperationalError

        from service.errors import ServiceError

        if isinstance(exc, ServiceError):
            sys.stderr.write(f"passport: {exc.detail}\n")
            return 1
        if isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower():
            sys.stderr.write(f"passport: {BUSY}\n")
            return 1
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
