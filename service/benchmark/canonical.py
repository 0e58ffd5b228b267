"""The benchmark's canonical input tables (:class:`BenchmarkInputs`), its vocabularies and the input hash.

Every source (a folder of CSV files, the registry's database) is turned into these five tables, and the
computation reads nothing else. They hold only what the benchmark of one financial year Y needs: years
Y-1 and Y, independent sector sites only. The SHA-256 of the inputs is taken over a documented
serialisation of these tables (``docs/benchmark.md``), so the same data gives the same hash whichever
source it came from.

Pure module: polars, no web or database imports.
"""

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

# ---------------------------------------------------------------- vocabularies

STAFF_CATEGORIES: Final = ("foundation", "core", "specialty", "nurse", "allied_health", "other")
"""Columns of the people tables: doctors by grade band, then nurses, allied health professionals, others."""
STAFF_LABELS: Final = {
    "foundation": "Foundation doctors (FY1-FY2)",
    "core": "Core trainees (CT1-CT3, ST1-ST2)",
    "specialty": "Specialty registrars (ST3-ST8)",
    "nurse": "Nurses",
    "allied_health": "Allied health professionals",
    "other": "Other",
}
DOCTOR_BANDS: Final = ("foundation", "core", "specialty", "other")
"""Rows of the procedures-by-staff-group tables: logbooks are kept by doctors."""
GRADE_BAND: Final = {
    "FY1": "foundation",
    "FY2": "foundation",
    "CT1": "core",
    "CT2": "core",
    "CT3": "core",
    "ST1": "core",
    "ST2": "core",
    **{f"ST{n}": "specialty" for n in range(3, 9)},
}
"""Grade -> band; ST1 and ST2 are run-through core years. Any other grade is ``other``."""

ROUTES: Final = ("doctors_in_training", "apprenticeship", "student_placement", "other")
ROUTE_LABELS: Final = {
    "doctors_in_training": "Doctors-in-training placement",
    "apprenticeship": "Apprenticeship",
    "student_placement": "Student placement",
    "other": "Other",
}
SUPERVISION: Final = ("O", "A", "S-TS", "S-TU", "P", "T")
"""Logbook supervision codes in increasing independence."""
SUPERVISION_LABELS: Final = {
    "O": "Observed (O)",
    "A": "Assisted (A)",
    "S-TS": "Supervised, trainer scrubbed (S-TS)",
    "S-TU": "Supervised, trainer unscrubbed (S-TU)",
    "P": "Performed (P)",
    "T": "Training a junior (T)",
}
SUBMITTED_STAFF_GROUPS: Final = ("nursing", "allied_health", "other")
"""Staff groups of provider submissions (learners the registry does not hold)."""
WORKFORCE_STAFF_GROUPS: Final = ("medical", "nursing", "allied_health", "other")
NOT_RECORDED: Final = "not_recorded"
"""Row code for a specialty, ICB or region that the data does not give."""

FIRST_YEAR: Final = 2000
LAST_YEAR: Final = 2098


def category_of(staff_group: str, grade: str | None) -> str:
    """The people-table column of a person: a doctor's grade band, or the staff group."""
    if staff_group == "medical":
        return GRADE_BAND.get(grade or "", "other")
    return {"nursing": "nurse", "allied_health": "allied_health"}.get(staff_group, "other")


def category_expr(staff_group: pl.Expr, grade: pl.Expr) -> pl.Expr:
    """:func:`category_of` as a polars expression."""
    band = grade.replace_strict(GRADE_BAND, default="other", return_dtype=pl.Utf8)
    return (
        pl.when(staff_group == "medical")
        .then(band)
        .when(staff_group == "nursing")
        .then(pl.lit("nurse"))
        .when(staff_group == "allied_health")
        .then(pl.lit("allied_health"))
        .otherwise(pl.lit("other"))
    )


# ---------------------------------------------------------------- financial years

_FY = re.compile(r"(?P<start>[0-9]{4})(?:[-/](?P<end>[0-9]{2}))?")


def fy_start(year: int) -> dt.date:
    """First day of financial year ``year``: 1 April ``year``."""
    return dt.date(year, 4, 1)


