"""Fixtures of the verification tests: the app with a data key, a doctor with real records and
credentials signed with the registry's credential key, a theatre-list policy, verifier and holder callers,
and the registry's own status list served in-process."""

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings
from service.keys import KeyRing
from service.passport.encryption import DataKeyRing
from tests.conftest import ConnectionDatabase, shared_app
from tests.passport.conftest import data_keys  # noqa: F401 - a fixture
from tests.verification.factories import Scene, create_scene


@pytest.fixture
def app(
    settings: Settings,
    database: ConnectionDatabase,
    keyring: KeyRing,
    data_keys: DataKeyRing,  # noqa: F811 - the fixture
) -> Litestar:
    return shared_app(settings, database=database, keyring=keyring, data_keys=data_keys)


@pytest.fixture
async def scene(
    session: AsyncSession,
    app: Litestar,
    keyring: KeyRing,
    data_keys: DataKeyRing,  # noqa: F811 - the fixture
) -> Scene:
    return await create_scene(session, app, keyring, data_keys)
