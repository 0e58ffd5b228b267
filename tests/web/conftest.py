"""Fixtures of the web tests: a real identity provider over HTTP, and app settings pointing at it."""

from collections.abc import AsyncIterator, Iterator

import httpx
import msgspec
import pytest

from service.config import Settings
from tests.conftest import BASE_URL
from tests.web.idp import IdentityProvider, Server

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
    and ``client`` fixtures build the app with ``create_app(settings, database=..., keyring=...)``.
    """
    overrides: dict[str, object] = getattr(request, "param", {})
    configured = msgspec.structs.replace(
        settings, oidc_issuer=idp.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET
    )
    return msgspec.structs.replace(configured, **overrides)
