"""Reading and checking the placement CSV files (pure: no web, no database).

One format per file, documented in ``docs/placements.md``. A file is UTF-8 (a byte-order mark is
allowed) whose first non-empty line is a header naming exactly the file's columns, each once, in any
order. Cells are trimmed; an empty cell is an absent value; empty lines are skipped. Every problem of
every row of every file is collected (the file, the line with the header as line 1, the column, why);
nothing is used unless there are none: all or nothing.

Checks run once per distinct cell value, which keeps a national file of a million rows to about a second.
"""

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final, NamedTuple

from service.placements.model import GRADE_LEVEL, GRADES, SUPERVISION, SUPERVISION_LEVEL, WEIGHT_UNITS, Inputs

HEADER_ROW: Final = 1


class FileProblem(NamedTuple):
    """One problem: the file, its line (header = 1; None: the whole file), the column (None: the row)."""

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f" column {self.column}"
        return f"{where}: {self.reason}"


class InputRejected(ValueError):
    """The files were refused; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.row or 0, p.column or "", p.reason))
        files = len({p.file for p in self.problems})
        super().__init__(f"{len(self.problems)} problem(s) in {files} file(s); nothing was used")


# ---------------------------------------------------------------- cell checks

Check = Callable[[str], tuple[Any, str | None]]
"""A cell (trimmed, not empty) -> (value, None) or (None, why)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ODS = re.compile(r"[A-Z0-9]{3,6}")
_YEAR = re.compile(r"([0-9]{4})-([0-9]{2})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT = re.compile(r"[+]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
FIRST_DATE: Final = dt.date(1900, 1, 1)
LAST_DATE: Final = dt.date(2099, 12, 31)


def ods(cell: str) -> tuple[Any, str | None]:
    upper = cell.upper() if cell.isascii() else ""
    if _ODS.fullmatch(upper):
        return upper, None
    return None, "must be an ODS code: 3 to 6 letters or digits"


def gmc(cell: str) -> tuple[Any, str | None]:
    if len(cell) == 7 and cell.isascii() and cell.isdigit():
        return cell, None
    return None, "must be a GMC reference number: 7 digits"


def text(limit: int) -> Check:
    def check(cell: str) -> tuple[Any, str | None]:
        if len(cell) > limit or _CONTROL.search(cell):
            return None, f"must be 1 to {limit} characters without control characters"
        return cell, None

    return check


def integer(low: int, high: int) -> Check:
    def check(cell: str) -> tuple[Any, str | None]:
        if cell.isascii() and _INT.fullmatch(cell):
            value = int(cell)
            if low <= value <= high:
                return value, None
        return None, f"must be a whole number from {low:,} to {high:,}"

    return check


def number(low: float, high: float, *, above: bool = False) -> Check:
    bound = f"more than {low:g}" if above else f"from {low:g}"

    reason = f"must be a number {bound} to {high:g}"

    def check(cell: str) -> tuple[Any, str | None]:
        try:
            value = float(cell)
        except ValueError:
            return None, reason
        # float() also reads "1_0", "1e3", "nan" and "inf": only plain decimals are numbers here
        if not _NUMBER.fullmatch(cell) or not math.isfinite(value):
            return None, reason
        if (value > low if above else value >= low) and value <= high:
            return value, None
        return None, reason

    return check


def weight(cell: str) -> tuple[Any, str | None]:
    reason = "must be a number from 0 to 100 with at most three decimals"
    if not (cell.isascii() and _NUMBER.fullmatch(cell)):
        return None, reason
    try:
        scaled = Decimal(cell) * WEIGHT_UNITS
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None, reason
    if scaled != scaled.to_integral_value() or not 0 <= scaled <= 100 * WEIGHT_UNITS:
        return None, reason
    return int(scaled), None


def one_of(values: Sequence[str]) -> Check:
    allowed = frozenset(values)
    reason = "must be one of " + ", ".join(values)

    def check(cell: str) -> tuple[Any, str | None]:
        return (cell, None) if cell in allowed else (None, reason)

    return check


def financial_year(cell: str) -> tuple[Any, str | None]:
    found = _YEAR.fullmatch(cell)
    if found and (int(found[1]) + 1) % 100 == int(found[2]) and 1900 <= int(found[1]) <= 2098:
        return cell, None
    return None, "must be a financial year such as 2025-26 (1 April 2025 to 31 March 2026)"


def date(cell: str) -> tuple[Any, str | None]:
    reason = f"must be a date as YYYY-MM-DD between {FIRST_DATE} and {LAST_DATE}"
    if not _DATE.fullmatch(cell):
        return None, reason
    try:
        value = dt.date.fromisoformat(cell)
    except ValueError:
        return None, reason
    return (value, None) if FIRST_DATE <= value <= LAST_DATE else (None, reason)


class Column(NamedTuple):
    name: str
    check: Check
    required: bool = True


GATE_REASON: Final = 500
"""Longest reason of a gate file: the registry's gates name the check or the policy and its reasons."""
SPECIALTY = text(60)
GROUP = text(60)
FILES: Final[Mapping[str, tuple[Column, ...]]] = {
    "sites.csv": (
        Column("site_code", ods),
        Column("name", text(200)),
        Column("icb_code", ods),
        Column("latitude", number(-90, 90)),
        Column("longitude", number(-180, 180)),
    ),
    "volumes.csv": (
        Column("site_code", ods),
        Column("specialty", SPECIALTY),
        Column("procedure_group", GROUP),
        Column("financial_year", financial_year),
        Column("nhs_funded_count", integer(0, 10_000_000)),
    ),
    "capacity.csv": (
        Column("site_code", ods),
        Column("specialty", SPECIALTY),
        Column("slots", integer(0, 10_000)),
        Column("recognised_supervisors", integer(0, 10_000)),
        Column("trainees_per_supervisor", integer(0, 100)),
        Column("min_grade", one_of(GRADES)),
        Column("max_grade", one_of(GRADES)),
    ),
    "trainees.csv": (
        Column("trainee_id", gmc),
        Column("grade", one_of(GRADES)),
        Column("specialty", SPECIALTY),
        Column("latitude", number(-90, 90)),
        Column("longitude", number(-180, 180)),
        Column("max_travel_km", number(0, 2000, above=True)),
    ),
    "curriculum.csv": (
        Column("specialty", SPECIALTY),
        Column("procedure_group", GROUP),
        Column("indicative_number", integer(0, 100_000)),
        Column("min_supervision", one_of(SUPERVISION)),
    ),
    "logbook.csv": (
        Column("trainee_id", gmc),
        Column("procedure_group", GROUP),
        Column("date", date),
        Column("supervision", one_of(SUPERVISION)),
        Column("site_code", ods),
    ),
    "needs.csv": (
        Column("trainee_id", gmc),
        Column("procedure_group", GROUP),
        Column("remaining", integer(0, 100_000)),
    ),
    "preferences.csv": (
        Column("trainee_id", gmc),
        Column("site_code", ods),
        Column("rank", integer(1, 10_000)),
    ),
    "weights.csv": (
        Column("procedure_group", GROUP),
        Column("weight", weight),
    ),
    "excluded_sites.csv": (
        Column("site_code", ods),
        Column("reason", text(GATE_REASON)),
    ),
    "excluded_trainee_sites.csv": (
        Column("trainee_id", gmc),
        Column("site_code", ods),
        Column("reason", text(GATE_REASON)),
    ),
}
"""Every file and its columns, in the documented order."""
REQUIRED: Final = (
    "sites.csv",
    "volumes.csv",
    "capacity.csv",
    "trainees.csv",
    "curriculum.csv",
    "logbook.csv",
)
OPTIONAL: Final = (
    "needs.csv",
    "preferences.csv",
    "weights.csv",
    "excluded_sites.csv",
    "excluded_trainee_sites.csv",
)


# ---------------------------------------------------------------- reading one file


class Table(NamedTuple):
    """A file's valid contents by column, and the line of each row."""

    columns: dict[str, list[Any]]
    lines: list[int]


def _decode(name: str, data: bytes) -> tuple[str | None, list[FileProblem]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    problems = []
    for number_, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(FileProblem(name, number_, None, "is not UTF-8 text: save the file as CSV UTF-8"))
    return None, problems


def _header_problems(
    name: str, line: int, header: Sequence[str], columns: Sequence[str]
) -> list[FileProblem]:
    problems: list[FileProblem] = []
    seen: set[str] = set()
    for cell in header:
        if cell in seen:
            problems.append(FileProblem(name, line, cell, "column appears more than once in the header"))
        elif cell not in columns:
            expected = ", ".join(columns)
            problems.append(
                FileProblem(name, line, cell or None, f"unknown column; the columns are {expected}")
            )
        seen.add(cell)
    problems += [FileProblem(name, line, c, "missing column in the header") for c in columns if c not in seen]
    return problems


def _records(name: str, text_: str) -> tuple[list[list[str]], list[int], list[FileProblem]]:
    """Non-empty records and the line each starts on; records that are not CSV become problems."""
    reader = csv.reader(io.StringIO(text_, newline=""), strict=True)
    try:
        every = list(reader)
    except csv.Error:
        every = None
    if every is not None and reader.line_num == len(every):  # one line per record: line = index + 1
        filled = list(map(any, every))
        if all(filled):
            return every, list(range(1, len(every) + 1)), []
        kept = [i for i, full in enumerate(filled) if full]
        return [every[i] for i in kept], [i + 1 for i in kept], []
    reader = csv.reader(io.StringIO(text_, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    problems: list[FileProblem] = []
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(FileProblem(name, start, None, f"is not valid CSV: {exc}"))
            start = reader.line_num + 1
            continue
        if any(record):
            rows.append(record)
            lines.append(start)
        start = reader.line_num + 1
    return rows, lines, problems


Memo = dict[Check, dict[str, tuple[Any, str | None]]]
"""Check results by cell, shared across the files of one run (the same GMC numbers recur in four)."""


PLAIN_MIN_CHARS: Final = 1024 * 1024
"""From this size, a plain file (see :func:`_plain_columns`) is read by polars' reader."""


def _plain_columns(text_: str) -> tuple[list[str], list[list[str]], list[int]] | None:
    """(header, columns, lines) of a file with no quotes, no carriage returns, no empty lines and the same
    number of cells on every line, read by polars (several times faster than ``csv`` plus a transpose);
    None for any other file, which the ``csv`` module reads with the same results."""
    if '"' in text_ or "\r" in text_ or "\n\n" in text_ or text_.startswith("\n"):
        return None
    first = text_.split("\n", 1)[0]
    header = [cell.strip() for cell in first.split(",")]
    width = len(header)
    lines = text_.count("\n") + (0 if text_.endswith("\n") else 1)
    blank = "\n" + "," * (width - 1)
    if text_.count(",") != (width - 1) * lines or blank + "\n" in text_ or text_.endswith(blank):
        return None
    if lines <= 1:
        return header, [[] for _ in header], []
    import polars as pl

    frame = pl.read_csv(
        io.StringIO(text_), has_header=False, skip_rows=1, infer_schema=False, quote_char=None
    ).fill_null("")  # an empty cell is read as null: back to the empty text the csv module gives
    if frame.shape != (lines - 1, width):
        return None
    columns = [frame.to_series(i).to_list() for i in range(width)]
    return header, columns, list(range(2, lines + 1))


def read_file(name: str, data: bytes, memo: Memo | None = None) -> tuple[Table, list[FileProblem]]:
    """The rows of ``name`` (a cell that is not valid holds None) and the problems found."""
    columns = FILES[name]
    names = [c.name for c in columns]
    empty = Table({c: [] for c in names}, [])
    text_, problems = _decode(name, data)
    if text_ is None:
        return empty, problems
    fast = _plain_columns(text_) if len(text_) >= PLAIN_MIN_CHARS else None
    if fast is not None and not _header_problems(name, HEADER_ROW, fast[0], names):
        plain_header, plain_cells, plain_lines = fast
        at = {h: i for i, h in enumerate(plain_header)}
        converted: dict[str, list[Any]] = {}
        for column in columns:
            values, column_problems = _convert(name, column, plain_cells[at[column.name]], plain_lines, memo)
            converted[column.name] = values
            problems += column_problems
        return Table(converted, plain_lines), problems
    rows, lines, problems = _records(name, text_)
    if not rows:
        return empty, [
            *problems,
            FileProblem(name, HEADER_ROW, None, "the file is empty: a header row is required"),
        ]
    header = [cell.strip() for cell in rows[0]]
    if wrong := _header_problems(name, lines[0], header, names):
        return empty, [*problems, *wrong]
    width = len(header)
    body, body_lines = rows[1:], lines[1:]
    if set(map(len, body)) - {width}:
        wrong_width = [
            (record, line) for record, line in zip(body, body_lines, strict=True) if len(record) != width
        ]
        for record, line in wrong_width:
            if any(cell.strip() for cell in record):  # a line of blanks is an empty line
                problems.append(
                    FileProblem(name, line, None, f"has {len(record)} cells; the header has {width}")
                )
        keep = [i for i, record in enumerate(body) if len(record) == width]
        body, body_lines = [body[i] for i in keep], [body_lines[i] for i in keep]
    cells = list(zip(*body, strict=True)) if body else [() for _ in header]
    position = {h: i for i, h in enumerate(header)}
    converted = {}
    for column in columns:
        values, column_problems = _convert(name, column, cells[position[column.name]], body_lines, memo)
        converted[column.name] = values
        problems += column_problems
    return Table(converted, body_lines), problems


def _convert(
    name: str, column: Column, raw: Sequence[str], lines: Sequence[int], memo: Memo | None = None
) -> tuple[list[Any], list[FileProblem]]:
    """The column's values (None for a bad or empty cell) and its problems; each cell checked once."""
    known = memo.setdefault(column.check, {}) if memo is not None else {}
    values: dict[str, Any] = {}
    bad: dict[str, str] = {}
    check = column.check
    for cell in set(raw):
        found = known.get(cell)
        if found is None:
            trimmed = cell.strip()
            found = check(trimmed) if trimmed else (None, "is required" if column.required else None)
            known[cell] = found
        value, reason = found
        values[cell] = value
        if reason is not None and (column.required or cell.strip()):
            bad[cell] = reason
    converted = list(map(values.__getitem__, raw))
    if not bad:
        return converted, []
    problems = [
        FileProblem(name, line, column.name, bad[cell])
        for cell, line in zip(raw, lines, strict=True)
        if cell in bad
    ]
    return converted, problems


# ---------------------------------------------------------------- across files


def _repeats(
    name: str, column: str, what: str, keys: Iterable[Any], lines: Sequence[int]
) -> list[FileProblem]:
    keys = list(keys)
    if len(set(keys)) == len(keys):  # the usual case, at C speed
        return []
    first: dict[Any, int] = {}
    problems = []
    for key, line in zip(keys, lines, strict=True):
        if key is None or (isinstance(key, tuple) and None in key):
            continue
        if key in first:
            problems.append(FileProblem(name, line, column, f"repeats the {what} of row {first[key]}"))
        else:
            first[key] = line
    return problems


def _unknown(
    name: str,
    column: str,
    values: Sequence[str],
    lines: Sequence[int],
    known: set[str],
    what: str,
    where: str,
) -> list[FileProblem]:
    return [
        FileProblem(name, line, column, f"no {what} {value} in {where}")
        for value, line in zip(values, lines, strict=True)
        if value is not None and value not in known
    ]


KEYS: Final[Mapping[str, tuple[tuple[tuple[str, ...], str], ...]]] = {
    "sites.csv": ((("site_code",), "site_code"),),
    "trainees.csv": ((("trainee_id",), "trainee_id"),),
    "volumes.csv": ((("site_code", "specialty", "procedure_group", "financial_year"), "financial_year"),),
    "capacity.csv": ((("site_code", "specialty"), "specialty"),),
    "curriculum.csv": ((("specialty", "procedure_group"), "procedure_group"),),
    "needs.csv": ((("trainee_id", "procedure_group"), "procedure_group"),),
    "preferences.csv": ((("trainee_id", "site_code"), "site_code"), (("trainee_id", "rank"), "rank")),
    "weights.csv": ((("procedure_group",), "procedure_group"),),
    "excluded_sites.csv": ((("site_code",), "site_code"),),
    "excluded_trainee_sites.csv": ((("trainee_id", "site_code"), "site_code"),),
}
"""What may appear only once in each file (the logbook may repeat: the same procedure twice a day)."""
SITE_REFERENCES: Final = (
    "volumes.csv",
    "capacity.csv",
    "preferences.csv",
    "excluded_sites.csv",
    "excluded_trainee_sites.csv",
)
TRAINEE_REFERENCES: Final = ("logbook.csv", "needs.csv", "preferences.csv", "excluded_trainee_sites.csv")


def file_problems(name: str, table: Table) -> list[FileProblem]:
    """Problems within one file: repeated keys, a grade range upside down."""
    problems = []
    for key, column in KEYS.get(name, ()):
        keys = zip(*(table.columns[k] for k in key), strict=True)
        problems += _repeats(name, column, " and ".join(key), keys, table.lines)
    if name == "capacity.csv":
        for low, high, line in zip(
            table.columns["min_grade"], table.columns["max_grade"], table.lines, strict=True
        ):
            if low is not None and high is not None and GRADE_LEVEL[low] > GRADE_LEVEL[high]:
                problems.append(FileProblem(name, line, "max_grade", f"must not be below min_grade ({low})"))
    return problems


def reference_problems(
    name: str, table: Table, *, sites: set[str] | None, trainees: set[str] | None, where: str = ""
) -> list[FileProblem]:
    """Sites and trainees the file names that are not among ``sites`` / ``trainees`` (None: unchecked)."""
    problems = []
    if sites is not None and name in SITE_REFERENCES:
        problems += _unknown(
            name, "site_code", table.columns["site_code"], table.lines, sites, "site", where or "sites.csv"
        )
    if trainees is not None and name in TRAINEE_REFERENCES:
        problems += _unknown(
            name,
            "trainee_id",
            table.columns["trainee_id"],
            table.lines,
            trainees,
            "trainee",
            where or "trainees.csv",
        )
    return problems


def _check_references(tables: Mapping[str, Table]) -> list[FileProblem]:
    sites = set(tables["sites.csv"].columns["site_code"]) - {None}
    trainees = set(tables["trainees.csv"].columns["trainee_id"]) - {None}
    problems = []
    for name, table in tables.items():
        problems += file_problems(name, table)
        problems += reference_problems(name, table, sites=sites, trainees=trainees)
    return problems


# ---------------------------------------------------------------- writing (canonical form)


def plain_number(value: float) -> str:
    """The shortest decimal that reads back as ``value``, never in exponent form (which the files'
    number format refuses): ``5e-05`` is written ``0.00005``."""
    if value == int(value):
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def _cell(value: Any, column: Column) -> str:
    if value is None:
        return ""
    if column.check is weight:
        return format((Decimal(value) / WEIGHT_UNITS).normalize(), "f")
    if isinstance(value, float):
        return plain_number(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def write_file(name: str, table: Table) -> bytes:
    """The file in canonical form: the documented column order, normalised cells, rows sorted."""
    columns = FILES[name]
    rows = sorted(
        zip(*(table.columns[c.name] for c in columns), strict=True),
        key=lambda row: tuple(_cell(v, c) for v, c in zip(row, columns, strict=True)),
    )
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    writer.writerows([_cell(v, c) for v, c in zip(row, columns, strict=True)] for row in rows)
    return out.getvalue().encode()


BACKGROUND_MIN_BYTES: Final = 4 * 1024 * 1024
"""With ``workers`` > 1, a logbook at least this large is read in a forked process meanwhile."""
_LOGBOOK_USED: Final = ("trainee_id", "procedure_group", "supervision")


def _read_logbook(data: bytes) -> tuple[Table, list[FileProblem]]:
    """The logbook's problems and the columns a match uses (the others are checked, not sent back)."""
    table, problems = read_file("logbook.csv", data)
    kept = {c: (v if c in _LOGBOOK_USED else []) for c, v in table.columns.items()}
    return Table(kept, table.lines), problems


def parse_files(files: Mapping[str, bytes], *, workers: int = 1) -> Inputs:
    """Check every file and the references between them; :class:`InputRejected` lists every problem."""
    problems: list[FileProblem] = [
        FileProblem(name, None, None, "is required but missing") for name in REQUIRED if name not in files
    ]
    tables: dict[str, Table] = {}
    memo: Memo = {}
    background = None
    logbook = files.get("logbook.csv", b"")
    if workers > 1 and len(logbook) >= BACKGROUND_MIN_BYTES:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if "fork" in multiprocessing.get_all_start_methods():
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
            background = (pool, pool.submit(_read_logbook, logbook))
    for name, columns in FILES.items():
        if name in files and not (background and name == "logbook.csv"):
            table, found = read_file(name, files[name], memo)
            tables[name] = table
            problems += found
        elif name not in files:
            tables[name] = Table({c.name: [] for c in columns}, [])
    if background is not None:
        pool, future = background
        tables["logbook.csv"], found = future.result()
        pool.shutdown()
        problems += found
    problems += _check_references(tables)
    if problems:
        raise InputRejected(problems)
    return inputs_of(tables)


def inputs_of(tables: Mapping[str, Table]) -> Inputs:
    def c(file: str, column: str) -> list[Any]:
        return tables[file].columns[column]

    return Inputs(
        site_code=c("sites.csv", "site_code"),
        site_name=c("sites.csv", "name"),
        site_icb=c("sites.csv", "icb_code"),
        site_lat=c("sites.csv", "latitude"),
        site_lon=c("sites.csv", "longitude"),
        vol_site=c("volumes.csv", "site_code"),
        vol_specialty=c("volumes.csv", "specialty"),
        vol_group=c("volumes.csv", "procedure_group"),
        vol_year=c("volumes.csv", "financial_year"),
        vol_count=c("volumes.csv", "nhs_funded_count"),
        cap_site=c("capacity.csv", "site_code"),
        cap_specialty=c("capacity.csv", "specialty"),
        cap_slots=c("capacity.csv", "slots"),
        cap_supervisors=c("capacity.csv", "recognised_supervisors"),
        cap_per_supervisor=c("capacity.csv", "trainees_per_supervisor"),
        cap_min_grade=c("capacity.csv", "min_grade"),
        cap_max_grade=c("capacity.csv", "max_grade"),
        trainee_id=c("trainees.csv", "trainee_id"),
        trainee_grade=c("trainees.csv", "grade"),
        trainee_specialty=c("trainees.csv", "specialty"),
        trainee_lat=c("trainees.csv", "latitude"),
        trainee_lon=c("trainees.csv", "longitude"),
        trainee_travel=c("trainees.csv", "max_travel_km"),
        cur_specialty=c("curriculum.csv", "specialty"),
        cur_group=c("curriculum.csv", "procedure_group"),
        cur_indicative=c("curriculum.csv", "indicative_number"),
        cur_min_supervision=c("curriculum.csv", "min_supervision"),
        log_trainee=c("logbook.csv", "trainee_id"),
        log_group=c("logbook.csv", "procedure_group"),
        log_supervision=c("logbook.csv", "supervision"),
        need_trainee=c("needs.csv", "trainee_id"),
        need_group=c("needs.csv", "procedure_group"),
        need_remaining=c("needs.csv", "remaining"),
        pref_trainee=c("preferences.csv", "trainee_id"),
        pref_site=c("preferences.csv", "site_code"),
        pref_rank=c("preferences.csv", "rank"),
        weight_group=c("weights.csv", "procedure_group"),
        weight_value=c("weights.csv", "weight"),
        excluded_site=c("excluded_sites.csv", "site_code"),
        excluded_site_reason=c("excluded_sites.csv", "reason"),
        excluded_pair_trainee=c("excluded_trainee_sites.csv", "trainee_id"),
        excluded_pair_site=c("excluded_trainee_sites.csv", "site_code"),
        excluded_pair_reason=c("excluded_trainee_sites.csv", "reason"),
    )


def supervision_at_least(code: str, minimum: str) -> bool:
    return SUPERVISION_LEVEL[code] >= SUPERVISION_LEVEL[minimum]
