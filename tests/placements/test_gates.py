"""The seams of a match run with the other domains, end to end over HTTP on SQLite and PostgreSQL:
the additionality gate (failed checks exclude sites), the passport gate (policies exclude trainees from
sites), and publishing into the passport (training placement records, the change feed, all or nothing)."""

import datetime as dt
import hashlib
import uuid
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import service as additionality
from service.additionality.schemas import OfferCreate, RosterEntryCreate
from service.auth import Principal, Role
from service.passport import service as passport
from service.passport.encryption import DataKeyRing
from service.passport.schemas import CoreSkillCreate, PolicyCreate
from service.placements import csv_import
from service.placements.csv_import import Table
from service.placements.gates import fit
from service.placements.models import PlacementRecord, Run
from service.workforce.models import Person
from tests.additionality.factories import create_person, employ
from tests.factories import client_headers
from tests.placements.factories import coordinator, create_world, load_example

ADMIN = Principal(subject="test admin", kind="client", role=Role.ADMIN, organisation=None)
ISSUER = Principal(subject="test issuer", kind="client", role=Role.ISSUER, organisation="RRK")
NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
AUGUST = "2027-08-04"
ASSURANCE: dict[str, Any] = {
    "assurance_policy": "CSTF attainment",
    "assurance_outcome": "verified",
    "verification_method": "source_system",
}


