"""Every SQL query of the benchmark domain (SQLite and PostgreSQL alike)."""

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import bindparam, delete, func, insert, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from service.benchmark.models import BenchmarkFile, LearnerSubmissionRecord, PublishedBenchmark

CHUNK: Final = 500


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# ---------------------------------------------------------------- learners


async def existing_learner_keys(
    session: AsyncSession, keys: Sequence[tuple[str, int, str, str]]
) -> set[tuple[str, int, str, str]]:
    """Those of (site, year, staff group, route) that already have a submission."""
    found: set[tuple[str, int, str, str]] = set()
    table = LearnerSubmissionRecord
    for batch in _chunks(sorted(set(keys))):
        sites = sorted({k[0] for k in batch})
        years = sorted({k[1] for k in batch})
        rows = await session.execute(
            select(table.site_code, table.financial_year, table.staff_group, table.route).where(
                table.site_code.in_(bindparam("sites", sites, expanding=True, literal_execute=True)),
                table.financial_year.in_(years),
            )
        )
        wanted = set(batch)
        found.update(key for key in (tuple(r) for r in rows) if key in wanted)  # type: ignore[misc]
    return found


async def replace_learners(
    session: AsyncSession, keys: Sequence[tuple[str, int, str, str]], rows: Sequence[dict[str, Any]]
) -> None:
    """Delete the submissions with ``keys`` and insert ``rows``, in the caller's transaction."""
    table = LearnerSubmissionRecord
    for batch in _chunks(list(keys)):
        await session.execute(
            delete(table).where(
                tuple_(table.site_code, table.financial_year, table.staff_group, table.route).in_(list(batch))
            )
        )
    if rows:
        await session.execute(insert(table), list(rows))


async def list_learners(
    session: AsyncSession,
    *,
    year: int | None,
    provider: str | None,
    limit: int,
    offset: int,
) -> tuple[list[LearnerSubmissionRecord], bool]:
    table = LearnerSubmissionRecord
    stmt = select(table).order_by(table.financial_year, table.site_code, table.staff_group, table.route)
    if year is not None:
        stmt = stmt.where(table.financial_year == year)
    if provider is not None:
        stmt = stmt.where(or_(table.provider_code == provider, table.site_code == provider))
    rows = list((await session.scalars(stmt.limit(limit + 1).offset(offset))).all())
    return rows[:limit], len(rows) > limit


async def learners_for_years(session: AsyncSession, years: Sequence[int]) -> list[tuple[Any, ...]]:
    """Rows in the column order of ``canonical.LEARNERS``."""
    table = LearnerSubmissionRecord
    result = await session.execute(
        select(
            table.financial_year,
            table.provider_code,
            table.site_code,
            table.staff_group,
            table.route,
            table.learners,
            table.placements,
            table.placement_weeks,
        ).where(table.financial_year.in_(list(years)))
    )
    return [tuple(row) for row in result]


# ---------------------------------------------------------------- published benchmarks


async def add_benchmark(
    session: AsyncSession, record: PublishedBenchmark, files: Sequence[BenchmarkFile]
) -> None:
    session.add(record)
    await session.flush()
    session.add_all(list(files))
    await session.flush()


async def list_benchmarks(
    session: AsyncSession, *, year: int | None, limit: int, offset: int
) -> tuple[list[PublishedBenchmark], bool]:
    stmt = select(PublishedBenchmark).order_by(PublishedBenchmark.created_at.desc(), PublishedBenchmark.id)
    if year is not None:
        stmt = stmt.where(PublishedBenchmark.financial_year == year)
    rows = list((await session.scalars(stmt.limit(limit + 1).offset(offset))).all())
    return rows[:limit], len(rows) > limit


async def get_benchmark(session: AsyncSession, benchmark_id: uuid.UUID) -> PublishedBenchmark | None:
    return await session.get(PublishedBenchmark, benchmark_id)


async def file_summaries(
    session: AsyncSession, benchmark_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[str, str, int, str]]]:
    """(format, media type, size, sha256) of each benchmark's files, without their contents."""
    out: dict[uuid.UUID, list[tuple[str, str, int, str]]] = {i: [] for i in benchmark_ids}
    if not benchmark_ids:
        return out
    result = await session.execute(
        select(
            BenchmarkFile.benchmark_id,
            BenchmarkFile.format,
            BenchmarkFile.media_type,
            BenchmarkFile.size,
            BenchmarkFile.sha256,
        )
        .where(BenchmarkFile.benchmark_id.in_(list(benchmark_ids)))
        .order_by(BenchmarkFile.benchmark_id, BenchmarkFile.format)
    )
    for benchmark_id, fmt, media_type, size, sha256 in result:
        out[benchmark_id].append((fmt, media_type, size, sha256))
    return out


async def get_file(session: AsyncSession, benchmark_id: uuid.UUID, fmt: str) -> BenchmarkFile | None:
    return await session.get(BenchmarkFile, (benchmark_id, fmt))


async def count_benchmarks(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(PublishedBenchmark)) or 0)
