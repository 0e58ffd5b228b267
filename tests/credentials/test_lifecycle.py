"""The lifecycle: a record added, corrected, withdrawn or reaching its date to re-issues the affected
credential, revokes the superseded one and tells the holder; the notification sender."""

import datetime as dt
import logging

import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.credentials import service, worker
from service.credentials.models import Credential, Notification
from service.passport import sdjwt
from service.passport import service as passport
from service.passport.encryption import DataKeyRing
from service.passport.models import Record
from service.passport.schemas import RecordCorrection, RecordCreate, RecordWithdrawal
from tests.conftest import ConnectionDatabase
from tests.credentials import factories as cf
from tests.credentials.test_service import NOW, doctor_with_key
from tests.passport import factories as pf


async def current(session: AsyncSession, app: Litestar, person: object, kind: str) -> sdjwt.HeldCredential:
    held = await service.holder_credentials(session, cf.issuer_of(app), person)  # type: ignore[arg-type]
    return sdjwt.HeldCredential.parse(next(h.credential for h in held if h.kind == kind))


async def states(session: AsyncSession, person: object) -> list[str]:
    rows = (await session.scalars(select(Credential).where(Credential.person_id == person))).all()
    return sorted(r.state for r in rows)


async def notes(session: AsyncSession, person: object) -> int:
    return len((await session.scalars(select(Notification).where(Notification.person_id == person))).all())


async def test_added_corrected_and_withdrawn_records_reissue_and_revoke(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    first = await service.lifecycle_step(session, issuer, now=NOW)
    assert first.changes.issued == 4
    assert await states(session, world.doctor.id) == ["valid"] * 4
    idle = await service.lifecycle_step(session, issuer, now=NOW)
    assert idle.changes.issued == 0

    # added: a new subject
    added = await cf.submit(
        session,
        data_keys,
        [pf.core_skill(world.doctor, subject="information_governance")],
        world.tree.trust,
        NOW,
    )
    step = await service.lifecycle_step(session, issuer, now=NOW)
    assert (step.changes.issued, step.changes.revoked) == (1, 1)
    subjects = {
        r["subject"]
        for r in (await current(session, app, world.doctor.id, "core_skills")).claims["core_skills"]
    }
    assert "information_governance" in subjects
    assert await notes(session, world.doctor.id) >= 1

    # corrected: the provider's name was wrong
    fixed = msgspec.convert(
        pf.core_skill(world.doctor, subject="information_governance", learning_provider="Skills for Health"),
        RecordCreate,
    )
    await passport.correct(
        session,
        pf.issuer_principal(world.tree.trust),
        added[0].id,
        RecordCorrection(reason="wrong provider", record=fixed),
        now=NOW,
        keys=data_keys,
    )
    await service.lifecycle_step(session, issuer, now=NOW)
    records = (await current(session, app, world.doctor.id, "core_skills")).claims["core_skills"]
    assert {r["learning_provider"] for r in records if r["subject"] == "information_governance"} == {
        "Skills for Health"
    }

    # withdrawn: the identity link was stated in error; nothing left to state, so it is revoked
    identity = await session.scalar(
        select(Record.id).where(
            Record.person_id == world.doctor.id, Record.kind == "identity_link", Record.state == "current"
        )
    )
    assert identity is not None
    await passport.withdraw(
        session,
        pf.issuer_principal(world.tree.trust),
        identity,
        RecordWithdrawal(reason="stated in error"),
        now=NOW,
        keys=data_keys,
    )
    step = await service.lifecycle_step(session, issuer, now=NOW)
    assert (step.changes.issued, step.changes.revoked) == (0, 1)
    held = await service.holder_credentials(session, issuer, world.doctor.id)
    assert "identity_link" not in {h.kind for h in held}
    assert await states(session, world.doctor.id) == ["revoked"] * 3 + ["valid"] * 3


async def test_a_record_reaching_its_date_to_reissues_without_it(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    awarded = NOW.date() - dt.timedelta(
        days=3 * 365 - 1
    )  # CSTF fire safety: in date until tomorrow (36 months)
    await cf.submit(
        session,
        data_keys,
        [
            pf.core_skill(
                world.doctor,
                subject="moving_handling",
                level=1,
                date_awarded=awarded.isoformat(),
                date_to=(NOW.date() + dt.timedelta(days=1)).isoformat(),
            )
        ],
        world.tree.trust,
        NOW,
    )
    await service.lifecycle_step(session, issuer, now=NOW)
    before = await current(session, app, world.doctor.id, "core_skills")
    assert "moving_handling" in {r["subject"] for r in before.claims["core_skills"]}
    assert before.payload["exp"] <= int(
        dt.datetime.combine(NOW.date() + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()
    )
    later = NOW + dt.timedelta(days=2)
    step = await service.lifecycle_step(session, issuer, now=later)
    assert step.lapses.issued == 1
    assert step.lapses.revoked == 1
    after = await current(session, app, world.doctor.id, "core_skills")
    assert "moving_handling" not in {r["subject"] for r in after.claims["core_skills"]}


async def test_demo_mode_logs_notifications_without_their_body(
    session: AsyncSession,
    app: Litestar,
    data_keys: DataKeyRing,
    database: ConnectionDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    await service.lifecycle_step(session, cf.issuer_of(app), now=NOW)
    await cf.submit(
        session,
        data_keys,
        [pf.core_skill(world.doctor, subject="information_governance")],
        world.tree.trust,
        NOW,
    )
    await service.lifecycle_step(session, cf.issuer_of(app), now=NOW)
    await session.commit()
    settings = msgspec.structs.replace(app.state.settings, demo_mode=True)
    with caplog.at_level(logging.INFO, logger="service.credentials"):
        sent = await worker.send_notifications(database, settings, NOW)
    assert sent >= 1
    lines = [r.getMessage() for r in caplog.records]
    assert f"notification for {world.doctor.id}: Your staff passport credentials have changed" in lines
    assert not any("fetch" in line or "immune" in line for line in lines)
    assert await worker.send_notifications(database, settings, NOW) == 0  # each is sent once


async def test_a_credential_near_its_expiry_is_renewed_once(
    session: AsyncSession, app: Litestar, data_keys: DataKeyRing
) -> None:
    world, _ = await doctor_with_key(session, data_keys)
    issuer = cf.issuer_of(app)
    issuer.lifetime_days = 10
    await service.lifecycle_step(session, issuer, now=NOW)
    later = NOW + dt.timedelta(days=5)
    renewed = await service.lifecycle_step(session, issuer, now=later)
    assert renewed.lapses.issued == 4
    again = await service.lifecycle_step(session, issuer, now=later + dt.timedelta(minutes=1))
    assert again.lapses.issued == 0
    held = await current(session, app, world.doctor.id, "identity_link")
    assert held.payload["exp"] == int((later + dt.timedelta(days=10)).timestamp())
