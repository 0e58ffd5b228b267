"""Wire structs of the benchmark: the published report, learner submissions, published benchmarks.

The report (:class:`Report`) is what every output format shows: the JSON output is its msgspec
encoding, the CSV, XLSX and HTML outputs lay the same tables out for people.
"""

import datetime as dt
import uuid
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta

from service.benchmark.canonical import LAST_YEAR

Format = Literal["json", "csv", "xlsx", "html"]
FORMATS: Final[tuple[Format, ...]] = ("json", "csv", "xlsx", "html")
MEDIA_TYPES: Final[dict[str, str]] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}
Number = int | float

# ---------------------------------------------------------------- the report


class Column(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    label: str


class Cell(msgspec.Struct, frozen=True, kw_only=True):
    """One figure for the year, the year before and the change. ``null`` means withheld (see
    ``disclosure``) or, for a change or share, not computable; a true zero is ``0``."""

    value: Number | None
    previous: Number | None
    change: Number | None


class Row(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    label: str
    cells: list[Cell]
    """One per column of the table, in order."""
    total: Cell
    extras: list[Cell] = msgspec.field(default_factory=list)
    """One per ``extra_columns`` entry of the table."""


class Table(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: str
    measure: str
    unit: str
    row_dimension: str
    row_label: str
    column_dimension: str
    columns: list[Column]
    extra_columns: list[Column] = msgspec.field(default_factory=list)
    rows: list[Row]
    total: Row
    """The totals row (code ``total``), computed from the unsuppressed data."""
    withheld: int
    """How many of this table's figures for the year are withheld."""


class Disclosure(msgspec.Struct, frozen=True, kw_only=True):
    threshold: int
    rule: str


class Report(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    financial_year: str
    year: int
    period_start: dt.date
    period_end: dt.date
    previous_financial_year: str
    registry_version: str
    inputs_sha256: str
    disclosure: Disclosure
    notes: list[str]
    tables: list[Table]


# ---------------------------------------------------------------- learner submissions

Year = Annotated[int, Meta(ge=2000, le=LAST_YEAR, description="financial year: 2025 means 2025-26")]
Count = Annotated[int, Meta(ge=0, le=10_000_000, description="a whole number, 0 or more")]
Weeks = Annotated[
    float, Meta(ge=0, le=530_000_000, description="weeks, 0 or more, at most one decimal place")
]
OdsCode = Annotated[str, Meta(pattern=r"^[A-Za-z0-9]{3,6}$(?!\n)", description="an ODS code")]
SubmittedStaffGroup = Literal["nursing", "allied_health", "other"]
Route = Literal["doctors_in_training", "apprenticeship", "student_placement", "other"]

"""The two literals above spell out ``canonical.SUBMITTED_STAFF_GROUPS`` and ``canonical.ROUTES`` (tested)."""


class LearnerSubmission(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A provider's figures for learners the registry does not hold, at one site, for one year, staff
    group and route."""

    provider_code: OdsCode
    site_code: OdsCode
    financial_year: Year
    staff_group: SubmittedStaffGroup
    route: Route
    learners: Count
    """Distinct people placed at the site in the year."""
    placements: Count
    placement_weeks: Weeks
    """Weeks of placement that fall within the year (days / 7)."""


class LearnerBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    items: Annotated[list[LearnerSubmission], Meta(min_length=1, max_length=10_000)]


class LearnerRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    provider_code: str
    site_code: str
    financial_year: int
    staff_group: str
    route: str
    learners: int
    placements: int
    placement_weeks: float
    submitted_by: str
    submitted_at: dt.datetime


class LearnerPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[LearnerRead]
    limit: int
    offset: int
    next_offset: int | None


class SubmissionResult(msgspec.Struct, frozen=True, kw_only=True):
    entity: Literal["learners"] = "learners"
    created: int
    replaced: int
    """Rows that replaced an earlier submission for the same site, year, staff group and route."""
    ids: list[str]


# ---------------------------------------------------------------- published benchmarks


class ComputeRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    financial_year: Year


class FileRead(msgspec.Struct, frozen=True, kw_only=True):
    format: str
    media_type: str
    bytes: int
    sha256: str
    href: str
    signature_href: str


class BenchmarkRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    financial_year: str
    year: int
    inputs_sha256: str
    registry_version: str
    key_id: str
    created_at: dt.datetime
    created_by: str
    files: list[FileRead]


class BenchmarkPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[BenchmarkRead]
    limit: int
    offset: int
    next_offset: int | None
