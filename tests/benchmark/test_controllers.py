"""The benchmark API over HTTP on SQLite and PostgreSQL: learner submissions, publishing, downloads."""

import hashlib

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from service.benchmark import signing
from service.benchmark.models import LearnerSubmissionRecord
from service.workforce.models import Organisation
from tests.factories import client_headers, create_organisation

API = "/api/v1"
CSV = {"Content-Type": "text/csv"}
HEADER = "provider_code,site_code,financial_year,staff_group,route,learners,placements,placement_weeks"


def item(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "provider_code": "NT3",
        "site_code": "NT301",
        "financial_year": 2025,
        "staff_group": "nursing",
        "route": "student_placement",
        "learners": 12,
        "placements": 14,
        "placement_weeks": 80.5,
    }
    return {**base, **changes}


@pytest.fixture
async def england(session: AsyncSession) -> None:
    await create_organisation(session, "Y56", kind="region", name="London")
    await create_organisation(session, "QMJ", kind="icb", parent_code="Y56", name="North Central London ICB")
    await create_organisation(session, "NT3", kind="independent_provider", name="Example Healthcare")
    await create_organisation(session, "NV1", kind="independent_provider", name="Valley Hospitals")
    site = await create_organisation(
        session, "NT301", kind="independent_site", parent_code="NT3", name="Example Hospital"
    )
    site.icb_code = "QMJ"
    await create_organisation(
        session, "NV101", kind="independent_site", parent_code="NV1", name="Valley Hospital"
    )
    await session.commit()


async def submissions(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(LearnerSubmissionRecord)) or 0)


async def test_a_provider_submits_and_resubmits_its_learners(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: None
) -> None:
    issuer = await client_headers(session, app, Role.ISSUER, "NT3")
    body = {
        "items": [item(), item(staff_group="allied_health", route="apprenticeship", learners=6, placements=6)]
    }
    first = await client.post(f"{API}/benchmark-learners", json=body, headers=issuer)
    assert first.status_code == 201, first.text
    assert (first.json()["created"], first.json()["replaced"]) == (2, 0)
    again = await client.post(
        f"{API}/benchmark-learners", json={"items": [item(learners=13, placements=15)]}, headers=issuer
    )
    assert (again.json()["created"], again.json()["replaced"]) == (0, 1)
    listed = (await client.get(f"{API}/benchmark-learners", headers=issuer)).json()["items"]
    assert sorted((i["staff_group"], i["learners"]) for i in listed) == [
        ("allied_health", 6),
        ("nursing", 13),
    ]
    analyst = await client_headers(session, app, Role.ANALYST, "NV1")
    assert len((await client.get(f"{API}/benchmark-learners", headers=analyst)).json()["items"]) == 2
    other = await client_headers(session, app, Role.ISSUER, "NV1")
    assert (await client.get(f"{API}/benchmark-learners", headers=other)).json()["items"] == []


async def test_a_provider_may_not_submit_for_another_providers_site(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: None
) -> None:
    other = await client_headers(session, app, Role.ISSUER, "NV1")
    response = await client.post(f"{API}/benchmark-learners", json={"items": [item()]}, headers=other)
    assert response.status_code == 403
    assert response.json()["errors"] == [
        {"field": "body.items[0].site_code", "reason": "is not a site of your organisation"}
    ]
    assert await submissions(session) == 0


async def test_bad_items_are_named_and_nothing_is_stored(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: None
) -> None:
    issuer = await client_headers(session, app, Role.ISSUER, "NT3")
    body = {
        "items": [
            item(financial_year=2090),
            item(site_code="NV101", route="apprenticeship"),
            item(site_code="ZZZ9", route="other"),
            item(learners=-1),
        ]
    }
    response = await client.post(f"{API}/benchmark-learners", json=body, headers=issuer)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert "body.items[3].learners" in fields
    body = {
        "items": [
            item(financial_year=2090),
            item(site_code="NV101", route="apprenticeship"),
            item(site_code="ZZZ9", route="other"),
        ]
    }
    response = await client.post(f"{API}/benchmark-learners", json=body, headers=issuer)
    assert response.status_code == 422
    assert {(e["field"], e["reason"]) for e in response.json()["errors"]} >= {
        ("body.items[0].financial_year", "must be a year that has started: 2026 or earlier"),
        ("body.items[1].site_code", "NV101 is not a site of NT3"),
        ("body.items[2].site_code", "no organisation has the code ZZZ9"),
    }
    assert await submissions(session) == 0


