"""Issuance, status lists and issuer actions through the service (real database, real keys)."""

import datetime as dt
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.credentials import service
from service.credentials.models import Credential, CredentialDocument, Notification
from service.errors import Conflict, NotFound
from service.passport import presentation, sdjwt
from service.passport.encryption import DataKeyRing
from service.passport.status_list import CredentialStatus, StatusListToken, verify_token
from tests.credentials import factories as cf
from tests.passport import factories as pf

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
KINDS = ("core_skills", "occupational_health", "training_placement", "identity_link")


def keys_of(app: Litestar) -> Any:
    published = {k["kid"]: jws.key_from_jwk(k) for k in app.state.keyring.jwks("credential")["keys"]}
    return lambda header: published.get(header.get("kid"))


async def doctor_with_key(session: AsyncSession, data_keys: DataKeyRing) -> tuple[pf.World, Any]:
    world = await pf.create_world(session)
    await cf.submit(session, data_keys, cf.records_of(world.doctor, world.tree), world.tree.trust, NOW)
    key = cf.new_key()
    await cf.add_holder_key(session, world.doctor.id, key, NOW)
    return world, key


async def token_of(session: AsyncSession, app: Litestar, uri: str) -> StatusListToken:
    list_id = uri.rsplit("/", 1)[1]
    text = await service.status_list_token(session, list_id)
    assert text is not None
    return verify_token(text, keys_of(app), uri=uri, now=int(NOW.timestamp()), iss=cf.BASE_URL)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
async def test_issue_makes_one_verifiable_credential_per_type_bound_to_the_holder(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing, alg: str
) -> None:
    world, key = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    issuer.alg = alg  # type: ignore[assignment]
    result = await service.issue(session, issuer, [(world.doctor.id, k) for k in KINDS], now=NOW)
    assert result.issued == 4
    held = await service.holder_credentials(session, issuer, world.doctor.id)
    assert sorted(h.kind for h in held) == sorted(KINDS)
    for item in held:
        parsed = sdjwt.HeldCredential.parse(item.credential)
        assert parsed.header["typ"] == "dc+sd-jwt"
        assert parsed.header["alg"] == alg
        assert parsed.payload["vct"] == f"{cf.BASE_URL}/vct/{item.kind.replace('_', '-')}/v1"
        assert parsed.payload["iss"] == cf.BASE_URL
        assert parsed.payload["cnf"]["jwk"] == jws.public_jwk(key.public_key())
        status = parsed.payload["status"]["status_list"]
        assert status["uri"].startswith(f"{cf.BASE_URL}/status-lists/")
        assert parsed.payload["exp"] > parsed.payload["iat"]
        assert "holder_id" not in parsed.payload  # a disclosure, not a plain claim
        report = presentation.verify_credential(
            item.credential, issuer_keys=keys_of(app), now=int(NOW.timestamp())
        )
        assert report.valid, [c for c in report.checks if c.outcome == "failed"]
        listed = await token_of(session, app, status["uri"])
        assert listed.status_list.status_of(status["idx"]) is CredentialStatus.VALID
    core = next(h for h in held if h.kind == "core_skills")
    claims = sdjwt.HeldCredential.parse(core.credential).claims
    assert sorted(r["subject"] for r in claims["core_skills"]) == ["fire_safety", "resuscitation"]


