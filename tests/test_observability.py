"""Request ids on every response; logs never carry secrets or tokens."""

import logging

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from service.observability import JsonFormatter
from tests.factories import create_client, create_organisation


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/health/live", headers={"X-Request-ID": "trace-1234abcd"})
    assert given.headers["x-request-id"] == "trace-1234abcd"
    made = await client.get("/health/live", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


async def test_logs_carry_no_secret_or_token(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, caplog: pytest.LogCaptureFixture
) -> None:
    await create_organisation(session, "RLG")
    created = await create_client(session, Role.ISSUER, "RLG")
    caplog.set_level(logging.DEBUG)
    token_response = await client.post(
        "/oauth/token?secret_in_query=1",
        data={"grant_type": "client_credentials"},
        auth=(created.client_id, created.client_secret),
    )
    token = token_response.json()["access_token"]
    await client.get("/api/v1/organisations", headers={"Authorization": f"Bearer {token}"})
    await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(created.client_id, "wrong")
    )
    formatter = JsonFormatter()
    # Our own loggers (the test's HTTP client library logs its own requests, query strings included).
    lines = [
        formatter.format(r) for r in caplog.records if r.name.startswith(("service", "litestar", "uvicorn"))
    ]
    assert any('"path":"/oauth/token"' in line for line in lines), "the access log is written"
    text = "\n".join(lines)
    assert created.client_secret not in text
    assert token not in text
    assert token.split(".")[1] not in text
    assert "secret_in_query" not in text
