"""The benchmark of a national year: 10 million logbook entries a year, 500 independent sites.

Goal (issue 5): the whole benchmark, with exact distinct counts, in under 10 s on SQLite and under 5 s
on PostgreSQL, within 3x of the same aggregation run by DuckDB on a Parquet copy of the data, measured
in the same run.

What it does, deterministically from ``--seed``:

1. generates the data: organisations (7 regions, 42 ICBs, providers, ``--sites`` independent sites and
   NHS trusts), trainees with grades and specialties, placement records for years Y-1 and Y, provider
   learner submissions, NHS-funded volumes, and ``--entries`` raw logbook entries in each of the two
   years (20 million rows by default) with their dates, procedure groups and supervision levels;
2. writes the raw data as Parquet (the DuckDB copy);
3. loads SQLite and PostgreSQL (a database of its own, created from the maintenance database and
   dropped afterwards) in the layout chosen in docs/decisions/0012-benchmark-engine.md: the registry's
   migrated schema plus the placements domain's tables as the benchmark expects them, among them the
   per-trainee logbook counts that the placements domain maintains on write (``logbook_year_counts``,
   built here from the raw entries in one pass, as the writes would have left it);
4. runs the whole benchmark through ``service.benchmark.service`` on each database (inputs through the
   placements interface in SQL, computation, suppression, the JSON output and its signature; then the
   other three formats) and the same aggregation with DuckDB straight from the raw Parquet files;
5. checks that both give the same figures, and prints the times.

    python bench/benchmark_national.py                      # 10 M entries a year, SQLite and PostgreSQL
    python bench/benchmark_national.py --entries 1000000    # smaller
    python bench/benchmark_national.py --skip-postgres

Generated data lives under ``--workdir`` (default ``var/bench-national``, not in git).
"""

import argparse
import asyncio
import datetime as dt
import os
import platform
import shlex
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
from sqlalchemy.ext.asyncio import AsyncSession

from service.benchmark import service
from service.benchmark.canonical import (
    GRADE_BAND,
    NOT_RECORDED,
    SUPERVISION,
    fy_end,
    fy_start,
)
from service.benchmark.compute import _Benchmark
from service.benchmark.sources import LogbookRow, PlacementRow, VolumeRow
from service.db import Database, make_engine, upgrade
from service.keys import KeyRing, KeyStore

YEAR = 2025
KINDS = ["region", "icb", "nhs_trust", "independent_provider", "independent_site"]
"""Parents before children, so foreign keys hold while loading."""
GOALS = {"sqlite": 10.0, "postgresql": 5.0}
SPECIALTIES = {
    "trauma and orthopaedics": [
        "total hip replacement",
        "total knee replacement",
        "arthroscopy",
        "carpal tunnel",
    ],
    "ophthalmology": ["cataract", "vitrectomy", "glaucoma"],
    "general surgery": ["inguinal hernia", "cholecystectomy", "appendicectomy", "colonoscopy"],
    "urology": ["cystoscopy", "prostatectomy", "ureteroscopy"],
    "ent": ["tonsillectomy", "septoplasty", "grommets"],
    "gynaecology": ["hysteroscopy", "hysterectomy", "laparoscopy"],
    "plastic surgery": ["skin lesion", "hand surgery"],
    "anaesthetics": ["general anaesthetic", "regional block"],
}
GRADES = ["FY1", "FY2", "CT1", "CT2", "CT3", "ST3", "ST4", "ST5", "ST6", "ST7", "ST8"]
SUPERVISION_WEIGHTS = [0.10, 0.20, 0.25, 0.20, 0.22, 0.03]


# ---------------------------------------------------------------- generation