async def test_a_learners_file_is_all_or_nothing_with_a_row_report(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: None
) -> None:
    issuer = await client_headers(session, app, Role.ISSUER, "NT3")
    bad = "\r\n".join(
        [
            HEADER,
            "NT3,NT301,2025-26,nursing,student_placement,12,14,80.5",
            "NT3,NT301,2025-26,nursing,student_placement,-3,1,1",
            "",
        ]
    )
    response = await client.post(f"{API}/benchmark-learners/import", content=bad, headers={**issuer, **CSV})
    assert response.status_code == 422
    assert response.json()["rows"] == [
        {"row": 3, "column": "learners", "reason": "must be a whole number, 0 or more"}
    ]
    assert await submissions(session) == 0
    huge = f"NT3,NT301,2025-26,nursing,{'x' * 2_000_000},12,14,80.5"  # a cell over the csv module's limit
    refused = await client.post(
        f"{API}/benchmark-learners/import", content="\r\n".join([HEADER, huge, ""]), headers={**issuer, **CSV}
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["rows"] == [
        {"row": 2, "column": None, "reason": "is not CSV: field larger than field limit (131072)"}
    ]
    assert await submissions(session) == 0
    good = "\r\n".join([HEADER, "nt3,nt301,2025-26,nursing,student_placement,12,14,80.5", ""])
    created = await client.post(f"{API}/benchmark-learners/import", content=good, headers={**issuer, **CSV})
    assert created.status_code == 201, created.text
    assert await submissions(session) == 1
    upload = await client.post(
        f"{API}/benchmark-learners/import",
        files={"file": ("learners.csv", good.encode(), "text/csv")},
        headers=issuer,
    )
    assert upload.json()["replaced"] == 1
    assert (
        await client.post(
            f"{API}/benchmark-learners/import",
            content=b"{}",
            headers={**issuer, "Content-Type": "application/json"},
        )
    ).status_code == 415


async def test_an_analyst_publishes_and_anyone_can_check_the_files(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: None
) -> None:
    issuer = await client_headers(session, app, Role.ISSUER, "NT3")
    await client.post(
        f"{API}/benchmark-learners",
        json={"items": [item(), item(financial_year=2024, learners=9, placements=9, placement_weeks=50)]},
        headers=issuer,
    )
    analyst = await client_headers(session, app, Role.ANALYST, "NV1")
    published = await client.post(f"{API}/benchmarks", json={"financial_year": 2025}, headers=analyst)
    assert published.status_code == 201, published.text
    record = published.json()
    assert record["financial_year"] == "2025-26"
    assert [f["format"] for f in record["files"]] == ["json", "csv", "xlsx", "html"]
    listed = (await client.get(f"{API}/benchmarks", headers=analyst)).json()["items"]
    assert [b["id"] for b in listed] == [record["id"]]
    jwks = (await client.get("/.well-known/jwks.json")).json()
    for summary in record["files"]:
        content = await client.get(summary["href"], headers=analyst)
        assert content.status_code == 200
        assert hashlib.sha256(content.content).hexdigest() == summary["sha256"]
        assert content.headers["content-type"].count("charset") <= 1, content.headers["content-type"]
        signature = await client.get(summary["signature_href"], headers=analyst)
        assert signature.headers["content-type"].startswith("application/jose")
        verdict = signing.verify(content.content, signature.text, jwks)
        assert verdict.benchmark["inputs_sha256"] == record["inputs_sha256"]
    report = msgspec.json.decode(
        (await client.get(f"{API}/benchmarks/{record['id']}/json", headers=analyst)).content
    )
    nurses = next(t for t in report["tables"] if t["id"] == "learners_by_site")
    row = next(r for r in nurses["rows"] if r["code"] == "NT301")
    assert row["cells"][3] == {"value": 12, "previous": 9, "change": 3}


async def test_publishing_refuses_a_year_that_has_not_started(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: None
) -> None:
    analyst = await client_headers(session, app, Role.ANALYST, "NV1")
    response = await client.post(f"{API}/benchmarks", json={"financial_year": 2090}, headers=analyst)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.financial_year"
    assert (await client.get(f"{API}/benchmarks", headers=analyst)).json()["items"] == []


async def test_unknown_benchmarks_and_formats_are_404(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: None
) -> None:
    analyst = await client_headers(session, app, Role.ANALYST, "NV1")
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await client.get(f"{API}/benchmarks/{missing}", headers=analyst)).status_code == 404
    assert (await client.get(f"{API}/benchmarks/{missing}/json", headers=analyst)).status_code == 404
    assert (await client.get(f"{API}/benchmarks/{missing}/pdf/signature", headers=analyst)).status_code == 404


async def test_organisations_are_not_changed_by_benchmarks(session: AsyncSession, england: None) -> None:
    assert int(await session.scalar(select(func.count()).select_from(Organisation)) or 0) == 6
