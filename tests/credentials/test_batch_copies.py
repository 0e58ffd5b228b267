"""The copies of an OpenID4VCI batch follow the records (decision 0040): when the lifecycle re-issues a
type, every live copy of it that no longer states the records is revoked in the same transaction (its
status entry set to invalid) and the holder is told to add their credentials to their wallet again; copies
that still state the records stay valid. With or without a key registered with the reference wallet."""

import asyncio
import datetime as dt
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service import jws
from service.credentials import bulk, service
from service.credentials.models import Credential, Notification
from service.credentials.schemas import KINDS
from service.db import Database, make_engine, upgrade
from service.keys import KeyStore
from service.passport import sdjwt
from service.passport import service as passport
from service.passport.encryption import DataKeyRing, DataKeyStore
from service.passport.models import CoreSkillRecord, Record
from service.passport.schemas import RecordCorrection, RecordCreate, RecordWithdrawal
from service.passport.status_list import CredentialStatus
from tests.credentials import factories as cf
from tests.credentials.test_service import NOW, doctor_with_key, token_of
from tests.factories import TEST_PASSPHRASE
from tests.passport import factories as pf


def wallet_keys(count: int) -> list[dict[str, Any]]:
    return [jws.public_jwk(cf.new_key().public_key()) for _ in range(count)]


