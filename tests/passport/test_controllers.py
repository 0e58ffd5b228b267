"""Source records over HTTP, as an issuer's system and an operator see them (SQLite and PostgreSQL)."""

import datetime as dt
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import AuditEvent
from service.passport.cstf import add_months
from tests.passport.factories import (
    API,
    TODAY,
    World,
    admin,
    core_skill,
    count_changes,
    count_records,
    create_world,
    errors,
    health,
    identity,
    issuer,
    placement,
    submit,
)


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await create_world(session)


@pytest.fixture
async def rrk(session: AsyncSession, app: Litestar, world: World) -> dict[str, str]:
    return await issuer(session, app, world.tree.trust)


# ---------------------------------------------------------------- submitting


async def test_an_issuer_submits_a_record_as_its_organisation(
    client: httpx.AsyncClient, session: AsyncSession, world: World, rrk: dict[str, str]
) -> None:
    awarded = TODAY - dt.timedelta(days=100)
    response = await submit(client, rrk, core_skill(world.doctor, date_awarded=awarded.isoformat()))
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["kind"] == "core_skills"
    assert record["person_id"] == str(world.doctor.id)
    assert record["state"] == "current"
    assert record["assurance"]["origin_organisation_code"] == world.tree.trust
    assert record["renewal_months"] == 24  # fire safety's default period
    assert record["date_to"] == add_months(awarded, 24).isoformat()
    assert record["lapses_on"] == record["date_to"]
    assert record["subject_name"] == "Fire safety"
    assert response.headers["cache-control"] == "no-store"
    event = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))).one()
    assert event.subject == f"record:{record['id']}"
    assert event.outcome == "success"


async def test_a_batch_of_every_kind_is_stored_whole(
    client: httpx.AsyncClient, session: AsyncSession, world: World, rrk: dict[str, str]
) -> None:
    batch = [
        core_skill(world.doctor),
        health(world.doctor),
        placement(world.doctor, world.tree),
        identity(world.doctor),
    ]
    response = await submit(client, rrk, batch)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] == 4
    assert [r["kind"] for r in body["records"]] == [b["kind"] for b in batch]
    oh = body["records"][1]
    assert (oh["redacted"], oh["item"], oh["outcome"]) == (False, "hepatitis_b", "immune")
    assert body["records"][3]["gmc_number"] == world.doctor.gmc_number
    assert body["records"][2]["lapses_on"] == (TODAY + dt.timedelta(days=151)).isoformat()
    assert await count_records(session) == 4
    assert await count_changes(session) == 4


async def test_a_batch_with_one_bad_record_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession, world: World, rrk: dict[str, str]
) -> None:
    batch = [
        core_skill(world.doctor),
        core_skill(world.other, subject="resuscitation", level=3),
        core_skill(world.doctor, level=2),
    ]
    response = await submit(client, rrk, batch)
    assert response.status_code == 422
    assert errors(response) == {"body[2].level": "must be 1 for Fire safety"}
    assert await count_records(session) == 0
    assert await count_changes(session) == 0


def _bad(world: World) -> list[tuple[str, dict[str, Any], int, str, str]]:
    doctor = world.doctor
    return [
        (
            "unknown subject",
            core_skill(doctor, subject="basket_weaving"),
            422,
            "body.subject",
            "Invalid enum",
        ),
        ("level out of range", core_skill(doctor, level=4), 422, "body.level", "<= 3"),
        (
            "level the subject lacks",
            core_skill(doctor, subject="moving_handling", level=3),
            422,
            "body.level",
            "must be 1 or 2 for Moving and handling",
        ),
        (
            "date to before awarded",
            core_skill(doctor, date_awarded="2026-01-10", date_to="2025-01-10"),
            422,
            "body.date_to",
            "must be after date_awarded",
        ),
        (
            "a diagnosis as an outcome",
            health(doctor, outcome="HBsAg positive, chronic hepatitis B"),
            422,
            "body.outcome",
            "must be one of ",
        ),
        (
            "a free-text field",
            health(doctor, notes="on antiviral treatment"),
            422,
            "body.notes",
            "unknown field",
        ),
        (
            "an outcome of another item",
            health(doctor, outcome="fit"),
            422,
            "body.outcome",
            "is not an outcome of hepatitis_b",
        ),
        (
            "unknown person (GMC)",
            core_skill(doctor, gmc_number="7999999"),
            422,
            "body.gmc_number",
            "no registered person has the GMC number 7999999",
        ),
        (
            "unknown person (id)",
            health(doctor, person_id="3f6c1c5e-8d2b-4f7a-9a57-2f1d2b8c9e10"),
            422,
            "body.person_id",
            "no registered person has the id 3f6c1c5e-8d2b-4f7a-9a57-2f1d2b8c9e10",
        ),
        (
            "another organisation",
            core_skill(doctor, origin_organisation_code="RJ1"),
            403,
            "body.origin_organisation_code",
            "you may submit records only for your organisation (RRK)",
        ),
        (
            "an unknown site",
            placement(doctor, world.tree, site_code="NX999"),
            422,
            "body.site_code",
            "no organisation has the code NX999",
        ),
        (
            "a region as a site",
            placement(doctor, world.tree, site_code=world.tree.region),
            422,
            "body.site_code",
            "must be an NHS trust or independent site",
        ),
    ]


