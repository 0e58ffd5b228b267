"""The workforce API as a client sees it: status codes, problem details, what is written and what is not."""

import datetime as dt
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import AuditEvent
from service.auth import ALL_ROLES, Role
from service.workforce.models import Employment, Organisation, Person
from tests.factories import client_headers
from tests.workforce.factories import Tree, count, create_employment, create_person, create_tree, next_gmc

API = "/api/v1"
Headers = dict[str, str]


@pytest.fixture
async def tree(session: AsyncSession) -> Tree:
    return await create_tree(session)


async def headers(
    session: AsyncSession, app: Litestar, role: Role, organisation: str | None = None
) -> Headers:
    if organisation is None and role is not Role.ADMIN:
        organisation = Tree().trust
    return await client_headers(session, app, role, organisation)


def field_errors(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return {e["field"]: e["reason"] for e in response.json().get("errors", [])}


def names_query_parameter(response: httpx.Response, name: str) -> bool:
    """Whether the problem names query parameter ``name`` (its path prefix is the app's renderer's)."""
    return any(field.endswith(f".{name}") for field in field_errors(response))


# ---------------------------------------------------------------- guards


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/organisations"),
        ("POST", "/people"),
        ("GET", "/employments"),
        ("POST", "/employments/import"),
    ],
)
async def test_anonymous_callers_get_401(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, API + path)
    assert response.status_code == 401


# ---------------------------------------------------------------- organisations


ICB_BODY = {"code": "qop", "name": "NHS North Central London ICB", "kind": "icb", "parent_code": "y56"}


