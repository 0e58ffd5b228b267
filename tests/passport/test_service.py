"""What the credential lifecycle gets from the records (service/passport/service.py), on both databases:
the change feed, what lapses, the claims of each holder's credentials, and re-encryption."""

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.errors import Unavailable
from service.passport import service
from service.passport.encryption import DataKeyRing, DataKeyStore
from service.passport.models import OccupationalHealthRecord
from service.passport.schemas import OccupationalHealthRead, RecordCorrection, RecordCreate, RecordWithdrawal
from tests.factories import TEST_PASSPHRASE
from tests.passport.factories import (
    TODAY,
    World,
    core_skill,
    create_world,
    health,
    identity,
    issuer_principal,
    placement,
)

NOW = dt.datetime.now(dt.UTC)
BASE = "https://registry.example"


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await create_world(session)


async def submit(session: AsyncSession, keys: DataKeyRing, *bodies: dict[str, Any]) -> list[Any]:
    records = msgspec.convert(list(bodies), list[RecordCreate])
    return await service.submit(session, issuer_principal(), records, now=NOW, keys=keys)


# ---------------------------------------------------------------- the change feed


async def test_the_feed_names_each_affected_credential_once_per_batch(
    session: AsyncSession, world: World, data_keys: DataKeyRing
) -> None:
    start = await service.feed_position(session)
    await submit(
        session, data_keys, core_skill(world.doctor), core_skill(world.doctor, subject="resuscitation")
    )
    await submit(session, data_keys, health(world.other), placement(world.doctor, world.tree))
    batch = await service.changes_since(session, start)
    assert {(a.person_id, a.kind) for a in batch.affected} == {
        (world.doctor.id, "core_skills"),
        (world.other.id, "occupational_health"),
        (world.doctor.id, "training_placement"),
    }
    assert len(batch.affected) == 3
    assert not batch.more
    assert batch.cursor == await service.feed_position(session)
    again = await service.changes_since(session, batch.cursor)
    assert (again.affected, again.cursor, again.more) == ([], batch.cursor, False)


async def test_the_feed_pages_and_includes_corrections_and_withdrawals(
    session: AsyncSession, world: World, data_keys: DataKeyRing
) -> None:
    start = await service.feed_position(session)
    (skill,) = await submit(session, data_keys, core_skill(world.doctor))
    (oh,) = await submit(session, data_keys, health(world.other))
    first = await service.changes_since(session, start, limit=1)
    assert [(a.person_id, a.kind) for a in first.affected] == [(world.doctor.id, "core_skills")]
    assert first.more
    second = await service.changes_since(session, first.cursor, limit=1)
    assert [(a.person_id, a.kind) for a in second.affected] == [(world.other.id, "occupational_health")]
    assert not second.more

    fixed = msgspec.convert(core_skill(world.doctor, learning_method="face_to_face"), RecordCreate)
    await service.correct(
        session,
        issuer_principal(),
        skill.id,
        RecordCorrection(reason="method", record=fixed),
        now=NOW,
        keys=data_keys,
    )
    await service.withdraw(
        session, issuer_principal(), oh.id, RecordWithdrawal(reason="wrong person"), now=NOW, keys=data_keys
    )
    later = await service.changes_since(session, second.cursor)
    assert [(a.person_id, a.kind) for a in later.affected] == [
        (world.doctor.id, "core_skills"),
        (world.other.id, "occupational_health"),
    ]


async def test_lapsing_finds_what_stops_holding_in_a_window(
    session: AsyncSession, world: World, data_keys: DataKeyRing
) -> None:
    soon = TODAY + dt.timedelta(days=10)
    await submit(
        session,
        data_keys,
        core_skill(world.doctor, date_awarded="2025-01-01", date_to=soon.isoformat()),
        health(
            world.other,
            item="epp_clearance",
            outcome="cleared",
            review_date=(soon + dt.timedelta(days=1)).isoformat(),
        ),
        placement(world.doctor, world.tree, end_date=(soon - dt.timedelta(days=1)).isoformat()),
        identity(world.doctor),
        core_skill(world.other, subject="resuscitation", date_awarded="2025-06-01", date_to="2031-01-01"),
    )
    found = await service.lapsing(session, after=TODAY, through=soon)
    assert sorted((i.kind, i.lapses_on) for i in found.items) == [
        ("core_skills", soon),
        ("training_placement", soon),
    ]
    assert {(a.person_id, a.kind) for a in found.affected} == {
        (world.doctor.id, "core_skills"),
        (world.doctor.id, "training_placement"),
    }
    assert found.next is None
    day_after = await service.lapsing(session, after=soon, through=soon + dt.timedelta(days=1))
    assert [(i.person_id, i.kind) for i in day_after.items] == [(world.other.id, "occupational_health")]
    paged = await service.lapsing(session, after=TODAY, through=soon + dt.timedelta(days=1), limit=2)
    assert len(paged.items) == 2
    assert paged.next is not None
    rest = await service.lapsing(
        session, after=TODAY, through=soon + dt.timedelta(days=1), start=paged.next, limit=2
    )
    assert len(rest.items) == 1
    assert {i.record_id for i in paged.items}.isdisjoint({i.record_id for i in rest.items})


