"""Fixtures of the web tests: a real identity provider over HTTP, and app settings pointing at it."""

import datetime as dt
from collections.abc import AsyncIterator, Iterator

import httpx
import msgspec
import pytest

from service.config import Settings
from service.passport.encryption import DataKeyRing, DataKeyStore
from tests.conftest import BASE_URL
from tests.factories import TEST_PASSPHRASE
from tests.passport.conftest import app
from tests.web.idp import IdentityProvider, Server

__all__ = ["app"]  # the passport tests' app, on this folder's settings and data key

CLIENT_ID = "passport-registry"
CLIENT_SECRET = "s3cret:with/odd&chars"
"""Characters that client_secret_basic must form-urlencode before base64 (RFC 6749 2.3.1)."""
CALLBACK = BASE_URL + "/auth/oidc/callback"


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[IdentityProvider]:
    """One provider per test module, served by uvicorn on 127.0.0.1 at a free port."""
    provider = IdentityProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=CALLBACK)
    server = Server(provider.app())
    provider.issuer = server.url
    server.start()
    try:
        yield provider
    finally:
        server.stop()


@pytest.fixture
def idp(identity_provider: IdentityProvider) -> IdentityProvider:
    """The provider, with its knobs reset for this test."""
    identity_provider.reset()
    return identity_provider


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """What the browser does at the provider: real HTTP, redirects not followed."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def settings(settings: Settings, idp: IdentityProvider, request: pytest.FixtureRequest) -> Settings:
    """The shared test settings with OIDC pointing at the test provider, demo mode off.

    A test changes fields with ``parametrize("settings", [{...}], indirect=True)``. The shared ``app``
    and ``client`` fixtures build the app with these settings (``tests.passport.conftest.app``).
    """
    overrides: dict[str, object] = getattr(request, "param", {})
    configured = msgspec.structs.replace(
        settings, oidc_issuer=idp.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET
    )
    return msgspec.structs.replace(configured, **overrides)


@pytest.fixture(scope="session")
def data_keys(tmp_path_factory: pytest.TempPathFactory) -> DataKeyRing:
    """A data key, so occupational health records can be stored and shown on the pages."""
    store = DataKeyStore(tmp_path_factory.mktemp("web-data-keys"), TEST_PASSPHRASE)
    store.init(dt.datetime.now(dt.UTC))
    return store.load()