async def test_admin_creates_organisations_and_every_role_reads_them(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    admin = await headers(session, app, Role.ADMIN)
    created = await client.post(f"{API}/organisations", json=ICB_BODY, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["code"] == "QOP"
    assert created.json()["parent_code"] == "Y56"
    trust = {
        "code": "rap",
        "name": "North Middlesex University Hospital NHS Trust",
        "kind": "nhs_trust",
        "parent_code": "QOP",
        "postcode": " n18  1qx ",
        "latitude": 51.613,
        "longitude": -0.072,
    }
    created = await client.post(f"{API}/organisations", json=trust, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["postcode"] == "N18 1QX"
    assert created.json()["icb_code"] == "QOP", "a trust's ICB defaults to its parent"
    for role in ALL_ROLES:
        caller = await headers(session, app, role)
        one = await client.get(f"{API}/organisations/rap", headers=caller)
        assert one.status_code == 200, (role, one.text)
        assert one.json()["name"] == trust["name"]
        listed = await client.get(f"{API}/organisations", params={"parent": "QOP"}, headers=caller)
        assert [o["code"] for o in listed.json()["items"]] == ["RAP"]


async def test_organisation_lists_filter_and_page(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    caller = await headers(session, app, Role.VERIFIER)
    trusts = await client.get(f"{API}/organisations", params={"kind": "nhs_trust"}, headers=caller)
    assert [o["code"] for o in trusts.json()["items"]] == [tree.other_trust, tree.trust]
    first = await client.get(f"{API}/organisations", params={"limit": 4}, headers=caller)
    assert first.json()["next_offset"] == 4
    second = await client.get(f"{API}/organisations", params={"limit": 4, "offset": 4}, headers=caller)
    assert second.json()["next_offset"] is None
    codes = [o["code"] for o in first.json()["items"] + second.json()["items"]]
    assert sorted(codes) == codes
    assert set(codes) == {tree.region, tree.icb, tree.trust, tree.other_trust, tree.provider, tree.site}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**70}, "offset"),
        ({"kind": "hospital"}, "kind"),
        ({"parent": "R!K"}, "parent"),
        ({"parent": "RRK\n"}, "parent"),
        ({"limit": "ten"}, "limit"),
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    tree: Tree,
    params: dict[str, Any],
    field: str,
) -> None:
    response = await client.get(
        f"{API}/organisations", params=params, headers=await headers(session, app, Role.ANALYST)
    )
    assert response.status_code == 422, response.text
    assert names_query_parameter(response, field), response.text


@pytest.mark.parametrize("role", [r for r in ALL_ROLES if r is not Role.ADMIN])
async def test_only_an_admin_writes_organisations(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree, role: Role
) -> None:
    before = await count(session, Organisation)
    caller = await headers(session, app, role)
    response = await client.post(f"{API}/organisations", json=ICB_BODY, headers=caller)
    assert response.status_code == 403
    csv = b"code,name,kind,parent_code,icb_code,postcode,latitude,longitude\nQOP,An ICB,icb,Y56,,,,\n"
    imported = await client.post(
        f"{API}/organisations/import", content=csv, headers={**caller, "Content-Type": "text/csv"}
    )
    assert imported.status_code == 403
    assert await count(session, Organisation) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "Q!P"}, "body.code"),
        ({"code": "QO"}, "body.code"),
        ({"code": "QOPQOPQ"}, "body.code"),
        ({"code": "QOP\n"}, "body.code"),
        ({"name": ""}, "body.name"),
        ({"name": "NHS\x00ICB"}, "body.name"),
        ({"name": "x" * 201}, "body.name"),
        ({"kind": "hospital"}, "body.kind"),
        ({"parent_code": None}, "body.parent_code"),
        ({"parent_code": "QMM"}, "body.parent_code"),
        ({"parent_code": "ZZZ"}, "body.parent_code"),
        ({"icb_code": "QMM"}, "body.icb_code"),
        ({"postcode": "NOT A CODE"}, "body.postcode"),
        ({"postcode": "QQ1 1AA"}, "body.postcode"),
        ({"latitude": 91, "longitude": 0}, "body.latitude"),
        ({"latitude": 51.5, "longitude": -181}, "body.longitude"),
        ({"latitude": 51.5}, "body.longitude"),
        ({"latitude": "north", "longitude": 0}, "body.latitude"),
    ],
)
async def test_bad_organisations_are_422_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    tree: Tree,
    change: dict[str, Any],
    field: str,
) -> None:
    before = await count(session, Organisation)
    response = await client.post(
        f"{API}/organisations", json={**ICB_BODY, **change}, headers=await headers(session, app, Role.ADMIN)
    )
    assert response.status_code == 422, response.text
    assert field in field_errors(response), response.text
    assert await count(session, Organisation) == before


async def test_unknown_fields_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    body = {**ICB_BODY, "colour": "blue"}
    response = await client.post(
        f"{API}/organisations", json=body, headers=await headers(session, app, Role.ADMIN)
    )
    assert response.status_code == 422, response.text
    assert any("colour" in reason for reason in field_errors(response).values()), response.text