@pytest.mark.parametrize("case", range(12))
async def test_bad_records_are_refused_naming_the_field_and_nothing_is_stored(
    client: httpx.AsyncClient, session: AsyncSession, world: World, rrk: dict[str, str], case: int
) -> None:
    name, body, status, field, reason = _bad(world)[case]
    response = await submit(client, rrk, body)
    assert response.status_code == status, (name, response.text)
    found = errors(response)
    assert field in found, (name, found)
    assert reason in found[field], (name, found)
    assert "HBsAg" not in response.text
    assert "antiviral" not in response.text
    assert await count_records(session) == 0


async def test_odd_bodies_are_refused_without_a_server_error(
    client: httpx.AsyncClient, world: World, rrk: dict[str, str]
) -> None:
    for body in (5, [], "record", {"kind": "vaccination"}, [None], {"kind": "core_skills"}):
        response = await submit(client, rrk, body)
        assert 400 <= response.status_code < 500, (body, response.text)
    response = await client.post(
        f"{API}/records", content=b"{not json", headers={**rrk, "content-type": "application/json"}
    )
    assert response.status_code == 400


# ---------------------------------------------------------------- reading


async def test_issuers_read_only_their_records_and_operators_never_read_outcomes(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, world: World, rrk: dict[str, str]
) -> None:
    created = (await submit(client, rrk, [health(world.doctor), core_skill(world.doctor)])).json()["records"]
    oh_id = created[0]["id"]
    own = await client.get(f"{API}/records/{oh_id}", headers=rrk)
    assert own.status_code == 200
    assert own.json()["outcome"] == "immune"

    other = await issuer(session, app, world.tree.other_trust)
    assert (await client.get(f"{API}/records/{oh_id}", headers=other)).status_code == 404
    assert (await client.get(f"{API}/records", headers=other)).json()["items"] == []
    refused = await client.get(f"{API}/records", params={"organisation": world.tree.trust}, headers=other)
    assert refused.status_code == 403

    operator = await admin(session, app)
    seen = await client.get(f"{API}/records/{oh_id}", headers=operator)
    assert seen.status_code == 200
    assert seen.json()["redacted"] is True
    assert seen.json()["outcome"] is None
    assert seen.json()["item"] is None
    assert "immune" not in seen.text
    listed = await client.get(
        f"{API}/records", params={"gmc_number": world.doctor.gmc_number}, headers=operator
    )
    assert {r["id"] for r in listed.json()["items"]} == {r["id"] for r in created}
    by_kind = await client.get(f"{API}/records", params={"kind": "core_skills"}, headers=rrk)
    assert [r["kind"] for r in by_kind.json()["items"]] == ["core_skills"]
    nobody = await client.get(f"{API}/records", params={"gmc_number": "7999999"}, headers=rrk)
    assert nobody.json()["items"] == []


# ---------------------------------------------------------------- renewals, corrections, withdrawals


async def test_a_renewal_replaces_the_older_award_and_both_are_kept(
    client: httpx.AsyncClient, world: World, rrk: dict[str, str]
) -> None:
    older = (await submit(client, rrk, core_skill(world.doctor, date_awarded="2024-02-01"))).json()
    newer = (await submit(client, rrk, core_skill(world.doctor, date_awarded="2026-02-01"))).json()
    assert newer["supersedes_id"] == older["id"]
    current = (await client.get(f"{API}/records", headers=rrk)).json()["items"]
    assert [r["id"] for r in current] == [newer["id"]]
    everything = (await client.get(f"{API}/records", params={"state": "any"}, headers=rrk)).json()["items"]
    assert {r["id"]: r["state"] for r in everything} == {older["id"]: "replaced", newer["id"]: "current"}
    history = (await client.get(f"{API}/records/{older['id']}/history", headers=rrk)).json()["items"]
    assert [r["id"] for r in history] == [older["id"], newer["id"]]


