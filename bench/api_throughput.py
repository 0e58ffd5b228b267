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
    .venv/bin/python bench/api_throughput.py --in-process 3000 [--rounds 3] [--database-url ...]

``--database-url`` should name a database kept for benchmarks: it is migrated, and the organisation
and a new client are added to it. ``--env`` settings reach only the registry's server.
"""

import argparse
import asyncio
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


async def _asgi_get(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """One GET through the ASGI app itself (no HTTP server, no socket); the response status."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def in_process(env: dict[str, str], token: str, requests: int, rounds: int) -> None:
    """CPU time per request of the app alone, one request at a time (``--in-process``).

    Less sensitive to other load on the machine than requests/second: it counts this process's CPU
    time only (the aiosqlite threads included; not the PostgreSQL server's).
    """
    from service.app import create_app
    from service.config import load_settings

    app = create_app(load_settings(env))
    authorised = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
    cases = [
        ("/health/live", [(b"host", b"bench")]),
        (f"/api/v1/organisations/{ORGANISATION}", authorised),
    ]

    async def run() -> None:
        async with app.lifespan():
            for path, headers in cases:
                for _ in range(min(requests, 200)):  # warm: pool, caches, compiled statements
                    if (status := await _asgi_get(app, path, headers)) != 200:
                        raise SystemExit(f"{path} answered {status}, not 200")
                costs = []
                for _ in range(rounds):
                    started = time.process_time()
                    for _ in range(requests):
                        await _asgi_get(app, path, headers)
                    costs.append((time.process_time() - started) / requests * 1e6)
                shown = ", ".join(f"{c:.0f}" for c in costs)
                print(f"  {path:<30} {statistics.median(costs):>7.0f} us CPU per request (rounds: {shown})")

    print(f"in-process, sequential, {requests} requests x {rounds} rounds, {env['PASSPORT_DATABASE_URL']}")
    asyncio.run(run())


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
    parser.add_argument("--loop", help="uvicorn --loop for both servers (default: http_throughput.py's)")
    parser.add_argument(
        "--in-process",
        type=int,
        metavar="N",
        help="instead of HTTP load: CPU per request of the app alone, N requests per round",
    )
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
    if args.in_process:
        in_process(env, token, args.in_process, args.rounds)
        return 0
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
    if args.loop:
        command += ["--loop", args.loop]
    for key, value in env.items():
        command += ["--env", f"{key}={value}"]
    print("prepared", tmp, "; running:", " ".join(command[:2]), "... (see its output for the exact command)")
    return subprocess.call(command)


if __name__ == "__main__":
    raise SystemExit(main())
