"""The request flow over HTTP: a verifier asks, the doctor's wallet answers, the verifier reads the result."""

import datetime as dt
import time
import uuid
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from service.passport import sdjwt
from service.verification.models import PresentationRequest
from tests.verification.factories import API, Scene, issue


async def create_request(client: httpx.AsyncClient, scene: Scene, **fields: object) -> dict[str, Any]:
    body = {"policy": "theatre-surgical-trainee", "purpose": "Theatre list starting Monday", **fields}
    response = await client.post(f"{API}/presentation-requests", json=body, headers=scene.verifier)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_doctor_answers_a_request_and_the_verifier_reads_a_valid_result(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    created = await create_request(client, scene)
    assert created["state"] == "pending"
    assert created["audience"] == scene.verifier_id
    assert set(created["credential_types"]) == {
        "core_skills",
        "occupational_health",
        "training_placement",
        "identity_link",
    }

    view = await client.get(f"{API}/presentation-requests/{created['id']}/request", headers=scene.holder)
    assert view.status_code == 200, view.text
    wallet = view.json()
    assert (wallet["nonce"], wallet["audience"]) == (created["nonce"], created["audience"])
    assert wallet["verifier_organisation_code"] == "NT301"

    presentations = scene.present(nonce=wallet["nonce"], aud=wallet["audience"])
    answer = await client.post(
        wallet["response_uri"], json={"presentations": presentations}, headers=scene.holder
    )
    assert answer.status_code == 201, answer.text
    # the answer is the sealed result's bytes as JSON, and no cache may keep it
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    result = answer.json()
    assert result["verdict"] == "valid", result["summary"]
    assert all(p["valid"] for p in result["presentations"])
    assert [r["passed"] for r in result["outcome"]["rules"]] == [True] * 5

    read = await client.get(f"{API}/presentation-requests/{created['id']}", headers=scene.verifier)
    assert read.status_code == 200
    assert read.json()["state"] == "answered"
    assert read.json()["result"]["verdict"] == "valid"
    assert read.json()["result"]["claims"]["occupational_health"]["occupational_health"][0]["outcome"]


async def answer(
    client: httpx.AsyncClient, scene: Scene, created: dict[str, Any], **present: object
) -> httpx.Response:
    presentations = scene.present(nonce=created["nonce"], aud=created["audience"], **present)  # type: ignore[arg-type]
    return await client.post(
        f"{API}/presentation-requests/{created['id']}/response",
        json={"presentations": presentations},
        headers=scene.holder,
    )


async def test_a_second_answer_is_409_and_an_expired_request_410(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    created = await create_request(client, scene)
    assert (await answer(client, scene, created)).status_code == 201
    again = await answer(client, scene, created)
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "request_answered"

    late = await create_request(client, scene)
    await session.execute(
        update(PresentationRequest)
        .where(PresentationRequest.id == uuid.UUID(late["id"]))
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    await session.commit()
    gone = await answer(client, scene, late)
    assert gone.status_code == 410, gone.text
    read = await client.get(f"{API}/presentation-requests/{late['id']}", headers=scene.verifier)
    assert (read.json()["state"], read.json()["result"]) == ("expired", None)


async def test_the_verifier_may_submit_what_it_received_for_its_own_request(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    created = await create_request(client, scene)
    presentations = scene.present(nonce=created["nonce"], aud=created["audience"])
    body = {"presentations": presentations, "request_id": created["id"]}
    stranger = await client.post(f"{API}/verifications", json=body, headers=scene.other_verifier)
    assert stranger.status_code == 404
    mixed = await client.post(f"{API}/verifications", json={**body, "policy": "x"}, headers=scene.verifier)
    assert mixed.status_code == 422
    mine = await client.post(f"{API}/verifications", json=body, headers=scene.verifier)
    assert mine.status_code == 201, mine.text
    assert (mine.json()["verdict"], mine.json()["submitted_by"]) == ("valid", "verifier")
    assert mine.headers["cache-control"] == "no-store"
    read = await client.get(f"{API}/presentation-requests/{created['id']}", headers=scene.verifier)
    assert read.json()["result"] == mine.json()  # what was answered is what was stored


async def test_a_verifier_cannot_read_another_verifiers_request(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    created = await create_request(client, scene)
    other = await client.get(f"{API}/presentation-requests/{created['id']}", headers=scene.other_verifier)
    assert other.status_code == 404
    missing = await client.get(f"{API}/presentation-requests/{uuid.uuid4()}/request", headers=scene.holder)
    assert missing.status_code == 404


async def test_a_request_naming_a_doctor_is_for_that_doctor_only(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    created = await create_request(client, scene, subject_hint=scene.doctor.gmc_number)
    assert created["subject_hint"] == scene.doctor.gmc_number
    other = await client.get(
        f"{API}/presentation-requests/{created['id']}/request", headers=scene.other_holder
    )
    assert other.status_code == 404
    view = await client.get(f"{API}/presentation-requests/{created['id']}/request", headers=scene.holder)
    assert view.status_code == 200
    assert "subject_hint" not in view.json()


async def test_the_policy_is_evaluated_on_the_placement_start_with_reasons(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    fire = scene.claim_sets["core_skills"].claims["core_skills"][0]
    assert fire["subject"] == "fire_safety"
    start = dt.date.fromisoformat(fire["date_to"]) + dt.timedelta(days=1)
    created = await create_request(client, scene, evaluate_on=start.isoformat())
    response = await answer(client, scene, created)
    result = response.json()
    assert result["verdict"] == "not_compliant", result["summary"]
    assert result["evaluated_on"] == start.isoformat()
    rules = {r["type"]: r for r in result["outcome"]["rules"]}
    assert not rules["core_skills"]["passed"]
    assert (
        f"Fire safety expires on {fire['date_to']}, before {start.isoformat()}"
        in rules["core_skills"]["reason"]
    )


async def test_withholding_a_credential_fails_the_rules_that_need_it(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    created = await create_request(client, scene)
    response = await answer(
        client, scene, created, kinds=["core_skills", "training_placement", "identity_link"]
    )
    result = response.json()
    assert result["verdict"] == "not_compliant"
    reasons = [r["reason"] for r in result["outcome"]["rules"] if not r["passed"]]
    assert reasons == [
        "Exposure-prone procedures clearance not disclosed",
        "Hepatitis B immunity not disclosed",
    ]
    assert "occupational_health" not in result["claims"]


async def test_credentials_of_two_holders_are_refused_together(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    created = await create_request(client, scene)
    mine = scene.present(nonce=created["nonce"], aud=created["audience"], kinds=["core_skills"])
    other_key = ec.generate_private_key(ec.SECP256R1())
    kind = "identity_link"
    theirs = sdjwt.HeldCredential.parse(
        issue(scene.keyring, scene.claim_sets[kind], other_key, scene.indexes[kind])
    ).present(
        ["identity/gmc_number"],
        holder_key=other_key,
        aud=created["audience"],
        nonce=created["nonce"],
        iat=int(time.time()),
    )
    response = await client.post(
        f"{API}/presentation-requests/{created['id']}/response",
        json={"presentations": [*mine, theirs]},
        headers=scene.holder,
    )
    result = response.json()
    assert result["verdict"] == "invalid"
    assert {c["name"]: c["code"] for c in result["checks"]}["same_holder"] == "different_holders"
