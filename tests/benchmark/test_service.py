"""Inputs from the database (SQLite and PostgreSQL): organisations through the workforce service,
learners from this domain's table, the rest through the placements interface."""

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.benchmark import service
from service.benchmark.canonical import BenchmarkInputs
from service.benchmark.csv_inputs import read_folder
from service.benchmark.learners import parse_csv
from service.benchmark.sources import LogbookRow, PlacementRow, VolumeRow
from service.workforce import service as workforce
from tests.benchmark.conftest import FILES

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
ADMIN = Principal(subject="test-admin", kind="client", role=Role.ADMIN, organisation=None)


class FromInputs:
    """A placements source that hands over the tables of canonical inputs, recording what it was asked."""

    def __init__(self, inputs: BenchmarkInputs) -> None:
        self.inputs = inputs
        self.asked: list[tuple[str, Any]] = []

    async def placements(
        self, session: AsyncSession, *, site_codes: Sequence[str], start: dt.date, end: dt.date
    ) -> Sequence[PlacementRow]:
        self.asked.append(("placements", (tuple(site_codes), start, end)))
        return self.inputs.placements.rows()

    async def logbook_counts(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> Sequence[LogbookRow]:
        self.asked.append(("logbook", (tuple(site_codes), tuple(years))))
        return self.inputs.logbook.rows()

    async def volumes(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> Sequence[VolumeRow]:
        self.asked.append(("volumes", (tuple(site_codes), tuple(years))))
        return self.inputs.volumes.rows()


async def test_the_database_gives_the_same_inputs_and_hash_as_the_csv_folder(
    session: AsyncSession, folder: Path
) -> None:
    imported = await workforce.import_organisations(session, FILES["organisations.csv"].encode(), NOW)
    assert imported.created == 6
    rows, problems = parse_csv(FILES["learners.csv"].encode(), 2026)
    assert problems == []
    await service.submit_learners(session, ADMIN, [item for _, item in rows], NOW)
    from_folder = read_folder(folder, 2025, today=NOW.date())
    source = FromInputs(from_folder)
    from_database = await service.inputs_from_database(session, 2025, source=source)
    assert from_database.organisations.equals(from_folder.organisations)
    assert from_database.learners.equals(from_folder.learners)
    assert from_database.sha256() == from_folder.sha256()
    sites = ("NT301", "NT302")
    assert source.asked == [
        ("placements", (sites, dt.date(2024, 4, 1), dt.date(2026, 3, 31))),
        ("logbook", (sites, (2024, 2025))),
        ("volumes", (sites, (2024, 2025))),
    ]


async def test_without_placements_a_benchmark_counts_the_submissions(session: AsyncSession) -> None:
    await workforce.import_organisations(session, FILES["organisations.csv"].encode(), NOW)
    rows, _ = parse_csv(FILES["learners.csv"].encode(), 2026)
    await service.submit_learners(session, ADMIN, [item for _, item in rows], NOW)
    report = service.report_of(await service.inputs_from_database(session, 2025))
    nurses = next(t for t in report.tables if t.id == "learners_by_route")
    student = next(r for r in nurses.rows if r.code == "student_placement")
    assert (student.total.value, student.total.previous) == (12, 9)
