"""The benchmark of financial year Y from the canonical inputs: measures, splits, Y-1, suppression.

Measures, over independent sector sites, for Y (1 April Y to 31 March Y+1) and Y-1:

- ``learners``: distinct people with a placement overlapping the year (registry placements, counted
  exactly, plus the learners providers submitted, added as given);
- ``placements``: placements overlapping the year;
- ``placement_weeks``: days of each placement inside the year / 7;
- ``procedures``: logbook entries in the year, by supervision level; with the sites' NHS-funded volume
  and the procedures as a share of it;
- ``trainees``: distinct trainees with at least one logbook entry (exact).

Each measure is split by region, ICB, provider, site and specialty, and people by route (columns: staff
group) and procedures by staff group (columns: supervision level). Every count table for each year is
protected by :mod:`service.benchmark.disclosure`; weeks follow their placements' pattern and shares
their procedures total. A change is shown only where both years are.

Pure module: polars and the standard library, no web or database imports.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import polars as pl

from service.benchmark import disclosure
from service.benchmark.canonical import (
    DOCTOR_BANDS,
    GRADE_BAND,
    NOT_RECORDED,
    ROUTE_LABELS,
    ROUTES,
    STAFF_CATEGORIES,
    STAFF_LABELS,
    SUPERVISION,
    SUPERVISION_LABELS,
    BenchmarkInputs,
    category_expr,
    fy_end,
    fy_label,
    fy_start,
)
from service.benchmark.schemas import Cell, Column, Disclosure, Number, Report, Row, Table

TOTAL: Final = "total"
TITLE: Final = "Independent sector training benchmark"
GEOGRAPHY: Final = ("region", "icb", "provider", "site")
PEOPLE_DIMENSIONS: Final = (*GEOGRAPHY, "specialty", "route")
PROCEDURE_DIMENSIONS: Final = (*GEOGRAPHY, "specialty", "staff_group")
DIMENSION_LABELS: Final = {
    "region": "NHS England region",
    "icb": "Integrated care board",
    "provider": "Independent provider",
    "site": "Independent site",
    "specialty": "Specialty",
    "route": "Route",
    "staff_group": "Staff group",
    "supervision": "Supervision level",
}
IN_TITLES: Final = {
    "region": "NHS England region",
    "icb": "integrated care board",
    "provider": "independent provider",
    "site": "independent site",
    "specialty": "specialty",
    "route": "route",
    "staff_group": "staff group",
}
MEASURES: Final = {
    "learners": ("Learners", "people"),
    "placements": ("Placements", "placements"),
    "placement_weeks": ("Placement weeks", "weeks"),
    "procedures": ("Procedures with trainee involvement", "procedures"),
    "trainees": ("Trainees with logged procedures", "trainees"),
}
RULE: Final = (
    "Counts from 1 to 4 are withheld, and further figures (the smallest in the same row or column, or in "
    "a sum shown in another table) so that no withheld figure can be worked out from the published ones, "
    "in one table or by combining tables. "
    "Totals are computed from all the data, before any figure is withheld. Placement weeks are withheld "
    "wherever their placements are; a share wherever its procedures total is. A change is shown only "
    "where both years are."
)

EntryKey = tuple[str, str, str]
"""(row dimension, row code, column code); the totals row is ("total", "total", column)."""
Values = dict[EntryKey, int]


# ---------------------------------------------------------------- the frame of rows


@dataclass(frozen=True)
class Frame:
    """The rows of every split and how the geography nests."""

    site_attributes: pl.DataFrame
    """site_code, site, provider, icb, region (codes; ``not_recorded`` where unknown)."""
    rows: dict[str, list[str]]
    labels: dict[str, dict[str, str]]
    children: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """children[parent dimension][code] = codes of the child dimension that add up to it."""


CHILD_OF: Final = {"icb": "site", "region": "icb", "provider": "site"}


def _frame(inputs: BenchmarkInputs) -> Frame:
    orgs = inputs.organisations
    names = dict(zip(orgs["code"].to_list(), orgs["name"].to_list(), strict=True))
    parent = dict(zip(orgs["code"].to_list(), orgs["parent_code"].to_list(), strict=True))
    kinds = dict(zip(orgs["code"].to_list(), orgs["kind"].to_list(), strict=True))
    sites = orgs.filter(pl.col("kind") == "independent_site").sort("code")
    site_rows = []
    for code, provider, icb in sites.select("code", "parent_code", "icb_code").iter_rows():
        icb = icb if icb is not None and kinds.get(icb) == "icb" else NOT_RECORDED
        region = parent.get(icb) if icb != NOT_RECORDED else None
        region = region if region is not None and kinds.get(region) == "region" else NOT_RECORDED
        provider = provider if provider is not None else NOT_RECORDED
        site_rows.append((code, code, provider, icb, region))
    attributes = pl.DataFrame(
        site_rows, schema=["site_code", "site", "provider", "icb", "region"], orient="row"
    ).cast(pl.Utf8)
    specialties: set[str] = set()
    for frame in (inputs.placements, inputs.logbook, inputs.volumes):
        specialties.update(
            s if s is not None else NOT_RECORDED for s in frame["specialty"].unique().to_list()
        )
    if inputs.learners.height:
        specialties.add(NOT_RECORDED)
    rows: dict[str, list[str]] = {
        dim: sorted(set(attributes[dim].to_list()), key=lambda c: (c == NOT_RECORDED, c)) for dim in GEOGRAPHY
    }
    rows["specialty"] = sorted(specialties, key=lambda c: (c == NOT_RECORDED, c))
    rows["route"] = list(ROUTES)
    rows["staff_group"] = list(DOCTOR_BANDS)
    labels: dict[str, dict[str, str]] = {
        dim: {code: names.get(code, code) for code in rows[dim]} for dim in GEOGRAPHY
    }
    labels["specialty"] = {code: code for code in rows["specialty"]}
    labels["route"] = dict(ROUTE_LABELS)
    labels["staff_group"] = {code: STAFF_LABELS[code] for code in DOCTOR_BANDS}
    for dim in labels.values():
        if NOT_RECORDED in dim:
            dim[NOT_RECORDED] = "Not recorded"
    children: dict[str, dict[str, list[str]]] = {}
    for parent_dim, child_dim in CHILD_OF.items():
        pairs = attributes.select(parent_dim, child_dim).unique().sort(child_dim)
        grouped: dict[str, list[str]] = {}
        for parent_code, child_code in pairs.iter_rows():
            grouped.setdefault(parent_code, []).append(child_code)
        children[parent_dim] = grouped
    return Frame(site_attributes=attributes, rows=rows, labels=labels, children=children)


# ---------------------------------------------------------------- aggregation helpers


def _add(
    target: dict[EntryKey, Number], dim: str, frame: pl.DataFrame, row: str | None, col: str | None
) -> None:
    """Add ``frame``'s single value column into ``target`` under (dim, row value, column value)."""
    value_column = frame.columns[-1]
    for record in frame.iter_rows(named=True):
        row_code = record[row] if row is not None else TOTAL
        col_code = record[col] if col is not None else TOTAL
        key = (dim if row is not None else TOTAL, row_code, col_code)
        target[key] = target.get(key, 0) + record[value_column]


