"""Issuer actions and listing over HTTP: a reason is required, least privilege, 409 on transitions the
state does not allow, metadata only, audited."""

import httpx
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import AuditEvent
from service.credentials import service
from service.passport.encryption import DataKeyRing
from tests.credentials import factories as cf
from tests.credentials.test_service import NOW, doctor_with_key
from tests.passport import factories as pf

API = "/api/v1"


async def test_revoke_suspend_reinstate_over_http(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient, data_keys: DataKeyRing
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    await service.issue(session, cf.issuer_of(app), [(world.doctor.id, "core_skills")], now=NOW)
    own = await pf.issuer(session, app, world.tree.trust)
    other = await pf.issuer(session, app, world.tree.other_trust)
    admin = await pf.admin(session, app)
    await session.commit()
    listed = await client.get(f"{API}/credentials", params={"person_id": str(world.doctor.id)}, headers=own)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert "credential" not in item
    assert item["origins"] == [world.tree.trust]
    theirs = await client.get(f"{API}/credentials", params={"person_id": str(world.doctor.id)}, headers=other)
    assert theirs.json()["items"] == []
    url = f"{API}/credentials/{item['id']}"
    missing = await client.post(f"{url}/suspend", json={}, headers=own)
    assert missing.status_code in (400, 422)
    assert any("reason" in e["field"] + e["reason"] for e in missing.json()["errors"])
    escaped = await client.post(f"{url}/suspend", json={"reason": "red \x1b[31m alert"}, headers=own)
    assert escaped.status_code == 422
    assert escaped.json()["errors"] == [
        {"field": "body.reason", "reason": "must not hold control characters other than tabs and line feeds"}
    ]
    refused = await client.post(f"{url}/suspend", json={"reason": "not ours"}, headers=other)
    assert refused.status_code == 404
    suspended = await client.post(f"{url}/suspend", json={"reason": "under review"}, headers=own)
    assert suspended.status_code == 200
    assert suspended.json()["state"] == "suspended"
    twice = await client.post(f"{url}/suspend", json={"reason": "again"}, headers=own)
    assert twice.status_code == 409
    assert twice.json()["code"] == "already_suspended"
    revoked = await client.post(f"{url}/revoke", json={"reason": "left the trust"}, headers=admin)
    assert revoked.status_code == 200
    back = await client.post(f"{url}/reinstate", json={"reason": "mistake"}, headers=own)
    assert back.status_code == 409
    assert back.json()["code"] == "credential_revoked"
    events = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.subject == f"credential:{item['id']}").order_by(AuditEvent.id)
        )
    ).all()
    assert [e.outcome for e in events] == [
        "rejected 404",
        "success",
        "rejected 409",
        "success",
        "rejected 409",
    ]
