"""The OAuth 2.0 device authorization grant (RFC 8628) for the wallet: pending, slow_down, approved
(once), denied, expired, unknown client, and the /device page (signed-in holder, CSRF)."""

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.app import create_app
from service.auth import SESSION_COOKIE, TokenService, User
from service.config import Settings
from service.credentials import device
from service.keys import KeyRing
from service.passport.encryption import DataKeyRing
from service.web import service as web
from tests.conftest import ConnectionDatabase, asgi_transport
from tests.credentials import factories as cf
from tests.passport import factories as pf
from tests.web.helpers import csrf_token

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(
    settings: Settings, database: ConnectionDatabase, keyring: KeyRing, data_keys: DataKeyRing, clock: Clock
) -> Litestar:
    return create_app(settings, database=database, keyring=keyring, data_keys=data_keys, clock=clock)


@pytest.fixture
async def browser(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=asgi_transport(app), base_url=cf.BASE_URL) as client:
        yield client


async def start(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/oauth/device_authorization", data={"client_id": "passport-wallet"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["verification_uri"] == f"{cf.BASE_URL}/device"
    assert body["verification_uri_complete"].endswith(body["user_code"])
    assert body["interval"] == device.INTERVAL
    return body


async def poll(client: httpx.AsyncClient, code: str) -> httpx.Response:
    return await client.post(
        "/oauth/token", data={"grant_type": GRANT, "device_code": code, "client_id": "passport-wallet"}
    )


async def signed_in_holder(
    session: AsyncSession, app: Litestar, browser: httpx.AsyncClient
) -> tuple[User, str]:
    world = await pf.create_world(session)
    user = await cf.holder_user(session, world.doctor, dt.datetime.now(dt.UTC))
    await session.commit()
    tokens: TokenService = app.state.tokens
    browser.cookies.set(SESSION_COOKIE, tokens.issue_session(web.principal_for(user)))
    page = await browser.get("/device")
    assert page.status_code == 200, page.text
    return user, csrf_token(page.text)


async def test_pending_slow_down_then_approved_once(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, browser: httpx.AsyncClient, clock: Clock
) -> None:
    grant = await start(client)
    pending = await poll(client, grant["device_code"])
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    too_soon = await poll(client, grant["device_code"])
    assert too_soon.json()["error"] == "slow_down"
    _, csrf = await signed_in_holder(session, app, browser)
    code = grant["user_code"].lower().replace("-", " ")  # typed loosely by a person
    decided = await browser.post(
        "/device", data={"user_code": code, "decision": "approve", "csrf_token": csrf}
    )
    assert decided.status_code == 303
    clock.advance(device.INTERVAL + 6)  # the interval grew by 5 s after slow_down
    granted = await poll(client, grant["device_code"])
    assert granted.status_code == 200, granted.text
    token = granted.json()["access_token"]
    assert granted.json()["token_type"] == "Bearer"
    mine = await client.get("/api/v1/holder/credentials", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200
    assert mine.json() == {"items": []}
    clock.advance(device.INTERVAL + 11)
    again = await poll(client, grant["device_code"])
    assert again.json()["error"] == "invalid_grant"


async def test_denied_expired_and_unknown(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, browser: httpx.AsyncClient, clock: Clock
) -> None:
    denied = await start(client)
    _, csrf = await signed_in_holder(session, app, browser)
    response = await browser.post(
        "/device", data={"user_code": denied["user_code"], "decision": "deny", "csrf_token": csrf}
    )
    assert response.status_code == 303
    assert (await poll(client, denied["device_code"])).json()["error"] == "access_denied"
    late = await start(client)
    clock.advance(device.LIFETIME + 1)
    assert (await poll(client, late["device_code"])).json()["error"] == "expired_token"
    refused = await browser.post(
        "/device", data={"user_code": late["user_code"], "decision": "approve", "csrf_token": csrf}
    )
    assert refused.status_code == 422
    assert "not valid" in refused.text
    assert (await poll(client, "made-up")).json()["error"] == "invalid_grant"
    stranger = await client.post("/oauth/device_authorization", data={"client_id": "some-app"})
    assert stranger.status_code == 401
    assert stranger.json()["error"] == "invalid_client"


async def test_the_device_page_needs_csrf_and_a_holder(
    session: AsyncSession, app: Litestar, browser: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    grant = await start(client)
    await signed_in_holder(session, app, browser)
    forged = await browser.post("/device", data={"user_code": grant["user_code"], "decision": "approve"})
    assert forged.status_code == 403
    assert (await client.get("/device")).status_code in (401, 303)