def _levels(
    frame: pl.DataFrame, dims: Iterable[str], column: str, agg: pl.Expr, target: dict[EntryKey, Number]
) -> None:
    """``agg`` over ``frame`` for every (dim, column) cell, row total, column total and the grand total."""
    if frame.height == 0:
        return
    for dim in dims:
        _add(target, dim, frame.group_by(dim, column).agg(agg), dim, column)
        _add(target, dim, frame.group_by(dim).agg(agg), dim, None)
    _add(target, TOTAL, frame.group_by(column).agg(agg), None, column)
    _add(target, TOTAL, frame.select(agg), None, None)


def _people(inputs: BenchmarkInputs, frame: Frame, year: int) -> dict[str, dict[EntryKey, Number]]:
    start, end = fy_start(year), fy_end(year)
    placed = (
        inputs.placements.filter((pl.col("start_date") <= end) & (pl.col("end_date") >= start))
        .with_columns(
            days=(
                (
                    pl.min_horizontal(pl.col("end_date"), pl.lit(end))
                    - pl.max_horizontal(pl.col("start_date"), pl.lit(start))
                ).dt.total_days()
                + 1
            ),
            category=category_expr(pl.col("staff_group"), pl.col("grade")),
            specialty=pl.col("specialty").fill_null(NOT_RECORDED),
        )
        .join(frame.site_attributes, on="site_code", how="inner")
    )
    submitted = (
        inputs.learners.filter(pl.col("financial_year") == year)
        .with_columns(
            category=category_expr(pl.col("staff_group"), pl.lit(None, dtype=pl.Utf8)),
            specialty=pl.lit(NOT_RECORDED),
        )
        .join(frame.site_attributes, on="site_code", how="inner")
    )
    out: dict[str, dict[EntryKey, Number]] = {"learners": {}, "placements": {}, "days": {}, "weeks": {}}
    dims = PEOPLE_DIMENSIONS
    _levels(placed, dims, "category", pl.col("person_id").n_unique().alias("v"), out["learners"])
    _levels(placed, dims, "category", pl.len().cast(pl.Int64).alias("v"), out["placements"])
    _levels(placed, dims, "category", pl.col("days").sum().alias("v"), out["days"])
    _levels(submitted, dims, "category", pl.col("learners").sum().alias("v"), out["learners"])
    _levels(submitted, dims, "category", pl.col("placements").sum().alias("v"), out["placements"])
    _levels(submitted, dims, "category", pl.col("placement_weeks").sum().alias("v"), out["weeks"])
    return out


