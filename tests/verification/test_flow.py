"""The request flow over HTTP: a verifier asks, the doctor's wallet answers, the verifier reads the result."""

import httpx

from tests.verification.factories import API, Scene


async def create_request(client: httpx.AsyncClient, scene: Scene, **fields: object) -> dict:
    body = {"policy": "theatre-surgical-trainee", "purpose": "Theatre list starting Monday", **fields}
    response = await client.post(f"{API}/presentation-requests", json=body, headers=scene.verifier)
    assert response.status_code == 201, response.text
    created: dict = response.json()
    return created


async def test_a_doctor_answers_a_request_and_the_verifier_reads_a_valid_result(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    created = await create_request(client, scene)
    assert created["state"] == "pending"
    assert created["audience"] == scene.verifier_id
    assert set(created["credential_types"]) == {"core_skills", "occupational_health", "training_placement", "identity_link"}

    view = await client.get(f"{API}/presentation-requests/{created['id']}/request", headers=scene.holder)
    assert view.status_code == 200, view.text
    wallet = view.json()
    assert (wallet["nonce"], wallet["audience"]) == (created["nonce"], created["audience"])
    assert wallet["verifier_organisation_code"] == "NT301"

    presentations = scene.present(nonce=wallet["nonce"], aud=wallet["audience"])
    answer = await client.post(wallet["response_uri"], json={"presentations": presentations}, headers=scene.holder)
    assert answer.status_code == 201, answer.text
    result = answer.json()
    assert result["verdict"] == "valid", result["summary"]
    assert all(p["valid"] for p in result["presentations"])
    assert [r["passed"] for r in result["outcome"]["rules"]] == [True] * 5

    read = await client.get(f"{API}/presentation-requests/{created['id']}", headers=scene.verifier)
    assert read.status_code == 200
    assert read.json()["state"] == "answered"
    assert read.json()["result"]["verdict"] == "valid"
    assert read.json()["result"]["claims"]["occupational_health"]["occupational_health"][0]["outcome"]
