"""A real registry server in a subprocess (``passport serve``) on a free loopback port."""

import asyncio
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service import auth
from service.db import Database, make_engine, upgrade
from service.keys import KeyStore
from service.workforce.models import Organisation
from tests.factories import TEST_PASSPHRASE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    admin: auth.ClientCreated
    env: dict[str, str]

    def token(self, client: auth.ClientCreated | None = None) -> str:
        client = client or self.admin
        for _attempt in range(3):
            response = httpx.post(
                self.base_url + "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client.client_id, client.client_secret),
                timeout=10,
            )
            # A 503 (database busy on a loaded machine) says "retry after": a client does, so the tests do.
            if response.status_code != 503:
                break
            time.sleep(1)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


async def _prepare(url: str) -> auth.ClientCreated:
    database = Database(make_engine(url))
    try:
        async with database.session() as session:
            session.add(
                Organisation(
                    code="RLV",
                    name="Live Test NHS Trust",
                    kind="nhs_trust",
                    parent_code=None,
                    icb_code=None,
                    postcode=None,
                    latitude=None,
                    longitude=None,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            await session.flush()
            admin = await auth.create_client(
                session,
                name="live admin",
                role=auth.Role.ADMIN,
                organisation_code=None,
                now=dt.datetime.now(dt.UTC),
            )
            await session.commit()
            return admin
    finally:
        await database.dispose()


@contextlib.contextmanager
def live_server(
    tmp: Path,
    *,
    database_url: str | None = None,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[LiveServer]:
    """Migrate, create keys and an admin client, serve over real HTTP; always stop the server.

    ``env``: more ``PASSPORT_*`` settings for the server (``PASSPORT_LIFECYCLE_INTERVAL``, say). ``log``: a
    file for the server's log (its standard error), for a test that reads what it logged."""
    url = database_url or f"sqlite+aiosqlite:///{tmp / 'live.db'}"
    upgrade(url)
    KeyStore(tmp / "keys", TEST_PASSPHRASE).init(dt.datetime.now(dt.UTC))
    admin = asyncio.run(_prepare(url))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")},
        "PASSPORT_DATABASE_URL": url,
        "PASSPORT_KEYS_DIR": str(tmp / "keys"),
        "PASSPORT_KEY_PASSPHRASE": TEST_PASSPHRASE,
        "PASSPORT_PUBLIC_BASE_URL": base,
        "PASSPORT_VAR_DIR": str(tmp / "var"),
        "PASSPORT_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    with serving(server_env, port, workers=workers, log=log):
        yield LiveServer(base_url=base, admin=admin, env=server_env)


@contextlib.contextmanager
def serving(env: Mapping[str, str], port: int, *, workers: int = 1, log: Path | None = None) -> Iterator[str]:
    """``passport serve`` on ``port`` with ``env`` until it answers ``/health/ready``; always stopped.

    Its standard error goes to ``log`` when given (a file: a busy log would fill a pipe nobody reads)."""
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", str(workers)]
    with contextlib.ExitStack() as files:
        stderr: Any = files.enter_context(log.open("wb")) if log is not None else subprocess.PIPE
        process = subprocess.Popen(command, env=dict(env), stdout=subprocess.DEVNULL, stderr=stderr)  # noqa: S603
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    if log is not None:
                        said = log.read_text(errors="replace")
                    else:
                        said = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"server exited with {process.returncode}: {said[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(base + "/health/ready", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not become ready in 30 s")
                time.sleep(0.1)
            yield base
        finally:
            stop(process)
            if process.stderr is not None:
                process.stderr.close()


def stop(process: "subprocess.Popen[Any]", timeout: float = 10) -> None:
    """Stop a server a test started: SIGTERM, and SIGKILL if it has not exited within ``timeout``."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
