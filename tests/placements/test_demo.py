"""The placements demo step: the demo coordinator's rotation plan is loaded and can be matched."""

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import demo
from service.auth import Principal, Role
from service.config import Settings
from service.passport.models import Record
from service.placements import repository, service
from service.placements.demo import last_rotation
from service.placements.models import CurriculumItem, LogbookEntry, PlacementRecord, Volume
from service.placements.schemas import RunCreate

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)


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


async def test_the_demos_last_rotation_is_published_and_the_benchmark_from_the_database_counts_it(
    session: AsyncSession, settings: Settings
) -> None:
    from service.benchmark import service as benchmark
    from service.benchmark.canonical import fy_of

    summary = await demo.seed(session, settings=settings, scale=0.2, seed=3, now=NOW)
    start = last_rotation(NOW.date())
    assert (start.isoformat(), start.weekday()) == ("2026-04-01", 2)  # a Wednesday, seven months back
    line = next(line for line in summary.splitlines() if "last rotation" in line)
    records = (await session.scalars(select(PlacementRecord))).all()
    assert records
    assert all(r.start_date == start for r in records)
    assert f"published: {len(records)} placements" in line
    from_the_run = await session.scalar(
        select(func.count())
        .select_from(Record)
        .where(
            Record.kind == "training_placement", Record.assurance_policy.startswith("Placement match run ")
        )
    )
    assert from_the_run == len(records)  # each placement is a passport record of the training office
    at_sites = await session.scalar(
        select(func.count())
        .select_from(LogbookEntry)
        .where(LogbookEntry.site_code.in_({r.site_code for r in records}))
    )
    assert at_sites
    assert await repository.kept_logbook_counts(session) == await repository.raw_logbook_counts(session)

    report = benchmark.report_of(await benchmark.inputs_from_database(session, fy_of(NOW.date())))
    tables = {t.id: t for t in report.tables}
    doctors = next(r for r in tables["placements_by_route"].rows if r.code == "doctors_in_training")
    assert doctors.total.value == len(records)  # the year's doctors' placements are the published ones
    procedures = tables["procedures_by_site"].total.total.value
    assert procedures  # logbook entries at independent sites
