"""Fixtures of the passport tests: a data key for occupational health, and the app that uses it."""

import datetime as dt

import pytest
from litestar import Litestar

from service.config import Settings
from service.keys import KeyRing
from service.passport.encryption import DataKeyRing, DataKeyStore
from tests.conftest import ConnectionDatabase, shared_app
from tests.factories import TEST_PASSPHRASE


@pytest.fixture(scope="session")
def data_keys(tmp_path_factory: pytest.TempPathFactory) -> DataKeyRing:
    store = DataKeyStore(tmp_path_factory.mktemp("data-keys"), TEST_PASSPHRASE)
    store.init(dt.datetime.now(dt.UTC))
    return store.load()


@pytest.fixture
def app(
    settings: Settings, database: ConnectionDatabase, keyring: KeyRing, data_keys: DataKeyRing
) -> Litestar:
    return shared_app(settings, database=database, keyring=keyring, data_keys=data_keys)
