"""The holder's log links a verification made with ``holder_id`` withheld through every key the registry
ever bound a credential of the holder to (decision 0040): an OpenID4VCI batch copy, still valid or since
revoked, or a credential of a key since replaced. Never to a wrong holder: a key another person holds too
links no one."""

import datetime as dt
import secrets
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.credentials import service as credentials
from service.passport import policy as policies
from service.passport import sdjwt
from service.wallet.present import leaves
from tests.credentials import factories as cf
from tests.verification.factories import API, Scene


async def present_copy(
    client: httpx.AsyncClient, scene: Scene, text: str, key: ec.EllipticCurvePrivateKey, purpose: str
) -> dict[str, object]:
    """An ad hoc check of one batch copy of the core skills credential, ``holder_id`` withheld."""
    held = sdjwt.HeldCredential.parse(text)
    paths = [p for p in leaves(policies.disclosures_for(scene.claim_sets["core_skills"], scene.needs))]
    paths = [p for p in paths if p[0] != "holder_id"]
    nonce = secrets.token_urlsafe(16)
    body = {
        "presentations": [
            held.present(paths, holder_key=key, aud=scene.verifier_id, nonce=nonce, iat=int(time.time()))
        ],
        "policy": "theatre-surgical-trainee",
        "nonce": nonce,
        "purpose": purpose,
    }
    response = await client.post(f"{API}/verifications", json=body, headers=scene.verifier)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


async def log(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get(f"{API}/holder/verifications", headers=headers)
    assert response.status_code == 200, response.text
    return [item["purpose"] for item in response.json()["items"]]


async def test_a_batch_copy_presented_without_holder_id_stays_in_the_log_after_it_is_revoked(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    scene.runtime.resolver.source.in_process = credentials.status_list_token  # type: ignore[attr-defined]
    issuer = cf.issuer_of(scene.app)
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    copies = await credentials.issue_to_keys(
        session, issuer, scene.doctor.id, "core_skills", [jws.public_jwk(key.public_key())], now=now
    )
    await session.commit()
    ((copy_id, text),) = copies
    result = await present_copy(client, scene, text, key, "Bank shift, copy in a wallet app")
    presentations: list[dict[str, Any]] = result["presentations"]  # type: ignore[assignment]
    (presented,) = presentations
    assert presented["valid"], presented
    assert "holder_id" not in presented["disclosed"]  # withheld: only the key can link it
    assert await log(client, scene.holder) == ["Bank shift, copy in a wallet app"]

    # the copy is revoked (a lost phone, or the lifecycle superseded it): the check made with it is still
    # the doctor's, and only theirs
    await credentials.revoke_many(session, issuer, [copy_id], "lost phone", now=now)
    await session.commit()
    assert await log(client, scene.holder) == ["Bank shift, copy in a wallet app"]
    assert await log(client, scene.other_holder) == []


async def test_a_key_another_person_holds_too_links_no_one(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    scene.runtime.resolver.source.in_process = credentials.status_list_token  # type: ignore[attr-defined]
    issuer = cf.issuer_of(scene.app)
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    ((_, text),) = await credentials.issue_to_keys(
        session, issuer, scene.doctor.id, "core_skills", [jws.public_jwk(key.public_key())], now=now
    )
    await cf.add_holder_key(session, scene.other.id, key, now)  # the same key, registered by another doctor
    await session.commit()
    await present_copy(client, scene, text, key, "Shared device")
    assert await log(client, scene.holder) == []
    assert await log(client, scene.other_holder) == []
