"""``passport benchmark compute --data DIR``: the canonical inputs from a folder of CSV files.

Files (formats in ``docs/benchmark.md``): ``organisations.csv`` (required, the workforce format),
``placements.csv``, ``logbook.csv``, ``volumes.csv``, ``people.csv`` (the workforce format) and
``learners.csv``; a missing optional file means no rows. Every file is checked whole and every problem
reported as (file, row, column, reason), the header being row 1; nothing is computed from a folder with
a problem. Files are read and checked with polars, so a national logbook of millions of rows is read in
seconds.

Pure module: polars and the standard library, no web or database imports.
"""

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NamedTuple

import polars as pl

from service.benchmark import learners as learner_rules
from service.benchmark.canonical import (
    LEARNERS,
    LOGBOOK,
    ROUTES,
    SUPERVISION,
    WORKFORCE_STAFF_GROUPS,
    BenchmarkInputs,
    fy_of,
    logbook_table,
    make_inputs,
    parse_financial_year,
)

GRADES: Final = ("FY1", "FY2", "CT1", "CT2", "CT3", *(f"ST{n}" for n in range(1, 9)), "other")
KINDS: Final = ("region", "icb", "nhs_trust", "independent_provider", "independent_site")
HEADERS: Final = {
    "organisations.csv": (
        "code",
        "name",
        "kind",
        "parent_code",
        "icb_code",
        "postcode",
        "latitude",
        "longitude",
    ),
    "placements.csv": (
        "person_id",
        "site_code",
        "specialty",
        "grade",
        "staff_group",
        "route",
        "start_date",
        "end_date",
    ),
    "logbook.csv": ("trainee_id", "procedure_group", "date", "supervision", "site_code"),
    "volumes.csv": ("site_code", "specialty", "procedure_group", "financial_year", "nhs_funded_count"),
    "people.csv": ("given_name", "family_name", "gmc_number", "staff_group", "grade", "specialty"),
    "learners.csv": learner_rules.HEADER,
}
REQUIRED: Final = frozenset({"organisations.csv"})
MAX_PROBLEMS: Final = 1000
"""Problems reported per file; the count of the rest is given."""
_ODS = r"^[A-Z0-9]{3,6}$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
LINE: Final = "_line"


class InputProblem(NamedTuple):
    file: str
    row: int
    column: str | None
    reason: str


class InputsRejected(Exception):
    """The folder has problems; ``problems`` lists them (capped per file), ``str()`` summarises."""

    def __init__(self, problems: Sequence[InputProblem], more: int = 0) -> None:
        self.problems = list(problems)
        self.more = more
        files = sorted({p.file for p in problems})
        super().__init__(f"{len(problems) + more} problem(s) in {', '.join(files)}; nothing was computed")


class _Checker:
    def __init__(self) -> None:
        self.problems: list[InputProblem] = []
        self.more = 0

    def add(self, file: str, row: int, column: str | None, reason: str) -> None:
        if sum(1 for p in self.problems if p.file == file) >= MAX_PROBLEMS:
            self.more += 1
        else:
            self.problems.append(InputProblem(file, row, column, reason))

    def check(self, file: str, frame: pl.DataFrame, column: str | None, bad: pl.Expr, reason: str) -> None:
        """Report every row of ``frame`` where ``bad`` is true (null counts as false)."""
        hits = frame.filter(bad.fill_null(False)).select(LINE)
        taken = sum(1 for p in self.problems if p.file == file)
        room = max(MAX_PROBLEMS - taken, 0)
        for (line,) in hits.head(room).iter_rows():
            self.problems.append(InputProblem(file, int(line), column, reason))
        self.more += max(hits.height - room, 0)


def _read(folder: Path, name: str, checker: _Checker) -> pl.DataFrame | None:
    """The file as text columns (trimmed; empty cells null) with its line numbers, or None if absent."""
    path = folder / name
    columns = HEADERS[name]
    if not path.is_file():
        if name in REQUIRED:
            checker.add(name, 0, None, "the file is missing")
        return None
    try:
        with path.open("rb") as handle:
            first = handle.readline().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        checker.add(name, 1, None, "the header is not UTF-8 text")
        return None
    names = [h.strip() for h in first.rstrip("\r\n").split(",")]
    if sorted(names) != sorted(columns):
        missing = [c for c in columns if c not in names]
        unknown = [c for c in names if c not in columns]
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(unknown)}" if unknown else "",
                "a column is repeated" if len(names) != len(set(names)) else "",
            )
            if part
        )
        checker.add(name, 1, None, f"the header must name exactly {','.join(columns)}: {detail}")
        return None
    try:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        checker.add(name, 0, None, f"the file cannot be read as CSV: {reason}")
        return None
    frame = frame.rename({c: c.strip() for c in frame.columns}).select(list(columns))
    trimmed = [pl.col(c).str.strip_chars().replace("", None).alias(c) for c in columns]
    return frame.select(trimmed).with_row_index(LINE, offset=2)


