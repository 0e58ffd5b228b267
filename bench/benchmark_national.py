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
   dropped afterwards) through the registry's migrated schema and the real tables: organisations and
   people (the workforce domain's), a published match run and its ``placement_records``,
   ``placement_volumes``, the raw ``placement_logbook`` entries (a bulk load of consistent generated data:
   executemany on SQLite, COPY on PostgreSQL, foreign key checks off and the table's two indexes built
   after the load), providers' ``benchmark_learners``;
   then the placements domain's own ``repository.rebuild_logbook_counts`` fills ``logbook_year_counts``
   (the counts every logbook write keeps; docs/decisions/0020-logbook-counts-and-specialties.md);
4. runs the whole benchmark through ``service.benchmark.service`` on each database with the registry's
   own source (``sources.DEFAULT_SOURCE``: the placements domain's ``BenchmarkSource``), i.e. exactly what
   ``passport benchmark compute`` without ``--data`` does (inputs in SQL, computation, suppression, the
   JSON output and its signature; then the other three formats), and the same aggregation with DuckDB
   straight from the raw Parquet files;
5. checks that both give the same figures, and prints the times.

    python bench/benchmark_national.py                      # 10 M entries a year, SQLite and PostgreSQL
    python bench/benchmark_national.py --entries 1000000    # smaller
    python bench/benchmark_national.py --skip-postgres
    python bench/benchmark_national.py --keep               # keep both databases (loading takes minutes)
    python bench/benchmark_national.py --reuse --rounds 3   # measure the kept databases again

Generated data lives under ``--workdir`` (default ``var/bench-national``, not in git).
"""

import argparse
import asyncio
import datetime as dt
import os
import platform
import shlex
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from service.benchmark import service
from service.benchmark.canonical import (
    GRADE_BAND,
    NOT_RECORDED,
    SUPERVISION,
    fy_end,
    fy_of,
    fy_start,
)
from service.benchmark.compute import _Benchmark
from service.benchmark.models import LearnerSubmissionRecord as Learner
from service.db import Base, Database, make_engine, upgrade
from service.keys import KeyRing, KeyStore
from service.placements import repository
from service.placements.models import Dataset, PlacementRecord, Run, Volume
from service.workforce.models import Organisation, Person

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
    trainees_frame = pl.DataFrame(
        {
            "trainee_id": trainee_ids,
            "grade": np.array(GRADES)[grade_index],
            "specialty": np.array(specialty_names)[trainee_specialty],
        }
    )
    return {
        "organisations": organisations,
        "placements": pl.concat(placements),
        "logbook": pl.concat(logbooks),
        "volumes": volumes,
        "learners": learners_frame,
        "trainees": trainees_frame,
    }


# ---------------------------------------------------------------- loading through the real tables

CHUNK = 1_000_000
NAMESPACE = uuid.UUID("2f0e3b7c-9a51-5d84-b6c2-7e1f4a9d3c05")


def _person_id(trainee: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, trainee)


def _parents_first(row: tuple[Any, ...]) -> int:
    return KINDS.index(str(row[2]))


def _fy_label(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


async def _insert(session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 5000):
        await session.execute(insert(model), list(rows[start : start + 5000]))


async def _load_tables(session: AsyncSession, data: dict[str, pl.DataFrame], now: dt.datetime) -> None:
    """Everything but the raw logbook entries, through the models (SQLAlchemy Core inserts)."""
    orgs = sorted(data["organisations"].iter_rows(), key=_parents_first)
    await _insert(
        session,
        Organisation,
        [
            {
                "code": c,
                "name": n,
                "kind": k,
                "parent_code": p,
                "icb_code": i,
                "postcode": None,
                "latitude": None,
                "longitude": None,
                "created_at": now,
            }
            for c, n, k, p, i in orgs
        ],
    )
    trainees = data["trainees"]
    await _insert(
        session,
        Person,
        [
            {
                "id": _person_id(t),
                "given_name": "Dr",
                "family_name": f"Trainee {t}",
                "gmc_number": t,
                "staff_group": "medical",
                "grade": g,
                "specialty": sp,
                "created_at": now,
            }
            for t, g, sp in trainees.select("trainee_id", "grade", "specialty").iter_rows()
        ],
    )
    dataset = uuid.uuid5(NAMESPACE, "dataset")
    await _insert(
        session,
        Dataset,
        [
            {
                "id": dataset,
                "name": "National bench",
                "organisation_code": None,
                "created_at": now,
                "created_by": "bench",
            }
        ],
    )
    runs = {year: uuid.uuid5(NAMESPACE, f"run-{year}") for year in (YEAR - 1, YEAR)}
    await _insert(
        session,
        Run,
        [
            {
                "id": run,
                "dataset_id": dataset,
                "mode": "optimal",
                "training_share": 0.5,
                "rotation_months": 6,
                "financial_year": _fy_label(year),
                "seed": 0,
                "input_sha256": "0" * 64,
                "result": b"{}",
                "summary": "{}",
                "created_at": now,
                "created_by": "bench",
                "published_at": now,
                "published_by": "bench",
                "start_date": None,
                "end_date": None,
                "gates": None,
            }
            for year, run in runs.items()
        ],
    )
    await _insert(
        session,
        PlacementRecord,
        [
            {
                "id": uuid.uuid5(NAMESPACE, f"{person}-{start}"),
                "person_id": _person_id(person),
                "gmc_number": person,
                "site_code": site,
                "specialty": specialty,
                "grade": grade,
                "start_date": start,
                "end_date": end,
                "run_id": runs[fy_of(start)],
                "published_at": now,
            }
            for person, site, specialty, _, grade, _, start, end in data["placements"].iter_rows()
        ],
    )
    await _insert(
        session,
        Volume,
        [
            {
                "site_code": site,
                "specialty": specialty,
                "procedure_group": group,
                "financial_year": _fy_label(year),
                "nhs_funded_count": count,
                "loaded_at": now,
            }
            for site, specialty, group, year, count in data["volumes"]
            .select("site_code", "specialty", "procedure_group", "financial_year", "nhs_funded_count")
            .iter_rows()
        ],
    )
    await _insert(
        session,
        Learner,
        [
            {
                "id": uuid.UUID(int=i),
                "financial_year": fy,
                "provider_code": provider,
                "site_code": site,
                "staff_group": group,
                "route": route,
                "learners": learners,
                "placements": placements,
                "placement_weeks": weeks,
                "submitted_by": "bench",
                "submitted_at": now,
            }
            for i, (fy, provider, site, group, route, learners, placements, weeks) in enumerate(
                data["learners"].iter_rows()
            )
        ],
    )


def _logbook_chunks(logbook: pl.DataFrame, person: Any, day: Any, loaded: Any) -> Any:
    """The raw entries as driver rows, a million at a time (never all 20 million tuples at once)."""
    ids = {t: person(_person_id(t)) for t in logbook["trainee_id"].unique().to_list()}
    for start in range(0, logbook.height, CHUNK):
        part = logbook.slice(start, CHUNK)
        yield [
            (ids[t], t, g, day(d), s, c, loaded)
            for t, g, d, s, c in part.select(
                "trainee_id", "procedure_group", "date", "supervision", "site_code"
            ).iter_rows()
        ]


LOGBOOK_COLUMNS = [
    "person_id",
    "gmc_number",
    "procedure_group",
    "date",
    "supervision",
    "site_code",
    "loaded_at",
]


async def _load(url: str, data: dict[str, pl.DataFrame], raw_logbook: Any) -> dict[str, float]:
    """Load ``url`` (already migrated); ``raw_logbook(session)`` bulk-inserts the entries."""
    now = dt.datetime.now(dt.UTC)
    if url.startswith("postgresql"):  # the registry's 30 s statement limit is for requests, not bulk loads
        database = Database(create_async_engine(url, pool_size=1, connect_args={"command_timeout": 1800}))
    else:
        database = Database(make_engine(url, pool_size=1))
    times = {}
    try:
        async with database.session() as session:
            started = time.perf_counter()
            await _load_tables(session, data, now)
            await session.commit()
            times["tables"] = time.perf_counter() - started
            started = time.perf_counter()
            indexes = list(Base.metadata.tables["placement_logbook"].indexes)  # built once, after the load
            connection = await session.connection()
            for index in indexes:
                await connection.run_sync(index.drop)
            await session.commit()
            await raw_logbook(session)
            await session.commit()
            connection = await session.connection()
            for index in indexes:
                await connection.run_sync(index.create)
            await session.commit()
            times["logbook"] = time.perf_counter() - started
            started = time.perf_counter()
            rows = await repository.rebuild_logbook_counts(session)
            await session.commit()
            times["counts"] = time.perf_counter() - started
            times["count rows"] = rows
            await session.execute(text("ANALYZE"))
            await session.commit()
    finally:
        await database.dispose()
    return times


def load_sqlite(path: Path, data: dict[str, pl.DataFrame]) -> tuple[str, dict[str, float]]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    async def raw_logbook(session: AsyncSession) -> None:
        with sqlite3.connect(path) as db:  # the sqlite3 module writes the entries, foreign key checks off
            db.execute("PRAGMA foreign_keys = OFF")
            sql = (
                "INSERT INTO placement_logbook (person_id, gmc_number, procedure_group, date, supervision, "
                "site_code, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )
            for chunk in _logbook_chunks(data["logbook"], lambda u: u.hex, dt.date.isoformat, stamp):
                db.executemany(sql, chunk)

    return url, asyncio.run(_load(url, data, raw_logbook))


async def load_postgres(
    maintenance: str, name: str, data: dict[str, pl.DataFrame]
) -> tuple[str, dict[str, float]]:
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
    stamp = dt.datetime.now(dt.UTC)

    async def raw_logbook(session: AsyncSession) -> None:
        connection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        if raw is None:
            raise RuntimeError("no driver connection")
        await session.execute(text("SET LOCAL session_replication_role = replica"))  # no FK triggers
        for chunk in _logbook_chunks(data["logbook"], lambda u: u, lambda d: d, stamp):
            await raw.copy_records_to_table("placement_logbook", records=chunk, columns=LOGBOOK_COLUMNS)

    return url, await _load(url, data, raw_logbook)


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
            inputs = await service.inputs_from_database(session, YEAR)  # the registry's own source
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
spec AS (  -- the specialty under which the site reports the group's volume
    SELECT DISTINCT site_code, procedure_group, specialty FROM read_parquet('{dir}/volumes.parquet')
),
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
    FROM counted c JOIN sites s USING (site_code) LEFT JOIN spec sp USING (site_code, procedure_group)
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


def _measure(
    targets: list[tuple[str, str]], keyring: KeyRing, folder: Path, rounds: int
) -> dict[str, list[float]]:
    """Each round: DuckDB on the Parquet copy, then the whole benchmark on each database."""
    wholes: dict[str, list[float]] = {"duckdb": []}
    for number in range(1, rounds + 1):
        duck_s, duck = run_duckdb(folder)
        wholes["duckdb"].append(duck_s)
        print(f"round {number}: DuckDB on Parquet (raw entries, same aggregation): {duck_s:.2f} s")
        for backend, url in targets:
            times, figures = asyncio.run(run_registry(url, keyring))
            wholes.setdefault(backend, []).append(times["whole"])
            differences = compare(figures, duck)
            goal = GOALS[backend]
            verdict = "meets" if times["whole"] < goal and times["whole"] <= 3 * duck_s else "MISSES"
            print(
                f"round {number}: {backend}: whole benchmark {times['whole']:.2f} s (inputs "
                f"{times['inputs']:.2f}, compute and suppression {times['compute']:.2f}, JSON and signature "
                f"{times['json']:.2f}); {times['whole'] / duck_s:.1f}x DuckDB; goal < {goal:.0f} s and "
                f"<= 3x: {verdict}; CSV+XLSX+HTML another {times['other formats']:.2f} s; "
                f"{differences} figures differ from DuckDB"
            )
    return wholes


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
    parser.add_argument("--rounds", type=int, default=1, help="measurements per database (after one load)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the loaded databases (PostgreSQL: bench_benchmark_kept)"
    )
    parser.add_argument("--reuse", action="store_true", help="measure the databases a --keep run left")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    keys = args.workdir / "keys"
    store = KeyStore(keys, "bench-passphrase-not-secret")
    if not (keys / "credential").exists():
        store.init(dt.datetime.now(dt.UTC))
    keyring = store.load(dt.datetime.now(dt.UTC))
    pg_name = "bench_benchmark_kept" if args.keep or args.reuse else f"bench_benchmark_{os.getpid()}"
    base = args.postgres.rsplit("/", 1)[0]
    targets: list[tuple[str, str]] = [("sqlite", f"sqlite+aiosqlite:///{args.workdir / 'bench.db'}")]
    if not args.skip_postgres:
        targets.append(("postgresql", f"postgresql+asyncpg://{base.split('://', 1)[1]}/{pg_name}"))

    if not args.reuse:
        started = time.perf_counter()
        data = generate(args.entries, args.sites, args.trainees, args.seed)
        for name in ("organisations", "placements", "logbook", "volumes", "learners"):
            data[name].write_parquet(args.workdir / f"{name}.parquet")
        print(
            f"generated {data['logbook'].height:,} logbook entries ({args.entries:,} a year), "
            f"{args.sites} sites, {data['trainees'].height:,} trainees, "
            f"{data['placements'].height:,} placements ({time.perf_counter() - started:.1f} s)"
        )

        def loaded(backend: str, times: dict[str, float]) -> None:
            print(
                f"loaded {backend}: tables {times['tables']:.1f} s, raw logbook {times['logbook']:.1f} s, "
                f"logbook_year_counts rebuilt by the placements domain in {times['counts']:.1f} s "
                f"({int(times['count rows']):,} rows)"
            )

        loaded("sqlite", load_sqlite(args.workdir / "bench.db", data)[1])
        if not args.skip_postgres:
            loaded("postgresql", asyncio.run(load_postgres(args.postgres, pg_name, data))[1])
        del data
    try:
        wholes = _measure(targets, keyring, args.workdir, args.rounds)
    finally:
        if not args.skip_postgres and not (args.keep or args.reuse):
            asyncio.run(drop_postgres(args.postgres, pg_name))
    print(
        "medians: "
        + ", ".join(f"{name} {statistics.median(values):.2f} s" for name, values in wholes.items())
        + f" ({args.rounds} round(s)); load average now {os.getloadavg()[0]:.1f}"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, polars {pl.__version__}, DuckDB {duckdb.__version__}"
    )
    print("command: " + shlex.join([sys.executable, *sys.argv]))


if __name__ == "__main__":
    main()