async def test_duplicate_organisation_code_is_409(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    body = {"code": tree.icb.lower(), "name": "Again", "kind": "icb", "parent_code": tree.region}
    response = await client.post(
        f"{API}/organisations", json=body, headers=await headers(session, app, Role.ADMIN)
    )
    assert response.status_code == 409, response.text
    assert "body.code" in field_errors(response)


@pytest.mark.parametrize(
    "body",
    [b'{"code": "QOP",', b"not json", b"[1, 2", b'{"code": "\\ud800"}', b'{"latitude": 1e400}', b"\xff\xfe"],
)
async def test_malformed_json_is_400(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, body: bytes
) -> None:
    caller = await headers(session, app, Role.ADMIN)
    response = await client.post(
        f"{API}/organisations", content=body, headers={**caller, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("code", ["ZZZ", "zz", "%00", "R%0AK", "%F0%9F%98%80", "a" * 300])
async def test_unknown_organisation_is_404(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree, code: str
) -> None:
    response = await client.get(
        f"{API}/organisations/{code}", headers=await headers(session, app, Role.HOLDER)
    )
    assert response.status_code == 404, response.text


# ---------------------------------------------------------------- people


def person_body(**change: Any) -> dict[str, Any]:
    body = {"given_name": "Ada", "family_name": "Okafor", "gmc_number": next_gmc(), "staff_group": "medical"}
    return {**body, "grade": "CT1", "specialty": "anaesthetics", **change}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.ISSUER])
async def test_admin_and_issuer_register_people(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree, role: Role
) -> None:
    body = person_body()
    response = await client.post(f"{API}/people", json=body, headers=await headers(session, app, role))
    assert response.status_code == 201, response.text
    assert response.json()["gmc_number"] == body["gmc_number"]
    assert response.headers["cache-control"] == "no-store"
    assert await count(session, Person) == 1
    event = await session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    assert event is not None
    assert (event.subject, event.outcome) == (f"person:{response.json()['id']}", "success")


@pytest.mark.parametrize("role", [Role.VERIFIER, Role.ANALYST, Role.HOLDER, Role.COORDINATOR])
async def test_other_roles_may_not_register_people(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree, role: Role
) -> None:
    caller = await headers(session, app, role)
    assert (await client.post(f"{API}/people", json=person_body(), headers=caller)).status_code == 403
    assert (await client.post(f"{API}/employments", json={}, headers=caller)).status_code == 403
    assert await count(session, Person) == 0


@pytest.mark.parametrize("role", [Role.VERIFIER, Role.ANALYST, Role.HOLDER])
async def test_verifiers_analysts_and_holders_may_not_list_people_or_employments(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree, role: Role
) -> None:
    person = await create_person(session)
    await create_employment(session, person, tree.trust)
    caller = await headers(session, app, role)
    for path in ("/people", "/employments", f"/people/{person.id}/employments"):
        assert (await client.get(API + path, headers=caller)).status_code == 403, path


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gmc_number": "123456"}, "body.gmc_number"),
        ({"gmc_number": "12345678"}, "body.gmc_number"),
        ({"gmc_number": "12345a7"}, "body.gmc_number"),
        ({"gmc_number": "1234567\n"}, "body.gmc_number"),
        ({"gmc_number": "\u0661\u0662\u0663\u0664\u0665\u0666\u0667"}, "body.gmc_number"),
        ({"gmc_number": 1234567}, "body.gmc_number"),
        ({"grade": "ST9"}, "body.grade"),
        ({"grade": "fy1"}, "body.grade"),
        ({"staff_group": "surgeon"}, "body.staff_group"),
        ({"staff_group": "nursing"}, "body.staff_group"),
        ({"given_name": " "}, "body.given_name"),
        ({"family_name": "a\u0000b"}, "body.family_name"),
        ({"specialty": "x" * 61}, "body.specialty"),
    ],
)
async def test_bad_people_are_422_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    tree: Tree,
    change: dict[str, Any],
    field: str,
) -> None:
    caller = await headers(session, app, Role.ISSUER)
    response = await client.post(f"{API}/people", json=person_body(**change), headers=caller)
    assert response.status_code == 422, response.text
    assert field in field_errors(response), response.text
    assert await count(session, Person) == 0


