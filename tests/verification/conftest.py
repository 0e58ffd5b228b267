"""Fixtures of the verification tests: the app with a data key, a doctor with real records and
credentials signed with the registry's credential key, a theatre-list policy, verifier and holder callers,
and the registry's own status list served in-process."""

import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service import auth
from service.app import create_app
from service.config import Settings
from service.keys import KeyRing
from service.passport.encryption import DataKeyRing
from tests.conftest import ConnectionDatabase
from tests.passport.conftest import data_keys  # noqa: F401 - a fixture
from tests.verification.factories import Scene, create_scene


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def app(
    settings: Settings,
    database: ConnectionDatabase,
    keyring: KeyRing,
    data_keys: DataKeyRing,  # noqa: F811 - the fixture
) -> Litestar:
    return create_app(settings, database=database, keyring=keyring, data_keys=data_keys)


@pytest.fixture
async def scene(
    session: AsyncSession,
    app: Litestar,
    keyring: KeyRing,
    data_keys: DataKeyRing,  # noqa: F811 - the fixture
) -> Scene:
    return await create_scene(session, app, keyring, data_keys)
