"""Issue 3, parts 3, 4 and 6 together, through the API only: an issuer suspends, reinstates and revokes a
credential the registry really issued (``POST /api/v1/credentials/{id}/suspend|reinstate|revoke`` with a
reason); the served status list shows each change at once (2 bits: 2 suspended, 0 valid, 1 revoked); a
verifier sees it in the verdict; every action is audited with its reason kept on the credential.

The existing tests cover these pieces apart: the transitions over HTTP without the status list or a
verification (tests/credentials/test_controllers.py), the status list after a revocation made through the
service (tests/credentials/test_public.py), a suspension made through the service and seen by a verifier
(tests/verification/test_issued.py); reinstating over HTTP was never seen to make a credential valid again.
"""

import secrets

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import AuditEvent
from service.credentials import service as credentials
from service.passport.presentation import CHECKS
from service.passport.status_list import CredentialStatus
from tests.audit.helpers import checks_by_type, present, register_and_fetch, served_status_list, verify
from tests.verification.factories import API, Scene


async def test_suspend_reinstate_revoke_show_in_the_status_list_and_the_verdict(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    scene.runtime.resolver.source.in_process = credentials.status_list_token  # type: ignore[attr-defined]
    key = ec.generate_private_key(ec.SECP256R1())
    texts = await register_and_fetch(client, scene.holder, key)
    assert set(texts) == {"core_skills", "occupational_health", "training_placement", "identity_link"}

    async def verdict() -> dict[str, object]:
        scene.runtime.resolver.forget()  # as when the verifier's cached list reaches its ttl
        nonce = secrets.token_urlsafe(16)
        return await verify(
            client, scene, present(scene, texts, key, nonce=nonce, aud=scene.verifier_id), nonce
        )

    first = await verdict()
    assert first["verdict"] == "valid", first["summary"]
    for shown in first["presentations"]:  # type: ignore[attr-defined]
        assert [c["name"] for c in shown["checks"]] == list(CHECKS)  # every check, by name, with a reason
        assert all(c["outcome"] == "passed" and c["reason"] for c in shown["checks"])

    listed = await client.get(
        f"{API}/credentials", params={"person_id": str(scene.doctor.id)}, headers=scene.issuer
    )
    assert listed.status_code == 200, listed.text
    health = next(
        i for i in listed.json()["items"] if i["kind"] == "occupational_health" and i["state"] == "valid"
    )
    url = f"{API}/credentials/{health['id']}"
    uri, idx = health["status_list_uri"], health["status_idx"]
    _, token = await served_status_list(client, uri)
    assert token.status_list.bits == 2
    assert token.status_list.status_of(idx) is CredentialStatus.VALID

    steps = [
        ("suspend", "fitness for work under review", "suspended", CredentialStatus.SUSPENDED, 2, "suspended"),
        ("reinstate", "review completed: fit", "valid", CredentialStatus.VALID, 0, None),
        ("revoke", "left the trust", "revoked", CredentialStatus.INVALID, 1, "revoked"),
    ]
    for action, reason, state, status, bits, code in steps:
        acted = await client.post(f"{url}/{action}", json={"reason": reason}, headers=scene.issuer)
        assert acted.status_code == 200, acted.text
        assert (acted.json()["state"], acted.json()["state_reason"]) == (state, reason)
        response, token = await served_status_list(client, uri)
        assert token.status_list.status_of(idx) is status, action
        assert token.status_list.to_bytes()[idx * 2 // 8] >> (idx * 2 % 8) & 0b11 == bits, action
        assert response.headers["cache-control"].startswith("public, max-age=")
        result = await verdict()
        codes = checks_by_type(result)
        if code is None:
            assert result["verdict"] == "valid", (action, result["summary"])
        else:
            assert result["verdict"] == "invalid", action
            assert codes["occupational_health"]["status"] == code
            assert codes["core_skills"]["status"] == "ok"

    events = (
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject == f"credential:{health['id']}")
            .order_by(AuditEvent.id)
        )
    ).all()
    assert [(e.action.split()[-1], e.outcome) for e in events] == [
        (a, "success") for a in ("suspend_credential", "reinstate_credential", "revoke_credential")
    ], [(e.action, e.outcome) for e in events]
