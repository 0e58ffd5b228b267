"""CSV imports of offers, rosters and activity over HTTP: all or nothing, with a row-by-row report."""

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality.models import Activity, Offer, RosterEntry
from service.auth import Role
from tests.additionality.factories import (
    ACTIVITY_HEADER,
    OFFER_HEADER,
    ROSTER_HEADER,
    England,
    count,
    create_england,
    create_person,
    employ,
)
from tests.factories import client_headers

API = "/api/v1/additionality"
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
async def england(session: AsyncSession) -> England:
    return await create_england(session)


def lines(*rows: str) -> bytes:
    return ("\r\n".join(rows) + "\r\n").encode()


def report(response: httpx.Response) -> dict[tuple[int, str | None], str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return {(r["row"], r["column"]): r["reason"] for r in response.json()["rows"]}


async def post(client: httpx.AsyncClient, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post(f"{API}/{path}", content=body, headers={**headers, **CSV})


OFFERS = (
    OFFER_HEADER,
    "OPH-1,nt301,,Ophthalmology,10,2026-04-01,2027-03-31,2",
    "ENT-1,NT302,QOP,ent,4.5,2026-06-01,2026-12-31,0",
)


async def test_a_provider_imports_offers_then_their_rosters(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    provider = await client_headers(session, app, Role.ISSUER, england.provider)
    offers = await post(client, "offers/import", lines(*OFFERS), provider)
    assert offers.status_code == 201, offers.text
    assert (offers.json()["entity"], offers.json()["created"], len(offers.json()["ids"])) == ("offers", 2, 2)
    stored = {o.reference: o for o in (await session.scalars(select(Offer))).all()}
    assert (stored["OPH-1"].site_code, stored["OPH-1"].commissioner_code) == ("NT301", "QMM")
    assert stored["ENT-1"].sessions_per_week == 4.5
    nurse, doctor = await create_person(session), await create_person(session, group="medical", gmc=True)
    await employ(session, nurse, england.trust)
    roster = lines(
        ROSTER_HEADER,
        f"NT301,OPH-1,{nurse.id},,2,,",
        f"NT301,OPH-1,,{doctor.gmc_number},4,2026-10-01,2027-03-31",
        f"NT302,ENT-1,{nurse.id},,1,2026-06-01,2026-08-31",
    )
    imported = await post(client, "roster/import", roster, provider)
    assert imported.status_code == 201, imported.text
    assert imported.json()["created"] == 3
    periods = {
        (e.person_id, e.offer_id): (e.start_date.isoformat(), e.end_date.isoformat())
        for e in (await session.scalars(select(RosterEntry))).all()
    }
    assert periods[(nurse.id, stored["OPH-1"].id)] == ("2026-04-01", "2027-03-31")


async def test_every_bad_offer_row_is_reported_and_nothing_is_written(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await client_headers(session, app, Role.ADMIN)
    assert (await post(client, "offers/import", lines(OFFER_HEADER, OFFERS[1]), admin)).status_code == 201
    body = lines(
        OFFER_HEADER,
        "A,NT301,,ent,10,2026-04-01,2027-03-31,0",  # line 2: fine
        "B,NT301,,ent,10,2027-04-01,2026-04-01,0",  # 3: reversed
        "C,NT301,,ent,10,1999-04-01,2000-03-31,0",  # 4: wrong year
        "D,NX999,,ent,10,2026-04-01,2027-03-31,0",  # 5: unknown site
        "E,RRK,,ent,10,2026-04-01,2027-03-31,0",  # 6: not a site
        "F,NT301,RJ1,ent,10,2026-04-01,2027-03-31,0",  # 7: commissioner not an ICB
        "G,NT301,,ent,10,2026-04-01,2027-03-31,-3",  # 8: negative count
        "A,NT301,,ent,10,2026-04-01,2027-03-31,0",  # 9: repeats line 2
        "OPH-1,NT301,,ent,10,2026-04-01,2027-03-31,0",  # 10: already recorded
        "H,NT301,,ent,ten,2026-04-01,2027-03-31,0",  # 11: not a number
        "I,NT301,,ent,10,2026-04-01",  # 12: too few cells
    )
    response = await post(client, "offers/import", body, admin)
    assert response.status_code == 422, response.text
    found = report(response)
    assert set(found) == {
        (3, "end_date"),
        (4, "start_date"),
        (5, "site_code"),
        (6, "site_code"),
        (7, "commissioner_code"),
        (8, "declared_training_placements"),
        (9, "reference"),
        (10, "reference"),
        (11, "sessions_per_week"),
        (12, None),
    }
    assert found[(3, "end_date")] == "must be on or after start_date (2027-04-01): the dates are reversed"
    assert found[(8, "declared_training_placements")] == "must be a whole number from 0 to 100000"
    assert found[(9, "reference")] == "repeats the reference of row 2"
    assert found[(10, "reference")] == "an offer with the reference OPH-1 already exists at NT301"
    assert "Nothing was written" in response.json()["detail"]
    assert await count(session, Offer) == 1


async def test_offers_for_another_providers_site_are_forbidden_with_the_rows(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    rival = await client_headers(session, app, Role.ISSUER, england.rival)
    body = lines(
        OFFER_HEADER, "R-1,NT901,,ent,10,2026-04-01,2027-03-31,0", "R-2,NT301,,ent,10,2026-04-01,2027-03-31,0"
    )
    response = await post(client, "offers/import", body, rival)
    assert response.status_code == 403
    assert set(report(response)) == {(3, "site_code")}
    assert await count(session, Offer) == 0


async def test_every_bad_roster_row_is_reported_and_nothing_is_written(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await client_headers(session, app, Role.ADMIN)
    assert (await post(client, "offers/import", lines(*OFFERS), admin)).status_code == 201
    nurse = await create_person(session)
    good = lines(ROSTER_HEADER, f"NT301,OPH-1,{nurse.id},,2,2026-04-01,2026-09-30")
    assert (await post(client, "roster/import", good, admin)).status_code == 201
    body = lines(
        ROSTER_HEADER,
        f"NT301,OPH-1,{nurse.id},,2,2026-10-01,2027-03-31",  # 2: fine, after the stored entry
        f"NT301,OPH-1,{nurse.id},,2,2026-09-01,2026-12-31",  # 3: overlaps the stored entry
        f"NT301,OPH-1,{nurse.id},,2,2027-01-01,2027-02-28",  # 4: overlaps row 2
        "NT301,OPH-1,00000000-0000-0000-0000-000000000000,,2,,",  # 5: unknown person
        "NT301,OPH-1,,7999999,2,,",  # 6: unknown GMC number
        f"NT301,NOPE,{nurse.id},,2,,",  # 7: unknown offer
        f"NT302,ENT-1,{nurse.id},,2,2026-05-01,2026-07-31",  # 8: starts before the offer
        f"NT302,ENT-1,{nurse.id},,25,,",  # 9: too many sessions
        f"NT302,ENT-1,{nurse.id},,2,2026-09-01,2026-07-01",  # 10: reversed
        "NT302,ENT-1,,,2,,",  # 11: nobody
    )
    response = await post(client, "roster/import", body, admin)
    assert response.status_code == 422, response.text
    found = report(response)
    assert set(found) == {
        (3, "start_date"),
        (4, "start_date"),
        (5, "person_id"),
        (6, "gmc_number"),
        (7, "offer_reference"),
        (8, "start_date"),
        (9, "sessions"),
        (10, "end_date"),
        (11, "person_id"),
    }
    assert (
        found[(3, "start_date")]
        == "overlaps an entry already recorded of the same person on this offer (2026-04-01 to 2026-09-30)"
    )
    assert found[(4, "start_date")].startswith("overlaps row 2 of the same person")
    assert found[(7, "offer_reference")] == "no offer has the reference NOPE at the site NT301"
    assert await count(session, RosterEntry) == 1


async def test_a_roster_for_another_providers_offer_is_forbidden(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await client_headers(session, app, Role.ADMIN)
    assert (await post(client, "offers/import", lines(*OFFERS), admin)).status_code == 201
    nurse = await create_person(session)
    rival = await client_headers(session, app, Role.ISSUER, england.rival)
    response = await post(
        client, "roster/import", lines(ROSTER_HEADER, f"NT301,OPH-1,{nurse.id},,2,,"), rival
    )
    assert response.status_code == 403
    assert set(report(response)) == {(2, "site_code")}


async def test_activity_files_are_all_or_nothing_and_replace_revises(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await client_headers(session, app, Role.ADMIN)
    good = lines(
        ACTIVITY_HEADER, "RRK,QMM,ent,2025-04,120", "NT301,QMM,ent,2025-04,30", "RRK,QMM,ent,2025-05,118"
    )
    first = await post(client, "activity/import", good, admin)
    assert first.status_code == 201, first.text
    assert first.json()["created"] == 3
    again = await post(client, "activity/import", good, admin)
    assert again.status_code == 422
    assert len(report(again)) == 3
    revised = await client.post(
        f"{API}/activity/import",
        params={"replace": "true"},
        content=lines(ACTIVITY_HEADER, "RRK,QMM,ENT,2025-04,125"),
        headers={**admin, **CSV},
    )
    assert revised.status_code == 201, revised.text
    assert (revised.json()["created"], revised.json()["replaced"]) == (0, 1)
    values = dict(
        (
            await session.execute(
                select(Activity.month, Activity.activity).where(Activity.provider_code == "RRK")
            )
        ).all()
    )
    assert sorted(values.values()) == [118, 125]
    bad = lines(
        ACTIVITY_HEADER,
        "RJ1,QMM,ent,2025-04,10",  # 2: fine
        "RJ1,QMM,ent,2099-04,10",  # 3: future
        "RJ1,QMM,ent,1999-04,10",  # 4: wrong year
        "RJ1,QMM,ent,2025-04,-1",  # 5: negative
        "RJ1,QMM,ent,2025-04,10",  # 6: repeats row 2
        "RZZ,QMM,ent,2025-05,10",  # 7: unknown provider
        "RJ1,Y56,ent,2025-06,10",  # 8: a region is not an ICB
        "RJ1,QMM,ent,April,10",  # 9: not a month
    )
    refused = await post(client, "activity/import", bad, admin)
    found = report(refused)
    assert set(found) == {
        (3, "month"),
        (4, "month"),
        (5, "activity"),
        (6, "month"),
        (7, "provider_code"),
        (8, "commissioner_code"),
        (9, "month"),
    }
    assert found[(9, "month")] == "must be a month as YYYY-MM"
    assert found[(5, "activity")] == "must be a whole number, 0 or more"
    assert await count(session, Activity) == 3


async def test_activity_for_another_organisation_is_forbidden_with_the_rows(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    trust = await client_headers(session, app, Role.ISSUER, england.trust)
    body = lines(ACTIVITY_HEADER, "RRK,QMM,ent,2025-04,10", "RJ1,QMM,ent,2025-04,10")
    response = await post(client, "activity/import", body, trust)
    assert response.status_code == 403
    assert set(report(response)) == {(3, "provider_code")}
    assert await count(session, Activity) == 0


async def test_uploads_must_be_csv_with_the_documented_header(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await client_headers(session, app, Role.ADMIN)
    as_json = await client.post(f"{API}/offers/import", json={"reference": "x"}, headers=admin)
    assert as_json.status_code == 415
    wrong = await post(client, "roster/import", lines("site_code,offer_reference,person,sessions"), admin)
    assert {(1, "person"), (1, "person_id"), (1, "gmc_number"), (1, "start_date"), (1, "end_date")} <= set(
        report(wrong)
    )
    files = {"file": ("offers.csv", lines(*OFFERS), "text/csv")}
    uploaded = await client.post(f"{API}/offers/import", files=files, headers=admin)
    assert uploaded.status_code == 201, uploaded.text
