"""Every SQL query of the placements domain (SQLite and PostgreSQL alike)."""

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, TypeVar

import polars as pl
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    bindparam,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from service.placements.models import (
    CurriculumItem,
    Dataset,
    DatasetFile,
    LogbookEntry,
    LogbookYearCount,
    PlacementRecord,
    Run,
    Volume,
)

CHUNK: Final = 1000
BATCH: Final = 2000
V = TypeVar("V")


def _literal(values: list[Any]) -> BindParameter[Any]:
    """An ``IN`` list rendered as literals (validated codes and UUIDs only), as the workforce domain does:
    PostgreSQL then plans each lookup against the table as it is now."""
    return bindparam("values", values, expanding=True, literal_execute=True)


def _chunks(values: Iterable[V], size: int = CHUNK) -> Iterator[list[V]]:
    batch: list[V] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _tuples(result: Any) -> list[Any]:
    """A result's rows as plain tuples (what the benchmark's polars frames are built from)."""
    return [tuple(row) for row in result]


async def _insert(session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    statement = insert(model).execution_options(render_nulls=True)
    for start in range(0, len(rows), BATCH):
        await session.execute(statement, list(rows[start : start + BATCH]))


# ---------------------------------------------------------------- datasets


async def add(session: AsyncSession, record: Dataset | Run) -> None:
    session.add(record)
    await session.flush()


async def get_dataset(session: AsyncSession, dataset_id: uuid.UUID) -> Dataset | None:
    return await session.get(Dataset, dataset_id)


async def list_datasets(session: AsyncSession, organisation: str | None, *, every: bool) -> list[Dataset]:
    stmt = select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id)
    if not every:
        stmt = stmt.where(Dataset.organisation_code == organisation)
    return list((await session.scalars(stmt)).all())


async def dataset_files(session: AsyncSession, dataset_id: uuid.UUID) -> dict[str, DatasetFile]:
    rows = await session.scalars(select(DatasetFile).where(DatasetFile.dataset_id == dataset_id))
    return {row.kind: row for row in rows}


