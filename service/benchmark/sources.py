"""What the benchmark needs from the placements domain: a small interface, and the registry's source.

The placements domain (issue "Placement matching") owns placement records, logbook entries and
procedure volumes. The benchmark reads them only through :class:`PlacementsSource`, whose methods the
placements service provides (``service/placements/service.py``, ``BenchmarkSource``), each computed in SQL:

- :meth:`PlacementsSource.placements`: published placement records at the given independent sites that
  overlap ``[start, end]``, with the grade and specialty of the placement; a doctor's ``person_id`` is
  their GMC number, the same identifier their logbook entries carry;
- :meth:`PlacementsSource.logbook_counts`: logbook entries at the given sites in the given financial
  years, **counted** per (year, trainee, site, procedure group, supervision). Counting per trainee keeps
  distinct trainee counts exact at every level while the result stays small (a trainee has a few rows
  per site and year, not hundreds). The placements domain keeps these counts in a table maintained on
  every logbook write (``docs/decisions/0020-logbook-counts-and-specialties.md``);
- :meth:`PlacementsSource.volumes`: NHS-funded procedures per (year, site, specialty, procedure group),
  as the sites report them.

The benchmark then gives each logbook row its trainee's grade and its specialty
(:func:`service.benchmark.canonical.logbook_table`), the same way for the database and a CSV folder.
Rows are plain tuples in the column order of ``canonical.PLACEMENTS``, ``GROUP_COUNTS`` and
``GROUP_VOLUMES``, so a source can hand over driver rows without building objects; the logbook counts
(half a million rows at national scale) may also come as a polars frame with ``GROUP_COUNTS``'s columns.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

import polars as pl
from sqlalchemy.ext.asyncio import AsyncSession

PlacementRow = tuple[str, str, str | None, str, str | None, str, dt.date, dt.date]
"""person_id, site_code, specialty, staff_group, grade, route, start_date, end_date."""
LogbookRow = tuple[int, str, str, str, str, int]
"""financial_year, trainee_id, site_code, procedure_group, supervision, entries."""
VolumeRow = tuple[int, str, str | None, str, int]
"""financial_year, site_code, specialty, procedure_group, nhs_funded_count."""


class PlacementsSource(Protocol):
    async def placements(
        self, session: AsyncSession, *, site_codes: Sequence[str], start: dt.date, end: dt.date
    ) -> Sequence[PlacementRow]: ...

    async def logbook_counts(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> Sequence[LogbookRow] | pl.DataFrame: ...

    async def volumes(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> Sequence[VolumeRow]: ...


class NoPlacements:
    """A source with no placements, logbooks or volumes: a benchmark of provider submissions only (for
    tests of the submissions alone)."""

    async def placements(self, session: AsyncSession, **_: Any) -> Sequence[PlacementRow]:
        return []

    async def logbook_counts(self, session: AsyncSession, **_: Any) -> Sequence[LogbookRow]:
        return []

    async def volumes(self, session: AsyncSession, **_: Any) -> Sequence[VolumeRow]:
        return []


def _registry_source() -> PlacementsSource:
    from service.placements.service import BenchmarkSource  # the placements domain's service.py

    return BenchmarkSource()


DEFAULT_SOURCE: PlacementsSource = _registry_source()
"""The source used by the CLI and the API: the registry's own placements, logbooks and volumes."""