# ---------------------------------------------------------------- claims for the credentials


async def test_each_holder_gets_the_claims_of_their_current_records(
    session: AsyncSession, world: World, data_keys: DataKeyRing
) -> None:
    await submit(
        session,
        data_keys,
        core_skill(world.doctor),
        health(world.doctor, item="epp_clearance", outcome="cleared", review_date="2030-01-01"),
        placement(world.doctor, world.tree),
        identity(world.doctor),
        core_skill(world.doctor, subject="resuscitation", date_awarded="2020-01-01", date_to="2021-01-01"),
    )
    names: dict[str, str] = {}
    for kind in ("core_skills", "occupational_health", "training_placement", "identity_link"):
        claims = await service.credential_claims(
            session,
            [world.doctor.id, world.other.id],
            kind,
            on=TODAY,
            base_url=BASE,
            keys=data_keys,
            names=names,
        )
        assert claims[world.other.id] is None
        mine = claims[world.doctor.id]
        assert mine is not None
        assert mine.vct.startswith(f"{BASE}/vct/")
    skills = (
        await service.credential_claims(
            session, [world.doctor.id], "core_skills", on=TODAY, base_url=BASE, keys=data_keys
        )
    )[world.doctor.id]
    assert skills is not None
    assert [s["subject"] for s in skills.claims["core_skills"]] == [
        "fire_safety"
    ]  # the expired one is left out
    oh = (
        await service.credential_claims(
            session, [world.doctor.id], "occupational_health", on=TODAY, base_url=BASE, keys=data_keys
        )
    )[world.doctor.id]
    assert oh is not None
    assert oh.claims["occupational_health"][0]["outcome"] == "cleared"
    post = (
        await service.credential_claims(
            session, [world.doctor.id], "training_placement", on=TODAY, base_url=BASE, keys=data_keys
        )
    )[world.doctor.id]
    assert post is not None
    assert post.claims["placements"][0]["site_name"] == f"Test organisation {world.tree.site}"
    assert names[world.tree.trust] == f"Test organisation {world.tree.trust}"


# ---------------------------------------------------------------- keys


async def test_after_a_rotation_old_outcomes_still_open_and_reencrypt_moves_them(
    session: AsyncSession, world: World, tmp_path: Path
) -> None:
    store = DataKeyStore(tmp_path, TEST_PASSPHRASE)
    store.init(NOW)
    old_ring = store.load()
    created = await submit(session, old_ring, health(world.doctor), health(world.other, item="varicella"))
    old_kid = old_ring.active_kid
    store.rotate(NOW)
    ring = store.load()
    assert ring.active_kid != old_kid
    assert await service.sealed_by_key(session) == {old_kid: 2}
    opened = await service.get_record(session, issuer_principal(), created[0].id, ring)
    assert isinstance(opened, OccupationalHealthRead)
    assert opened.outcome == "immune"
    assert await service.reencrypt(session, ring, batch=1) == 1
    assert await service.reencrypt(session, ring, batch=10) == 1
    assert await service.reencrypt(session, ring, batch=10) == 0
    assert await service.sealed_by_key(session) == {ring.active_kid: 2}
    for record in created:
        read = await service.get_record(session, issuer_principal(), record.id, ring)
        assert isinstance(read, OccupationalHealthRead)
        assert read.outcome == "immune"


async def test_a_sealed_outcome_moved_to_another_row_does_not_open(
    session: AsyncSession, world: World, data_keys: DataKeyRing
) -> None:
    first, second = await submit(
        session, data_keys, health(world.doctor), health(world.other, outcome="non_immune")
    )
    rows = {r.id: r for r in (await session.scalars(select(OccupationalHealthRecord))).all()}
    rows[second.id].oh_sealed = rows[first.id].oh_sealed  # someone with database access swaps outcomes
    await session.flush()
    with pytest.raises(Unavailable, match="cannot be decrypted"):
        await service.get_record(session, issuer_principal(), second.id, data_keys)