async def issued(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> tuple[pf.World, service.Issuer]:
    """A doctor with records and a registered holder key, their credentials issued at NOW (the lifecycle's
    first step), and the app's issuer."""
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    await service.lifecycle_step(session, issuer, now=NOW)
    return world, issuer


async def copies_of(
    session: AsyncSession, issuer: service.Issuer, person: uuid.UUID, kind: str, count: int = 3
) -> list[uuid.UUID]:
    issued = await service.issue_to_keys(session, issuer, person, kind, wallet_keys(count), now=NOW)
    return [credential_id for credential_id, _ in issued]


async def rows(session: AsyncSession, ids: list[uuid.UUID]) -> list[Credential]:
    found = (await session.scalars(select(Credential).where(Credential.id.in_(ids)))).all()
    for row in found:
        await session.refresh(row)
    return sorted(found, key=lambda r: ids.index(r.id))


async def listed_status(session: AsyncSession, app: Litestar, row: Credential) -> CredentialStatus:
    uri = service.status_uri(cf.BASE_URL, row.status_list_id)
    return (await token_of(session, app, uri)).status_list.status_of(row.status_idx)


async def notifications(
    session: AsyncSession, person: uuid.UUID, *, besides: Collection[uuid.UUID] = ()
) -> list[str]:
    """The bodies of the holder's notifications, oldest first, but those ``besides``. A notification's time
    is the ``now`` it was written at: two written at the same ``now`` come back in no set order (on
    PostgreSQL, in the order its heap holds them), so a test that wants what one step wrote leaves out
    those there before it (``notification_ids``)."""
    found = await session.scalars(
        select(Notification.body)
        .where(Notification.person_id == person, Notification.id.not_in(list(besides)))
        .order_by(Notification.created_at)
    )
    return list(found.all())


async def notification_ids(session: AsyncSession, person: uuid.UUID) -> set[uuid.UUID]:
    found = await session.scalars(select(Notification.id).where(Notification.person_id == person))
    return set(found.all())


async def fire_safety_record(session: AsyncSession, person: uuid.UUID) -> uuid.UUID:
    found = await session.scalar(
        select(CoreSkillRecord.id).where(
            CoreSkillRecord.person_id == person,
            CoreSkillRecord.subject == "fire_safety",
            CoreSkillRecord.state == "current",
        )
    )
    assert found is not None
    return found


async def test_a_corrected_record_revokes_every_wallet_copy_with_the_registered_credential(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, issuer = await issued(session, app, data_keys)
    core = await copies_of(session, issuer, world.doctor.id, "core_skills")
    identity = await copies_of(session, issuer, world.doctor.id, "identity_link", 2)
    for row in await rows(session, core + identity):
        assert await listed_status(session, app, row) is CredentialStatus.VALID

    # the fire safety record was entered with the wrong provider: the trust corrects it
    told = await notification_ids(session, world.doctor.id)  # the first issue's, at NOW as the step's
    record = await fire_safety_record(session, world.doctor.id)
    fixed = pf.core_skill(world.doctor, learning_provider="Fire Ltd")
    await passport.correct(
        session,
        pf.issuer_principal(world.tree.trust),
        record,
        RecordCorrection(reason="wrong provider", record=msgspec.convert(fixed, RecordCreate)),
        now=NOW,
        keys=data_keys,
    )
    step = await service.lifecycle_step(session, issuer, now=NOW)
    assert (step.changes.issued, step.changes.revoked, step.changes.copies_revoked) == (1, 4, 3)

    every = await service.holder_credentials(session, issuer, world.doctor.id)
    (successor,) = [h.id for h in every if h.kind == "core_skills"]
    for row in await rows(session, core):
        assert (row.state, row.superseded_by_id) == ("revoked", successor)
        assert row.state_reason == "superseded: your records changed"
        assert await listed_status(session, app, row) is CredentialStatus.INVALID
    # the identity link copies still state the records: they stay valid
    for row in await rows(session, identity):
        assert row.state == "valid"
        assert await listed_status(session, app, row) is CredentialStatus.VALID
    assert {h.id for h in every} >= set(identity)
    (body,) = await notifications(session, world.doctor.id, besides=told)
    assert "Your core skills training credential(s) changed (your records changed)" in body
    assert "The copies of your core skills training credential(s) in your wallet app were replaced" in body
    assert f"{cf.BASE_URL}/passport/add" in body
    assert "identity" not in body


async def test_without_a_registered_key_a_not_fit_outcome_revokes_the_wallet_copies(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world = await pf.create_world(session)
    doctor = world.doctor
    fit = pf.health(doctor, item="fitness_for_work", outcome="fit")
    await cf.submit(session, data_keys, cf.records_of(doctor, world.tree), world.tree.trust, NOW)
    (submitted,) = await cf.submit(session, data_keys, [fit], world.tree.trust, NOW)
    issuer = cf.issuer_of(app)
    idle = await service.lifecycle_step(session, issuer, now=NOW)  # no key: nothing issued
    assert idle.changes.issued == 0
    health = await copies_of(session, issuer, doctor.id, "occupational_health", 2)
    placement = await copies_of(session, issuer, doctor.id, "training_placement", 1)
    held = sdjwt.HeldCredential.parse(
        next(
            h.credential
            for h in await service.holder_credentials(session, issuer, doctor.id)
            if h.id == health[0]
        )
    )
    assert "fit" in {r["outcome"] for r in held.claims["occupational_health"]}

    record = submitted.id
    not_fit = msgspec.convert(pf.health(doctor, item="fitness_for_work", outcome="not_fit"), RecordCreate)
    await passport.correct(
        session,
        pf.issuer_principal(world.tree.trust),
        record,
        RecordCorrection(reason="new assessment", record=not_fit),
        now=NOW,
        keys=data_keys,
    )
    step = await service.lifecycle_step(session, issuer, now=NOW)
    assert (step.changes.issued, step.changes.copies_revoked, step.changes.notified) == (0, 2, 1)
    for row in await rows(session, health):
        assert (row.state, row.superseded_by_id) == ("revoked", None)
        assert row.state_reason == "no longer states the records: your records changed"
        assert await listed_status(session, app, row) is CredentialStatus.INVALID
    assert [r.state for r in await rows(session, placement)] == ["valid"]
    body = (await notifications(session, doctor.id))[-1]
    assert body.startswith("The copies of your occupational health clearance credential(s) in your wallet")
    assert "passport wallet fetch" not in body  # no reference wallet to fetch with
    assert "not_fit" not in body  # never health data
    assert "not fit" not in body


async def test_a_withdrawn_record_with_nothing_left_revokes_its_copies(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, issuer = await issued(session, app, data_keys)
    identity = await copies_of(session, issuer, world.doctor.id, "identity_link", 2)
    record = await session.scalar(
        select(Record.id).where(Record.person_id == world.doctor.id, Record.kind == "identity_link")
    )
    assert record is not None
    await passport.withdraw(
        session,
        pf.issuer_principal(world.tree.trust),
        record,
        RecordWithdrawal(reason="stated in error"),
        now=NOW,
        keys=data_keys,
    )
    step = await service.lifecycle_step(session, issuer, now=NOW)
    assert (step.changes.issued, step.changes.revoked, step.changes.copies_revoked) == (0, 3, 2)
    assert [r.state for r in await rows(session, identity)] == ["revoked", "revoked"]
    held = await service.holder_credentials(session, issuer, world.doctor.id)
    assert "identity_link" not in {h.kind for h in held}


async def test_the_holder_lists_a_types_copies_oldest_first_in_the_same_order_every_time(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, issuer = await issued(session, app, data_keys)
    later = await service.issue_to_keys(
        session, issuer, world.doctor.id, "core_skills", wallet_keys(1), now=NOW + dt.timedelta(minutes=2)
    )
    sooner = await service.issue_to_keys(
        session, issuer, world.doctor.id, "core_skills", wallet_keys(2), now=NOW + dt.timedelta(minutes=1)
    )

    held = await service.holder_credentials(session, issuer, world.doctor.id)
    assert [h.kind for h in held] == sorted(h.kind for h in held)
    core = [h for h in held if h.kind == "core_skills"]
    assert [h.issued_at for h in core] == [NOW] + [NOW + dt.timedelta(minutes=1)] * 2 + [
        NOW + dt.timedelta(minutes=2)
    ]
    assert [h.id for h in core[1:]] == sorted(i for i, _ in sooner) + [i for i, _ in later]
    assert [h.id for h in await service.holder_credentials(session, issuer, world.doctor.id)] == [
        h.id for h in held
    ]


async def test_an_unchanged_type_keeps_its_copies_even_when_re_issued_for_the_changeover(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, issuer = await issued(session, app, data_keys)
    core = await copies_of(session, issuer, world.doctor.id, "core_skills", 2)
    pairs = [(world.doctor.id, kind) for kind in KINDS]
    forced = await service.issue(session, issuer, pairs, now=NOW, reason="the August changeover", force=True)
    assert (forced.issued, forced.copies_revoked) == (4, 0)
    assert [r.state for r in await rows(session, core)] == ["valid", "valid"]
    again = await service.lifecycle_step(session, issuer, now=NOW)
    assert again.changes.copies_revoked == 0


async def test_a_new_registered_key_supersedes_every_credential_of_the_key_it_replaces(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, issuer = await issued(session, app, data_keys)
    before = {h.id for h in await service.holder_credentials(session, issuer, world.doctor.id)}
    copies = await copies_of(session, issuer, world.doctor.id, "core_skills", 2)
    key = cf.new_key()
    nonce = await service.new_nonce(session, world.doctor.id, cf.BASE_URL, now=NOW)
    proof = cf.proof(key, nonce.nonce, iat=int(NOW.timestamp()))
    await service.register_key(session, issuer, world.doctor.id, proof, now=NOW)
    old = await rows(session, list(before))
    assert {r.state for r in old} == {"revoked"}
    assert all(r.superseded_by_id is not None for r in old)
    # the wallet copies state the same records under their own keys: still valid
    assert [r.state for r in await rows(session, copies)] == ["valid", "valid"]
    held = await service.holder_credentials(session, issuer, world.doctor.id)
    bound = {sdjwt.HeldCredential.parse(h.credential).payload["cnf"]["jwk"]["x"] for h in held}
    assert jws.public_jwk(key.public_key())["x"] in bound


# ---------------------------------------------------------------- the August changeover (worker processes)


async def _seed(url: str, keys: Path, now: dt.datetime) -> dict[str, Any]:
    database = Database(make_engine(url, pool_size=1))
    found: dict[str, Any] = {}
    try:
        async with database.session() as session:
            world = await pf.create_world(session)
            data_keys = DataKeyStore(keys, TEST_PASSPHRASE).load()
            issuer = service.Issuer(
                keyring=KeyStore(keys, TEST_PASSPHRASE).load(now), data_keys=data_keys, base_url=cf.BASE_URL
            )
            for person in (world.doctor, world.other):
                await cf.submit(session, data_keys, cf.records_of(person, world.tree), world.tree.trust, now)
            await cf.add_holder_key(session, world.doctor.id, cf.new_key(), now)
            await service.issue(session, issuer, [(world.doctor.id, k) for k in KINDS], now=now, tell=False)
            for name, person in (("doctor", world.doctor), ("other", world.other)):
                for kind in ("core_skills", "identity_link"):
                    found[f"{name}_{kind}"] = await copies_of_at(session, issuer, person.id, kind, now)
            # a new subject for both, not yet seen by the lifecycle when the changeover starts
            for person in (world.doctor, world.other):
                added = pf.core_skill(person, subject="information_governance")
                await cf.submit(session, data_keys, [added], world.tree.trust, now)
            await session.commit()
    finally:
        await database.dispose()
    return found


async def copies_of_at(
    session: AsyncSession, issuer: service.Issuer, person: uuid.UUID, kind: str, now: dt.datetime
) -> list[uuid.UUID]:
    issued = await service.issue_to_keys(session, issuer, person, kind, wallet_keys(2), now=now)
    return [credential_id for credential_id, _ in issued]


async def _states(url: str, ids: list[uuid.UUID]) -> list[str]:
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            found = await session.scalars(select(Credential).where(Credential.id.in_(ids)))
            return sorted(r.state for r in found.all())
    finally:
        await database.dispose()


async def _changeover(url: str, keys: Path, now: dt.datetime) -> Any:
    database = Database(make_engine(url, pool_size=2))
    try:
        issuer = service.Issuer(
            keyring=KeyStore(keys, TEST_PASSPHRASE).load(now),
            data_keys=DataKeyStore(keys, TEST_PASSPHRASE).load(),
            base_url=cf.BASE_URL,
        )
        return await bulk.reissue_all(
            database,
            issuer,
            workers=1,
            keys_dir=keys,
            passphrase=TEST_PASSPHRASE,
            database_url=url,
            now=now,
        )
    finally:
        await database.dispose()


@pytest.mark.slow
def test_the_changeover_revokes_stale_copies_with_and_without_a_registered_key(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    url = f"sqlite+aiosqlite:///{tmp_path / 'changeover.db'}"
    keys = tmp_path / "keys"
    upgrade(url)
    KeyStore(keys, TEST_PASSPHRASE).init(now)
    DataKeyStore(keys, TEST_PASSPHRASE).init(now)
    found = asyncio.run(_seed(url, keys, now))
    result = asyncio.run(_changeover(url, keys, now + dt.timedelta(minutes=1)))
    # the doctor's 4 re-issued (4 revoked) and 2 stale core skills copies; the other doctor (no registered
    # key, so not re-issued) loses their 2 stale core skills copies too
    assert (result.issued, result.revoked) == (4, 8)
    core = found["doctor_core_skills"] + found["other_core_skills"]
    assert asyncio.run(_states(url, core)) == ["revoked"] * 4
    identity = found["doctor_identity_link"] + found["other_identity_link"]
    assert asyncio.run(_states(url, identity)) == ["valid"] * 4
