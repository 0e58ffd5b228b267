"""Fixtures of the passport tests: a data key for occupational health, and the app that uses it."""

import datetime as dt

import pytest
from argon2 import PasswordHasher
from litestar import Litestar

from service import auth
from service.app import create_app
from service.config import Settings
from service.keys import KeyRing
from service.passport.encryption import DataKeyRing, DataKeyStore
from tests.conftest import ConnectionDatabase
from tests.factories import TEST_PASSPHRASE


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2id parameters for the test clients' secrets (a hash carries its own parameters)."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def data_keys(tmp_path_factory: pytest.TempPathFactory) -> DataKeyRing:
    store = DataKeyStore(tmp_path_factory.mktemp("data-keys"), TEST_PASSPHRASE)
    store.init(dt.datetime.now(dt.UTC))
    return store.load()


@pytest.fixture
def app(
    settings: Settings, database: ConnectionDatabase, keyring: KeyRing, data_keys: DataKeyRing
) -> Litestar:
    return create_app(settings, database=database, keyring=keyring, data_keys=data_keys)