def fy_end(year: int) -> dt.date:
    """Last day of financial year ``year``: 31 March ``year + 1``."""
    return dt.date(year + 1, 3, 31)


def fy_label(year: int) -> str:
    """``2025`` -> ``2025-26``."""
    return f"{year}-{(year + 1) % 100:02d}"


def fy_of(day: dt.date) -> int:
    """The financial year a day falls in."""
    return day.year if day.month >= 4 else day.year - 1


def parse_financial_year(text: str) -> int | None:
    """``2025`` or ``2025-26`` (also ``2025/26``) -> 2025; None if it is not one of those."""
    found = _FY.fullmatch(text.strip())
    if found is None:
        return None
    start = int(found["start"])
    if found["end"] is not None and int(found["end"]) != (start + 1) % 100:
        return None
    return start if FIRST_YEAR <= start <= LAST_YEAR else None


# ---------------------------------------------------------------- the tables

ORGANISATIONS: Final = {
    "code": pl.Utf8,
    "name": pl.Utf8,
    "kind": pl.Utf8,
    "parent_code": pl.Utf8,
    "icb_code": pl.Utf8,
}
"""Regions, ICBs, independent providers and independent sites (workforce kinds)."""
PLACEMENTS: Final = {
    "person_id": pl.Utf8,
    "site_code": pl.Utf8,
    "specialty": pl.Utf8,
    "staff_group": pl.Utf8,
    "grade": pl.Utf8,
    "route": pl.Utf8,
    "start_date": pl.Date,
    "end_date": pl.Date,
}
"""Placements the registry holds, at independent sites, overlapping years Y-1 or Y."""
LOGBOOK: Final = {
    "financial_year": pl.Int32,
    "trainee_id": pl.Utf8,
    "grade": pl.Utf8,
    "site_code": pl.Utf8,
    "specialty": pl.Utf8,
    "supervision": pl.Utf8,
    "entries": pl.Int64,
}
"""Logbook entries at independent sites, counted per year, trainee, site, specialty and supervision."""
VOLUMES: Final = {
    "financial_year": pl.Int32,
    "site_code": pl.Utf8,
    "specialty": pl.Utf8,
    "nhs_funded_count": pl.Int64,
}
"""NHS-funded procedures per year, independent site and specialty."""
LEARNERS: Final = {
    "financial_year": pl.Int32,
    "provider_code": pl.Utf8,
    "site_code": pl.Utf8,
    "staff_group": pl.Utf8,
    "route": pl.Utf8,
    "learners": pl.Int64,
    "placements": pl.Int64,
    "placement_weeks": pl.Float64,
}
"""Provider submissions for learners the registry does not hold."""
SCHEMAS: Final = {
    "organisations": ORGANISATIONS,
    "placements": PLACEMENTS,
    "logbook": LOGBOOK,
    "volumes": VOLUMES,
    "learners": LEARNERS,
}
HASH_PREFIX: Final = b"passport-benchmark-inputs/1\n"


@dataclass(frozen=True)
class BenchmarkInputs:
    """The canonical tables for the benchmark of financial ``year``; build with :func:`make_inputs`."""

    year: int
    organisations: pl.DataFrame
    placements: pl.DataFrame
    logbook: pl.DataFrame
    volumes: pl.DataFrame
    learners: pl.DataFrame

    def table(self, name: str) -> pl.DataFrame:
        frame: pl.DataFrame = getattr(self, name)
        return frame

    def sha256(self) -> str:
        """SHA-256 over every table as CSV (header, rows sorted, ISO dates), in :data:`SCHEMAS` order."""
        digest = hashlib.sha256(HASH_PREFIX)
        digest.update(f"year={self.year}\n".encode())
        for name in SCHEMAS:
            frame = self.table(name)
            if "placement_weeks" in frame.columns:
                frame = frame.with_columns(pl.col("placement_weeks").round(1).cast(pl.Utf8))
            digest.update(f"table={name} rows={frame.height}\n".encode())
            digest.update(frame.write_csv(include_header=True, line_terminator="\n").encode("utf-8"))
        return digest.hexdigest()