def _procedures(inputs: BenchmarkInputs, frame: Frame, year: int) -> dict[str, dict[EntryKey, Number]]:
    logged = (
        inputs.logbook.filter(pl.col("financial_year") == year)
        .with_columns(
            staff_group=pl.col("grade").replace_strict(GRADE_BAND, default="other", return_dtype=pl.Utf8),
            specialty=pl.col("specialty").fill_null(NOT_RECORDED),
        )
        .join(frame.site_attributes, on="site_code", how="inner")
    )
    out: dict[str, dict[EntryKey, Number]] = {"procedures": {}, "trainees": {}, "volume": {}}
    dims = PROCEDURE_DIMENSIONS
    _levels(logged, dims, "supervision", pl.col("entries").sum().alias("v"), out["procedures"])
    _levels(logged, dims, "supervision", pl.col("trainee_id").n_unique().alias("v"), out["trainees"])
    volumes = (
        inputs.volumes.filter(pl.col("financial_year") == year)
        .with_columns(specialty=pl.col("specialty").fill_null(NOT_RECORDED))
        .join(frame.site_attributes, on="site_code", how="inner")
    )
    volume = out["volume"]
    if volumes.height:
        for dim in (*GEOGRAPHY, "specialty"):
            _add(volume, dim, volumes.group_by(dim).agg(pl.col("nhs_funded_count").sum()), dim, None)
        everything = int(volumes["nhs_funded_count"].sum())
        volume[(TOTAL, TOTAL, TOTAL)] = everything
        for band in DOCTOR_BANDS:  # a staff group's procedures are a share of all the sites' volume
            volume[("staff_group", band, TOTAL)] = everything
    return out


# ---------------------------------------------------------------- protection


def _keys(dim: str, rows: Sequence[str], columns: Sequence[str]) -> list[list[EntryKey]]:
    body = [[(dim, row, col) for col in (*columns, TOTAL)] for row in rows]
    return [*body, [(TOTAL, TOTAL, col) for col in (*columns, TOTAL)]]


