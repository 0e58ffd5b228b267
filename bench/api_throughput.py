"""The registry's own HTTP throughput against a bare Litestar hello-world, in the same run.

Prepares a database (a throwaway SQLite file, or the one ``--database-url`` names: migrated, one
organisation, one issuer client), keys and an access token, then runs
``bench/http_throughput.py --compare`` on:

- ``/health/live`` (no authentication, no database);
- ``/api/v1/organisations/RBN`` (an authenticated small read: token check, client lookup, one row).

Goal (issue "Service foundation"): both at least 60 % of the hello-world requests/second, 2 workers,
load on loopback.  Usage::

    .venv/bin/python bench/api_throughput.py [--duration 10] [--rounds 3] [--tool auto|wrk|builtin]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1/bench] [--env PASSPORT_X=y ...]

``--database-url`` should name a database kept for benchmarks: it is migrated, and the organisation
and a new client are added to it. ``--env`` settings reach only the registry's server.
"""

import argparse
import asyncio
import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

from service import auth
from service.db import Database, make_engine, upgrade
from service.keys import KeyStore
from service.workforce.models import Organisation

PASSPHRASE = "bench-passphrase-not-secret"  # noqa: S105 - throwaway keys of one run
ORGANISATION = "RBN"


async def _prepare(url: str) -> auth.ClientCreated:
    database = Database(make_engine(url))
    try:
        async with database.session() as session:
            if await session.get(Organisation, ORGANISATION) is None:
                session.add(
                    Organisation(
                        code=ORGANISATION,
                        name="Bench NHS Trust",
                        kind="nhs_trust",
                        parent_code=None,
                        icb_code=None,
                        postcode="LS1 3EX",
                        latitude=53.8,
                        longitude=-1.55,
                        created_at=dt.datetime.now(dt.UTC),
                    )
                )
                await session.flush()
            client = await auth.create_client(
                session,
                name="bench",
                role=auth.Role.ISSUER,
                organisation_code=ORGANISATION,
                now=dt.datetime.now(dt.UTC),
            )
            await session.commit()
            return client
    finally:
        await database.dispose()


def _token(env: dict[str, str], client: auth.ClientCreated) -> str:
    """A token with the full lifetime of the run, minted by the app's own token service."""
    from service.app import create_app
    from service.config import load_settings

    app = create_app(load_settings(env))
    principal = auth.Principal(
        subject=client.client_id, kind="client", role=auth.Role.ISSUER, organisation=ORGANISATION
    )
    return str(app.state.tokens.issue_access_token(principal))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tool", default="auto", choices=["auto", "wrk", "builtin"])
    parser.add_argument("--log-level", default="WARNING", help="PASSPORT_LOG_LEVEL of the server")
    parser.add_argument("--database-url", help="database to serve from (default: a new SQLite file)")
    parser.add_argument("--env", action="append", default=[], metavar="PASSPORT_X=y", help="server setting")
    parser.add_argument("--http", help="uvicorn --http for both servers (default: http_throughput.py's)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="passport-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    KeyStore(tmp / "keys", PASSPHRASE).init(dt.datetime.now(dt.UTC))
    client = asyncio.run(_prepare(url))
    env = {
        "PASSPORT_DATABASE_URL": url,
        "PASSPORT_KEYS_DIR": str(tmp / "keys"),
        "PASSPORT_KEY_PASSPHRASE": PASSPHRASE,
        "PASSPORT_VAR_DIR": str(tmp / "var"),
        "PASSPORT_LOG_LEVEL": args.log_level,
        "PASSPORT_ACCESS_TOKEN_LIFETIME": "3600",
    }
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("PASSPORT_"):
            parser.error(f"--env must look like PASSPORT_X=value, got {item!r}")
        env[key] = value
    token = _token(env, client)
    command = [
        sys.executable,
        str(Path(__file__).with_name("http_throughput.py")),
        "--compare",
        "--app",
        "service.app:create_app_from_env",
        "--factory",
        "--duration",
        str(args.duration),
        "--rounds",
        str(args.rounds),
        "--concurrency",
        str(args.concurrency),
        "--tool",
        args.tool,
        "--path",
        "/health/live",
        "--path",
        f"/api/v1/organisations/{ORGANISATION}",
        "--header",
        f"Authorization: Bearer {token}",
    ]
    if args.http:
        command += ["--http", args.http]
    for key, value in env.items():
        command += ["--env", f"{key}={value}"]
    print("prepared", tmp, "; running:", " ".join(command[:2]), "... (see its output for the exact command)")
    return subprocess.call(command)


if __name__ == "__main__":
    raise SystemExit(main())
