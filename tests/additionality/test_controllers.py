"""The additionality API as its users see it: offers, activity, versions, checks, results and exports."""

import csv
import io
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality.models import Activity, Check, Offer, ParameterSet, RosterEntry, ShortageList
from service.audit import AuditEvent
from service.auth import Role
from service.workforce.models import Person
from tests.additionality.factories import England, count, create_england, create_person, employ, offer_body
from tests.factories import client_headers

API = "/api/v1/additionality"
Headers = dict[str, str]


@pytest.fixture
async def england(session: AsyncSession) -> England:
    return await create_england(session)


async def as_role(
    session: AsyncSession, app: Litestar, role: Role, organisation: str | None = None
) -> Headers:
    return await client_headers(session, app, role, organisation)


def errors(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return {e["field"]: e["reason"] for e in response.json().get("errors") or []}


async def nothing_written(session: AsyncSession) -> None:
    assert await count(session, Offer) == 0
    assert await count(session, RosterEntry) == 0


async def nurse_at(session: AsyncSession, trust: str, **kwargs: Any) -> Person:
    nurse = await create_person(session)
    await employ(session, nurse, trust, **kwargs)
    return nurse


# ---------------------------------------------------------------- offers


async def test_a_provider_submits_an_offer_with_its_roster(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    nurse = await nurse_at(session, england.trust)
    doctor = await create_person(session, group="medical", gmc=True)
    assert doctor.gmc_number is not None
    issuer = await as_role(session, app, Role.ISSUER, england.provider)
    roster = [
        {"person_id": str(nurse.id), "sessions": 2},
        {"gmc_number": doctor.gmc_number, "sessions": 4.5, "start_date": "2026-10-01"},
    ]
    response = await client.post(f"{API}/offers", json=offer_body(roster=roster), headers=issuer)
    assert response.status_code == 201, response.text
    offer = response.json()
    assert (offer["site_code"], offer["provider_code"], offer["commissioner_code"]) == ("NT301", "NT3", "QMM")
    assert offer["specialty"] == "ophthalmology"
    assert offer["latest_verdict"] is None
    entries = sorted((e["person_id"], e["sessions"], e["start_date"], e["end_date"]) for e in offer["roster"])
    assert entries == sorted(
        [
            (str(nurse.id), 2.0, "2026-04-01", "2027-03-31"),
            (str(doctor.id), 4.5, "2026-10-01", "2027-03-31"),
        ]
    )
    assert response.headers["cache-control"] == "no-store"
    again = await client.get(f"{API}/offers/{offer['id']}", headers=issuer)
    assert again.json() == offer
    event = await session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    assert event is not None
    assert event.subject == f"additionality_offer:{offer['id']}"


async def test_a_site_may_submit_its_own_offer_but_not_a_rivals(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    site = await as_role(session, app, Role.ISSUER, england.site)
    assert (await client.post(f"{API}/offers", json=offer_body(), headers=site)).status_code == 201
    rival = await as_role(session, app, Role.ISSUER, england.rival)
    refused = await client.post(f"{API}/offers", json=offer_body(reference="X-2"), headers=rival)
    assert refused.status_code == 403
    assert "NT301" in refused.json()["detail"]
    assert await count(session, Offer) == 1


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"start_date": "2027-04-01"}, "body.end_date", "the dates are reversed"),
        ({"start_date": "1999-04-01"}, "body.start_date", "must be between 2000-01-01 and 2099-12-31"),
        ({"site_code": "NX999"}, "body.site_code", "no organisation has the code NX999"),
        ({"site_code": "RRK"}, "body.site_code", "must be an independent site, but RRK is an NHS trust"),
        ({"commissioner_code": "RJ1"}, "body.commissioner_code", "must be an ICB, but RJ1 is an NHS trust"),
        ({"commissioner_code": "QZZ"}, "body.commissioner_code", "no organisation has the code QZZ"),
        ({"declared_training_placements": -1}, "body.declared_training_placements", ">= 0"),
        ({"sessions_per_week": 0}, "body.sessions_per_week", ">= 0.5"),
        ({"colour": "blue"}, "body.colour", "unknown field"),
    ],
)
async def test_a_bad_offer_is_refused_naming_the_field_and_nothing_is_written(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    england: England,
    changes: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    admin = await as_role(session, app, Role.ADMIN)
    response = await client.post(f"{API}/offers", json=offer_body(**changes), headers=admin)
    assert response.status_code == 422, response.text
    assert reason.lower() in errors(response)[field].lower()
    await nothing_written(session)


async def test_a_roster_naming_unknown_people_or_overlapping_itself_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    nurse = await nurse_at(session, england.trust)
    admin = await as_role(session, app, Role.ADMIN)
    unknown = uuid.uuid4()
    roster = [
        {"person_id": str(nurse.id), "sessions": 2, "end_date": "2026-09-30"},
        {"person_id": str(unknown), "sessions": 2},
        {"gmc_number": "7999999", "sessions": 2},
        {"person_id": str(nurse.id), "sessions": 3, "start_date": "2026-09-01"},  # overlaps entry 0
        {"person_id": str(nurse.id), "sessions": 1, "end_date": "2027-06-30"},  # beyond the offer
        {"person_id": str(nurse.id), "gmc_number": "7000001", "sessions": 1},
        {"sessions": 1},
    ]
    response = await client.post(f"{API}/offers", json=offer_body(roster=roster), headers=admin)
    assert response.status_code == 422, response.text
    found = errors(response)
    assert found["body.roster[1].person_id"] == f"no registered person has the id {unknown}"
    assert found["body.roster[2].gmc_number"] == "no registered person has the GMC number 7999999"
    assert found["body.roster[3].start_date"].startswith("overlaps roster[0] of the same person")
    assert found["body.roster[4].end_date"] == "must be within the offer, 2026-04-01 to 2027-03-31"
    assert found["body.roster[5].gmc_number"].startswith("must be empty when person_id is given")
    assert found["body.roster[6].person_id"].startswith("is required")
    await nothing_written(session)
    bad_sessions = await client.post(
        f"{API}/offers", json=offer_body(roster=[{"person_id": str(nurse.id), "sessions": -2}]), headers=admin
    )
    assert "body.roster[0].sessions" in errors(bad_sessions)
    await nothing_written(session)


async def test_a_person_may_be_rostered_twice_in_periods_that_do_not_overlap(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    nurse = await nurse_at(session, england.trust)
    admin = await as_role(session, app, Role.ADMIN)
    roster = [
        {"person_id": str(nurse.id), "sessions": 2, "end_date": "2026-09-30"},
        {"person_id": str(nurse.id), "sessions": 4, "start_date": "2026-10-01"},
    ]
    response = await client.post(f"{API}/offers", json=offer_body(roster=roster), headers=admin)
    assert response.status_code == 201, response.text
    assert len(response.json()["roster"]) == 2


async def test_the_same_reference_at_a_site_is_409(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await as_role(session, app, Role.ADMIN)
    assert (await client.post(f"{API}/offers", json=offer_body(), headers=admin)).status_code == 201
    again = await client.post(f"{API}/offers", json=offer_body(), headers=admin)
    assert again.status_code == 409
    assert errors(again) == {
        "body.reference": "an offer with the reference OPH-2026-1 already exists at NT301"
    }
    elsewhere = await client.post(f"{API}/offers", json=offer_body(site="NT302"), headers=admin)
    assert elsewhere.status_code == 201


async def test_offers_are_listed_by_year_and_an_issuer_sees_only_its_own(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await as_role(session, app, Role.ADMIN)
    for body in (
        offer_body(),
        offer_body(reference="NEXT", start_date="2027-04-01", end_date="2027-09-30"),
        offer_body(site="NT901", reference="RIVAL"),
    ):
        assert (await client.post(f"{API}/offers", json=body, headers=admin)).status_code == 201
    analyst = await as_role(session, app, Role.ANALYST, england.provider)
    year = (await client.get(f"{API}/offers", params={"year": 2026}, headers=analyst)).json()
    assert sorted(o["reference"] for o in year["items"]) == ["OPH-2026-1", "RIVAL"]
    rival = await as_role(session, app, Role.ISSUER, england.rival)
    own = (await client.get(f"{API}/offers", headers=rival)).json()
    assert [o["reference"] for o in own["items"]] == ["RIVAL"]
    other = next(o for o in year["items"] if o["reference"] == "OPH-2026-1")
    assert (await client.get(f"{API}/offers/{other['id']}", headers=rival)).status_code == 404
    bad = await client.get(f"{API}/offers", params={"year": 1999}, headers=analyst)
    assert bad.status_code == 422
    assert any(field.endswith(".year") for field in errors(bad))


# ---------------------------------------------------------------- activity


def activity_rows(*rows: tuple[str, str, str, str, int]) -> dict[str, Any]:
    return {
        "rows": [
            {"provider_code": p, "commissioner_code": c, "specialty": s, "month": m, "activity": a}
            for p, c, s, m, a in rows
        ]
    }


async def test_activity_is_recorded_once_and_revised_only_with_replace(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await as_role(session, app, Role.ADMIN)
    body = activity_rows(
        ("RRK", "QMM", "Ophthalmology", "2025-04", 120), ("NT301", "QMM", "ophthalmology", "2025-04", 30)
    )
    first = await client.post(f"{API}/activity", json=body, headers=admin)
    assert first.status_code == 201, first.text
    assert (first.json()["created"], first.json()["replaced"]) == (2, 0)
    sectors = dict((await session.execute(select(Activity.provider_code, Activity.sector))).all())
    assert sectors == {"RRK": "nhs", "NT301": "independent"}
    again = await client.post(f"{API}/activity", json=body, headers=admin)
    assert again.status_code == 422
    assert "send it with replace" in errors(again)["body.rows[0].month"]
    revised = await client.post(f"{API}/activity", json={**body, "replace": True}, headers=admin)
    assert (revised.json()["created"], revised.json()["replaced"]) == (0, 2)
    assert await count(session, Activity) == 2


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        (("RRK", "QMM", "ent", "2099-01", 5), "body.rows[0].month", "is in the future"),
        (("RRK", "QMM", "ent", "1999-12", 5), "body.rows[0].month", "must be in 2000 or later"),
        (("RRK", "QMM", "ent", "0000-01", 5), "body.rows[0].month", "must be in 2000 or later, not 0"),
        (("RRK", "QMM", "ent", "2025-13", 5), "body.rows[0].month", "must be a month as YYYY-MM"),
        (("RRK", "QMM", "ent", "2025-04", -5), "body.rows[0].activity", ">= 0"),
        (
            ("RZZ", "QMM", "ent", "2025-04", 5),
            "body.rows[0].provider_code",
            "no organisation has the code RZZ",
        ),
        (("QOP", "QMM", "ent", "2025-04", 5), "body.rows[0].provider_code", "but QOP is an ICB"),
        (("RRK", "RJ1", "ent", "2025-04", 5), "body.rows[0].commissioner_code", "must be an ICB"),
    ],
)
async def test_bad_activity_is_refused_naming_the_row_and_nothing_is_written(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    england: England,
    row: tuple[str, str, str, str, int],
    field: str,
    reason: str,
) -> None:
    admin = await as_role(session, app, Role.ADMIN)
    good = ("RJ1", "QMM", "ent", "2025-05", 7)
    response = await client.post(f"{API}/activity", json=activity_rows(good, row), headers=admin)
    assert response.status_code == 422, response.text
    assert reason in errors(response)[field.replace("rows[0]", "rows[1]")]
    assert await count(session, Activity) == 0


async def test_repeated_activity_rows_in_one_body_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await as_role(session, app, Role.ADMIN)
    row = ("RRK", "QMM", "ent", "2025-04", 5)
    response = await client.post(f"{API}/activity", json=activity_rows(row, row), headers=admin)
    assert errors(response) == {
        "body.rows[1].month": "repeats the provider, commissioner, specialty and month of rows[0]"
    }


async def test_an_issuer_records_activity_only_for_its_own_organisation(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    trust = await as_role(session, app, Role.ISSUER, england.trust)
    own = activity_rows(("RRK", "QMM", "ent", "2025-04", 5))
    assert (await client.post(f"{API}/activity", json=own, headers=trust)).status_code == 201
    other = await client.post(
        f"{API}/activity", json=activity_rows(("RJ1", "QMM", "ent", "2025-04", 5)), headers=trust
    )
    assert other.status_code == 403
    assert "body.rows[0].provider_code" in errors(other)
    provider = await as_role(session, app, Role.ISSUER, england.provider)
    site = activity_rows(("NT301", "QMM", "ent", "2025-04", 5))
    assert (await client.post(f"{API}/activity", json=site, headers=provider)).status_code == 201
    assert await count(session, Activity) == 2


# ---------------------------------------------------------------- shortage lists and parameters


async def test_shortage_lists_are_versioned_and_read_by_providers(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await as_role(session, app, Role.ADMIN)
    v1 = {"effective_from": "2020-01-01", "roles": [{"staff_group": "nursing"}], "note": "first"}
    v2 = {
        "effective_from": "2027-01-01",
        "roles": [{"staff_group": "nursing"}, {"staff_group": "medical", "specialty": "Anaesthetics"}],
    }
    first = await client.post(f"{API}/shortage-lists", json=v1, headers=admin)
    second = await client.post(f"{API}/shortage-lists", json=v2, headers=admin)
    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    assert second.json()["roles"] == [
        {"staff_group": "medical", "specialty": "anaesthetics"},
        {"staff_group": "nursing", "specialty": None},
    ]
    issuer = await as_role(session, app, Role.ISSUER, england.provider)
    listed = (await client.get(f"{API}/shortage-lists", headers=issuer)).json()["items"]
    assert [x["version"] for x in listed] == [1, 2]
    assert (await client.get(f"{API}/shortage-lists/1", headers=issuer)).json()["note"] == "first"
    assert (await client.get(f"{API}/shortage-lists/9", headers=issuer)).status_code == 404
    repeated = {
        "effective_from": "2020-01-01",
        "roles": [{"staff_group": "nursing"}, {"staff_group": "nursing"}],
    }
    refused = await client.post(f"{API}/shortage-lists", json=repeated, headers=admin)
    assert errors(refused) == {"body.roles[1].specialty": "repeats the role of roles[0]"}
    wrong_year = await client.post(
        f"{API}/shortage-lists", json={**v1, "effective_from": "1850-01-01"}, headers=admin
    )
    assert "body.effective_from" in errors(wrong_year)
    assert await count(session, ShortageList) == 2


async def test_an_admin_makes_a_new_parameter_version_from_the_changes_only(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    analyst = await as_role(session, app, Role.ANALYST, england.provider)
    (v1,) = (await client.get(f"{API}/parameters", headers=analyst)).json()["items"]
    assert (v1["version"], v1["current"]) == (1, True)
    assert v1["parameters"]["cooling_off"]["months"] == 6
    admin = await as_role(session, app, Role.ADMIN)
    body = {"parameters": {"cooling_off": {"months": 9}}, "note": "ICB request"}
    created = await client.post(f"{API}/parameters", json=body, headers=admin)
    assert created.status_code == 201, created.text
    v2 = created.json()
    assert (v2["version"], v2["current"], v2["note"]) == (2, True, "ICB request")
    assert v2["parameters"]["cooling_off"] == {**v1["parameters"]["cooling_off"], "months": 9}
    assert v2["parameters"]["local_draw"] == v1["parameters"]["local_draw"]
    old = (await client.get(f"{API}/parameters/1", headers=analyst)).json()
    assert (old["current"], old["parameters"]["cooling_off"]["months"]) == (False, 6)
    assert (await client.get(f"{API}/parameters/99", headers=analyst)).status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cooling_off": {"weeks": 9}}, "body.parameters.cooling_off.weeks"),
        ({"cooling_off": {"months": -1}}, "body.parameters.cooling_off.months"),
        ({"dual_running": {"fail_above_share": 1.5}}, "body.parameters.dual_running.fail_above_share"),
        (
            {"local_draw": {"sessions_fail_above_share": 0.05}},
            "body.parameters.local_draw.sessions_fail_above_share",
        ),
        ({"activity": 3}, "body.parameters.activity"),
        ({"bonus": {}}, "body.parameters.bonus"),
        ({"cooling_off": {"months": 6}}, "body.parameters"),
    ],
)
async def test_bad_parameter_changes_are_refused_naming_the_parameter(
    client: httpx.AsyncClient,
    session: AsyncSession,
    app: Litestar,
    england: England,
    changes: dict[str, Any],
    field: str,
) -> None:
    admin = await as_role(session, app, Role.ADMIN)
    response = await client.post(f"{API}/parameters", json={"parameters": changes}, headers=admin)
    assert response.status_code == 422, response.text
    assert field in errors(response)
    assert await count(session, ParameterSet) == 1


# ---------------------------------------------------------------- checks


async def _offer_with_dual_running(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, e: England
) -> str:
    """An offer at NT301 rostering a full-time NHS nurse of RRK for 2 sessions: fails dual running."""
    nurse = await nurse_at(session, e.trust)
    admin = await as_role(session, app, Role.ADMIN)
    body = offer_body(roster=[{"person_id": str(nurse.id), "sessions": 2}], declared_training_placements=1)
    created = await client.post(f"{API}/offers", json=body, headers=admin)
    assert created.status_code == 201, created.text
    offer_id: str = created.json()["id"]
    return offer_id


async def test_a_coordinator_checks_an_offer_and_the_provider_reads_the_result(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    offer_id = await _offer_with_dual_running(client, session, app, england)
    coordinator = await as_role(session, app, Role.COORDINATOR, england.region)
    checked = await client.post(f"{API}/offers/{offer_id}/checks", headers=coordinator)
    assert checked.status_code == 201, checked.text
    result = checked.json()
    assert (result["verdict"], result["parameters_version"], result["shortage_list_version"]) == (
        "fail",
        1,
        None,
    )
    verdicts = {r["rule"]: r["verdict"] for r in result["results"]}
    assert verdicts == {
        "cooling_off": "warn",  # no shortage list yet
        "dual_running": "fail",
        "local_draw": "fail",  # the nurse's employer is in the site's ICB: all the sessions
        "training_reciprocity": "warn",  # no placement published at the site (it declared 1: not counted)
        "activity": "warn",  # no activity recorded
    }
    dual = next(r for r in result["results"] if r["rule"] == "dual_running")
    assert dual["evidence"][0]["organisation_code"] == "RRK"
    assert len(result["input_hash"]) == 64
    stored = await session.scalar(select(Check).where(Check.id == result["id"]))
    assert stored is not None
    assert stored.input_hash == result["input_hash"]
    provider = await as_role(session, app, Role.ISSUER, england.provider)
    assert (await client.get(f"{API}/checks/{result['id']}", headers=provider)).json() == result
    history = (await client.get(f"{API}/offers/{offer_id}/checks", headers=provider)).json()["items"]
    assert [c["id"] for c in history] == [result["id"]]
    offer = (await client.get(f"{API}/offers/{offer_id}", headers=provider)).json()
    assert (offer["latest_check_id"], offer["latest_verdict"]) == (result["id"], "fail")
    rival = await as_role(session, app, Role.ISSUER, england.rival)
    assert (await client.get(f"{API}/checks/{result['id']}", headers=rival)).status_code == 404
    assert (await client.get(f"{API}/checks/999999", headers=provider)).status_code == 404
    assert (await client.post(f"{API}/offers/{uuid.uuid4()}/checks", headers=coordinator)).status_code == 404


async def test_checking_a_year_checks_every_offer_overlapping_it(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    await _offer_with_dual_running(client, session, app, england)
    admin = await as_role(session, app, Role.ADMIN)
    late = offer_body(reference="LATE", start_date="2027-02-01", end_date="2027-12-31")
    future = offer_body(reference="FUTURE", start_date="2027-04-01", end_date="2027-12-31")
    for body in (late, future):
        assert (await client.post(f"{API}/offers", json=body, headers=admin)).status_code == 201
    analyst = await as_role(session, app, Role.ANALYST, england.provider)
    run = await client.post(f"{API}/checks", json={"financial_year": 2026}, headers=analyst)
    assert run.status_code == 201, run.text
    found = run.json()
    assert found["offers"] == 2
    assert found["verdicts"] == {"pass": 0, "warn": 1, "fail": 1}
    assert all(c["site_code"] == "NT301" for c in found["checks"])
    wrong = await client.post(f"{API}/checks", json={"financial_year": 1999}, headers=analyst)
    assert wrong.status_code == 422
    assert "body.financial_year" in errors(wrong)


async def test_a_check_is_reproduced_from_what_it_stored_even_after_the_data_changes(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    offer_id = await _offer_with_dual_running(client, session, app, england)
    admin = await as_role(session, app, Role.ADMIN)
    check = (await client.post(f"{API}/offers/{offer_id}/checks", headers=admin)).json()
    same = (await client.get(f"{API}/checks/{check['id']}/reproduction", headers=admin)).json()
    assert (same["reproduced"], same["stored_inputs_hash_ok"], same["inputs_changed"]) == (True, True, False)
    assert same["differences"] == []
    # A shortage list is published and the parameters change.
    await client.post(
        f"{API}/shortage-lists",
        json={"effective_from": "2020-01-01", "roles": [{"staff_group": "nursing"}]},
        headers=admin,
    )
    await client.post(
        f"{API}/parameters",
        json={"parameters": {"dual_running": {"standard_week_sessions": 12}}},
        headers=admin,
    )
    later = (await client.get(f"{API}/checks/{check['id']}/reproduction", headers=admin)).json()
    assert later["reproduced"] is True  # the stored inputs and version 1 still give the stored verdicts
    assert later["inputs_changed"] is True  # a shortage list now applies
    assert later["today_with_stored_parameters"]["rule_verdicts"]["cooling_off"] == "pass"
    assert later["today_with_stored_parameters"]["rule_verdicts"]["dual_running"] == "fail"
    assert later["today_with_current_parameters"]["parameters_version"] == 2
    assert (
        later["today_with_current_parameters"]["rule_verdicts"]["dual_running"] == "pass"
    )  # 10 + 2 fits in 12
    issuer = await as_role(session, app, Role.ISSUER, england.provider)
    assert (await client.get(f"{API}/checks/{check['id']}/reproduction", headers=issuer)).status_code == 200


async def test_a_tampered_stored_check_is_not_reproduced(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    offer_id = await _offer_with_dual_running(client, session, app, england)
    admin = await as_role(session, app, Role.ADMIN)
    check = (await client.post(f"{API}/offers/{offer_id}/checks", headers=admin)).json()
    stored = await session.get(Check, check["id"])
    assert stored is not None
    stored.inputs = stored.inputs.replace('"sessions":2.0', '"sessions":0.5')
    await session.commit()
    found = (await client.get(f"{API}/checks/{check['id']}/reproduction", headers=admin)).json()
    assert found["stored_inputs_hash_ok"] is False
    assert found["reproduced"] is False
    assert found["differences"]


# ---------------------------------------------------------------- summary and exports


async def _checked_year(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, e: England
) -> Headers:
    await _offer_with_dual_running(client, session, app, e)
    admin = await as_role(session, app, Role.ADMIN)
    clean = offer_body(site="NT302", reference='=HYPERLINK("http://x")', specialty="ent")
    assert (await client.post(f"{API}/offers", json=clean, headers=admin)).status_code == 201
    unchecked = offer_body(site="NT901", reference="<b>bold</b>")
    assert (await client.post(f"{API}/offers", json=unchecked, headers=admin)).status_code == 201
    assert (
        await client.post(f"{API}/checks", json={"financial_year": 2026}, headers=admin)
    ).status_code == 201
    assert (
        await client.post(f"{API}/offers", json=offer_body(site="NT901", reference="NEW"), headers=admin)
    ).status_code == 201
    return await as_role(session, app, Role.ANALYST, e.provider)


async def test_the_summary_counts_offers_and_latest_verdicts_per_icb(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    analyst = await _checked_year(client, session, app, england)
    summary = (await client.get(f"{API}/summary", params={"year": 2026}, headers=analyst)).json()
    by_icb = {icb["commissioner_code"]: icb for icb in summary["icbs"]}
    assert set(by_icb) == {"QMM", "QOP"}
    qmm = by_icb["QMM"]
    assert (qmm["offers"], qmm["checked"], qmm["verdicts"]) == (3, 2, {"pass": 0, "warn": 1, "fail": 1})
    assert qmm["rules"]["dual_running"] == {"pass": 1, "warn": 0, "fail": 1}
    assert qmm["commissioner_name"] == "Test icb QMM"
    assert qmm["sessions_per_week"] == 30
    assert summary["totals"]["offers"] == 4
    assert summary["totals"]["checked"] == 3
    missing = await client.get(f"{API}/summary", headers=analyst)
    assert missing.status_code in (400, 422)


async def test_the_csv_export_has_a_row_per_offer_and_rule_and_per_evidence_row(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    analyst = await _checked_year(client, session, app, england)
    results = await client.get(f"{API}/export.csv", params={"year": 2026}, headers=analyst)
    assert results.status_code == 200
    assert results.headers["content-type"] == "text/csv; charset=utf-8"  # one charset, not two
    assert "attachment" in results.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(results.text)))
    checked = [r for r in rows if r["check_id"]]
    assert len(checked) == 3 * 5
    assert len([r for r in rows if not r["check_id"]]) == 1
    assert {r["offer_verdict"] for r in rows} == {"fail", "warn", "not checked"}
    assert '\'=HYPERLINK("http://x")' in {r["reference"] for r in rows}  # not a formula in a spreadsheet
    evidence = await client.get(
        f"{API}/export.csv", params={"year": 2026, "level": "evidence"}, headers=analyst
    )
    evidence_rows = list(csv.DictReader(io.StringIO(evidence.text)))
    assert {"overlap", "local_person", "employer_draw", "placements_hosted"} <= {
        r["kind"] for r in evidence_rows
    }
    overlap = next(r for r in evidence_rows if r["kind"] == "overlap")
    assert (overlap["organisation_code"], overlap["rule_verdict"]) == ("RRK", "fail")
    bad = await client.get(f"{API}/export.csv", params={"year": 2026, "level": "everything"}, headers=analyst)
    assert bad.status_code in (400, 422)


async def test_the_html_report_is_self_contained(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    analyst = await _checked_year(client, session, app, england)
    response = await client.get(f"{API}/report.html", params={"year": 2026}, headers=analyst)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-")
    html = response.text
    for external in ("<script", "<link", "src=", "href=", "url(", "@import", "http://", "https://"):
        assert external not in html.replace("=HYPERLINK(&#34;http://x&#34;)", ""), external
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>bold</b>" not in html
    assert "<svg" in html
    assert "financial year 2026-27" in html
    assert "NT301" in html


async def test_an_empty_year_still_exports(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    analyst = await as_role(session, app, Role.ANALYST, england.provider)
    html = await client.get(f"{API}/report.html", params={"year": 2040}, headers=analyst)
    assert "No offers overlap this financial year." in html.text
    exported = await client.get(f"{API}/export.csv", params={"year": 2040}, headers=analyst)
    assert exported.text.splitlines() == [exported.text.splitlines()[0]]
    run = await client.post(f"{API}/checks", json={"financial_year": 2040}, headers=analyst)
    assert run.json()["offers"] == 0


async def test_specialties_keep_their_length_when_put_in_lower_case(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, england: England
) -> None:
    admin = await as_role(session, app, Role.ADMIN)
    specialty = "İ" * 60  # "İ".lower() is two characters: the column holds 60
    response = await client.post(f"{API}/offers", json=offer_body(specialty=specialty), headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["specialty"] == specialty
    mixed = await client.post(
        f"{API}/offers", json=offer_body(reference="B", specialty="Trauma_And_Ortho"), headers=admin
    )
    assert mixed.json()["specialty"] == "trauma_and_ortho"
