"""Verification of credentials the registry really issues (the credentials domain), with their status
read in-process from the registry's own status list: revoking one shows at the next list refresh."""

import datetime as dt
import secrets

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.credentials import service as credentials
from service.passport import policy as policies
from service.passport import sdjwt
from service.passport.claims import kind_of_vct
from service.wallet.present import leaves
from tests.conftest import BASE_URL
from tests.credentials import factories as cf
from tests.verification.factories import API, Scene


async def issued(session: AsyncSession, scene: Scene) -> tuple[ec.EllipticCurvePrivateKey, dict[str, str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    await cf.add_holder_key(session, scene.doctor.id, key, now)
    issuer = credentials.issuer_from_state(scene.app.state)
    pairs = [
        (scene.doctor.id, kind)
        for kind in ("core_skills", "occupational_health", "training_placement", "identity_link")
    ]
    await credentials.issue(session, issuer, pairs, now=now, tell=False)
    held = await credentials.holder_credentials(session, issuer, scene.doctor.id)
    await session.commit()
    return key, {h.kind: h.credential for h in held}


async def test_really_issued_credentials_verify_and_a_revocation_shows(
    client: httpx.AsyncClient, scene: Scene, session: AsyncSession
) -> None:
    scene.runtime.resolver.source.in_process = credentials.status_list_token  # type: ignore[attr-defined]
    key, texts = await issued(session, scene)
    assert set(texts) == {"core_skills", "occupational_health", "training_placement", "identity_link"}
    needs = [n for r in policies.requirements(scene.policy.rules, "NT301") for n in r.needs]

    def present(nonce: str) -> list[str]:
        out = []
        for text in texts.values():
            held = sdjwt.HeldCredential.parse(text)
            kind = kind_of_vct(BASE_URL, held.payload["vct"])
            assert kind is not None
            claim_set = scene.claim_sets[kind]
            paths = leaves(policies.disclosures_for(claim_set, needs))
            out.append(
                held.present(
                    paths,
                    holder_key=key,
                    aud=scene.verifier_id,
                    nonce=nonce,
                    iat=int(dt.datetime.now(dt.UTC).timestamp()),
                )
            )
        return out

    nonce = secrets.token_urlsafe(16)
    body = {
        "policy": "theatre-surgical-trainee",
        "nonce": nonce,
        "purpose": "Theatre list",
        "presentations": present(nonce),
    }
    response = await client.post(f"{API}/verifications", json=body, headers=scene.verifier)
    assert response.status_code == 201, response.text
    assert response.json()["verdict"] == "valid", response.json()["summary"]

    held = await credentials.holder_credentials(
        session, credentials.issuer_from_state(scene.app.state), scene.doctor.id
    )
    health = next(h for h in held if h.kind == "occupational_health")
    admin = Principal(subject="admin-test", kind="client", role=Role.ADMIN, organisation=None)
    issuer = credentials.issuer_from_state(scene.app.state)
    await credentials.change_state(
        session, issuer, admin, health.id, "suspend", "review", now=dt.datetime.now(dt.UTC)
    )
    await session.commit()
    scene.runtime.resolver.forget()  # as if the cached list's ttl had run out
    nonce = secrets.token_urlsafe(16)
    body = {**body, "nonce": nonce, "presentations": present(nonce)}
    again = await client.post(f"{API}/verifications", json=body, headers=scene.verifier)
    result = again.json()
    assert result["verdict"] == "invalid"
    codes = {
        p["credential_type"]: {c["name"]: c["code"] for c in p["checks"]} for p in result["presentations"]
    }
    assert codes["occupational_health"]["status"] == "suspended"
    assert codes["core_skills"]["status"] == "ok"
