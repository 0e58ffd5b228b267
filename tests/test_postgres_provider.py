"""tests/postgres.py against the real thing: the server on 127.0.0.1:5432 and a throwaway initdb cluster."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.postgres import ENV_URL, PostgresHandle, Skip, find_pg_bin_dir, provide_postgres


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _scalar(url: str, sql: str, **params: object) -> object:
    engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 3})
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar_one()
    finally:
        await engine.dispose()


def _query(url: str, sql: str, **params: object) -> object:
    return asyncio.run(asyncio.wait_for(_scalar(url, sql, **params), 10))


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


needs_server = pytest.mark.skipif(
    not _port_open("127.0.0.1", 5432), reason="no PostgreSQL server on 127.0.0.1:5432"
)
needs_initdb = pytest.mark.skipif(
    find_pg_bin_dir(os.environ.get("PATH")) is None, reason="initdb/pg_ctl not installed"
)


def test_env_url_wins_and_names_the_asyncpg_driver(tmp_path: Path) -> None:
    result = provide_postgres(tmp_path, env={ENV_URL: "postgresql://ci@db.example:6543/passport"})

    assert isinstance(result, PostgresHandle)
    assert result.source == "env"
    assert result.url == "postgresql+asyncpg://ci@db.example:6543/passport"
    result.stop()  # nothing to remove; must not fail


def test_env_url_with_driver_is_kept_verbatim(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://ci:secret@db.example/passport"

    result = provide_postgres(tmp_path, env={ENV_URL: url})

    assert isinstance(result, PostgresHandle)
    assert result.url == url


@needs_server
def test_server_gives_each_session_its_own_database_and_drops_it(tmp_path: Path) -> None:
    first = provide_postgres(tmp_path, env={})
    second = provide_postgres(tmp_path, env={})
    assert isinstance(first, PostgresHandle), first
    assert isinstance(second, PostgresHandle), second
    try:
        assert first.source == second.source == "server"
        assert first.url.startswith("postgresql+asyncpg://")
        assert "@127.0.0.1:5432/passport_test_" in first.url
        name = _database_name(first.url)
        assert name != _database_name(second.url)
        assert _query(first.url, "select 1") == 1
        assert _query(first.url, "select current_database()") == name

        first.stop()
        first.stop()  # idempotent

        exists = "select count(*) from pg_database where datname = :name"
        assert _query(second.url, exists, name=name) == 0
        assert _query(second.url, exists, name=_database_name(second.url)) == 1
    finally:
        first.stop()
        second.stop()


@needs_server
def test_server_drop_succeeds_while_a_connection_is_still_open(tmp_path: Path) -> None:
    handle = provide_postgres(tmp_path, env={})
    assert isinstance(handle, PostgresHandle), handle

    async def stop_while_connected() -> None:
        engine = create_async_engine(handle.url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("select 1"))
                await asyncio.to_thread(handle.stop)  # a leaked session must not block teardown
        except SQLAlchemyError:
            pass  # our connection was terminated by stop(): expected
        finally:
            await engine.dispose()

    asyncio.run(asyncio.wait_for(stop_while_connected(), 20))

    with pytest.raises(SQLAlchemyError, match="does not exist"):
        _query(handle.url, "select 1")


@needs_initdb
def test_throwaway_cluster_serves_queries_and_vanishes_on_stop(tmp_path: Path) -> None:
    started = time.monotonic()
    handle = provide_postgres(tmp_path, prefer_cluster=True)
    assert isinstance(handle, PostgresHandle), handle
    try:
        assert handle.source == "cluster"
        assert handle.cluster_dir is not None
        assert ":5432/" not in handle.url
        assert _query(handle.url, "select 1") == 1
        assert _query(handle.url, "select current_database()") == "passport_test"
        assert (handle.cluster_dir / "data" / "postmaster.pid").is_file()
    finally:
        handle.stop()

    assert not handle.cluster_dir.exists()
    with pytest.raises((OSError, SQLAlchemyError)):
        _query(handle.url, "select 1")
    assert time.monotonic() - started < 10


def test_skip_when_no_server_and_no_binaries(tmp_path: Path) -> None:
    result = provide_postgres(tmp_path, env={"PATH": str(tmp_path)}, port=_closed_port(), bin_globs=())

    assert isinstance(result, Skip)
    assert result.reason.startswith("PostgreSQL not reachable on 127.0.0.1:")
    assert result.reason.endswith("and initdb/pg_ctl not found on PATH")


def test_cluster_requested_without_binaries_says_so(tmp_path: Path) -> None:
    result = provide_postgres(tmp_path, prefer_cluster=True, env={"PATH": str(tmp_path)}, bin_globs=())

    assert isinstance(result, Skip)
    assert "initdb/pg_ctl not found" in result.reason