GROUP_COUNTS: Final = {
    "financial_year": pl.Int32,
    "trainee_id": pl.Utf8,
    "site_code": pl.Utf8,
    "procedure_group": pl.Utf8,
    "supervision": pl.Utf8,
    "entries": pl.Int64,
}
"""Logbook entries per year, trainee, site, procedure group and supervision: what a source counts."""
GROUP_VOLUMES: Final = {
    "financial_year": pl.Int32,
    "site_code": pl.Utf8,
    "specialty": pl.Utf8,
    "procedure_group": pl.Utf8,
    "nhs_funded_count": pl.Int64,
}
"""NHS-funded procedures per year, site, specialty and procedure group, as sites report them."""
PEOPLE: Final = {"trainee_id": pl.Utf8, "grade": pl.Utf8, "specialty": pl.Utf8}
"""A trainee's registered grade and specialty (the fallback when no placement in the year gives them)."""


def _empty(schema: Mapping[str, type[pl.DataType]]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(schema))


def trainee_facts(
    placements: pl.DataFrame, people: pl.DataFrame | None, years: Sequence[int]
) -> pl.DataFrame:
    """(financial_year, trainee_id, grade, trainee_specialty) for each year: the grade and the specialty
    of the trainee's latest placement overlapping the year (latest start; the later grade, specialty by
    name on a tie) that gives one, else their registered ones (``people``)."""
    frames = []
    for year in years:
        start, end = fy_start(year), fy_end(year)
        in_year = placements.filter((pl.col("start_date") <= end) & (pl.col("end_date") >= start))
        latest = [
            in_year.filter(pl.col(column).is_not_null())
            .sort("start_date", column)
            .group_by("person_id")
            .agg(pl.col(column).last().alias(alias))
            for column, alias in (("grade", "grade"), ("specialty", "trainee_specialty"))
        ]
        frames.append(
            latest[0]
            .join(latest[1], on="person_id", how="full", coalesce=True)
            .select(
                pl.lit(year, dtype=pl.Int32).alias("financial_year"),
                pl.col("person_id").alias("trainee_id"),
                pl.col("grade").cast(pl.Utf8),
                pl.col("trainee_specialty").cast(pl.Utf8),
            )
        )
    facts = (
        pl.concat(frames)
        if frames
        else pl.DataFrame(
            schema={
                "financial_year": pl.Int32,
                "trainee_id": pl.Utf8,
                "grade": pl.Utf8,
                "trainee_specialty": pl.Utf8,
            }
        )
    )
    if people is None or people.height == 0:
        return facts
    registered = pl.concat(
        [
            people.select(
                pl.lit(year, dtype=pl.Int32).alias("financial_year"),
                pl.col("trainee_id").cast(pl.Utf8),
                pl.col("grade").cast(pl.Utf8).alias("registered_grade"),
                pl.col("specialty").cast(pl.Utf8).alias("registered_specialty"),
            )
            for year in years
        ]
    )
    return facts.join(registered, on=["financial_year", "trainee_id"], how="full", coalesce=True).select(
        "financial_year",
        "trainee_id",
        pl.coalesce("grade", "registered_grade").alias("grade"),
        pl.coalesce("trainee_specialty", "registered_specialty").alias("trainee_specialty"),
    )


