"""Inputs from the database (SQLite and PostgreSQL): organisations through the workforce service,
learners from this domain's table, the rest through the placements interface."""

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.benchmark import service
from service.benchmark.canonical import GROUP_COUNTS, GROUP_VOLUMES, BenchmarkInputs
from service.benchmark.csv_inputs import read_folder
from service.benchmark.learners import parse_csv
from service.benchmark.sources import LogbookRow, PlacementRow, VolumeRow
from service.workforce import service as workforce
from tests.benchmark.conftest import FILES
from tests.placements.factories import coordinator, create_world, load_example

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
ADMIN = Principal(subject="test-admin", kind="client", role=Role.ADMIN, organisation=None)


class FromFolder:
    """A placements source that hands over the folder's placements, logbook counts per procedure group
    and volumes per group in the source protocol's shapes, recording what it was asked."""

    def __init__(self, inputs: BenchmarkInputs, folder: Path) -> None:
        self.inputs = inputs
        self.folder = folder
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
        day = pl.col("date").str.to_date()
        year = pl.when(day.dt.month() >= 4).then(day.dt.year()).otherwise(day.dt.year() - 1)
        counted = (
            pl.read_csv(self.folder / "logbook.csv", infer_schema=False)
            .with_columns(financial_year=year.cast(pl.Int32))
            .filter(pl.col("site_code").is_in(list(site_codes)) & pl.col("financial_year").is_in(list(years)))
            .group_by("financial_year", "trainee_id", "site_code", "procedure_group", "supervision")
            .agg(pl.len().cast(pl.Int64).alias("entries"))
        )
        return counted.select(list(GROUP_COUNTS)).rows()

    async def volumes(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> Sequence[VolumeRow]:
        self.asked.append(("volumes", (tuple(site_codes), tuple(years))))
        frame = pl.read_csv(self.folder / "volumes.csv", infer_schema=False).with_columns(
            financial_year=pl.col("financial_year").str.slice(0, 4).cast(pl.Int32),
            nhs_funded_count=pl.col("nhs_funded_count").cast(pl.Int64),
        )
        wanted = pl.col("site_code").is_in(list(site_codes)) & pl.col("financial_year").is_in(list(years))
        return frame.filter(wanted).select(list(GROUP_VOLUMES)).rows()


async def test_the_database_gives_the_same_inputs_and_hash_as_the_csv_folder(
    session: AsyncSession, folder: Path
) -> None:
    imported = await workforce.import_organisations(session, FILES["organisations.csv"].encode(), NOW)
    assert imported.created == 6
    await workforce.import_people(session, FILES["people.csv"].encode(), NOW)  # registered grades
    rows, problems = parse_csv(FILES["learners.csv"].encode(), 2026)
    assert problems == []
    await service.submit_learners(session, ADMIN, [item for _, item in rows], NOW)
    from_folder = read_folder(folder, 2025, today=NOW.date())
    source = FromFolder(from_folder, folder)
    from_database = await service.inputs_from_database(session, 2025, source=source)
    assert from_database.organisations.equals(from_folder.organisations)
    assert from_database.learners.equals(from_folder.learners)
    assert from_database.logbook.equals(from_folder.logbook)
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


async def test_from_the_database_the_benchmark_counts_the_registrys_published_placements_and_logbooks(
    session: AsyncSession, app: Litestar, client: httpx.AsyncClient
) -> None:
    """The seam end to end: placements loaded and published through the placements API, the benchmark
    computed from the database with the default source (what `passport benchmark compute` does)."""
    await create_world(session)
    headers = await coordinator(session, app)
    dataset = await load_example(client, headers)
    run = await client.post(
        f"/api/v1/placements/datasets/{dataset}/runs", json={"start_date": "2027-08-04"}, headers=headers
    )
    assert run.status_code == 201, run.text
    published = await client.post(
        f"/api/v1/placements/runs/{run.json()['id']}/publish", json={}, headers=headers
    )
    assert published.status_code == 201, published.text

    placed = await service.inputs_from_database(session, 2027)
    assert sorted(placed.placements.select("person_id", "site_code", "grade").rows()) == [
        ("7100001", "NT402", "ST4"),
        ("7100002", "NT301", "ST6"),
        ("7100003", "NT402", "CT2"),
        ("7100004", "NVC11", "ST5"),
        ("7100005", "NT301", "ST3"),
    ]
    report = service.report_of(placed)
    learners = next(t for t in report.tables if t.id == "learners_by_site")
    assert learners.total.total.value == 5  # totals come from the unsuppressed data
    assert {r.code for r in learners.rows} >= {"NT301", "NT402", "NVC11"}

    logged = await service.inputs_from_database(session, 2025)  # the example's logbook is of 2025-26
    assert logged.logbook.rows() == [  # entries at NHS trusts are not the independent sector's
        (2025, "7100004", "ST5", "NVC11", "ophthalmology", "P", 1),
        (2025, "7100004", "ST5", "NVC11", "ophthalmology", "S-TS", 1),
    ]
    assert logged.volumes.filter(pl.col("financial_year") == 2025)["nhs_funded_count"].sum() == 6600