async def test_occupational_health_credential_is_sealed_at_rest(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    await service.issue(session, cf.issuer_of(app), [(world.doctor.id, k) for k in KINDS], now=NOW)
    rows = (
        await session.execute(
            select(Credential.kind, CredentialDocument)
            .join(CredentialDocument, CredentialDocument.credential_id == Credential.id)
            .where(Credential.person_id == world.doctor.id)
        )
    ).all()
    by_kind = {kind: document for kind, document in rows}
    health = by_kind["occupational_health"]
    assert health.sd_jwt is None
    assert health.sealed is not None
    assert b"immune" not in health.sealed
    assert by_kind["core_skills"].sd_jwt is not None


async def test_unchanged_claims_are_not_reissued_but_a_change_supersedes_and_revokes(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    pairs = [(world.doctor.id, "core_skills")]
    await service.issue(session, issuer, pairs, now=NOW)
    again = await service.issue(session, issuer, pairs, now=NOW)
    assert (again.issued, again.unchanged) == (0, 1)
    old = (await service.holder_credentials(session, issuer, world.doctor.id))[0]
    await cf.submit(
        session,
        data_keys,
        [pf.core_skill(world.doctor, date_awarded=(NOW.date() - dt.timedelta(days=5)).isoformat())],
        world.tree.trust,
        NOW,
    )
    changed = await service.issue(session, issuer, pairs, now=NOW, reason="your records changed")
    assert (changed.issued, changed.revoked, changed.notified) == (1, 1, 1)
    new = (await service.holder_credentials(session, issuer, world.doctor.id))[0]
    assert new.id != old.id
    old_row = await session.get(Credential, old.id)
    assert old_row is not None
    assert old_row.state == "revoked"
    assert old_row.superseded_by_id == new.id
    status = sdjwt.HeldCredential.parse(old.credential).payload["status"]["status_list"]
    listed = await token_of(session, app, status["uri"])
    assert listed.status_list.status_of(status["idx"]) is CredentialStatus.INVALID
    notes = (
        await session.scalars(select(Notification).where(Notification.person_id == world.doctor.id))
    ).all()
    assert len(notes) >= 1
    assert all("immune" not in n.body for n in notes)


async def test_without_a_holder_key_nothing_is_issued(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world = await pf.create_world(session)
    await cf.submit(session, data_keys, cf.records_of(world.doctor, world.tree), world.tree.trust, NOW)
    result = await service.issue(session, cf.issuer_of(app), [(world.doctor.id, k) for k in KINDS], now=NOW)
    assert (result.issued, result.without_key) == (0, 4)
    count = await session.scalar(
        select(func.count()).select_from(Credential).where(Credential.person_id == world.doctor.id)
    )
    assert count == 0


async def test_issuer_actions_follow_the_state_machine_and_least_privilege(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    await service.issue(session, issuer, [(world.doctor.id, "core_skills")], now=NOW)
    credential = (await service.holder_credentials(session, issuer, world.doctor.id))[0]
    own = pf.issuer_principal(world.tree.trust)
    other = pf.issuer_principal(world.tree.other_trust)
    with pytest.raises(NotFound):
        await service.change_state(session, issuer, other, credential.id, "suspend", "not mine", now=NOW)
    uri = sdjwt.HeldCredential.parse(credential.credential).payload["status"]["status_list"]
    suspended = await service.change_state(
        session, issuer, own, credential.id, "suspend", "under review", now=NOW
    )
    assert suspended.state == "suspended"
    assert (await token_of(session, app, uri["uri"])).status_list.status_of(
        uri["idx"]
    ) is CredentialStatus.SUSPENDED
    with pytest.raises(Conflict) as again:
        await service.change_state(session, issuer, own, credential.id, "suspend", "twice", now=NOW)
    assert again.value.code == "already_suspended"
    await service.change_state(session, issuer, own, credential.id, "reinstate", "cleared", now=NOW)
    assert (await token_of(session, app, uri["uri"])).status_list.status_of(
        uri["idx"]
    ) is CredentialStatus.VALID
    await service.change_state(session, issuer, own, credential.id, "revoke", "left the trust", now=NOW)
    for action, code in (
        ("revoke", "already_revoked"),
        ("reinstate", "credential_revoked"),
        ("suspend", "credential_revoked"),
    ):
        with pytest.raises(Conflict) as refused:
            await service.change_state(session, issuer, own, credential.id, action, "again", now=NOW)
        assert refused.value.code == code
    assert (await token_of(session, app, uri["uri"])).status_list.status_of(
        uri["idx"]
    ) is CredentialStatus.INVALID


async def test_indexes_are_distinct_and_spread_over_the_list(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    issuer = cf.issuer_of(app)
    lists = service._Lists(session, issuer, NOW)
    entries = await lists.allocate(500)
    await lists.publish()
    assert len(set(entries)) == 500
    indexes = sorted(i for _, i in entries)
    assert indexes[-1] - indexes[0] > service.LIST_SIZE // 2  # random, not sequential
    assert all(0 <= i < service.LIST_SIZE for i in indexes)
