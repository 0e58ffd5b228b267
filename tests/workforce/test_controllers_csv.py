"""CSV imports over HTTP: upload formats, the row-by-row report, all-or-nothing, who may import what."""

from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.app import create_app
from service.audit import AuditEvent
from service.auth import Role
from service.config import Settings
from service.keys import KeyRing
from service.workforce.models import Employment, Organisation, Person
from tests.conftest import BASE_URL, ConnectionDatabase, asgi_transport
from tests.factories import client_headers
from tests.workforce.factories import (
    EMPLOYMENT_HEADER,
    ORG_HEADER,
    PEOPLE_HEADER,
    Tree,
    count,
    create_person,
    create_tree,
    next_gmc,
)

API = "/api/v1"
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
async def tree(session: AsyncSession) -> Tree:
    return await create_tree(session)


def lines(*rows: str) -> bytes:
    return ("\r\n".join(rows) + "\r\n").encode()


def report(response: httpx.Response) -> list[tuple[int, str | None, str]]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return [(r["row"], r["column"], r["reason"]) for r in response.json()["rows"]]


async def test_admin_imports_organisations_with_references_in_any_order(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    body = "\ufeff" + "\r\n".join(
        [
            ORG_HEADER,
            "rap01,Example Site,independent_site,np1,qop,se1 7eh,51.5,-0.1",  # provider: next line
            "NP1,Example Provider,independent_provider,,,,,",
            "RAP,North Middlesex,nhs_trust,QOP,,N18 1QX,51.61,-0.07",  # ICB: last line
            'QOP,"NHS North Central London ICB, with a comma",icb,Y56,,,,',
        ]
    )
    admin = await client_headers(session, app, Role.ADMIN)
    response = await client.post(
        f"{API}/organisations/import", content=body.encode(), headers={**admin, **CSV}
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"entity": "organisations", "created": 4, "ids": ["RAP01", "NP1", "RAP", "QOP"]}
    site = (await client.get(f"{API}/organisations/RAP01", headers=admin)).json()
    assert (site["parent_code"], site["icb_code"], site["postcode"]) == ("NP1", "QOP", "SE1 7EH")
    icb = (await client.get(f"{API}/organisations/QOP", headers=admin)).json()
    assert icb["name"] == "NHS North Central London ICB, with a comma"
    event = await session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    assert event is not None
    assert event.subject == "organisations:import:4"


async def test_every_bad_row_is_reported_and_nothing_is_written(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    body = lines(
        ORG_HEADER,
        "QOP,Good ICB,icb,Y56,,,,",  # line 2: fine
        "Q!P,Bad code,icb,Y56,,,,",  # line 3
        "QOQ,No region,icb,,,,,",  # line 4
        "QOR,Bad postcode,icb,Y56,,XX1 1XX,95,",  # line 5: postcode, latitude, longitude missing
        "QOP,Repeated code,icb,Y56,,,,",  # line 6: repeats line 2
        f"{tree.icb},Existing code,icb,Y56,,,,",  # line 7
        "RAP,Trust under a region,nhs_trust,Y56,,,,",  # line 8
        "only,three,cells",  # line 9
        "RAQ,Trust,nhs_trust,QOP,,,,",  # line 10: fine (its parent is line 2)
    )
    admin = await client_headers(session, app, Role.ADMIN)
    before = await count(session, Organisation)
    response = await client.post(f"{API}/organisations/import", content=body, headers={**admin, **CSV})
    assert response.status_code == 422, response.text
    problems = report(response)
    assert {(row, column) for row, column, _ in problems} == {
        (3, "code"),
        (4, "parent_code"),
        (5, "postcode"),
        (5, "latitude"),
        (6, "code"),
        (7, "code"),
        (8, "parent_code"),
        (9, None),
    }
    reasons = {(row, column): reason for row, column, reason in problems}
    assert reasons[(6, "code")] == "repeats the code of row 2"
    assert reasons[(8, "parent_code")] == "must be an ICB, but Y56 is a region"
    assert "8 problem(s) in 7 row(s)" in response.json()["detail"]
    assert await count(session, Organisation) == before


async def test_multipart_upload_and_upload_mistakes(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    admin = await client_headers(session, app, Role.ADMIN)
    files = {"file": ("organisations.csv", lines(ORG_HEADER, "QOP,An ICB,icb,Y56,,,,"), "text/csv")}
    uploaded = await client.post(f"{API}/organisations/import", files=files, headers=admin)
    assert uploaded.status_code == 201, uploaded.text
    no_file = await client.post(
        f"{API}/organisations/import", files={"other": ("x.csv", b"x")}, headers=admin
    )
    assert no_file.status_code == 422
    assert no_file.json()["errors"][0]["field"] == "body.file"
    as_json = await client.post(f"{API}/organisations/import", json={"code": "QOR"}, headers=admin)
    assert as_json.status_code == 415
    empty = await client.post(f"{API}/organisations/import", content=b"", headers={**admin, **CSV})
    assert empty.status_code == 422
    assert report(empty) == [(1, None, "the file is empty: a header row is required")]
    assert await count(session, Organisation) == 7


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("code,name,kind,parent_code,icb_code,postcode,latitude", {(1, "longitude")}),
        (ORG_HEADER + ",colour", {(1, "colour")}),
        (ORG_HEADER.replace("code,name", "Code,name"), {(1, "Code"), (1, "code")}),
        (ORG_HEADER + ",name", {(1, "name")}),
    ],
)
async def test_header_must_name_exactly_the_columns(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    tree: Tree,
    header: str,
    expected: set[object],
) -> None:
    admin = await client_headers(session, app, Role.ADMIN)
    body = lines(header, "QOP,An ICB,icb,Y56,,,,")
    response = await client.post(f"{API}/organisations/import", content=body, headers={**admin, **CSV})
    assert response.status_code == 422, response.text
    assert {(row, column) for row, column, _ in report(response)} == expected


async def test_a_file_that_is_not_utf8_is_refused_with_its_line(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    admin = await client_headers(session, app, Role.ADMIN)
    body = lines(ORG_HEADER, "QOP,An ICB,icb,Y56,,,,") + "QOR,Caf\u00e9,icb,Y56,,,,\n".encode("latin-1")
    response = await client.post(f"{API}/organisations/import", content=body, headers={**admin, **CSV})
    assert response.status_code == 422
    assert [(row, column) for row, column, _ in report(response)] == [(3, None)]


@pytest.fixture
async def small_client(
    settings: Settings, database: ConnectionDatabase, keyring: KeyRing
) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    app = create_app(
        msgspec.structs.replace(settings, max_body_bytes=1024), database=database, keyring=keyring
    )
    async with httpx.AsyncClient(transport=asgi_transport(app), base_url=BASE_URL) as client:
        yield app, client


async def test_a_file_over_the_size_limit_is_413(
    small_client: tuple[Litestar, httpx.AsyncClient], session: AsyncSession, tree: Tree
) -> None:
    app, client = small_client
    admin = await client_headers(session, app, Role.ADMIN)
    body = lines(ORG_HEADER, *[f"Q{i:02d},ICB {i},icb,Y56,,,," for i in range(60)])
    assert len(body) > 1024
    response = await client.post(f"{API}/organisations/import", content=body, headers={**admin, **CSV})
    assert response.status_code == 413
    assert await count(session, Organisation) == 6


async def test_issuer_imports_people_and_duplicates_are_reported(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    existing = await create_person(session)
    issuer = await client_headers(session, app, Role.ISSUER, tree.trust)
    first, second = next_gmc(), next_gmc()
    bad = lines(
        PEOPLE_HEADER,
        f"Ada,Okafor,{first},medical,FY1,",
        f"Ben,Okafor,{first},medical,FY2,",  # line 3: repeats line 2
        f"Cy,Jones,{existing.gmc_number},medical,ST3,urology",  # line 4: already registered
        "Di,Smith,12345,nursing,ST9,",  # line 5: GMC number and grade
        "Ed,Brown,,nursing,other,",  # line 6: fine
    )
    refused = await client.post(f"{API}/people/import", content=bad, headers={**issuer, **CSV})
    assert refused.status_code == 422, refused.text
    assert {(r, c) for r, c, _ in report(refused)} == {
        (3, "gmc_number"),
        (4, "gmc_number"),
        (5, "gmc_number"),
        (5, "grade"),
    }
    assert await count(session, Person) == 1
    good = lines(PEOPLE_HEADER, f"Ada,Okafor,{first},medical,FY1,", f"Ben,Okafor,{second},medical,FY2,")
    imported = await client.post(f"{API}/people/import", content=good, headers={**issuer, **CSV})
    assert imported.status_code == 201, imported.text
    assert imported.json()["created"] == 2
    assert await count(session, Person) == 3


@pytest.mark.parametrize("role", [Role.VERIFIER, Role.ANALYST, Role.HOLDER, Role.COORDINATOR])
async def test_only_admins_and_issuers_import_people_and_employments(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree, role: Role
) -> None:
    caller = await client_headers(session, app, role, tree.trust)
    body = lines(PEOPLE_HEADER, f"Ada,Okafor,{next_gmc()},medical,FY1,")
    assert (
        await client.post(f"{API}/people/import", content=body, headers={**caller, **CSV})
    ).status_code == 403
    body = lines(EMPLOYMENT_HEADER)
    assert (
        await client.post(f"{API}/employments/import", content=body, headers={**caller, **CSV})
    ).status_code == 403
    assert await count(session, Person) == 0


async def test_issuer_imports_employments_only_at_its_organisation(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, tree: Tree
) -> None:
    by_gmc = await create_person(session)
    by_id = await create_person(session, gmc_number=None, grade="other")
    issuer = await client_headers(session, app, Role.ISSUER, tree.trust)
    rows = [
        f",{by_gmc.gmc_number},rrk,Foundation doctor,medical,,2026-08-05,2027-08-03,10",
        f"{by_id.id},,RRK,Staff nurse,nursing,,2020-01-01,,7.5",
    ]
    foreign = lines(
        EMPLOYMENT_HEADER, *rows, f",{by_gmc.gmc_number},{tree.other_trust},FY1,medical,,2026-08-05,,10"
    )
    refused = await client.post(f"{API}/employments/import", content=foreign, headers={**issuer, **CSV})
    assert refused.status_code == 403, refused.text
    assert [(r, c) for r, c, _ in report(refused)] == [(4, "organisation_code")]
    assert await count(session, Employment) == 0
    imported = await client.post(
        f"{API}/employments/import", content=lines(EMPLOYMENT_HEADER, *rows), headers={**issuer, **CSV}
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["created"] == 2
    again = await client.post(
        f"{API}/employments/import", content=lines(EMPLOYMENT_HEADER, *rows), headers={**issuer, **CSV}
    )
    assert again.status_code == 422
    assert [(r, c) for r, c, _ in report(again)] == [(2, "start_date"), (3, "start_date")]
    listed = await client.get(f"{API}/people", headers=issuer)
    assert {p["id"] for p in listed.json()["items"]} == {str(by_gmc.id), str(by_id.id)}