def _protect(
    values: dict[EntryKey, Number], frame: Frame, dims: Sequence[str], columns: Sequence[str]
) -> frozenset[EntryKey]:
    grids = [disclosure.Grid(tuple(tuple(r) for r in _keys(d, frame.rows[d], columns))) for d in dims]
    lines: list[list[EntryKey]] = []
    for parent_dim, child_dim in CHILD_OF.items():
        for parent_code, child_codes in frame.children[parent_dim].items():
            for col in (*columns, TOTAL):
                lines.append([*((child_dim, c, col) for c in child_codes), (parent_dim, parent_code, col)])
    counts: dict[EntryKey, int] = {}
    for grid in grids:
        for row in grid.entries:
            for key in row:
                counts[key] = int(values.get(key, 0))
    return disclosure.protect(counts, grids, lines)


# ---------------------------------------------------------------- assembling the tables


def _cell(value: Number | None, previous: Number | None, digits: int | None = None) -> Cell:
    change: Number | None = None
    if value is not None and previous is not None:
        change = value - previous
        if digits is not None:
            change = round(change, digits)
    return Cell(value=value, previous=previous, change=change)


Lookup = Callable[[EntryKey], tuple[Number | None, Number | None]]


def _table(
    table_id: str,
    measure: str,
    dim: str,
    column_dim: str,
    columns: Sequence[str],
    column_labels: dict[str, str],
    frame: Frame,
    lookup: Lookup,
    *,
    digits: int | None = None,
    extras: tuple[list[Column], Callable[[str, str], list[Cell]]] | None = None,
) -> Table:
    name, unit = MEASURES[measure]

    def row(row_dim: str, code: str, label: str) -> Row:
        cells = [_cell(*lookup((row_dim, code, col)), digits) for col in columns]
        return Row(
            code=code,
            label=label,
            cells=cells,
            total=_cell(*lookup((row_dim, code, TOTAL)), digits),
            extras=extras[1](row_dim, code) if extras is not None else [],
        )

    rows = [row(dim, code, frame.labels[dim][code]) for code in frame.rows[dim]]
    withheld = sum(
        1 for r in [*rows, row(TOTAL, TOTAL, "Total")] for c in [*r.cells, r.total] if c.value is None
    )
    return Table(
        id=table_id,
        title=f"{name} by {IN_TITLES[dim]}",
        measure=measure,
        unit=unit,
        row_dimension=dim,
        row_label=DIMENSION_LABELS[dim],
        column_dimension=column_dim,
        columns=[Column(code=c, label=column_labels[c]) for c in columns],
        extra_columns=extras[0] if extras is not None else [],
        rows=rows,
        total=row(TOTAL, TOTAL, "Total"),
        withheld=withheld,
    )


def _shown(
    values: dict[EntryKey, Number], withheld: frozenset[EntryKey], digits: int | None = None
) -> Callable[[EntryKey], Number | None]:
    def get(key: EntryKey) -> Number | None:
        if key in withheld:
            return None
        value = values.get(key, 0)
        return round(value, digits) if digits is not None else value

    return get


SHARE_COLUMNS: Final = [
    Column(code="nhs_funded_volume", label="NHS-funded procedures at the sites"),
    Column(code="share_percent", label="Procedures with trainee involvement as % of NHS-funded"),
]


