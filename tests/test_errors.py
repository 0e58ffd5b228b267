"""Bad input gets a clear problem document, a 4xx, and changes nothing."""

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.app import create_app
from service.auth import Role
from service.config import Settings
from service.keys import KeyRing
from service.workforce.models import Organisation
from tests.conftest import BASE_URL, ConnectionDatabase, asgi_transport
from tests.factories import client_headers

PROBLEM = "application/problem+json"


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Organisation)) or 0)


@pytest.fixture
async def admin(session: AsyncSession, app: Litestar) -> dict[str, str]:
    return await client_headers(session, app, Role.ADMIN)


def _problem(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"].startswith(PROBLEM)
    body = msgspec.json.decode(response.content)
    assert isinstance(body, dict)
    assert body["status"] == response.status_code
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["detail"]
    return body


async def test_malformed_json_is_400_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    before = await _count(session)
    response = await client.post(
        "/api/v1/organisations",
        content=b'{"code": "RAB", "name": ',
        headers={**admin, "content-type": "application/json"},
    )
    assert response.status_code == 400
    _problem(response)
    assert await _count(session) == before


@pytest.mark.parametrize(
    ("content_type", "status", "detail"),
    [
        (
            "application/x-www-form-urlencoded",
            415,
            "Send the body as JSON (Content-Type: application/json), not application/x-www-form-urlencoded.",
        ),
        (
            "text/plain; charset=utf-8",
            415,
            "Send the body as JSON (Content-Type: application/json), not text/plain.",
        ),
        (
            "application/json",
            400,
            "The request body is not valid JSON (JSON is malformed: invalid character (byte 0)).",
        ),
    ],
    ids=["form", "text", "json"],
)
async def test_a_body_that_is_not_json_says_so_and_writes_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    content_type: str,
    status: int,
    detail: str,
) -> None:
    before = await _count(session)
    response = await client.post(
        "/api/v1/organisations",
        content=b"code=RAB&name=A+trust&kind=nhs_trust",
        headers={**admin, "content-type": content_type},
    )
    assert response.status_code == status
    assert _problem(response)["detail"] == detail
    assert await _count(session) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "RAB", "name": 12, "kind": "nhs_trust"}, "body.name"),
        ({"code": "RAB", "name": "A trust", "kind": "castle"}, "body.kind"),
        ({"code": "RAB", "name": "A trust", "kind": "nhs_trust", "colour": "blue"}, "body.colour"),
        ({"code": "RAB", "kind": "nhs_trust"}, "body.name"),
    ],
    ids=["wrong-type", "bad-enum", "unknown-field", "missing-field"],
)
async def test_invalid_fields_are_named(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session: AsyncSession,
    body: dict[str, object],
    field: str,
) -> None:
    before = await _count(session)
    response = await client.post("/api/v1/organisations", json=body, headers=admin)
    assert response.status_code in (400, 422)
    problem = _problem(response)
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert field in [e["field"] for e in errors], errors
    assert await _count(session) == before


async def test_missing_query_parameter_is_named(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.get("/api/v1/credentials?limit=5", headers=admin)
    assert response.status_code == 422
    errors = _problem(response)["errors"]
    assert errors == [{"field": "query.person_id", "reason": "missing required query parameter"}]


async def test_oversize_body_is_413(
    settings: Settings, database: ConnectionDatabase, keyring: KeyRing, session: AsyncSession
) -> None:
    small = msgspec.structs.replace(settings, max_body_bytes=1024)
    app = create_app(small, database=database, keyring=keyring)
    headers = await client_headers(session, app, Role.ADMIN)
    async with httpx.AsyncClient(transport=asgi_transport(app), base_url=BASE_URL) as client:
        big = {"code": "RAB", "name": "x" * 5000, "kind": "nhs_trust"}
        response = await client.post("/api/v1/organisations", json=big, headers=headers)
    assert response.status_code == 413
    _problem(response)


async def test_unknown_address_and_method_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    _problem(missing)
    wrong = await client.delete("/health/live")
    assert wrong.status_code == 405
    _problem(wrong)


async def test_bad_authorization_headers_are_401(client: httpx.AsyncClient) -> None:
    for value in ("Basic abc", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c"):
        response = await client.get("/api/v1/organisations", headers={"Authorization": value})
        assert response.status_code == 401, value
        _problem(response)
        assert response.headers["www-authenticate"].startswith("Bearer")