def _required(checker: _Checker, file: str, frame: pl.DataFrame, columns: Sequence[str]) -> None:
    for column in columns:
        checker.check(file, frame, column, pl.col(column).is_null(), "is required")


def _length(checker: _Checker, file: str, frame: pl.DataFrame, column: str, most: int) -> None:
    checker.check(
        file, frame, column, pl.col(column).str.len_chars() > most, f"must be at most {most} characters"
    )


def _one_of(checker: _Checker, file: str, frame: pl.DataFrame, column: str, allowed: Sequence[str]) -> None:
    checker.check(
        file, frame, column, ~pl.col(column).is_in(list(allowed)), f"must be one of {', '.join(allowed)}"
    )


def _date(frame: pl.DataFrame, column: str) -> pl.Expr:
    return pl.col(column).str.to_date("%Y-%m-%d", strict=False)


def _check_dates(checker: _Checker, file: str, frame: pl.DataFrame, column: str) -> None:
    checker.check(
        file,
        frame,
        column,
        pl.col(column).is_not_null() & (~pl.col(column).str.contains(_DATE) | _date(frame, column).is_null()),
        "must be a date YYYY-MM-DD",
    )


def _unique(
    checker: _Checker, file: str, frame: pl.DataFrame, keys: list[str], column: str, what: str
) -> None:
    first = pl.col(LINE).min().over(keys)
    repeats = frame.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys)).with_columns(first=first)
    hits = repeats.filter(pl.col(LINE) != pl.col("first")).select(LINE, "first")
    for line, earlier in hits.head(MAX_PROBLEMS).iter_rows():
        checker.add(file, int(line), column, f"repeats the {what} of row {earlier}")


# ---------------------------------------------------------------- each file


def _organisations(checker: _Checker, frame: pl.DataFrame) -> pl.DataFrame:
    file = "organisations.csv"
    frame = frame.with_columns(
        pl.col("code").str.to_uppercase(),
        pl.col("parent_code").str.to_uppercase(),
        pl.col("icb_code").str.to_uppercase(),
    )
    _required(checker, file, frame, ["code", "name", "kind"])
    for column in ("code", "parent_code", "icb_code"):
        checker.check(
            file,
            frame,
            column,
            ~pl.col(column).str.contains(_ODS),
            "must be an ODS code: 3 to 6 letters or digits",
        )
    _length(checker, file, frame, "name", 200)
    _one_of(checker, file, frame, "kind", KINDS)
    _unique(checker, file, frame, ["code"], "code", "code")
    kinds = dict(zip(frame["code"].to_list(), frame["kind"].to_list(), strict=True))
    parent_kind = {"icb": "region", "nhs_trust": "icb", "independent_site": "independent_provider"}
    for line, kind, parent, icb in frame.select(LINE, "kind", "parent_code", "icb_code").iter_rows():
        wanted = parent_kind.get(kind or "")
        if wanted is not None and parent is None:
            checker.add(
                file, line, "parent_code", f"is required for this kind (a {wanted.replace('_', ' ')})"
            )
        elif wanted is not None and parent is not None and kinds.get(parent) != wanted:
            checker.add(
                file, line, "parent_code", f"must be the code of a {wanted.replace('_', ' ')} in this file"
            )
        if icb is not None and kinds.get(icb) != "icb":
            checker.add(file, line, "icb_code", "must be the code of an ICB in this file")
    return frame.select("code", "name", "kind", "parent_code", "icb_code")


def _known_site(checker: _Checker, file: str, frame: pl.DataFrame, known: pl.Series) -> pl.DataFrame:
    frame = frame.with_columns(pl.col("site_code").str.to_uppercase())
    checker.check(
        file,
        frame,
        "site_code",
        pl.col("site_code").is_not_null() & ~pl.col("site_code").is_in(known.implode()),
        "no organisation in organisations.csv has this code",
    )
    return frame