async def test_duplicate_gmc_number_is_409(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    existing = await create_person(session)
    body = person_body(gmc_number=existing.gmc_number)
    response = await client.post(f"{API}/people", json=body, headers=await headers(session, app, Role.ISSUER))
    assert response.status_code == 409, response.text
    assert "body.gmc_number" in field_errors(response)
    assert await count(session, Person) == 1


async def test_issuer_sees_only_people_employed_at_its_organisation(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    ours = await create_person(session, family_name="Ours")
    theirs = await create_person(session, family_name="Theirs")
    await create_employment(session, ours, tree.trust, end=dt.date(2025, 12, 2))
    await create_employment(session, theirs, tree.other_trust)
    issuer = await headers(session, app, Role.ISSUER, tree.trust)
    listed = await client.get(f"{API}/people", headers=issuer)
    assert [p["family_name"] for p in listed.json()["items"]] == ["Ours"], "a past employment counts"
    assert (await client.get(f"{API}/people/{ours.id}", headers=issuer)).status_code == 200
    assert (await client.get(f"{API}/people/{theirs.id}", headers=issuer)).status_code == 404
    assert (await client.get(f"{API}/people/{theirs.id}/employments", headers=issuer)).status_code == 404
    other = await client.get(f"{API}/people", params={"organisation": tree.other_trust}, headers=issuer)
    assert other.status_code == 403


async def test_coordinator_sees_doctors_in_training_only(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    trainee = await create_person(session, grade="ST4", family_name="Trainee")
    nurse = await create_person(session, grade="other", gmc_number=None, family_name="Nurse")
    coordinator = await headers(session, app, Role.COORDINATOR, tree.region)
    listed = await client.get(f"{API}/people", headers=coordinator)
    assert [p["family_name"] for p in listed.json()["items"]] == ["Trainee"]
    assert (await client.get(f"{API}/people/{trainee.id}", headers=coordinator)).status_code == 200
    assert (await client.get(f"{API}/people/{nurse.id}", headers=coordinator)).status_code == 404
    everyone = await client.get(f"{API}/people", headers=await headers(session, app, Role.ADMIN))
    assert [p["family_name"] for p in everyone.json()["items"]] == ["Nurse", "Trainee"]


async def test_holder_may_not_read_someone_else(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    person = await create_person(session)
    response = await client.get(f"{API}/people/{person.id}", headers=await headers(session, app, Role.HOLDER))
    assert response.status_code == 404


async def test_people_filters(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    a = await create_person(session, grade="ST4", specialty="urology", family_name="A")
    b = await create_person(session, grade="FY1", family_name="B")
    await create_person(session, grade="ST4", specialty="ent", family_name="C")
    await create_employment(session, b, tree.site)
    admin = await headers(session, app, Role.ADMIN)

    async def names(**params: str) -> list[str]:
        response = await client.get(f"{API}/people", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [p["family_name"] for p in response.json()["items"]]

    assert await names(gmc_number=a.gmc_number or "") == ["A"]
    assert await names(grade="ST4") == ["A", "C"]
    assert await names(grade="ST4", specialty="urology") == ["A"]
    assert await names(organisation=tree.site.lower()) == ["B"]
    bad = await client.get(f"{API}/people", params={"gmc_number": "12"}, headers=admin)
    assert bad.status_code == 422
    assert names_query_parameter(bad, "gmc_number")


# ---------------------------------------------------------------- employments


def employment_body(**change: Any) -> dict[str, Any]:
    body = {
        "organisation_code": "rrk",
        "role": "Core trainee",
        "staff_group": "medical",
        "specialty": "anaesthetics",
    }
    return {**body, "start_date": "2026-08-05", "end_date": "2027-08-03", "contracted_sessions": 10, **change}


async def test_issuer_records_employments_at_its_organisation_only(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    person = await create_person(session)
    issuer = await headers(session, app, Role.ISSUER, tree.trust)
    created = await client.post(
        f"{API}/employments", json=employment_body(gmc_number=person.gmc_number), headers=issuer
    )
    assert created.status_code == 201, created.text
    assert created.json()["person_id"] == str(person.id)
    assert created.json()["organisation_code"] == tree.trust
    elsewhere = employment_body(person_id=str(person.id), organisation_code=tree.other_trust)
    refused = await client.post(f"{API}/employments", json=elsewhere, headers=issuer)
    assert refused.status_code == 403
    assert await count(session, Employment) == 1
    one = await client.get(f"{API}/employments/{created.json()['id']}", headers=issuer)
    assert one.status_code == 200
    assert (await client.get(f"{API}/people/{person.id}", headers=issuer)).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end_date": "2026-08-04"}, "body.end_date"),
        ({"start_date": "2026-02-30"}, "body.start_date"),
        ({"start_date": "05/08/2026"}, "body.start_date"),
        ({"start_date": "0206-08-05", "end_date": None}, "body.start_date"),
        ({"contracted_sessions": 0}, "body.contracted_sessions"),
        ({"contracted_sessions": 0.25}, "body.contracted_sessions"),
        ({"contracted_sessions": 7.3}, "body.contracted_sessions"),
        ({"contracted_sessions": 20.5}, "body.contracted_sessions"),
        ({"organisation_code": "ZZZ"}, "body.organisation_code"),
        ({"organisation_code": "R K"}, "body.organisation_code"),
        ({"gmc_number": None}, "body.person_id"),
        ({"person_id": "00000000-0000-4000-8000-000000000000", "gmc_number": None}, "body.person_id"),
        ({"person_id": "not-a-uuid", "gmc_number": None}, "body.person_id"),
        ({"person_id": "00000000-0000-4000-8000-000000000000"}, "body.gmc_number"),
        ({"gmc_number": "7999999"}, "body.gmc_number"),
        ({"role": ""}, "body.role"),
    ],
)
async def test_bad_employments_are_422_naming_the_field(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    tree: Tree,
    change: dict[str, Any],
    field: str,
) -> None:
    person = await create_person(session)
    body = {"gmc_number": person.gmc_number, **employment_body(), **change}
    body = {name: value for name, value in body.items() if value is not None}
    response = await client.post(
        f"{API}/employments", json=body, headers=await headers(session, app, Role.ADMIN)
    )
    assert response.status_code == 422, response.text
    assert field in field_errors(response), response.text
    assert await count(session, Employment) == 0


async def test_duplicate_employment_is_409(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    person = await create_person(session)
    await create_employment(session, person, tree.trust, start=dt.date(2026, 8, 5), role="Core trainee")
    body = employment_body(person_id=str(person.id))
    response = await client.post(
        f"{API}/employments", json=body, headers=await headers(session, app, Role.ISSUER)
    )
    assert response.status_code == 409, response.text
    assert "body.start_date" in field_errors(response)


async def test_employment_lists_filter_and_scope(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    trainee = await create_person(session, grade="ST3")
    nurse = await create_person(session, grade="other", gmc_number=None)
    await create_employment(session, trainee, tree.trust, start=dt.date(2024, 8, 7), end=dt.date(2025, 8, 5))
    current = await create_employment(session, trainee, tree.other_trust, start=dt.date(2025, 8, 6))
    await create_employment(session, nurse, tree.trust, start=dt.date(2020, 1, 1), role="Staff nurse")

    async def ids(caller: Headers, path: str = "/employments", **params: str) -> list[str]:
        response = await client.get(API + path, params=params, headers=caller)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["items"]]

    admin = await headers(session, app, Role.ADMIN)
    assert len(await ids(admin)) == 3
    assert await ids(admin, current_on="2025-09-01", person_id=str(trainee.id)) == [str(current.id)]
    assert len(await ids(admin, organisation=tree.trust)) == 2
    assert len(await ids(admin, current_on="2025-08-05")) == 2, "an employment is current on its last day"
    coordinator = await headers(session, app, Role.COORDINATOR, tree.region)
    assert len(await ids(coordinator)) == 2, "the nurse's employment is not a coordinator's business"
    issuer = await headers(session, app, Role.ISSUER, tree.other_trust)
    assert await ids(issuer) == [str(current.id)]
    assert await ids(issuer, f"/people/{trainee.id}/employments") == [str(current.id)]
    assert len(await ids(admin, f"/people/{trainee.id}/employments")) == 2
    bad = await client.get(f"{API}/employments", params={"current_on": "yesterday"}, headers=admin)
    assert bad.status_code == 422
    assert names_query_parameter(bad, "current_on")
