"""The placements demo step: the demo coordinator's rotation plan is loaded and can be matched."""

import datetime as dt

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import auth, demo
from service.auth import Principal, Role
from service.config import Settings
from service.placements import service
from service.placements.models import CurriculumItem, LogbookEntry, Volume
from service.placements.schemas import RunCreate

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_the_demo_rotation_is_ready_to_match(session: AsyncSession, settings: Settings) -> None:
    summary = await demo.seed(session, settings=settings, scale=0.2, seed=3, now=NOW)
    assert "placements: volumes of 150 independent sites" in summary
    assert await _count(session, Volume) > 0
    assert await _count(session, CurriculumItem) == 12
    assert await _count(session, LogbookEntry) > 0
    admin = Principal(subject="test", kind="client", role=Role.ADMIN, organisation=None)
    (dataset,) = (await service.list_datasets(session, admin)).items
    assert dataset.rows["trainees"] > 0
    assert dataset.organisation_code is not None
    coordinator = Principal(
        subject="t", kind="client", role=Role.COORDINATOR, organisation=dataset.organisation_code
    )
    run = await service.create_run(session, coordinator, dataset.id, RunCreate(mode="optimal"), NOW)
    assert run.summary.matched > 0
    assert run.summary.total_value > 0
    again = await demo.seed(session, settings=settings, scale=0.2, seed=3, now=NOW)
    assert again.startswith("Nothing to do")