class _Benchmark:
    """The aggregated figures of both years and which of them are withheld."""

    def __init__(self, inputs: BenchmarkInputs) -> None:
        self.year = year = inputs.year
        self.frame = frame = _frame(inputs)
        self.people = {y: _people(inputs, frame, y) for y in (year, year - 1)}
        self.procedures = {y: _procedures(inputs, frame, y) for y in (year, year - 1)}
        for figures in self.people.values():  # placement weeks: registry days / 7 plus submitted weeks
            weeks = figures["weeks"]
            for key, days in figures["days"].items():
                weeks[key] = weeks.get(key, 0) + days / 7
        self.hidden: dict[tuple[str, int], frozenset[EntryKey]] = {}
        for y in (year, year - 1):
            for measure in ("learners", "placements"):
                self.hidden[(measure, y)] = _protect(
                    self.people[y][measure], frame, PEOPLE_DIMENSIONS, STAFF_CATEGORIES
                )
            for measure in ("procedures", "trainees"):
                self.hidden[(measure, y)] = _protect(
                    self.procedures[y][measure], frame, PROCEDURE_DIMENSIONS, SUPERVISION
                )

    def lookup(
        self,
        source: dict[int, dict[str, dict[EntryKey, Number]]],
        measure: str,
        pattern: str,
        digits: int | None = None,
    ) -> Lookup:
        now = _shown(source[self.year][measure], self.hidden[(pattern, self.year)], digits)
        before = _shown(source[self.year - 1][measure], self.hidden[(pattern, self.year - 1)], digits)
        return lambda key: (now(key), before(key))

    def share(self, dim: str, code: str) -> list[Cell]:
        """The row's NHS-funded volume, and its procedures as a share of it (where they are shown)."""
        per_year: dict[int, tuple[int | None, float | None]] = {}
        key = (dim, code, TOTAL)
        for y in (self.year, self.year - 1):
            volume = self.procedures[y]["volume"].get(key)
            shown = key not in self.hidden[("procedures", y)]
            count = self.procedures[y]["procedures"].get(key, 0) if shown else None
            ratio = round(100 * count / volume, 1) if count is not None and volume else None
            per_year[y] = (int(volume) if volume is not None else None, ratio)
        volume_now, share_now = per_year[self.year]
        volume_before, share_before = per_year[self.year - 1]
        return [_cell(volume_now, volume_before), _cell(share_now, share_before, 1)]

    def tables(self) -> list[Table]:
        tables: list[Table] = []
        for measure, digits in (("learners", None), ("placements", None), ("placement_weeks", 1)):
            weeks = measure == "placement_weeks"
            lookup = self.lookup(
                self.people, "weeks" if weeks else measure, "placements" if weeks else measure, digits
            )
            for dim in PEOPLE_DIMENSIONS:
                spec = (measure, dim, "staff_group", STAFF_CATEGORIES, STAFF_LABELS)
                tables.append(_table(f"{measure}_by_{dim}", *spec, self.frame, lookup, digits=digits))
        for measure in ("procedures", "trainees"):
            lookup = self.lookup(self.procedures, measure, measure)
            extras = (SHARE_COLUMNS, self.share) if measure == "procedures" else None
            for dim in PROCEDURE_DIMENSIONS:
                spec = (measure, dim, "supervision", SUPERVISION, SUPERVISION_LABELS)
                tables.append(_table(f"{measure}_by_{dim}", *spec, self.frame, lookup, extras=extras))
        return tables


def compute(inputs: BenchmarkInputs, *, registry_version: str) -> Report:
    """The benchmark of ``inputs.year`` with Y-1, every table protected."""
    year = inputs.year
    return Report(
        title=TITLE,
        financial_year=fy_label(year),
        year=year,
        period_start=fy_start(year),
        period_end=fy_end(year),
        previous_financial_year=fy_label(year - 1),
        registry_version=registry_version,
        inputs_sha256=inputs.sha256(),
        disclosure=Disclosure(threshold=disclosure.THRESHOLD, rule=RULE),
        notes=NOTES,
        tables=_Benchmark(inputs).tables(),
    )


NOTES: Final = [
    "Financial year: 1 April to 31 March. Only independent sector sites are counted.",
    "Learners: distinct people with a placement overlapping the year. People the registry holds are "
    "counted once however many placements they had; learners submitted by providers are added as "
    "submitted, so a total may count a person submitted by two sites twice.",
    "Placement weeks: the days of each placement that fall within the year, divided by 7.",
    "Procedures with trainee involvement: logbook entries dated within the year at the sites, by "
    "supervision level. The share compares them with the NHS-funded procedures the sites recorded for "
    "the year; it can exceed 100% because logbooks also record privately funded cases.",
    "Staff group: doctors by grade band (foundation FY1-FY2; core CT1-CT3 and run-through ST1-ST2; "
    "specialty ST3-ST8), nurses, allied health professionals, other.",
    "A figure shown as [c] (null in JSON) is withheld to protect individuals (see the disclosure rule); "
    "[x] cannot be computed; 0 is a true zero.",
]