async def test_a_correction_supersedes_the_record_and_keeps_its_history(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, world: World, rrk: dict[str, str]
) -> None:
    wrong = (await submit(client, rrk, core_skill(world.doctor, date_awarded="2026-02-01"))).json()
    fixed = core_skill(world.doctor, date_awarded="2026-02-11")
    response = await client.post(
        f"{API}/records/{wrong['id']}/corrections",
        json={"reason": "The learning system sent the booking date", "record": fixed},
        headers=rrk,
    )
    assert response.status_code == 201, response.text
    corrected = response.json()
    assert corrected["supersedes_id"] == wrong["id"]
    assert corrected["date_awarded"] == "2026-02-11"
    old = (await client.get(f"{API}/records/{wrong['id']}", headers=rrk)).json()
    assert old["state"] == "corrected"
    assert old["superseded_by_id"] == corrected["id"]
    assert old["change_reason"] == "The learning system sent the booking date"
    assert old["date_awarded"] == "2026-02-01"  # nothing accepted is lost
    history = (await client.get(f"{API}/records/{corrected['id']}/history", headers=rrk)).json()["items"]
    assert [r["state"] for r in history] == ["corrected", "current"]

    again = await client.post(
        f"{API}/records/{wrong['id']}/corrections", json={"reason": "again", "record": fixed}, headers=rrk
    )
    assert again.status_code == 409
    other_kind = await client.post(
        f"{API}/records/{corrected['id']}/corrections",
        json={"reason": "x", "record": health(world.doctor)},
        headers=rrk,
    )
    assert other_kind.status_code == 422
    assert "body.record.kind" in errors(other_kind)
    other_person = await client.post(
        f"{API}/records/{corrected['id']}/corrections",
        json={"reason": "x", "record": core_skill(world.other)},
        headers=rrk,
    )
    assert other_person.status_code == 422
    assert "body.record.person_id" in errors(other_person)
    stranger = await issuer(session, app, world.tree.other_trust)
    foreign = await client.post(
        f"{API}/records/{corrected['id']}/corrections",
        json={"reason": "x", "record": fixed},
        headers=stranger,
    )
    assert foreign.status_code == 404


async def test_withdrawing_a_renewal_brings_back_the_award_it_replaced(
    client: httpx.AsyncClient, world: World, rrk: dict[str, str]
) -> None:
    older = (await submit(client, rrk, core_skill(world.doctor, date_awarded="2025-02-01"))).json()
    newer = (await submit(client, rrk, core_skill(world.doctor, date_awarded="2026-02-01"))).json()
    response = await client.post(
        f"{API}/records/{newer['id']}/withdrawal",
        json={"reason": "Recorded for the wrong doctor"},
        headers=rrk,
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "withdrawn"
    assert response.json()["change_reason"] == "Recorded for the wrong doctor"
    back = (await client.get(f"{API}/records/{older['id']}", headers=rrk)).json()
    assert back["state"] == "current"
    assert back["superseded_by_id"] is None
    twice = await client.post(
        f"{API}/records/{newer['id']}/withdrawal", json={"reason": "again"}, headers=rrk
    )
    assert twice.status_code == 409


# ---------------------------------------------------------------- the CSTF reference table


async def test_an_admin_changes_a_renewal_period_for_records_submitted_from_then_on(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, world: World, rrk: dict[str, str]
) -> None:
    before = (await submit(client, rrk, core_skill(world.doctor, date_awarded="2026-01-15"))).json()
    operator = await admin(session, app)
    response = await client.put(
        f"{API}/cstf-subjects/fire_safety",
        json={"levels": [{"level": 1, "renewal_months": 12}]},
        headers=operator,
    )
    assert response.status_code == 200, response.text
    assert response.json()["levels"] == [{"level": 1, "renewal_months": 12}]
    assert response.json()["updated_by"] is not None
    listed = (await client.get(f"{API}/cstf-subjects", headers=rrk)).json()["items"]
    assert len(listed) == 11
    assert next(s for s in listed if s["subject"] == "fire_safety")["levels"][0]["renewal_months"] == 12
    after = (await submit(client, rrk, core_skill(world.other, date_awarded="2026-01-15"))).json()
    assert after["date_to"] == "2027-01-15"
    unchanged = (await client.get(f"{API}/records/{before['id']}", headers=rrk)).json()
    assert unchanged["date_to"] == "2028-01-15"
    given = (
        await submit(
            client,
            rrk,
            core_skill(
                world.doctor, subject="resuscitation", date_awarded="2026-01-15", date_to="2026-07-01"
            ),
        )
    ).json()
    assert given["date_to"] == "2026-07-01"


@pytest.mark.parametrize(
    ("subject", "levels", "status", "field"),
    [
        ("fire_drill", [{"level": 1, "renewal_months": 12}], 404, None),
        ("resuscitation", [{"level": 1, "renewal_months": 12}], 422, "body.levels"),
        ("fire_safety", [{"level": 2, "renewal_months": 12}], 422, "body.levels[0].level"),
        ("fire_safety", [{"level": 1, "renewal_months": 0}], 422, "body.levels[0].renewal_months"),
    ],
)
async def test_bad_renewal_periods_are_refused(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    subject: str,
    levels: list[dict[str, int]],
    status: int,
    field: str | None,
) -> None:
    operator = await admin(session, app)
    response = await client.put(f"{API}/cstf-subjects/{subject}", json={"levels": levels}, headers=operator)
    assert response.status_code == status, response.text
    if field is not None:
        assert field in errors(response)
