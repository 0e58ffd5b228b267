"""The organisation's presentation requests (``GET /api/v1/presentation-requests``): newest first, state,
policy, purpose, verdict and the names of the claims disclosed, filtered by day and verdict, paged; only
the caller's organisation's."""

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from service import auth
from service.verification.models import PresentationRequest
from tests.factories import client_headers
from tests.verification.factories import API, Scene
from tests.verification.test_flow import answer, create_request


async def _listed(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> httpx.Response:
    return await client.get(f"{API}/presentation-requests", params=params, headers=headers)


async def test_the_list_shows_the_organisations_requests_newest_first_with_verdict_and_claim_names(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    first = await create_request(client, scene, purpose="First check")
    assert (await answer(client, scene, first)).status_code == 201
    second = await create_request(client, scene, purpose="Second check")
    assert (await answer(client, scene, second, kinds=("core_skills",))).status_code == 201
    colleague = await client.post(
        f"{API}/presentation-requests",
        json={"policy": "theatre-surgical-trainee", "purpose": "A colleague's check"},
        headers=scene.other_verifier,
    )
    assert colleague.status_code == 201

    page = await _listed(client, scene.verifier)
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    items = page.json()["items"]
    assert [i["id"] for i in items] == [colleague.json()["id"], second["id"], first["id"]]
    assert [i["state"] for i in items] == ["pending", "answered", "answered"]
    assert [i["verdict"] for i in items] == [None, "not_compliant", "valid"]
    assert items[0]["verifier"] != items[1]["verifier"]  # the whole organisation's, by whoever made them
    assert items[2]["policy"]["name"] == "theatre-surgical-trainee"
    assert items[2]["purpose"] == "First check"
    names = {d["credential_type"]: d["claims"] for d in items[2]["disclosed"]}
    assert "core_skills/*/date_to" in names["core_skills"]
    assert set(names) == {"core_skills", "occupational_health", "training_placement", "identity_link"}
    assert [d["credential_type"] for d in items[1]["disclosed"]] == ["core_skills"]
    # names, never values: the doctor's name is nowhere in the listing
    assert scene.doctor.family_name not in page.text
    assert page.json()["next_offset"] is None

    stranger = await client_headers(session, scene.app, auth.Role.VERIFIER, scene.tree.trust)
    assert (await _listed(client, stranger)).json()["items"] == []


async def test_the_list_filters_by_verdict_and_day_and_pages(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    made = [await create_request(client, scene, purpose=f"Check {n}") for n in range(3)]
    assert (await answer(client, scene, made[0])).status_code == 201
    old = dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.UTC)
    await session.execute(
        update(PresentationRequest)
        .where(PresentationRequest.id == uuid.UUID(made[1]["id"]))
        .values(created_at=old, expires_at=old + dt.timedelta(minutes=15))
    )
    await session.commit()

    valid = (await _listed(client, scene.verifier, verdict="valid")).json()["items"]
    assert [i["id"] for i in valid] == [made[0]["id"]]
    assert (await _listed(client, scene.verifier, verdict="invalid")).json()["items"] == []
    on_the_day = await _listed(client, scene.verifier, created_from="2026-03-01", created_to="2026-03-01")
    assert [i["id"] for i in on_the_day.json()["items"]] == [made[1]["id"]]
    assert on_the_day.json()["items"][0]["state"] == "expired"
    after = await _listed(client, scene.verifier, created_from="2026-03-02")
    assert {i["id"] for i in after.json()["items"]} == {made[0]["id"], made[2]["id"]}
    before = await _listed(client, scene.verifier, created_to="2026-02-28")
    assert before.json()["items"] == []

    one = (await _listed(client, scene.verifier, limit=1)).json()
    assert (len(one["items"]), one["next_offset"]) == (1, 1)
    rest = (await _listed(client, scene.verifier, limit=5, offset=1)).json()
    assert [i["id"] for i in rest["items"]] == [made[0]["id"], made[1]["id"]]
    assert rest["next_offset"] is None


async def test_a_reversed_range_or_an_unknown_verdict_is_refused(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    reversed_range = await _listed(client, scene.verifier, created_from="2026-05-02", created_to="2026-05-01")
    assert reversed_range.status_code == 422, reversed_range.text
    assert reversed_range.json()["errors"] == [{"field": "query.created_to", "reason": "before created_from"}]
    unknown = await _listed(client, scene.verifier, verdict="maybe")
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["errors"][0]["field"] == "query.verdict"
    assert (await _listed(client, scene.holder)).status_code == 403
