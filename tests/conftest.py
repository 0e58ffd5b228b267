"""Shared fixtures.

Every test that touches the database runs once on SQLite and once on PostgreSQL: the
``database_url`` fixture is parametrised per session, builds the schema by running the alembic
migrations once per backend, and each test runs inside a transaction that is rolled back.
"""

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from sqlalchemy import Row, Select, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from service.app import create_app
from service.config import Settings
from service.db import Database, ReadSession, check_read, make_engine, upgrade
from service.keys import KeyRing, KeyStore
from tests.factories import TEST_PASSPHRASE
from tests.postgres import Skip, provide_postgres

# No per-example deadline: speed is measured by the scripts in bench/, never by tests, and on a shared
# 2-core machine an example taking 400 ms instead of 200 ms says nothing about the code under test.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")

BACKENDS = ("sqlite", "postgresql")
BASE_URL = "http://testserver.local"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for this backend (one per test session)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    found = provide_postgres(tmp_path_factory.mktemp("postgres"))
    if isinstance(found, Skip):
        pytest.skip(f"PostgreSQL run skipped: {found.reason}")
    try:
        upgrade(found.url)
        yield found.url
    finally:
        found.stop()


@pytest.fixture
def own_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own, for committed work (the shared one is rolled back per test)."""
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"
        upgrade(url)
        yield url
        return
    name = f"passport_own_{secrets.token_hex(4)}"

    async def run(statement: str) -> None:
        engine = make_engine(database_url, pool_size=1).execution_options(isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection in an outer transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        try:
            yield conn
        finally:
            if outer.is_active:
                await outer.rollback()


class ConnectionDatabase(Database):
    """Sessions on the test's connection: their commits become savepoints of the outer transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.engine = connection.engine
        self._connection = connection

    def session(self, *, write: bool | None = None) -> AsyncSession:
        """A session on the test's connection; a read one (``write=False``) reports writes, as
        ``Database.session`` does (an error here: warnings are errors in the tests)."""
        return AsyncSession(
            bind=self._connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            sync_session_class=ReadSession if write is False else Session,
        )

    async def read(
        self, statement: Select[Any], parameters: Mapping[str, Any] | None = None
    ) -> list[Row[Any]]:
        """``Database.read`` on the test's connection (it sees the test's own, uncommitted rows)."""
        check_read(statement)
        result = await self._connection.execute(statement, parameters)
        return list(result.all())

    async def dispose(self) -> None:
        return None


@pytest.fixture
def database(connection: AsyncConnection) -> ConnectionDatabase:
    return ConnectionDatabase(connection)


@pytest.fixture
async def session(database: ConnectionDatabase) -> AsyncIterator[AsyncSession]:
    async with database.session() as session:
        yield session


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    KeyStore(directory, TEST_PASSPHRASE).init(dt.datetime.now(dt.UTC))
    return directory


@pytest.fixture(scope="session")
def keyring(keys_dir: Path) -> KeyRing:
    return KeyStore(keys_dir, TEST_PASSPHRASE).load(dt.datetime.now(dt.UTC))


@pytest.fixture
def settings(tmp_path: Path, keys_dir: Path) -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///unused-the-test-database-is-injected.db",
        var_dir=tmp_path / "var",
        keys_dir=keys_dir,
        key_passphrase=TEST_PASSPHRASE,
        public_base_url=BASE_URL,
        log_level="WARNING",
    )


@pytest.fixture
def app(settings: Settings, database: ConnectionDatabase, keyring: KeyRing) -> Litestar:
    return create_app(settings, database=database, keyring=keyring)


def asgi_transport(app: Litestar) -> httpx.ASGITransport:
    """httpx's ASGI transport on a Litestar app (httpx types the app loosely)."""
    return httpx.ASGITransport(app=cast(Any, app))


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP to the app in the test's own event loop (asyncpg connections belong to one loop)."""
    transport = asgi_transport(app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    """Run all SQLite tests before all PostgreSQL tests (one schema build per backend)."""

    def backend(item: Any) -> int:
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("database_url") if callspec is not None else None
        return BACKENDS.index(param) + 1 if param in BACKENDS else 0

    items.sort(key=backend)