async def _run(
    client: httpx.AsyncClient, dataset: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(f"/api/v1/placements/datasets/{dataset}/runs", json=body, headers=headers)


# ---------------------------------------------------------------- additionality


async def _failing_offer(
    session: AsyncSession, site: str, start: dt.date, end: dt.date
) -> tuple[uuid.UUID, int]:
    """An offer at ``site`` rostering a full-time nurse of RRK (the site's ICB): dual running and local
    draw fail. Returns the offer and its check."""
    nurse = await create_person(session)
    await employ(session, nurse, "RRK", start=dt.date(2020, 1, 1))
    created = await additionality.create_offer(
        session,
        ADMIN,
        OfferCreate(
            reference="ORTHO-1",
            site_code=site,
            specialty="trauma_and_orthopaedics",
            sessions_per_week=10,
            start_date=start,
            end_date=end,
            roster=[RosterEntryCreate(person_id=nurse.id, sessions=4)],
        ),
        NOW,
    )
    checked = await additionality.check_offer(session, ADMIN, created.id, NOW)
    assert checked.verdict == "fail"
    return created.id, checked.id


async def test_a_site_whose_additionality_check_failed_is_excluded_with_the_check_named(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    offer, check = await _failing_offer(session, "NT301", dt.date(2027, 4, 1), dt.date(2028, 3, 31))

    gated = await _run(client, dataset, headers, start_date=AUGUST)
    assert gated.status_code == 201, gated.text
    body = gated.json()
    reason = (
        f"additionality check {check} failed (dual running, local draw) for offer {offer}, "
        "2027-04-01 to 2028-03-31"
    )
    assert body["summary"]["exclusions"]["sites"] == [
        {"site_code": "NT301", "reason": reason, "trainees_affected": 4}
    ]
    assert body["gates"] == {
        "additionality": True,
        "failed_checks": [check],
        "passport": [],
        "sites_without_policy": [],
    }
    result = (await client.get(f"/api/v1/placements/runs/{body['id']}", headers=headers)).json()
    assert all(p["site_code"] != "NT301" for p in result["placements"])
    # the run's gate file is its summary's exclusions (so the run reproduces from files)
    rows = [(e["site_code"], e["reason"]) for e in body["summary"]["exclusions"]["sites"]]
    gate = Table({"site_code": [r[0] for r in rows], "reason": [r[1] for r in rows]}, [2])
    written = csv_import.write_file("excluded_sites.csv", gate)
    assert hashlib.sha256(written).hexdigest() == body["summary"]["inputs"]["excluded_sites.csv"]

    later = await _run(client, dataset, headers, start_date="2028-08-02")  # the offer is over by then
    assert later.json()["summary"]["exclusions"]["sites"] == []
    off = await _run(client, dataset, headers, start_date=AUGUST, additionality_gate=False)
    assert off.json()["summary"]["exclusions"]["sites"] == []
    assert off.json()["gates"]["additionality"] is False
    by_hand = await _run(
        client,
        dataset,
        headers,
        start_date=AUGUST,
        excluded_sites=[{"site_code": "nt301", "reason": "capacity withdrawn"}],
    )
    assert by_hand.json()["summary"]["exclusions"]["sites"][0]["reason"] == f"capacity withdrawn; {reason}"


async def test_a_gated_run_is_published_only_for_the_dates_its_gates_were_evaluated_for(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    run = (await _run(client, dataset, headers, start_date=AUGUST)).json()
    publish = f"/api/v1/placements/runs/{run['id']}/publish"
    moved = await client.post(publish, json={"start_date": "2027-10-06"}, headers=headers)
    assert moved.status_code == 409
    assert moved.json()["errors"] == [{"field": "body.start_date", "reason": f"must be {AUGUST} (the run's)"}]
    longer = await client.post(publish, json={"end_date": "2028-08-01"}, headers=headers)
    assert longer.status_code == 409
    assert await session.scalar(select(func.count()).select_from(PlacementRecord)) == 0
    ungated = (await _run(client, dataset, headers, start_date=AUGUST, additionality_gate=False)).json()
    anywhen = await client.post(
        f"/api/v1/placements/runs/{ungated['id']}/publish", json={"start_date": "2027-10-06"}, headers=headers
    )
    assert anywhen.status_code == 201, anywhen.text


# ---------------------------------------------------------------- passport


async def _policy(session: AsyncSession, organisation: str, name: str, rules: list[dict[str, Any]]) -> None:
    data = msgspec.convert(
        {
            "organisation_code": organisation,
            "name": name,
            "title": f"{name} policy",
            "role": "trainee",
            "rules": rules,
        },
        PolicyCreate,
    )
    await passport.create_policy(session, ADMIN, data, NOW)


async def _fire_safety(session: AsyncSession, number: str, date_to: dt.date) -> None:
    record = CoreSkillCreate(
        gmc_number=number,
        subject="fire_safety",
        date_awarded=dt.date(2026, 1, 5),
        date_to=date_to,
        learning_provider="e-Learning for Healthcare",
        learning_method="e_learning",
        **ASSURANCE,
    )
    await passport.submit(session, ISSUER, [record], now=NOW, keys=DataKeyRing({}, None))


FIRE_AND_GRADE: list[dict[str, Any]] = [
    {"type": "core_skills", "subjects": [{"subject": "fire_safety"}]},
    {"type": "training_placement", "grades": ["ST3", "ST4", "ST5", "ST6", "ST7", "ST8"]},
]


async def test_trainees_whose_passport_does_not_meet_the_sites_policy_are_excluded_with_its_reasons(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    await _policy(session, "NT301", "theatre", FIRE_AND_GRADE)
    await _policy(
        session, "NT3", "theatre", [{"type": "core_skills", "subjects": [{"subject": "fire_safety"}]}]
    )
    for number in ("7100001", "7100002", "7100003", "7100006"):
        await _fire_safety(session, number, dt.date(2028, 6, 1))
    await _fire_safety(session, "7100005", dt.date(2027, 6, 1))  # lapses before the rotation starts

    response = await _run(client, dataset, headers, start_date=AUGUST, passport_policy="theatre")
    assert response.status_code == 201, response.text
    body = response.json()
    applied = {
        (p["site_code"], p["organisation_code"], p["name"], p["version"]) for p in body["gates"]["passport"]
    }
    assert applied == {
        ("NT301", "NT301", "theatre", 1),
        ("NT402", "NT3", "theatre", 1),
    }  # NT402: its provider's
    assert body["gates"]["sites_without_policy"] == ["NVC11"]
    excluded = {
        (e["trainee_id"], e["site_code"]): e["reason"] for e in body["summary"]["exclusions"]["trainee_sites"]
    }
    head = f"passport does not meet {{}}'s policy theatre v1 on {AUGUST}: "
    assert excluded == {
        # the placement the match would give a CT2 trainee breaks the site's grade rule
        ("7100003", "NT301"): head.format("NT301")
        + "The placement at NT301 is at grade CT2, not ST3 or ST4 or ST5 or ST6 or ST7 or ST8",
        ("7100005", "NT301"): head.format("NT301") + "Fire safety expires on 2027-06-01, before 2027-08-04",
        ("7100005", "NT402"): head.format("NT3") + "Fire safety expires on 2027-06-01, before 2027-08-04",
    }
    result = (await client.get(f"/api/v1/placements/runs/{body['id']}", headers=headers)).json()
    placed = {p["trainee_id"]: p["site_code"] for p in result["placements"]}
    assert "7100005" not in placed  # excluded from both sites that could take them
    assert placed.get("7100003") != "NT301"
    assert "7100004" in placed  # ophthalmology at NVC11, which has no policy of that name


async def test_a_trainee_with_no_passport_records_fails_every_rule(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    await _policy(session, "NVC11", "eye", [{"type": "identity_link"}])
    body = (
        await _run(
            client,
            dataset,
            headers,
            start_date=AUGUST,
            site_policies=[{"site_code": "NVC11", "policy": "eye"}],
        )
    ).json()
    assert body["summary"]["exclusions"]["trainee_sites"] == [
        {
            "trainee_id": "7100004",
            "site_code": "NVC11",
            "reason": f"passport does not meet NVC11's policy eye v1 on {AUGUST}: "
            "Identity link not disclosed",
            "was_eligible": True,
        }
    ]
    assert body["gates"]["sites_without_policy"] == []


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (
            {"passport_policy": "nobody-has-it"},
            "body.passport_policy",
            "no site of the dataset has a policy named nobody-has-it",
        ),
        (
            {"site_policies": [{"site_code": "NT402", "policy": "eye"}]},
            "body.site_policies[0].policy",
            "neither NT402 nor its provider has a policy named eye",
        ),
        (
            {"site_policies": [{"site_code": "RRK", "policy": "eye"}]},
            "body.site_policies[0].site_code",
            "RRK is not a site of the dataset",
        ),
        ({"passport_policy": "Not A Name"}, "body.passport_policy", None),
    ],
)
async def test_policies_that_do_not_exist_are_refused_and_nothing_is_stored(
    session: AsyncSession,
    app: Litestar,
    client: httpx.AsyncClient,
    body: dict[str, Any],
    field: str,
    reason: str | None,
) -> None:
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    await _policy(session, "NVC11", "eye", [{"type": "identity_link"}])
    refused = await _run(client, dataset, headers, start_date=AUGUST, **body)
    assert refused.status_code == 422, refused.text
    errors = {e["field"]: e["reason"] for e in refused.json()["errors"]}
    assert field in errors
    if reason is not None:
        assert errors[field] == reason
    assert await session.scalar(select(func.count()).select_from(Run)) == 0


def test_reasons_are_cut_to_fit_the_gate_files_and_say_how_many_were_left_out() -> None:
    assert fit(["a", "b"]) == "a; b"
    assert fit(["x" * 300, "y" * 300, "z"]) == "x" * 300 + "; and 2 more"
    assert len(fit(["w" * 900])) == 500


# ---------------------------------------------------------------- publishing into the passport


async def test_publishing_makes_each_placement_a_passport_record_of_the_training_office(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    ids = await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    cursor = await passport.feed_position(session)
    run = (await _run(client, dataset, headers, start_date=AUGUST)).json()
    published = await client.post(f"/api/v1/placements/runs/{run['id']}/publish", json={}, headers=headers)
    assert published.status_code == 201, published.text
    assert published.json()["passport_records"] == 5

    changes = await passport.changes_since(session, cursor)
    assert {(c.person_id, c.kind) for c in changes.affected} == {
        (ids[n], "training_placement") for n in ("7100001", "7100002", "7100003", "7100004", "7100005")
    }
    claims = await passport.credential_claims(
        session,
        [ids["7100004"]],
        "training_placement",
        on=dt.date(2027, 8, 4),
        base_url="http://testserver.local",
        keys=DataKeyRing({}, None),
    )
    claim_set = claims[ids["7100004"]]
    assert claim_set is not None
    [placement] = claim_set.claims["placements"]
    assurance = placement.pop("assurance")
    assert placement == {
        "programme": "Ophthalmology training",
        "specialty": "ophthalmology",
        "grade": "ST5",
        "employing_body": "NV1",  # no employment registered: the site's provider
        "employing_body_name": "Clearview Eye Care",
        "site": "NVC11",
        "site_name": "Clearview Stratford Eye Centre",
        "start_date": "2027-08-04",
        "end_date": "2028-02-03",
    }
    assert (assurance["origin"], assurance["outcome"], assurance["verification_method"]) == (
        "Y56",
        "verified",
        "source_system",
    )
    assert assurance["policy"].startswith(f"Placement match run {run['id']}, published ")


async def _person(session: AsyncSession, person_id: uuid.UUID) -> Person:
    found = await session.get(Person, person_id)
    assert found is not None
    return found


async def test_the_employing_body_is_the_trainees_employer_on_the_first_day(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    ids = await create_world(session)
    doctor = await _person(session, ids["7100002"])
    await employ(session, doctor, "RJ1", start=dt.date(2024, 8, 7), end=dt.date(2026, 8, 4))
    await employ(session, doctor, "RRK", start=dt.date(2026, 8, 5))
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    run = (await _run(client, dataset, headers, start_date=AUGUST)).json()
    assert (
        await client.post(f"/api/v1/placements/runs/{run['id']}/publish", json={}, headers=headers)
    ).status_code == 201
    records = await passport.holder_records(
        session, [ids["7100002"]], ["training_placement"], DataKeyRing({}, None)
    )
    [record] = records[ids["7100002"]]
    assert (record.employing_body_code, record.site_code, record.grade) == ("RRK", "NT301", "ST6")  # type: ignore[union-attr]


async def test_a_run_that_cannot_become_passport_records_publishes_nothing(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    """A dataset an admin made belongs to no training office: its records would have no origin."""
    await create_world(session)
    admin = await client_headers(session, app, Role.ADMIN, None)
    dataset = await load_example(client, admin)
    run = (await _run(client, dataset, admin, start_date=AUGUST)).json()
    refused = await client.post(f"/api/v1/placements/runs/{run['id']}/publish", json={}, headers=admin)
    assert refused.status_code == 409
    assert "no origin organisation in the passport" in refused.json()["detail"]
    assert await session.scalar(select(func.count()).select_from(PlacementRecord)) == 0
    stored = await session.get(Run, uuid.UUID(run["id"]))
    assert stored is not None
    await session.refresh(stored)
    assert stored.published_at is None