def generate(entries: int, sites: int, trainees: int, seed: int) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    orgs: list[tuple[str, str, str, str | None, str | None]] = []
    regions = [f"Y{60 + r}" for r in range(7)]
    orgs += [(code, f"Region {code}", "region", None, None) for code in regions]
    icbs = [f"Q{100 + i}" for i in range(42)]
    orgs += [(code, f"ICB {code}", "icb", regions[i % 7], None) for i, code in enumerate(icbs)]
    orgs += [(f"R{100 + i}", f"Trust {i}", "nhs_trust", icbs[i % 42], icbs[i % 42]) for i in range(120)]
    providers = [f"N{100 + p}" for p in range(max(sites // 8, 1))]
    orgs += [(code, f"Provider {code}", "independent_provider", None, None) for code in providers]
    site_codes = [f"NS{1000 + s}" for s in range(sites)]
    site_provider = rng.integers(0, len(providers), sites)
    site_icb = rng.integers(0, 42, sites)
    orgs += [
        (code, f"Site {code}", "independent_site", providers[site_provider[s]], icbs[site_icb[s]])
        for s, code in enumerate(site_codes)
    ]
    organisations = pl.DataFrame(
        orgs, schema=["code", "name", "kind", "parent_code", "icb_code"], orient="row"
    )

    specialty_names = list(SPECIALTIES)
    groups = [(s, g) for s in specialty_names for g in SPECIALTIES[s]]
    group_names = np.array([g for _, g in groups])
    group_specialty = np.array([s for s, _ in groups])
    first_group = np.array(
        [sum(len(SPECIALTIES[n]) for n in specialty_names[:i]) for i in range(len(specialty_names))]
    )
    group_count = np.array([len(SPECIALTIES[n]) for n in specialty_names])

    trainee_ids = np.array([f"{7_000_000 + t}" for t in range(trainees)])
    trainee_specialty = rng.integers(0, len(specialty_names), trainees)
    grade_index = rng.integers(0, len(GRADES), trainees)

    placements = []
    logbooks = []
    for year in (YEAR - 1, YEAR):
        year_grade = np.minimum(grade_index + (year - (YEAR - 1)), len(GRADES) - 1)
        home = rng.integers(0, sites, trainees)
        start = fy_start(year)
        offsets = rng.integers(0, 120, trainees)
        lengths = rng.integers(120, 240, trainees)
        grades = np.array(GRADES)[year_grade]
        placements.append(
            pl.DataFrame(
                {
                    "person_id": trainee_ids,
                    "site_code": np.array(site_codes)[home],
                    "specialty": np.array(specialty_names)[trainee_specialty],
                    "staff_group": "medical",
                    "grade": grades,
                    "route": "doctors_in_training",
                    "start_date": [start + dt.timedelta(days=int(o)) for o in offsets],
                    "end_date": [
                        start + dt.timedelta(days=int(o + n)) for o, n in zip(offsets, lengths, strict=True)
                    ],
                }
            )
        )
        who = rng.integers(0, trainees, entries)
        group = first_group[trainee_specialty[who]] + (
            rng.random(entries) * group_count[trainee_specialty[who]]
        ).astype(np.int64)
        day = rng.integers(0, 365, entries)
        logbooks.append(
            pl.DataFrame(
                {
                    "trainee_id": trainee_ids[who],
                    "procedure_group": group_names[group],
                    "date": pl.Series(day + (start - dt.date(1970, 1, 1)).days, dtype=pl.Int32).cast(pl.Date),
                    "supervision": np.array(SUPERVISION)[
                        rng.choice(len(SUPERVISION), entries, p=SUPERVISION_WEIGHTS)
                    ],
                    "site_code": np.array(site_codes)[home[who]],
                }
            )
        )
    volumes = pl.DataFrame(
        {
            "site_code": np.repeat(site_codes, len(groups) * 2),
            "specialty": np.tile(np.repeat(group_specialty, 2), sites),
            "procedure_group": np.tile(np.repeat(group_names, 2), sites),
            "financial_year": np.tile([YEAR - 1, YEAR], sites * len(groups)).astype(np.int32),
            "nhs_funded_count": rng.integers(0, 900, sites * len(groups) * 2),
        }
    )
    learner_rows = []
    for year in (YEAR - 1, YEAR):
        for s, code in enumerate(site_codes):
            for group, route in (
                ("nursing", "student_placement"),
                ("allied_health", "apprenticeship"),
                ("other", "other"),
            ):
                learners = int(rng.integers(0, 15))
                placements_n = learners + int(rng.integers(0, 3)) if learners else 0
                weeks = round(placements_n * float(rng.uniform(2, 12)), 1)
                learner_rows.append(
                    (year, providers[site_provider[s]], code, group, route, learners, placements_n, weeks)
                )
    learners_frame = pl.DataFrame(
        learner_rows,
        schema=[
            "financial_year",
            "provider_code",
            "site_code",
            "staff_group",
            "route",
            "learners",
            "placements",
            "placement_weeks",
        ],
        orient="row",
    )
    trainees_frame = pl.DataFrame({"trainee_id": trainee_ids, "grade": np.array(GRADES)[grade_index]})
    return {
        "organisations": organisations,
        "placements": pl.concat(placements),
        "logbook": pl.concat(logbooks),
        "volumes": volumes,
        "learners": learners_frame,
        "trainees": trainees_frame,
    }


def year_counts(data: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The placements domain's ``logbook_year_counts`` as its writes leave it (here in one pass)."""
    specialty_of = data["volumes"].select("procedure_group", "specialty").unique()
    day = pl.col("date")
    year = pl.when(day.dt.month() >= 4).then(day.dt.year()).otherwise(day.dt.year() - 1).cast(pl.Int32)
    grades = (
        data["placements"]
        .select(
            pl.col("person_id").alias("trainee_id"),
            pl.col("grade"),
            pl.col("start_date")
            .map_elements(lambda d: d.year if d.month >= 4 else d.year - 1, return_dtype=pl.Int32)
            .alias("financial_year"),
        )
        .unique(subset=["trainee_id", "financial_year"], keep="first")
    )
    return (
        data["logbook"]
        .with_columns(financial_year=year)
        .join(specialty_of, on="procedure_group", how="left")
        .group_by("financial_year", "site_code", "specialty", "supervision", "trainee_id")
        .agg(pl.len().cast(pl.Int64).alias("entries"))
        .join(grades, on=["trainee_id", "financial_year"], how="left")
        .select("financial_year", "site_code", "specialty", "supervision", "trainee_id", "grade", "entries")
    )


# ---------------------------------------------------------------- the layout and the source

LAYOUT = [
    """CREATE TABLE placement_records (
        person_id VARCHAR(64) NOT NULL, site_code VARCHAR(10) NOT NULL, specialty VARCHAR(60),
        staff_group VARCHAR(20) NOT NULL, grade VARCHAR(10), route VARCHAR(30) NOT NULL,
        start_date DATE NOT NULL, end_date DATE NOT NULL)""",
    "CREATE INDEX ix_placement_records_dates ON placement_records (end_date, start_date)",
    """CREATE TABLE logbook_year_counts (
        financial_year INTEGER NOT NULL, site_code VARCHAR(10) NOT NULL, specialty VARCHAR(60) NOT NULL,
        supervision VARCHAR(4) NOT NULL, trainee_id VARCHAR(64) NOT NULL, grade VARCHAR(10),
        entries BIGINT NOT NULL,
        PRIMARY KEY (financial_year, site_code, specialty, supervision, trainee_id))""",
    """CREATE TABLE procedure_volumes (
        financial_year INTEGER NOT NULL, site_code VARCHAR(10) NOT NULL, specialty VARCHAR(60) NOT NULL,
        procedure_group VARCHAR(100) NOT NULL, nhs_funded_count BIGINT NOT NULL,
        PRIMARY KEY (financial_year, site_code, specialty, procedure_group))""",
]


async def _fetch(session: AsyncSession, sql: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows straight from the driver (``?`` placeholders): no per-row work in SQLAlchemy, as a bulk read
    should be. ``IN ?`` takes a list: SQLite gets one placeholder per value, PostgreSQL an array."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    if raw is None:
        raise RuntimeError("no driver connection")
    pieces = sql.split("?")
    if connection.dialect.name == "postgresql":
        numbered = pieces[0]
        for n, (value, piece) in enumerate(zip(values, pieces[1:], strict=True), start=1):
            if isinstance(value, list):  # "x IN ?" -> "x = ANY($n)" with an array
                numbered = numbered.removesuffix(" IN ") + f" = ANY(${n})" + piece
            else:
                numbered += f"${n}" + piece
        return [tuple(r) for r in await raw.fetch(numbered, *values)]
    flat: list[Any] = []
    text_sql = pieces[0]
    for value, piece in zip(values, pieces[1:], strict=True):
        if isinstance(value, list):
            text_sql += "(" + ",".join("?" * len(value)) + ")" + piece
            flat += value
        else:
            text_sql += "?" + piece
            flat.append(value)
    cursor = await raw.execute(text_sql, flat)
    rows: list[tuple[Any, ...]] = list(await cursor.fetchall())
    await cursor.close()
    return rows


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


class SqlPlacements:
    """The placements interface (``service/benchmark/sources.py``) over the layout above: what the
    placements service is expected to implement, one SQL query per method."""

    async def placements(
        self, session: AsyncSession, *, site_codes: Sequence[str], start: dt.date, end: dt.date
    ) -> Sequence[PlacementRow]:
        rows = await _fetch(
            session,
            "SELECT person_id, site_code, specialty, staff_group, grade, route, start_date, end_date "
            "FROM placement_records WHERE end_date >= ? AND start_date <= ? AND site_code IN ?",
            [
                start.isoformat() if _sqlite(session) else start,
                end.isoformat() if _sqlite(session) else end,
                list(site_codes),
            ],
        )
        return [(*r[:6], _date(r[6]), _date(r[7])) for r in rows]

    async def logbook_counts(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> Sequence[LogbookRow]:
        return await _fetch(
            session,
            "SELECT financial_year, trainee_id, grade, site_code, specialty, supervision, entries "
            "FROM logbook_year_counts WHERE financial_year IN ? AND site_code IN ?",
            [list(years), list(site_codes)],
        )

    async def volumes(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> Sequence[VolumeRow]:
        rows = await _fetch(
            session,
            "SELECT financial_year, site_code, specialty, SUM(nhs_funded_count) FROM procedure_volumes "
            "WHERE financial_year IN ? AND site_code IN ? GROUP BY financial_year, site_code, specialty",
            [list(years), list(site_codes)],
        )
        return [(int(y), s, sp, int(n)) for y, s, sp, n in rows]


def _sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


# ---------------------------------------------------------------- loading


def _parents_first(row: tuple[Any, ...]) -> int:
    return KINDS.index(str(row[2]))


def _rows(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return list(frame.iter_rows())


def load_sqlite(path: Path, data: dict[str, pl.DataFrame], counts: pl.DataFrame) -> str:
    path.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    now = dt.datetime.now(dt.UTC).isoformat()
    with sqlite3.connect(path) as db:
        for statement in LAYOUT:
            db.execute(statement)
        orgs = data["organisations"].with_columns(created_at=pl.lit(now))
        ordered: list[tuple[Any, ...]] = sorted(_rows(orgs), key=_parents_first)
        db.executemany(
            "INSERT INTO organisations (code, name, kind, parent_code, icb_code, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ordered,
        )
        placements = data["placements"].with_columns(
            pl.col("start_date").cast(pl.Utf8), pl.col("end_date").cast(pl.Utf8)
        )
        db.executemany("INSERT INTO placement_records VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _rows(placements))
        db.executemany("INSERT INTO logbook_year_counts VALUES (?, ?, ?, ?, ?, ?, ?)", _rows(counts))
        db.executemany(
            "INSERT INTO procedure_volumes VALUES (?, ?, ?, ?, ?)",
            _rows(
                data["volumes"].select(
                    "financial_year", "site_code", "specialty", "procedure_group", "nhs_funded_count"
                )
            ),
        )
        learners = data["learners"].with_columns(
            id=pl.Series([f"{i:032x}" for i in range(data["learners"].height)]),
            submitted_by=pl.lit("bench"),
            submitted_at=pl.lit(now),
        )
        db.executemany(
            "INSERT INTO benchmark_learners (financial_year, provider_code, site_code, staff_group, route, "
            "learners, placements, placement_weeks, id, submitted_by, submitted_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _rows(learners),
        )
        db.execute("ANALYZE")
    return url


async def load_postgres(
    maintenance: str, name: str, data: dict[str, pl.DataFrame], counts: pl.DataFrame
) -> str:
    import uuid

    import asyncpg  # type: ignore[import-untyped]

    admin = await asyncpg.connect(maintenance)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = maintenance.rsplit("/", 1)[0]
    url = f"postgresql+asyncpg://{base.split('://', 1)[1]}/{name}"
    await asyncio.to_thread(upgrade, url)
    db = await asyncpg.connect(f"{base}/{name}")
    try:
        for statement in LAYOUT:
            await db.execute(statement)
        now = dt.datetime.now(dt.UTC)
        orgs = sorted(_rows(data["organisations"]), key=_parents_first)
        await db.copy_records_to_table(
            "organisations",
            records=[(*r, now) for r in orgs],
            columns=["code", "name", "kind", "parent_code", "icb_code", "created_at"],
        )
        await db.copy_records_to_table("placement_records", records=_rows(data["placements"]))
        await db.copy_records_to_table("logbook_year_counts", records=_rows(counts))
        await db.copy_records_to_table(
            "procedure_volumes",
            records=_rows(
                data["volumes"].select(
                    "financial_year", "site_code", "specialty", "procedure_group", "nhs_funded_count"
                )
            ),
        )
        await db.copy_records_to_table(
            "benchmark_learners",
            records=[(*r, uuid.UUID(int=i), "bench", now) for i, r in enumerate(_rows(data["learners"]))],
            columns=[
                "financial_year",
                "provider_code",
                "site_code",
                "staff_group",
                "route",
                "learners",
                "placements",
                "placement_weeks",
                "id",
                "submitted_by",
                "submitted_at",
            ],
        )
        await db.execute("ANALYZE")
    finally:
        await db.close()
    return url


async def drop_postgres(maintenance: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(maintenance)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# ---------------------------------------------------------------- running


async def run_registry(url: str, keyring: KeyRing) -> tuple[dict[str, float], _Benchmark]:
    database = Database(make_engine(url, pool_size=2))
    try:
        started = time.perf_counter()
        async with database.session() as session:
            inputs = await service.inputs_from_database(session, YEAR, source=SqlPlacements())
        loaded = time.perf_counter()
        report = service.report_of(inputs)
        computed = time.perf_counter()
        service.outputs(report, keyring, ["json"])
        json_done = time.perf_counter()
        service.outputs(report, keyring, ["csv", "xlsx", "html"])
        done = time.perf_counter()
    finally:
        await database.dispose()
    figures = _Benchmark(inputs)
    return (
        {
            "inputs": loaded - started,
            "compute": computed - loaded,
            "json": json_done - computed,
            "whole": json_done - started,
            "other formats": done - json_done,
        },
        figures,
    )


DUCKDB_SQL = """
WITH sites AS (
    SELECT s.code AS site_code, s.parent_code AS provider, COALESCE(s.icb_code, '{nr}') AS icb,
           COALESCE(i.parent_code, '{nr}') AS region
    FROM read_parquet('{dir}/organisations.parquet') s
    LEFT JOIN read_parquet('{dir}/organisations.parquet') i ON i.code = s.icb_code
    WHERE s.kind = 'independent_site'
),
spec AS (SELECT DISTINCT procedure_group, specialty FROM read_parquet('{dir}/volumes.parquet')),
grades AS (
    SELECT person_id AS trainee_id,
           CASE WHEN month(start_date) >= 4 THEN year(start_date) ELSE year(start_date) - 1 END AS fy,
           first(grade ORDER BY start_date) AS grade
    FROM read_parquet('{dir}/placements.parquet') GROUP BY ALL
),
counted AS (  -- one pass over the raw entries: per trainee, site, procedure group and supervision
    SELECT CASE WHEN month(date) >= 4 THEN year(date) ELSE year(date) - 1 END AS fy,
           trainee_id, site_code, procedure_group, supervision, count(*) AS n
    FROM read_parquet('{dir}/logbook.parquet')
    WHERE date BETWEEN DATE '{first}' AND DATE '{last}'
    GROUP BY ALL
),
entries AS (
    SELECT c.fy, c.trainee_id, c.supervision, c.n, s.provider, s.site_code AS site, s.icb, s.region,
           COALESCE(sp.specialty, '{nr}') AS specialty
    FROM counted c JOIN sites s USING (site_code) LEFT JOIN spec sp USING (procedure_group)
)
SELECT e.fy, e.region, e.icb, e.provider, e.site, e.specialty, {band} AS staff_group, e.supervision,
       GROUPING(e.region, e.icb, e.provider, e.site, e.specialty, staff_group, e.supervision) AS level,
       sum(e.n) AS procedures, count(DISTINCT e.trainee_id) AS trainees
FROM entries e LEFT JOIN grades g ON g.trainee_id = e.trainee_id AND g.fy = e.fy
GROUP BY GROUPING SETS (
    {sets}
)
"""


def _band_sql() -> str:
    cases = " ".join(f"WHEN '{grade}' THEN '{band}'" for grade, band in GRADE_BAND.items())
    return f"CASE g.grade {cases} ELSE 'other' END"


def run_duckdb(folder: Path) -> tuple[float, dict[tuple[int, str, str, str], tuple[int, int]]]:
    dims = ["region", "icb", "provider", "site", "specialty", "staff_group"]
    column = {d: (d if d == "staff_group" else f"e.{d}") for d in dims}
    sets = []
    for d in dims:
        sets += [f"(e.fy, {column[d]}, e.supervision)", f"(e.fy, {column[d]})"]
    sets += ["(e.fy, e.supervision)", "(e.fy)"]
    sql = DUCKDB_SQL.format(
        nr=NOT_RECORDED,
        dir=folder,
        first=fy_start(YEAR - 1),
        last=fy_end(YEAR),
        band=_band_sql(),
        sets=",\n    ".join(sets),
    )
    connection = duckdb.connect()
    started = time.perf_counter()
    rows = connection.execute(sql).fetchall()
    elapsed = time.perf_counter() - started
    connection.close()
    found: dict[tuple[int, str, str, str], tuple[int, int]] = {}
    for fy, region, icb, provider, site, specialty, band, supervision, _level, procedures, trainees in rows:
        values = {
            "region": region,
            "icb": icb,
            "provider": provider,
            "site": site,
            "specialty": specialty,
            "staff_group": band,
        }
        present = [d for d in dims if values[d] is not None]
        dim = present[0] if present else "total"
        code = values[dim] if present else "total"
        found[(int(fy), dim, str(code), supervision or "total")] = (int(procedures), int(trainees))
    return elapsed, found


def compare(figures: _Benchmark, duck: dict[tuple[int, str, str, str], tuple[int, int]]) -> int:
    """Differences between the registry's unsuppressed procedure figures and DuckDB's."""
    differences = 0
    for (fy, dim, code, col), (procedures, trainees) in duck.items():
        key = (dim, code, col)
        ours = figures.procedures[fy]
        if (ours["procedures"].get(key, 0), ours["trainees"].get(key, 0)) != (procedures, trainees):
            differences += 1
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000_000, help="logbook entries per year")
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--trainees", type=int, default=15_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-national"))
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="maintenance database"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    data = generate(args.entries, args.sites, args.trainees, args.seed)
    for name in ("organisations", "placements", "logbook", "volumes", "learners"):
        data[name].write_parquet(args.workdir / f"{name}.parquet")
    counts = year_counts(data)
    print(
        f"generated {data['logbook'].height:,} logbook entries ({args.entries:,} a year), "
        f"{args.sites} sites, "
        f"{data['placements'].height:,} placements; logbook_year_counts {counts.height:,} rows "
        f"({time.perf_counter() - started:.1f} s)"
    )
    keys = args.workdir / "keys"
    store = KeyStore(keys, "bench-passphrase-not-secret")
    store.init(dt.datetime.now(dt.UTC))
    keyring = store.load(dt.datetime.now(dt.UTC))

    duck_s, duck = run_duckdb(args.workdir)
    print(f"DuckDB on Parquet (raw entries, same aggregation): {duck_s:.2f} s")
    targets: list[tuple[str, str]] = []
    t = time.perf_counter()
    targets.append(("sqlite", load_sqlite(args.workdir / "bench.db", data, counts)))
    print(f"loaded SQLite in {time.perf_counter() - t:.1f} s")
    pg_name = f"bench_benchmark_{os.getpid()}"
    if not args.skip_postgres:
        t = time.perf_counter()
        targets.append(("postgresql", asyncio.run(load_postgres(args.postgres, pg_name, data, counts))))
        print(f"loaded PostgreSQL in {time.perf_counter() - t:.1f} s")
    del data
    try:
        for backend, url in targets:
            times, figures = asyncio.run(run_registry(url, keyring))
            differences = compare(figures, duck)
            goal = GOALS[backend]
            verdict = "meets" if times["whole"] < goal and times["whole"] <= 3 * duck_s else "MISSES"
            print(
                f"{backend}: whole benchmark {times['whole']:.2f} s (inputs {times['inputs']:.2f}, "
                f"compute and suppression {times['compute']:.2f}, JSON and signature {times['json']:.2f}); "
                f"{times['whole'] / duck_s:.1f}x DuckDB; goal < {goal:.0f} s and <= 3x: {verdict}; "
                f"CSV+XLSX+HTML another {times['other formats']:.2f} s; "
                f"{differences} figures differ from DuckDB"
            )
    finally:
        if not args.skip_postgres:
            asyncio.run(drop_postgres(args.postgres, pg_name))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, polars {pl.__version__}, DuckDB {duckdb.__version__}"
    )
    print("command: " + shlex.join([sys.executable, *sys.argv]))


if __name__ == "__main__":
    main()