def _placements(checker: _Checker, frame: pl.DataFrame, known: pl.Series) -> pl.DataFrame:
    file = "placements.csv"
    _required(
        checker, file, frame, ["person_id", "site_code", "staff_group", "route", "start_date", "end_date"]
    )
    _length(checker, file, frame, "person_id", 64)
    _length(checker, file, frame, "specialty", 60)
    frame = _known_site(checker, file, frame, known)
    _one_of(checker, file, frame, "grade", GRADES)
    _one_of(checker, file, frame, "staff_group", WORKFORCE_STAFF_GROUPS)
    _one_of(checker, file, frame, "route", ROUTES)
    checker.check(
        file,
        frame,
        "staff_group",
        pl.col("grade").is_not_null() & (pl.col("grade") != "other") & (pl.col("staff_group") != "medical"),
        "must be medical for a doctor in training (a grade other than 'other')",
    )
    for column in ("start_date", "end_date"):
        _check_dates(checker, file, frame, column)
    frame = frame.with_columns(start=_date(frame, "start_date"), end=_date(frame, "end_date"))
    checker.check(file, frame, "end_date", pl.col("end") < pl.col("start"), "must be on or after start_date")
    ordered = frame.filter(pl.col("start").is_not_null() & pl.col("end").is_not_null()).sort(
        "person_id", "site_code", "start", LINE
    )
    ordered = ordered.with_columns(
        before_end=pl.col("end").shift(1).over("person_id", "site_code"),
        before_line=pl.col(LINE).shift(1).over("person_id", "site_code"),
    )
    for line, before in (
        ordered.filter(pl.col("start") <= pl.col("before_end")).select(LINE, "before_line").iter_rows()
    ):
        checker.add(
            file,
            int(line),
            "start_date",
            f"overlaps the placement of the same person at the same site in row {before}",
        )
    return frame.select(
        "person_id",
        "site_code",
        "specialty",
        "staff_group",
        "grade",
        "route",
        pl.col("start").alias("start_date"),
        pl.col("end").alias("end_date"),
    )


def _volumes(checker: _Checker, frame: pl.DataFrame, known: pl.Series) -> pl.DataFrame:
    file = "volumes.csv"
    _required(checker, file, frame, list(HEADERS[file]))
    frame = _known_site(checker, file, frame, known)
    _length(checker, file, frame, "specialty", 60)
    _length(checker, file, frame, "procedure_group", 100)
    years = {
        text: parse_financial_year(text) for text in frame["financial_year"].drop_nulls().unique().to_list()
    }
    frame = frame.with_columns(
        year=pl.col("financial_year").replace_strict(years, default=None, return_dtype=pl.Int32)
    )
    checker.check(
        file,
        frame,
        "financial_year",
        pl.col("financial_year").is_not_null() & pl.col("year").is_null(),
        "must be a financial year such as 2025-26 (or 2025)",
    )
    frame = frame.with_columns(count=pl.col("nhs_funded_count").cast(pl.Int64, strict=False))
    checker.check(
        file,
        frame,
        "nhs_funded_count",
        pl.col("nhs_funded_count").is_not_null()
        & (~pl.col("nhs_funded_count").str.contains(r"^[0-9]{1,12}$")),
        "must be a whole number, 0 or more",
    )
    _unique(
        checker,
        file,
        frame,
        ["site_code", "specialty", "procedure_group", "year"],
        "procedure_group",
        "site, specialty, procedure group and year",
    )
    return frame.select(
        "site_code",
        "specialty",
        "procedure_group",
        pl.col("year").alias("financial_year"),
        pl.col("count").alias("nhs_funded_count"),
    )


def _people(checker: _Checker, frame: pl.DataFrame) -> pl.DataFrame:
    file = "people.csv"
    _required(checker, file, frame, ["given_name", "family_name", "staff_group", "grade"])
    checker.check(
        file,
        frame,
        "gmc_number",
        ~pl.col("gmc_number").str.contains(r"^[0-9]{7}$"),
        "must be a GMC reference number: 7 digits",
    )
    _one_of(checker, file, frame, "staff_group", WORKFORCE_STAFF_GROUPS)
    _one_of(checker, file, frame, "grade", GRADES)
    _unique(checker, file, frame, ["gmc_number"], "gmc_number", "GMC number")
    specialty = pl.col("specialty") if "specialty" in frame.columns else pl.lit(None, dtype=pl.Utf8)
    return frame.filter(pl.col("gmc_number").is_not_null()).select(
        pl.col("gmc_number").alias("trainee_id"), "grade", specialty.alias("specialty")
    )


