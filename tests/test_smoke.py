import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from tests.factories import create_client, create_organisation


async def test_live(client: httpx.AsyncClient) -> None:
    r = await client.get("/health/live")
    assert r.status_code == 200
    assert r.headers["x-request-id"]


async def test_ready(client: httpx.AsyncClient) -> None:
    r = await client.get("/health/ready")
    assert r.status_code == 200, r.text


async def test_token(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await create_organisation(session, "RRK")
    created = await create_client(session, Role.ISSUER, "RRK")
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created.client_id,
            "client_secret": created.client_secret,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    bad = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": created.client_id, "client_secret": "nope"},
    )
    assert bad.status_code == 401, bad.text
    assert bad.json()["error"] == "invalid_client"
    assert bad.json()["title"] == "Authentication required"  # not the 400 class's "Bad request"
