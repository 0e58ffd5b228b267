"""The date to judge on (``evaluate_on``) is never before the day the request is made, in England
(decision 0040): on a past day a rule that reads only ``date_to`` or a review date would pass for a record
awarded since. Refused with a 422 naming the field at ``POST /api/v1/presentation-requests``, at
``POST /api/v1/verifications`` (ad hoc) and on the HR form, next to the field; nothing is written."""

import datetime as dt
import secrets
import uuid

import httpx
from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from service.passport.policy import day_in_england
from service.verification.models import PresentationRequest, Verification
from tests.verification.factories import API, Scene
from tests.verification.test_flow import answer, create_request
from tests.web.pages import count, field_error, sign_in


def today() -> dt.date:
    return day_in_england(dt.datetime.now(dt.UTC))


def body(**fields: object) -> dict[str, object]:
    return {"policy": "theatre-surgical-trainee", "purpose": "Theatre list starting Monday", **fields}


async def test_a_request_to_judge_on_a_past_day_is_refused_naming_evaluate_on(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    for day in (dt.date(1, 1, 1), today() - dt.timedelta(days=1)):
        refused = await client.post(
            f"{API}/presentation-requests", json=body(evaluate_on=day.isoformat()), headers=scene.verifier
        )
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["code"] == "evaluate_on_in_the_past"
        assert [e["field"] for e in problem["errors"]] == ["body.evaluate_on"]
        assert today().isoformat() in problem["errors"][0]["reason"]
    assert await count(session, PresentationRequest) == 0
    for day in (today(), today() + dt.timedelta(days=30)):
        created = await create_request(client, scene, evaluate_on=day.isoformat())
        assert created["evaluate_on"] == day.isoformat()


async def test_an_ad_hoc_verification_on_a_past_day_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    nonce = secrets.token_urlsafe(16)
    presentations = scene.present(nonce=nonce, aud=scene.verifier_id)
    past = body(presentations=presentations, nonce=nonce, evaluate_on="0001-01-01")
    refused = await client.post(f"{API}/verifications", json=past, headers=scene.verifier)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["body.evaluate_on"]
    assert await count(session, Verification) == 0
    # the nonce was not burnt: the same presentations judged today are valid
    ok = await client.post(
        f"{API}/verifications", json={**past, "evaluate_on": today().isoformat()}, headers=scene.verifier
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["verdict"] == "valid", ok.json()["summary"]


async def test_a_request_made_for_its_own_day_is_judged_on_that_day_when_answered_later(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    created = await create_request(client, scene, evaluate_on=today().isoformat())
    # as if made yesterday for yesterday: the rule holds when the request is made, not when answered
    yesterday = today() - dt.timedelta(days=1)
    await session.execute(
        update(PresentationRequest)
        .where(PresentationRequest.id == uuid.UUID(created["id"]))
        .values(evaluate_on=yesterday)
    )
    response = await answer(client, scene, created)
    assert response.status_code == 201, response.text
    assert response.json()["evaluated_on"] == yesterday.isoformat()


async def test_the_hr_form_shows_the_refusal_next_to_the_date_and_makes_no_request(
    app: Litestar, client: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    csrf = await sign_in(client, app, session, Role.VERIFIER, organisation=scene.tree.site)
    form = {
        "csrf_token": csrf,
        "policy": "theatre-surgical-trainee:1",
        "purpose": "Theatre list",
        "evaluate_on": (today() - dt.timedelta(days=1)).isoformat(),
    }
    refused = await client.post("/verify/requests", data=form)
    assert refused.status_code == 422
    assert field_error(refused.text, "evaluate_on") == (
        f"Enter today ({today().isoformat()}) or a later date: a day already past is not judged"
    )
    assert field_error(refused.text, "purpose") is None
    assert await count(session, PresentationRequest) == 0
    made = await client.post("/verify/requests", data={**form, "evaluate_on": today().isoformat()})
    assert made.status_code == 303, made.text