def _logbook(checker: _Checker, frame: pl.DataFrame, known: pl.Series) -> pl.DataFrame:
    file = "logbook.csv"
    _required(checker, file, frame, list(HEADERS[file]))
    _length(checker, file, frame, "trainee_id", 64)
    _length(checker, file, frame, "procedure_group", 100)
    frame = _known_site(checker, file, frame, known)
    _one_of(checker, file, frame, "supervision", SUPERVISION)
    _check_dates(checker, file, frame, "date")
    day = _date(frame, "date")
    year = pl.when(day.dt.month() >= 4).then(day.dt.year()).otherwise(day.dt.year() - 1).cast(pl.Int32)
    return frame.select(
        "trainee_id", "procedure_group", "supervision", "site_code", year.alias("financial_year")
    )


def _learners(
    checker: _Checker, folder: Path, organisations: pl.DataFrame | None, latest_year: int
) -> pl.DataFrame:
    file = "learners.csv"
    path = folder / file
    if not path.is_file():
        return pl.DataFrame(schema=LEARNERS)
    rows, problems = learner_rules.parse_csv(path.read_bytes(), latest_year)
    orgs: dict[str, learner_rules.Org] = {}
    if organisations is not None:
        for code, kind, parent in organisations.select("code", "kind", "parent_code").iter_rows():
            orgs[code] = learner_rules.Org(kind, parent)
    for line, item in rows:
        for column, reason in learner_rules.reference_problems(item, orgs):
            problems.append(learner_rules.Problem(line, column, reason))
    problems.extend(learner_rules.duplicate_problems(rows))
    for problem in problems:
        checker.add(file, problem.row, problem.column, problem.reason)
    records = [
        (
            i.financial_year,
            i.provider_code,
            i.site_code,
            i.staff_group,
            i.route,
            i.learners,
            i.placements,
            i.placement_weeks,
        )
        for _, i in rows
    ]
    return pl.DataFrame(records, schema=LEARNERS, orient="row")


# ---------------------------------------------------------------- the folder


def read_folder(folder: Path, year: int, *, today: dt.date) -> BenchmarkInputs:
    """The canonical inputs for ``year`` from ``folder``; :class:`InputsRejected` lists every problem."""
    checker = _Checker()
    if not folder.is_dir():
        raise InputsRejected([InputProblem(str(folder), 0, None, "is not a folder")])
    raw = {name: _read(folder, name, checker) for name in HEADERS if name != "learners.csv"}
    if raw["organisations.csv"] is None:  # every other file refers to it: nothing more can be checked
        raise InputsRejected(checker.problems, checker.more)
    organisations = _organisations(checker, raw["organisations.csv"])
    known = organisations["code"]
    placements = (
        _placements(checker, raw["placements.csv"], known) if raw["placements.csv"] is not None else None
    )
    volumes = _volumes(checker, raw["volumes.csv"], known) if raw["volumes.csv"] is not None else None
    people = _people(checker, raw["people.csv"]) if raw["people.csv"] is not None else None
    logbook = _logbook(checker, raw["logbook.csv"], known) if raw["logbook.csv"] is not None else None
    learners = _learners(checker, folder, organisations, fy_of(today))
    if checker.problems or checker.more:
        raise InputsRejected(checker.problems, checker.more)
    placements = (
        placements
        if placements is not None
        else pl.DataFrame(
            schema={
                "person_id": pl.Utf8,
                "site_code": pl.Utf8,
                "specialty": pl.Utf8,
                "staff_group": pl.Utf8,
                "grade": pl.Utf8,
                "route": pl.Utf8,
                "start_date": pl.Date,
                "end_date": pl.Date,
            }
        )
    )
    volumes = (
        volumes
        if volumes is not None
        else pl.DataFrame(
            schema={
                "site_code": pl.Utf8,
                "specialty": pl.Utf8,
                "procedure_group": pl.Utf8,
                "financial_year": pl.Int32,
                "nhs_funded_count": pl.Int64,
            }
        )
    )
    years = [year - 1, year]
    if logbook is not None:
        per_group = (
            logbook.filter(pl.col("financial_year").is_in(years))
            .group_by("financial_year", "trainee_id", "site_code", "procedure_group", "supervision")
            .agg(pl.len().cast(pl.Int64).alias("entries"))
        )
        counted = logbook_table(per_group, volumes, placements, people, years)
    else:
        counted = pl.DataFrame(schema=LOGBOOK)
    return make_inputs(
        year,
        organisations=organisations,
        placements=placements,
        logbook=counted,
        volumes=volumes.select("financial_year", "site_code", "specialty", "nhs_funded_count"),
        learners=learners,
    )