async def file_rows(
    session: AsyncSession, dataset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    counts: dict[uuid.UUID, dict[str, int]] = {i: {} for i in dataset_ids}
    for batch in _chunks(dataset_ids):
        result = await session.execute(
            select(DatasetFile.dataset_id, DatasetFile.kind, DatasetFile.rows).where(
                DatasetFile.dataset_id.in_(_literal(batch))
            )
        )
        for dataset_id, kind, rows in result:
            counts[dataset_id][kind] = rows
    return counts


async def put_file(
    session: AsyncSession,
    dataset_id: uuid.UUID,
    kind: str,
    content: bytes,
    rows: int,
    now: dt.datetime,
    by: str,
) -> int:
    """Replace the dataset's ``kind`` file; returns the rows it had."""
    existing = await session.get(DatasetFile, (dataset_id, kind))
    if existing is None:
        session.add(
            DatasetFile(
                dataset_id=dataset_id, kind=kind, content=content, rows=rows, loaded_at=now, loaded_by=by
            )
        )
        await session.flush()
        return 0
    before = existing.rows
    existing.content, existing.rows, existing.loaded_at, existing.loaded_by = content, rows, now, by
    await session.flush()
    return before


# ---------------------------------------------------------------- registry-wide facts


async def upsert_volumes(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Replace the volumes with the same keys; returns how many were replaced."""
    keys = [(r["site_code"], r["specialty"], r["procedure_group"], r["financial_year"]) for r in rows]
    replaced = 0
    columns = tuple_(Volume.site_code, Volume.specialty, Volume.procedure_group, Volume.financial_year)
    for batch in _chunks(keys, 500):
        result = await session.execute(delete(Volume).where(columns.in_(batch)))
        replaced += int(getattr(result, "rowcount", 0) or 0)
    await _insert(session, Volume, rows)
    return replaced


async def volumes_for_sites(session: AsyncSession, sites: Iterable[str]) -> list[Volume]:
    found: list[Volume] = []
    for batch in _chunks(sorted(set(sites))):
        found += (await session.scalars(select(Volume).where(Volume.site_code.in_(_literal(batch))))).all()
    return found


async def volumes_of_year(session: AsyncSession, financial_year: str) -> list[Volume]:
    stmt = (
        select(Volume)
        .where(Volume.financial_year == financial_year)
        .order_by(Volume.site_code, Volume.specialty, Volume.procedure_group)
    )
    return list((await session.scalars(stmt)).all())


async def upsert_curriculum(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    keys = [(r["specialty"], r["procedure_group"]) for r in rows]
    replaced = 0
    columns = tuple_(CurriculumItem.specialty, CurriculumItem.procedure_group)
    for batch in _chunks(keys, 500):
        result = await session.execute(delete(CurriculumItem).where(columns.in_(batch)))
        replaced += int(getattr(result, "rowcount", 0) or 0)
    await _insert(session, CurriculumItem, rows)
    return replaced


async def curriculum(session: AsyncSession) -> list[CurriculumItem]:
    return list((await session.scalars(select(CurriculumItem))).all())


def financial_year_of(day: Any) -> ColumnElement[int]:
    """The financial year (1 April to 31 March) of a date column, as the year it starts in; the same SQL
    on SQLite (``strftime``) and PostgreSQL (``EXTRACT``)."""
    year: ColumnElement[int] = cast(extract("year", day), Integer) - case(
        (cast(extract("month", day), Integer) < 4, 1), else_=0
    )
    return year


_COUNT_KEYS = (
    LogbookEntry.site_code,
    LogbookEntry.procedure_group,
    LogbookEntry.supervision,
    LogbookEntry.person_id,
)
_COUNT_COLUMNS = (
    "financial_year",
    "site_code",
    "procedure_group",
    "supervision",
    "person_id",
    "gmc_number",
    "entries",
)


def _counting(where: ColumnElement[bool] | None = None) -> Any:
    """``INSERT INTO logbook_year_counts SELECT ... FROM placement_logbook [WHERE ...] GROUP BY ...``."""
    year = financial_year_of(LogbookEntry.date)
    query = select(year, *_COUNT_KEYS, func.min(LogbookEntry.gmc_number), func.count())
    if where is not None:
        query = query.where(where)
    return insert(LogbookYearCount).from_select(_COUNT_COLUMNS, query.group_by(year, *_COUNT_KEYS))


async def replace_logbooks(
    session: AsyncSession, people: Iterable[uuid.UUID], rows: Sequence[dict[str, Any]]
) -> int:
    """Replace the logbook entries of ``people`` with ``rows``, and their counts per financial year in
    ``logbook_year_counts`` with the counts of the new entries (same transaction); returns how many
    entries were removed."""
    removed = 0
    batches = list(_chunks(sorted(set(people))))
    for batch in batches:
        result = await session.execute(
            delete(LogbookEntry).where(LogbookEntry.person_id.in_(_literal(batch)))
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
        await session.execute(delete(LogbookYearCount).where(LogbookYearCount.person_id.in_(_literal(batch))))
    await _insert(session, LogbookEntry, rows)
    for batch in batches:
        await session.execute(_counting(LogbookEntry.person_id.in_(_literal(batch))))
    return removed


async def rebuild_logbook_counts(session: AsyncSession) -> int:
    """Recompute ``logbook_year_counts`` from every logbook entry (one ``GROUP BY``); returns its rows.
    Writes keep it current on their own: this is for bulk loads that bypass them (the national bench)."""
    await session.execute(delete(LogbookYearCount))
    await session.execute(_counting())
    return int(await session.scalar(select(func.count()).select_from(LogbookYearCount)) or 0)


async def logbooks_of(
    session: AsyncSession, people: Iterable[uuid.UUID]
) -> list[tuple[str, str, dt.date, str, str]]:
    """(gmc_number, procedure_group, date, supervision, site_code) of every entry of ``people``."""
    columns = (
        LogbookEntry.gmc_number,
        LogbookEntry.procedure_group,
        LogbookEntry.date,
        LogbookEntry.supervision,
        LogbookEntry.site_code,
    )
    found: list[tuple[str, str, dt.date, str, str]] = []
    for batch in _chunks(sorted(set(people))):
        result = await session.execute(select(*columns).where(LogbookEntry.person_id.in_(_literal(batch))))
        found += [(g, p, d, s, c) for g, p, d, s, c in result]
    return found


async def logbook_between(session: AsyncSession, start: dt.date, end: dt.date) -> list[LogbookEntry]:
    stmt = (
        select(LogbookEntry)
        .where(LogbookEntry.date >= start, LogbookEntry.date <= end)
        .order_by(LogbookEntry.date, LogbookEntry.id)
    )
    return list((await session.scalars(stmt)).all())


# ---------------------------------------------------------------- runs and records


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> Run | None:
    return await session.get(Run, run_id)


async def runs_of(session: AsyncSession, dataset_id: uuid.UUID) -> list[Run]:
    stmt = select(Run).where(Run.dataset_id == dataset_id).order_by(Run.created_at.desc(), Run.id)
    return list((await session.scalars(stmt)).all())


async def overlapping_records(
    session: AsyncSession, people: Iterable[uuid.UUID], start: dt.date, end: dt.date
) -> list[PlacementRecord]:
    found: list[PlacementRecord] = []
    for batch in _chunks(sorted(set(people))):
        stmt = select(PlacementRecord).where(
            PlacementRecord.person_id.in_(_literal(batch)),
            PlacementRecord.start_date <= end,
            PlacementRecord.end_date >= start,
        )
        found += (await session.scalars(stmt)).all()
    return found


async def add_records(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await _insert(session, PlacementRecord, rows)


async def records_between(
    session: AsyncSession,
    start: dt.date,
    end: dt.date,
    *,
    site_codes: Sequence[str] | None = None,
    datasets_of: str | None = None,
) -> list[PlacementRecord]:
    """Records overlapping [start, end]; optionally at ``site_codes`` or from runs of datasets owned by
    the organisation ``datasets_of``."""
    stmt = select(PlacementRecord).where(PlacementRecord.start_date <= end, PlacementRecord.end_date >= start)
    if site_codes is not None:
        stmt = stmt.where(PlacementRecord.site_code.in_(list(site_codes)))
    if datasets_of is not None:
        owned = (
            select(Run.id)
            .join(Dataset, Dataset.id == Run.dataset_id)
            .where(Dataset.organisation_code == datasets_of)
        )
        stmt = stmt.where(PlacementRecord.run_id.in_(owned))
    stmt = stmt.order_by(PlacementRecord.start_date, PlacementRecord.site_code, PlacementRecord.gmc_number)
    return list((await session.scalars(stmt)).all())


async def record_rows(
    session: AsyncSession, start: dt.date, end: dt.date, site_codes: Sequence[str]
) -> list[tuple[str, str, str, str, dt.date, dt.date]]:
    """(GMC number, site, specialty, grade, start, end) of the records at ``site_codes`` overlapping
    [start, end]."""
    columns = (
        PlacementRecord.gmc_number,
        PlacementRecord.site_code,
        PlacementRecord.specialty,
        PlacementRecord.grade,
        PlacementRecord.start_date,
        PlacementRecord.end_date,
    )
    found: list[tuple[str, str, str, str, dt.date, dt.date]] = []
    for batch in _chunks(sorted(set(site_codes))):
        stmt = select(*columns).where(
            PlacementRecord.site_code.in_(_literal(batch)),
            PlacementRecord.start_date <= end,
            PlacementRecord.end_date >= start,
        )
        found += _tuples(await session.execute(stmt))
    return found


async def volume_rows(
    session: AsyncSession, site_codes: Sequence[str], financial_years: Sequence[str]
) -> list[tuple[str, str, str, str, int]]:
    """(financial year, site, specialty, procedure group, NHS-funded count) at ``site_codes`` in
    ``financial_years`` (``YYYY-YY``)."""
    columns = (
        Volume.financial_year,
        Volume.site_code,
        Volume.specialty,
        Volume.procedure_group,
        Volume.nhs_funded_count,
    )
    found: list[tuple[str, str, str, str, int]] = []
    if not financial_years:
        return found
    for batch in _chunks(sorted(set(site_codes))):
        stmt = select(*columns).where(
            Volume.site_code.in_(_literal(batch)), Volume.financial_year.in_(list(financial_years))
        )
        found += _tuples(await session.execute(stmt))
    return found


async def count_hosted(session: AsyncSession, site_code: str, start: dt.date, end: dt.date) -> int:
    stmt = (
        select(func.count())
        .select_from(PlacementRecord)
        .where(
            PlacementRecord.site_code == site_code,
            PlacementRecord.start_date <= end,
            PlacementRecord.end_date >= start,
        )
    )
    return int(await session.scalar(stmt) or 0)


_COUNTS_SQL: Final = (
    "SELECT financial_year, gmc_number, site_code, procedure_group, supervision, entries "
    "FROM logbook_year_counts WHERE financial_year {years} AND site_code {sites}"
)
COUNT_COLUMNS: Final = {
    "financial_year": pl.Int32,
    "trainee_id": pl.Utf8,
    "site_code": pl.Utf8,
    "procedure_group": pl.Utf8,
    "supervision": pl.Utf8,
    "entries": pl.Int64,
}
"""The columns of :func:`logbook_counts` (the benchmark's ``canonical.GROUP_COUNTS``)."""


async def _postgres_counts(driver: Any, years: list[int], sites: list[str]) -> pl.DataFrame:
    """``COPY (SELECT ...) TO STDOUT`` as CSV, parsed by polars: a quarter of the time of fetching rows."""
    chunks: list[bytes] = []

    async def keep(chunk: bytes) -> None:
        chunks.append(bytes(chunk))

    sql = _COUNTS_SQL.format(years="= ANY($1::integer[])", sites="= ANY($2::varchar[])")
    await driver.copy_from_query(sql, years, sites, output=keep, format="csv")
    data = b"".join(chunks)
    if not data:
        return pl.DataFrame(schema=COUNT_COLUMNS)
    return pl.read_csv(data, has_header=False, new_columns=list(COUNT_COLUMNS), schema=COUNT_COLUMNS)


async def _sqlite_counts(driver: Any, years: list[int], sites: list[str]) -> pl.DataFrame:
    marks = ", ".join("?" * len(years)), ", ".join("?" * len(sites))
    cursor = await driver.execute(
        _COUNTS_SQL.format(years=f"IN ({marks[0]})", sites=f"IN ({marks[1]})"), [*years, *sites]
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return pl.DataFrame(
        {name: [row[i] for row in rows] for i, name in enumerate(COUNT_COLUMNS)}, schema=COUNT_COLUMNS
    )


async def logbook_counts(
    session: AsyncSession, site_codes: Sequence[str], years: Sequence[int]
) -> pl.DataFrame:
    """Logbook entries at ``site_codes`` in the financial ``years`` per (financial year, GMC number as
    ``trainee_id``, site, procedure group, supervision), from the counts kept on write
    (``logbook_year_counts``), as a frame of :data:`COUNT_COLUMNS`.

    Half a million rows at national scale: read straight from the driver, not through SQLAlchemy's row
    processing (on PostgreSQL as ``COPY ... TO STDOUT`` in CSV), one query per 1,000 sites."""
    wanted = sorted({int(y) for y in years})
    frames = [pl.DataFrame(schema=COUNT_COLUMNS)]
    if not site_codes or not wanted:
        return frames[0]
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None:  # pragma: no cover - both drivers have one
        raise RuntimeError("no driver connection")
    read = _postgres_counts if connection.dialect.name == "postgresql" else _sqlite_counts
    for batch in _chunks(sorted(set(site_codes))):
        frames.append(await read(driver, wanted, batch))
    return pl.concat(frames)


async def raw_logbook_counts(session: AsyncSession) -> list[tuple[int, str, str, str, str, str, int]]:
    """The ``GROUP BY`` of every logbook entry that ``logbook_year_counts`` must equal: (financial year,
    site, procedure group, supervision, person id as text, GMC number, entries), sorted. For checks."""
    year = financial_year_of(LogbookEntry.date)
    stmt = select(year, *_COUNT_KEYS, func.min(LogbookEntry.gmc_number), func.count()).group_by(
        year, *_COUNT_KEYS
    )
    return sorted((int(y), s, g, v, str(p), n, int(c)) for y, s, g, v, p, n, c in await session.execute(stmt))


async def kept_logbook_counts(session: AsyncSession) -> list[tuple[int, str, str, str, str, str, int]]:
    """Every row of ``logbook_year_counts`` in the shape of :func:`raw_logbook_counts`, sorted."""
    stmt = select(*(getattr(LogbookYearCount, c) for c in _COUNT_COLUMNS))
    return sorted((int(y), s, g, v, str(p), n, int(c)) for y, s, g, v, p, n, c in await session.execute(stmt))