def logbook_table(
    counts: pl.DataFrame,
    volumes: pl.DataFrame,
    placements: pl.DataFrame,
    people: pl.DataFrame | None,
    years: Sequence[int],
) -> pl.DataFrame:
    """The canonical logbook table (:data:`LOGBOOK`) from counts per procedure group
    (:data:`GROUP_COUNTS`), the sites' volumes by group (:data:`GROUP_VOLUMES`), the placements and the
    trainees' registered grades and specialties (:data:`PEOPLE`).

    Grade: see :func:`trainee_facts`. Specialty of the entries of a procedure group at a site: the
    specialty under which that site reports the group's NHS-funded volume (so a row's procedures and its
    share of the volume count the same cases); when the site reports the group under several, the
    trainee's specialty if it is one of them, else the first by name; when the site reports none, the
    trainee's specialty, else the group's specialty in the other sites' volumes if they all agree; else
    not recorded (null). The same rule for a CSV folder and for the database.
    """
    counts = counts.select([pl.col(n).cast(t) for n, t in GROUP_COUNTS.items()])
    volumes = volumes.select([pl.col(n).cast(t) for n, t in GROUP_VOLUMES.items()]).filter(
        pl.col("specialty").is_not_null()
    )
    at_site = (
        volumes.select("site_code", "procedure_group", "specialty")
        .unique()
        .group_by("site_code", "procedure_group")
        .agg(
            pl.len().alias("reported"),
            pl.col("specialty").min().alias("first_reported"),
        )
    )
    reported_pairs = volumes.select(
        "site_code",
        "procedure_group",
        pl.col("specialty").alias("trainee_specialty"),
        pl.lit(True).alias("member"),
    ).unique()
    anywhere = (
        volumes.select("procedure_group", "specialty")
        .unique()
        .group_by("procedure_group")
        .agg(pl.len().alias("n"), pl.col("specialty").first().alias("elsewhere"))
        .filter(pl.col("n") == 1)
        .drop("n")
    )
    facts = trainee_facts(placements, people, years)
    joined = (
        counts.join(facts, on=["financial_year", "trainee_id"], how="left")
        .join(at_site, on=["site_code", "procedure_group"], how="left")
        .join(reported_pairs, on=["site_code", "procedure_group", "trainee_specialty"], how="left")
        .join(anywhere, on="procedure_group", how="left")
    )
    specialty = (
        pl.when(pl.col("reported") == 1)
        .then(pl.col("first_reported"))
        .when(pl.col("reported") > 1)
        .then(pl.when(pl.col("member")).then(pl.col("trainee_specialty")).otherwise(pl.col("first_reported")))
        .otherwise(pl.coalesce("trainee_specialty", "elsewhere"))
    )
    keys = ["financial_year", "trainee_id", "grade", "site_code", "specialty", "supervision"]
    if counts.height == 0:
        return _empty(LOGBOOK)
    return (
        joined.with_columns(specialty=specialty.cast(pl.Utf8))
        .group_by(keys)
        .agg(pl.col("entries").sum())
        .select([pl.col(n).cast(t) for n, t in LOGBOOK.items()])
    )


def _conform(frame: pl.DataFrame, schema: Mapping[str, type[pl.DataType]]) -> pl.DataFrame:
    frame = frame.select([pl.col(name).cast(kind) for name, kind in schema.items()])
    return frame.sort(list(schema), nulls_last=False)


def make_inputs(
    year: int,
    *,
    organisations: pl.DataFrame,
    placements: pl.DataFrame,
    logbook: pl.DataFrame,
    volumes: pl.DataFrame,
    learners: pl.DataFrame,
) -> BenchmarkInputs:
    """The canonical inputs: columns cast to the schemas, rows outside the scope dropped, rows sorted.

    Scope: organisations of the four kinds the benchmark shows; placements overlapping years Y-1 or Y
    and logbook, volumes and learners of those years, all at independent sites.
    """
    organisations = _conform(organisations, ORGANISATIONS).filter(
        pl.col("kind").is_in(["region", "icb", "independent_provider", "independent_site"])
    )
    sites = organisations.filter(pl.col("kind") == "independent_site")["code"]
    years = [year - 1, year]
    first, last = fy_start(year - 1), fy_end(year)
    placements = _conform(placements, PLACEMENTS).filter(
        pl.col("site_code").is_in(sites.implode())
        & (pl.col("start_date") <= last)
        & (pl.col("end_date") >= first)
    )

    def in_scope(
        frame: pl.DataFrame, schema: Mapping[str, type[pl.DataType]], total: str | None
    ) -> pl.DataFrame:
        frame = frame.select([pl.col(name).cast(kind) for name, kind in schema.items()]).filter(
            pl.col("site_code").is_in(sites.implode()) & pl.col("financial_year").is_in(years)
        )
        if total is not None:  # one row per key, whatever the source's granularity
            keys = [name for name in schema if name != total]
            frame = frame.group_by(keys).agg(pl.col(total).sum())
        return _conform(frame, schema)

    return BenchmarkInputs(
        year=year,
        organisations=organisations,
        placements=placements,
        logbook=in_scope(logbook, LOGBOOK, "entries"),
        volumes=in_scope(volumes, VOLUMES, "nhs_funded_count"),
        learners=in_scope(learners, LEARNERS, None),
    )
