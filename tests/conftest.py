"""Shared fixtures.

Every test that touches the database runs once on SQLite and once on PostgreSQL: the
``database_url`` fixture is parametrised per session, the schema is built by running the alembic
migrations once per backend and test process (``migrated_databases``), and each test runs inside a
transaction that is rolled back.
"""

import asyncio
import datetime as dt
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import httpx
import msgspec
import pytest
from argon2 import PasswordHasher
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from sqlalchemy import Row, Select, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from service import auth
from service.app import app_state, create_app
from service.config import Settings
from service.db import Clock, Database, ReadSession, check_read, make_engine, upgrade, utcnow
from service.keys import KeyRing, KeyStore
from service.passport.encryption import DataKeyRing, DataKeyStore, open_data_keys
from tests.factories import TEST_PASSPHRASE
from tests.postgres import Skip, provide_postgres

# No per-example deadline: speed is measured by the scripts in bench/, never by tests, and on a shared
# 2-core machine an example taking 400 ms instead of 200 ms says nothing about the code under test.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")

BACKENDS = ("sqlite", "postgresql")
BASE_URL = "http://testserver.local"


@pytest.fixture(scope="session")
def migrated_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str | Skip]]:
    """Each backend's migrated, empty database, made when a test first asks for it and kept until the end
    of the test session (the URL, or why there is none).

    Kept here rather than in the parametrised ``database_url``: pytest tears a parametrised session fixture
    down whenever the next test wants the other parameter, and under pytest-xdist's ``--dist loadfile``
    every file's SQLite tests are followed by its PostgreSQL ones, so each file would build both schemas
    again (a second or more for SQLite, three or four for PostgreSQL on a loaded machine)."""
    stops: list[Callable[[], None]] = []

    class Made(dict[str, str | Skip]):
        def __missing__(self, backend: str) -> str | Skip:
            found: str | Skip
            if backend == "sqlite":
                found = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
                upgrade(found)
            else:
                handle = provide_postgres(tmp_path_factory.mktemp("postgres"))
                if isinstance(handle, Skip):
                    found = handle
                else:
                    stops.append(handle.stop)
                    upgrade(handle.url)
                    found = handle.url
            self[backend] = found
            return found

    try:
        yield Made()
    finally:
        for stop in stops:
            stop()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, migrated_databases: dict[str, str | Skip]) -> str:
    """A migrated, empty database for this backend (one per test session)."""
    found = migrated_databases[request.param]
    if isinstance(found, Skip):
        pytest.skip(f"PostgreSQL run skipped: {found.reason}")
    return found


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


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2id parameters for the secrets of the clients the tests make in-process (a hash carries
    its own parameters, so checking one is unchanged): the production ones cost a tenth of a second a hash,
    on a thousand tests. A registry started by a test in a subprocess hashes with the production ones, and
    ``tests/test_auth.py`` checks what they are."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test process's keys folder: signing keys and a data key, made once.

    The data key is made here, not left to the first demo-mode app (``open_data_keys`` makes one on first
    use in demo mode): otherwise whether a test saw a data key depended on which tests ran before it in
    the same process. A test about a registry without a data key makes a keys folder of its own."""
    directory = tmp_path_factory.mktemp("keys")
    now = dt.datetime.now(dt.UTC)
    KeyStore(directory, TEST_PASSPHRASE).init(now)
    DataKeyStore(directory, TEST_PASSPHRASE).init(now)
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


_APPS: OrderedDict[tuple[Settings, int], tuple[Litestar, KeyRing, int]] = OrderedDict()
_APPS_KEPT = 8


def _handlers(app: Litestar) -> int:
    """How many route handlers the app has (a test that registers one of its own adds to them)."""
    return sum(len(getattr(route, "route_handlers", (route,))) for route in app.routes)


def shared_app(
    settings: Settings,
    *,
    database: Database,
    keyring: KeyRing,
    clock: Clock = utcnow,
    data_keys: DataKeyRing | None = None,
) -> Litestar:
    """``create_app(settings, database=..., keyring=..., ...)`` for one test, its routes built once.

    Building the routes is a quarter of a second and a thousand tests ask for an app, so an app built for
    the same settings (but the test's own ``var_dir``) and key ring is given again, with a fresh
    ``app.state`` (``service.app.app_state``: this test's database, clock, data keys, token service, caches
    and verification runtime). Nothing of an earlier test's is left in it: the handlers keep no state of
    their own, the response cache is not used, and an app a test added routes to is not given again."""
    key = (msgspec.structs.replace(settings, var_dir=Path()), id(keyring))
    kept = _APPS.pop(key, None)
    if kept is not None and _handlers(kept[0]) == kept[2]:
        app = kept[0]
        if data_keys is None:
            data_keys = open_data_keys(settings, clock())
        app.state = app_state(settings, database=database, keyring=keyring, clock=clock, data_keys=data_keys)
    else:  # new settings, or a test registered a route of its own on the app
        app = create_app(settings, database=database, keyring=keyring, clock=clock, data_keys=data_keys)
    _APPS[key] = (app, keyring, _handlers(app))  # the key ring kept alive, so its id is not given to another
    while len(_APPS) > _APPS_KEPT:
        _APPS.popitem(last=False)
    return app


@pytest.fixture
def app(settings: Settings, database: ConnectionDatabase, keyring: KeyRing) -> Litestar:
    return shared_app(settings, database=database, keyring=keyring)


def asgi_transport(app: Litestar) -> httpx.ASGITransport:
    """httpx's ASGI transport on a Litestar app (httpx types the app loosely)."""
    return httpx.ASGITransport(app=cast(Any, app))


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP to the app in the test's own event loop (asyncpg connections belong to one loop)."""
    transport = asgi_transport(app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.hookimpl(trylast=True)  # after tests/browser/conftest.py has marked its tests
def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    """Order the files for pytest-xdist (``--dist loadfile --no-loadscope-reorder``, as ``make test`` runs
    it): the slow and browser files first, so none of them is left to run alone at the end while the other
    processes have finished, then the rest, the largest first; in each file its SQLite tests before its
    PostgreSQL ones (both databases are kept for the whole run: ``migrated_databases``)."""

    def backend(item: Any) -> int:
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("database_url") if callspec is not None else None
        return BACKENDS.index(param) + 1 if param in BACKENDS else 0

    files: dict[str, list[Any]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def weight(tests: list[Any]) -> tuple[bool, int]:
        slow = any(item.get_closest_marker("slow") or item.get_closest_marker("browser") for item in tests)
        return (not slow, -len(tests))

    items[:] = [item for tests in sorted(files.values(), key=weight) for item in sorted(tests, key=backend)]
