"""What the benchmark needs from the placements domain: a small interface, and a stand-in until it lands.

The placements domain (issue "Placement matching") owns placement records, logbook entries and
procedure volumes. The benchmark reads them only through :class:`PlacementsSource`, whose methods the
placements service provides (``service/placements/service.py``), each one query computed in SQL:

- :meth:`PlacementsSource.placements`: published placement records at the given independent sites that
  overlap ``[start, end]``, with the grade and specialty of the placement;
- :meth:`PlacementsSource.logbook_counts`: logbook entries at the given sites in the given financial
  years, **counted** per (year, trainee, grade, site, specialty of the procedure group, supervision).
  Counting per trainee keeps distinct trainee counts exact at every level while the result stays small
  (a trainee has a few rows per site and year, not hundreds). For speed the placements domain keeps
  these counts in a table maintained on write (``docs/decisions/0012-benchmark-engine.md``);
- :meth:`PlacementsSource.volumes`: NHS-funded procedures per (year, site, specialty).

Rows are plain tuples in the column order of the canonical tables (``canonical.PLACEMENTS``,
``LOGBOOK``, ``VOLUMES``), so a source can hand over driver rows without building objects.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

PlacementRow = tuple[str, str, str | None, str, str | None, str, dt.date, dt.date]
"""person_id, site_code, specialty, staff_group, grade, route, start_date, end_date."""
LogbookRow = tuple[int, str, str | None, str, str | None, str, int]
"""financial_year, trainee_id, grade, site_code, specialty, supervision, entries."""
VolumeRow = tuple[int, str, str | None, int]
"""financial_year, site_code, specialty, nhs_funded_count."""


class PlacementsSource(Protocol):
    async def placements(
        self, session: AsyncSession, *, site_codes: Sequence[str], start: dt.date, end: dt.date
    ) -> Sequence[PlacementRow]: ...

    async def logbook_counts(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> Sequence[LogbookRow]: ...

    async def volumes(
        self, session: AsyncSession, *, site_codes: Sequence[str], years: Sequence[int]
    ) -> Sequence[VolumeRow]: ...


class NoPlacements:
    """The stand-in while the placements domain is not there: no placements, logbooks or volumes, so a
    benchmark from the database counts provider submissions only."""

    async def placements(self, session: AsyncSession, **_: Any) -> Sequence[PlacementRow]:
        return []

    async def logbook_counts(self, session: AsyncSession, **_: Any) -> Sequence[LogbookRow]:
        return []

    async def volumes(self, session: AsyncSession, **_: Any) -> Sequence[VolumeRow]:
        return []


DEFAULT_SOURCE: PlacementsSource = NoPlacements()
"""The source used by the CLI and the API. When the placements domain lands, this becomes its service
(one line here); until then benchmarks from the database count provider submissions only."""
