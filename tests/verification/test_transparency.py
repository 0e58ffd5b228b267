"""The holder's log of every verification of their credentials, and the audit record of each: claim names,
never values of health data."""

import secrets

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import AuditEvent, verify_chain
from tests.verification.factories import API, Scene
from tests.verification.test_flow import answer, create_request


async def test_the_holder_sees_who_verified_what_and_when(client: httpx.AsyncClient, scene: Scene) -> None:
    created = await create_request(client, scene, purpose="Theatre list at Oakridge, 4 August")
    assert (await answer(client, scene, created)).status_code == 201
    nonce = secrets.token_urlsafe(16)
    body = {
        "presentations": scene.present(
            nonce=nonce, aud="https://someone-else.example", kinds=["core_skills", "identity_link"]
        ),
        "policy": "theatre-surgical-trainee",
        "nonce": nonce,
        "purpose": "Bank shift",
    }
    refused = await client.post(f"{API}/verifications", json=body, headers=scene.verifier)
    assert refused.json()["verdict"] == "invalid"

    log = await client.get(f"{API}/holder/verifications", headers=scene.holder)
    assert log.status_code == 200, log.text
    items = log.json()["items"]
    assert [(i["purpose"], i["verdict"]) for i in items] == [
        ("Bank shift", "invalid"),
        ("Theatre list at Oakridge, 4 August", "valid"),
    ]
    first = items[1]
    assert first["organisation_code"] == "NT301"
    assert first["organisation_name"] == "Test organisation NT301"
    assert first["policy"]["name"] == "theatre-surgical-trainee"
    disclosed = {d["credential_type"]: d["claims"] for d in first["disclosed"]}
    assert "occupational_health/*/outcome" in disclosed["occupational_health"]
    assert "identity/gmc_number" in disclosed["identity_link"]
    assert "immune" not in log.text
    assert "cleared" not in log.text

    other = await client.get(f"{API}/holder/verifications", headers=scene.other_holder)
    assert other.json()["items"] == []
    verifier = await client.get(f"{API}/holder/verifications", headers=scene.verifier)
    assert verifier.status_code == 403


async def test_every_verification_is_audited_with_claim_names_only(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    created = await create_request(client, scene)
    result = (await answer(client, scene, created)).json()
    events = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.subject.like(f"verification:{result['id']}%"))
        )
    ).all()
    assert len(events) == 1
    event = events[0]
    assert event.action == "POST respond_to_presentation_request"
    assert event.outcome == "valid"
    assert f"request:{created['id']}" in event.subject
    assert "occupational_health{" in event.subject
    assert "outcome" in event.subject
    for value in ("immune", "cleared", str(scene.doctor.gmc_number), "Okafor"):
        assert value not in event.subject
    checked, broken = await verify_chain(session)
    assert broken is None
    assert checked >= 1


async def test_the_stored_result_is_sealed(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    from service.verification.models import Verification

    created = await create_request(client, scene)
    await answer(client, scene, created)
    row = (await session.scalars(select(Verification))).one()
    assert b"immune" not in row.result_sealed
    assert b"Okafor" not in row.result_sealed
    assert row.holder_id is not None
    assert row.holder_id.startswith("urn:uuid:")
    assert row.holder_jkt is not None
