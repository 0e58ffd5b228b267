"""The passport step of ``passport demo seed`` (service/passport/demo.py), on SQLite and PostgreSQL."""

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import demo
from service.config import Settings
from service.passport import service
from service.passport.demo import _Builder, changeover_after
from service.passport.encryption import DataKeyRing, DataKeyStore
from service.passport.models import CompliancePolicy, Record
from service.passport.policy import evaluate
from service.passport.schemas import CoreSkillCreate, RecordKind
from service.workforce.demo import demo_cast
from service.workforce.synthetic import generate
from tests.factories import TEST_PASSPHRASE
from tests.passport.factories import issuer_principal

SCALE = 0.02  # 100 doctors
SEED = 7
NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
TODAY = NOW.date()
KINDS: tuple[RecordKind, ...] = ("core_skills", "occupational_health", "training_placement", "identity_link")


@pytest.fixture
def demo_settings(settings: Settings, tmp_path: Path) -> Settings:
    keys = tmp_path / "demo-keys"
    DataKeyStore(keys, TEST_PASSPHRASE).init(NOW)
    return msgspec.structs.replace(settings, keys_dir=keys)


@pytest.fixture
def keys(demo_settings: Settings) -> DataKeyRing:
    return DataKeyStore(demo_settings.keys_dir, TEST_PASSPHRASE).load()


async def _count(session: AsyncSession, *where: object) -> int:
    return int(await session.scalar(select(func.count()).select_from(Record).where(*where)) or 0)  # type: ignore[arg-type]


async def test_every_doctor_gets_records_of_every_kind_and_three_policies(
    session: AsyncSession, demo_settings: Settings, keys: DataKeyRing
) -> None:
    summary = await demo.seed(session, settings=demo_settings, scale=SCALE, seed=SEED, now=NOW)
    assert "passport" in summary.splitlines()[0]
    assert "compliance policies: Independent sector theatre list, surgical trainee" in summary
    doctors = 100
    rows = await session.execute(
        select(Record.kind, func.count(func.distinct(Record.person_id))).group_by(Record.kind)
    )
    assert dict(rows.all()) == dict.fromkeys(KINDS, doctors)
    assert await _count(session, Record.kind == "core_skills") == 11 * doctors
    assert await _count(session, Record.lapses_on <= TODAY) > 0  # a few lapsed
    assert (
        await _count(session, Record.lapses_on > TODAY, Record.lapses_on <= TODAY + dt.timedelta(days=60)) > 0
    )
    policies = (await session.scalars(select(CompliancePolicy))).all()
    assert len(policies) == 3
    batch = await service.changes_since(session, 0)
    assert len(batch.affected) == 4 * doctors
    again = await demo.seed(session, settings=demo_settings, scale=SCALE, seed=SEED, now=NOW)
    assert again.startswith("Nothing to do")


def test_the_demo_rotation_is_three_weeks_to_eleven_months_ahead_on_every_day() -> None:
    day = dt.date(2026, 1, 1)
    while day < dt.date(2030, 1, 1):
        start = changeover_after(day)
        assert start.weekday() == 2, (day, start)
        assert start.day <= 7, (day, start)
        assert start.month in (2, 8), (day, start)
        assert dt.timedelta(days=21) <= start - day <= dt.timedelta(days=330), (day, start)
        if start.month == 2:  # February only when no August Wednesday fits
            august = dt.date(start.year, 8, 1)
            august += dt.timedelta(days=(2 - august.weekday()) % 7)
            assert not dt.timedelta(days=21) <= august - day <= dt.timedelta(days=330), (day, start)
        day += dt.timedelta(days=1)


@pytest.mark.parametrize(
    "now",
    [
        NOW,
        dt.datetime(2027, 7, 20, 9, 30, tzinfo=dt.UTC),  # August's changeover under three weeks away
        dt.datetime(2027, 8, 5, 9, 30, tzinfo=dt.UTC),  # the day after it
        dt.datetime(2028, 2, 20, 9, 30, tzinfo=dt.UTC),
    ],
    ids=str,
)
async def test_the_demo_doctor_fails_the_theatre_list_on_one_subject_until_it_is_renewed(
    session: AsyncSession, demo_settings: Settings, keys: DataKeyRing, now: dt.datetime
) -> None:
    today = now.date()
    await demo.seed(session, settings=demo_settings, scale=SCALE, seed=SEED, now=now)
    cast = demo_cast(generate(SCALE, SEED, today), seed=SEED)
    assert cast.holder_id is not None
    start = changeover_after(today)
    page = await service.list_policies(
        session,
        organisation=cast.site.code,
        name="theatre-surgical-trainee",
        all_versions=False,
        limit=1,
        offset=0,
    )
    theatre = page.items[0]

    holder = cast.holder_id

    async def judged() -> list[str]:
        claims: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            built = await service.credential_claims(
                session, [holder], kind, on=today, base_url="https://r.example", keys=keys
            )
            if (claim_set := built[holder]) is not None:
                claims[kind] = claim_set.claims
        outcome = evaluate(
            theatre.rules, claims, start, organisation_code=theatre.organisation_code, today=today
        )
        return [r.reason for r in outcome.rules if not r.passed]

    until = (start - dt.timedelta(days=21)).isoformat()
    assert await judged() == [f"Information governance and data security expires on {until}, before {start}"]
    renewal = CoreSkillCreate(
        person_id=cast.holder_id,
        assurance_policy="CSTF attainment from the learning system",
        assurance_outcome="verified",
        verification_method="source_system",
        subject="information_governance",
        date_awarded=today,
        learning_provider="e-Learning for Healthcare",
        learning_method="e_learning",
    )
    await service.submit(session, issuer_principal(cast.trust.code), [renewal], now=now, keys=keys)
    assert await judged() == []


def test_the_records_are_deterministic(keys: DataKeyRing) -> None:
    world = generate(SCALE, SEED, TODAY)
    cast = demo_cast(world, seed=SEED)

    def build() -> list[dict[str, object]]:
        builder = _Builder(world, cast, seed=SEED, today=TODAY, now=NOW, keys=keys)
        for person in world.people:
            if person.gmc_number is not None:
                builder.doctor(person, cast.holder is not None and person.key == cast.holder.key)
        return [{k: v for k, v in row.items() if k != "oh_sealed"} for row in builder.rows]

    first, second = build(), build()
    assert first == second
    assert len({row["id"] for row in first}) == len(first)
