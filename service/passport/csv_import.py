"""Reading CSV files of source records (pure: no web, no database; a cell's reason in the API's words).

One file holds records of one kind (the import's ``kind`` parameter). It is UTF-8 (a byte-order mark is
allowed); the first non-empty line is the header. The columns are the fields of the kind's JSON record
(``schemas.*Create``, without ``kind``): every required column must be present, optional ones may be left
out, and an unknown or repeated column refuses the file. Cells are trimmed; an empty cell is an absent
value; empty lines are skipped. Each row becomes the struct a JSON record would and is checked by the same
rules; every problem of every row is reported, with the row's line (the header is line 1).
"""

import csv
import datetime as dt
import io
import types
import typing
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, NamedTuple

import msgspec

from service.errors import plain_reason
from service.passport.checks import record_rules
from service.passport.schemas import CREATE_TYPES, RecordCreate

HEADER_ROW: Final = 1


class RowProblem(NamedTuple):
    row: int
    column: str | None
    reason: str


class Parsed(NamedTuple):
    rows: list[tuple[int, RecordCreate]]
    """``(line, record)`` of the rows whose cells all convert."""
    problems: list[RowProblem]


class Columns(NamedTuple):
    all: tuple[str, ...]
    required: tuple[str, ...]


def columns(kind: str) -> Columns:
    """The columns of a file of records of ``kind``: every field, and those that must be present."""
    fields = msgspec.structs.fields(CREATE_TYPES[kind])
    return Columns(tuple(f.name for f in fields), tuple(f.name for f in fields if f.required))


# ---------------------------------------------------------------- reading


def _decode(data: bytes) -> tuple[str | None, list[RowProblem]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    problems = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(RowProblem(number, None, "is not UTF-8 text: save the file as CSV UTF-8"))
    return None, problems


def _header_problems(header: Sequence[str], wanted: Columns) -> list[RowProblem]:
    problems: list[RowProblem] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(RowProblem(HEADER_ROW, name, "column appears more than once in the header"))
        elif name not in wanted.all:
            listed = ", ".join(wanted.all)
            problems.append(RowProblem(HEADER_ROW, name or None, f"unknown column; the columns are {listed}"))
        seen.add(name)
    problems += [
        RowProblem(HEADER_ROW, c, "missing column in the header") for c in wanted.required if c not in seen
    ]
    return problems


def _records(reader: Any) -> Iterator[tuple[int, list[str] | None, str | None]]:
    next_start = 1
    while True:
        start = next_start
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            next_start = reader.line_num + 1
            yield start, None, str(exc)
            continue
        next_start = reader.line_num + 1
        yield start, record, None


def read_table(data: bytes, wanted: Columns) -> tuple[list[tuple[int, dict[str, str]]], list[RowProblem]]:
    """The data rows as ``(line, {column: trimmed cell})``."""
    text, problems = _decode(data)
    if text is None:
        return [], problems
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    for start, record, error in _records(reader):
        if record is None:
            problems.append(RowProblem(start, None, f"is not valid CSV: {error}"))
            continue
        cells = [cell.strip() for cell in record]
        if not any(cells):
            continue
        if header is None:
            header = cells
            if wrong := _header_problems(header, wanted):
                return [], [p._replace(row=start) for p in wrong]
        elif len(cells) != len(header):
            problems.append(RowProblem(start, None, f"has {len(cells)} cells; the header has {len(header)}"))
        else:
            rows.append((start, dict(zip(header, cells, strict=True))))
    if header is None and not problems:
        problems.append(RowProblem(HEADER_ROW, None, "the file is empty: a header row is required"))
    return rows, problems


# ---------------------------------------------------------------- converting rows

_SIMPLE: Final[dict[Any, str]] = {
    dt.date: "a date as YYYY-MM-DD",
    dt.datetime: "a date and time with its zone, such as 2026-11-23T09:30:00Z",
    uuid.UUID: "a UUID",
    int: "a whole number",
}


def _description(annotation: Any) -> str | None:
    if typing.get_origin(annotation) is typing.Annotated:
        for extra in annotation.__metadata__:
            if isinstance(extra, msgspec.Meta) and extra.description:
                return str(extra.description)
        return _description(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None) and (found := _description(arg)) is not None:
                return found
        return None
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(annotation))
    return _SIMPLE.get(annotation)


def _reason(annotation: Any, message: str) -> str:
    """A cell's reason in the JSON API's words where it has them (a string pattern, such as a GMC number
    or an ODS code, in :data:`service.errors.PATTERN_REASONS`; a date, a time, a UUID): one wording for one
    mistake, whichever way the record came. Otherwise the field's type in words."""
    plain = plain_reason(message.split(" - at `")[0])
    if plain.startswith("must "):
        return plain
    described = _description(annotation)
    return f"must be {described}" if described else "is not a valid value"


def convert_row(
    cells: dict[str, str], kind: str, now: dt.datetime
) -> tuple[RecordCreate | None, list[tuple[str, str]]]:
    """The row as the kind's struct if it passes every rule of :mod:`checks`; or None and the row's
    problems (type and rule problems alike)."""
    struct = CREATE_TYPES[kind]
    values = {name: value for name, value in cells.items() if value != ""}
    try:
        record: RecordCreate = msgspec.convert(values, struct, strict=False)  # type: ignore[assignment]
    except msgspec.ValidationError:
        pass
    else:
        found = record_rules(kind, msgspec.structs.asdict(record), today=now.date(), now=now)
        return (None, [(i.field, i.reason) for i in found]) if found else (record, [])
    issues: list[tuple[str, str]] = []
    valid: dict[str, Any] = {}
    invalid: set[str] = set()
    for field in msgspec.structs.fields(struct):
        if field.name not in values:
            valid[field.name] = None
            if field.required:
                issues.append((field.name, "is required"))
                invalid.add(field.name)
            continue
        try:
            valid[field.name] = msgspec.convert(values[field.name], field.type, strict=False)
        except msgspec.ValidationError as exc:
            issues.append((field.name, _reason(field.type, str(exc))))
            invalid.add(field.name)
    issues += [
        (i.field, i.reason) for i in record_rules(kind, valid, today=now.date(), now=now, invalid=invalid)
    ]
    return None, issues


def parse(data: bytes, kind: str, now: dt.datetime) -> Parsed:
    """Read and convert a whole file of records of ``kind``; rows with problems are left out of ``rows``."""
    table, problems = read_table(data, columns(kind))
    rows: list[tuple[int, RecordCreate]] = []
    for line, cells in table:
        record, issues = convert_row(cells, kind, now)
        if record is None:
            problems += [RowProblem(line, field, reason) for field, reason in issues]
        else:
            rows.append((line, record))
    return Parsed(rows, problems)


def template(kind: str) -> str:
    """The header line of a file of ``kind`` (every column)."""
    return ",".join(columns(kind).all)


def lines_of(rows: Iterable[tuple[int, RecordCreate]]) -> list[int]:
    return [line for line, _ in rows]
