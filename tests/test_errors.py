"""Bad input gets a clear problem document, a 4xx, and changes nothing."""

import importlib
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, Request
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from service.app import create_app
from service.auth import Role
from service.config import Settings
from service.errors import (
    PATTERN_REASONS,
    UNKNOWN_PATTERN,
    handle_unexpected,
    pattern_reason,
    plain_reason,
)
from service.keys import KeyRing
from service.workforce.models import Organisation
from tests.conftest import BASE_URL, ConnectionDatabase, asgi_transport
from tests.factories import client_headers, create_organisation

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


def _patterns(info: msgspec.inspect.Type, seen: set[int]) -> set[str]:
    """Every string pattern reachable from one msgspec type (struct fields, unions, lists, dicts)."""
    if id(info) in seen:
        return set()
    seen.add(id(info))
    if isinstance(info, msgspec.inspect.StrType):
        return {info.pattern} if info.pattern is not None else set()
    found: set[str] = set()
    if isinstance(info, msgspec.inspect.Metadata):  # a type annotated with a description
        found |= _patterns(info.type, seen)
    elif isinstance(info, msgspec.inspect.StructType):
        for struct_field in info.fields:
            found |= _patterns(struct_field.type, seen)
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            found |= _patterns(member, seen)
    elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.VarTupleType):
        found |= _patterns(info.item_type, seen)
    elif isinstance(info, msgspec.inspect.TupleType):
        for item in info.item_types:
            found |= _patterns(item, seen)
    elif isinstance(info, msgspec.inspect.DictType):
        found |= _patterns(info.key_type, seen) | _patterns(info.value_type, seen)
    return found


def _schema_patterns() -> set[str]:
    structs = [
        value
        for module in (importlib.import_module(f"service.{name}.schemas") for name in SCHEMA_MODULES)
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, msgspec.Struct)
        and value.__module__ == module.__name__
    ]
    seen: set[int] = set()
    return {p for info in msgspec.inspect.multi_type_info(structs) for p in _patterns(info, seen)}


SCHEMA_MODULES = (
    "additionality",
    "benchmark",
    "credentials",
    "oid4vc",
    "passport",
    "placements",
    "verification",
    "workforce",
)


def test_every_pattern_of_the_wire_schemas_is_explained_in_words() -> None:
    patterns = _schema_patterns()
    assert r"^[0-9]{7}$(?!\n)" in patterns  # the walk reaches the GMC number
    unexplained = sorted(p for p in patterns if pattern_reason(p) == UNKNOWN_PATTERN)
    assert unexplained == []
    assert all("^" not in pattern_reason(p) and "(?" not in pattern_reason(p) for p in patterns)


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"subject_hint": "12345"}, "body.subject_hint", "must be a GMC number of 7 digits"),
        ({"evaluate_on": "2027-13-01"}, "body.evaluate_on", "must be a date as YYYY-MM-DD"),
        ({"evaluate_on": "4 August 2027"}, "body.evaluate_on", "must be a date as YYYY-MM-DD"),
        (
            {"policy": "Theatre list!"},
            "body.policy",
            PATTERN_REASONS[r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$(?!\n)"],
        ),
        (
            {"purpose": " leading space"},
            "body.purpose",
            "must not begin or end with a space, nor hold control",
        ),
    ],
    ids=["gmc-number", "impossible-date", "date-in-words", "policy-name", "text"],
)
async def test_a_refused_field_says_why_in_words_not_as_a_regex(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    body: dict[str, str],
    field: str,
    reason: str,
) -> None:
    site = await create_organisation(session, kind="independent_site")
    verifier = await client_headers(session, app, Role.VERIFIER, site.code)
    request = {"policy": "theatre-surgical-trainee", "purpose": "Theatre list from Monday", **body}
    response = await client.post("/api/v1/presentation-requests", json=request, headers=verifier)
    assert response.status_code == 422, response.text
    errors = _problem(response)["errors"]
    assert isinstance(errors, list)
    assert [e["field"] for e in errors] == [field]
    assert errors[0]["reason"].startswith(reason)
    assert "regex" not in errors[0]["reason"]
    assert "RFC3339" not in errors[0]["reason"]


async def test_a_query_parameter_pattern_and_an_ods_code_say_why_in_words(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    listed = await client.get("/api/v1/people?gmc_number=12", headers=admin)
    assert listed.status_code in (400, 422), listed.text
    assert _problem(listed)["errors"] == [
        {"field": "query.gmc_number", "reason": "must be a GMC number of 7 digits"}
    ]
    created = await client.post(
        "/api/v1/organisations", json={"code": "R!", "name": "Trust", "kind": "nhs_trust"}, headers=admin
    )
    assert created.status_code == 422, created.text
    assert _problem(created)["errors"] == [
        {"field": "body.code", "reason": "must be an ODS code of 3 to 6 letters or digits"}
    ]


def test_a_pattern_of_choices_lists_them_and_an_unknown_one_is_not_quoted() -> None:
    assert pattern_reason(r"^(?:immune|non_immune)$(?!\n)") == "must be one of immune, non_immune"
    assert pattern_reason(r"^x+[yz]$") == UNKNOWN_PATTERN
    assert plain_reason("Expected `str` matching regex '^x+[yz]$'") == UNKNOWN_PATTERN
    assert plain_reason("Expected `int`, got `str`") == "Expected `int`, got `str`"


async def test_an_id_with_a_nul_character_is_unknown_on_either_database(client: httpx.AsyncClient) -> None:
    """PostgreSQL can neither store nor compare a NUL: these lookups answered 500 there (404 on SQLite)."""
    for address, code in [
        ("/status-lists/ab%00cd", "status_list_not_found"),
        ("/oid4vci/offers/x%00y", "no_offer"),
    ]:
        response = await client.get(address)
        assert response.status_code == 404, (address, response.text)
        assert _problem(response)["code"] == code


async def test_text_postgresql_cannot_store_is_a_400_not_a_500(
    database_url: str, session: AsyncSession, app: Litestar
) -> None:
    """The net under any field no schema pattern keeps NULs out of (a form field, say)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite stores a NUL")
    with pytest.raises(DBAPIError) as refused:
        await session.execute(text("SELECT CAST(:value AS text)"), {"value": "a\x00b"})
    scope: Any = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "root_path": "",
        "path": "/device",
        "query_string": b"",
        "headers": [],
        "app": app,
        "state": {},
    }
    answer = handle_unexpected(Request(scope), refused.value)
    assert answer.status_code == 400
    assert answer.content.code == "nul_character"
