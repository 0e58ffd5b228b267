"""Parsing and checking CSV imports: pure (no web, no database), so every rule is testable alone.

A file is UTF-8 (a byte-order mark is allowed) with a header row naming exactly the documented columns,
in any order. Cells are trimmed; an empty cell is an absent value. Each data row becomes the same struct
a JSON body would (``schemas.*Create``) and passes the same ``check_*`` rules. Every problem of every
row is collected; nothing stops at the first one. Rows are numbered by their line in the file, the
header being line 1.

What needs the database (codes already taken, people referenced by GMC number) is looked up by the
service, which passes the answers to the ``*_problems`` functions here.
"""

import csv
import datetime as dt
import io
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Final, Generic, NamedTuple, TypeVar

import msgspec

from service.errors import plain_reason
from service.workforce.schemas import (
    LEVEL,
    PARENT_KIND,
    EmploymentCreate,
    Issue,
    OrganisationCreate,
    PersonCreate,
    Values,
    check_employment,
    check_organisation,
    check_organisation_references,
    check_person,
    employment_rules,
    normalise_ods,
    organisation_rules,
    person_rules,
)

T = TypeVar("T", bound=msgspec.Struct)
HEADER_ROW: Final = 1


class RowProblem(NamedTuple):
    """One problem in a file: its line (header = 1), the column (None: the whole row) and why."""

    row: int
    column: str | None
    reason: str


class Parsed(Generic[T]):
    """The valid rows of a file as ``(line, record)``, and the problems of the others."""

    def __init__(self, rows: list[tuple[int, T]], problems: list[RowProblem]) -> None:
        self.rows = rows
        self.problems = problems

    def refuse(self, problems: list[RowProblem]) -> None:
        """Add problems found across rows, leaving their rows out."""
        self.problems.extend(problems)
        lines = {p.row for p in problems}
        self.rows = [(line, record) for line, record in self.rows if line not in lines]


# ---------------------------------------------------------------- reading


def _decode(data: bytes) -> tuple[str | None, list[RowProblem]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    problems = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")  # a character never spans a line break, so lines decode alone
        except UnicodeDecodeError:
            problems.append(RowProblem(number, None, "is not UTF-8 text: save the file as CSV UTF-8"))
    return None, problems


def _header_problems(header: Sequence[str], columns: Sequence[str]) -> list[RowProblem]:
    problems: list[RowProblem] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(RowProblem(HEADER_ROW, name, "column appears more than once in the header"))
        elif name not in columns:
            expected = ", ".join(columns)
            problems.append(
                RowProblem(HEADER_ROW, name or None, f"unknown column; the columns are {expected}")
            )
        seen.add(name)
    problems.extend(
        RowProblem(HEADER_ROW, c, "missing column in the header") for c in columns if c not in seen
    )
    return problems


def _records(reader: Any) -> Iterable[tuple[int, list[str] | None, str | None]]:
    """``(first line, cells, None)`` per record, or ``(line, None, why)`` for a record that is not CSV."""
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


def read_table(
    data: bytes, columns: Sequence[str]
) -> tuple[list[tuple[int, dict[str, str]]], list[RowProblem]]:
    """The data rows as ``(line, {column: trimmed cell})``; empty lines are skipped."""
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
            if wrong := _header_problems(header, columns):
                return [], [p._replace(row=start) for p in wrong]
        elif len(cells) != len(header):
            problems.append(RowProblem(start, None, f"has {len(cells)} cells; the header has {len(header)}"))
        else:
            rows.append((start, dict(zip(header, cells, strict=True))))
    if header is None and not problems:
        problems.append(RowProblem(HEADER_ROW, None, "the file is empty: a header row is required"))
    return rows, problems


# ---------------------------------------------------------------- converting rows


def _description(annotation: Any) -> str | None:
    """The ``Meta(description=...)`` of a field's type, looking inside ``X | None``."""
    if typing.get_origin(annotation) is typing.Annotated:
        for extra in annotation.__metadata__:
            if isinstance(extra, msgspec.Meta) and extra.description:
                return extra.description
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _description(arg)
            if found is not None:
                return found
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(annotation))
    return None


_SIMPLE: Final[dict[Any, str]] = {dt.date: "a date as YYYY-MM-DD", uuid.UUID: "a UUID"}


def _reason(annotation: Any, message: str) -> str:
    """A cell's reason in the JSON API's words where it has them (a pattern such as a GMC number or an
    ODS code, :data:`service.errors.PATTERN_REASONS`), as the records import does; else the type in words."""
    plain = plain_reason(message.split(" - at `")[0])
    if plain.startswith("must "):
        return plain
    inner = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    described = _description(annotation) or _SIMPLE.get(inner[0])
    return f"must be {described}" if described else message.split(" - at ")[0]


class Entity(Generic[T]):
    """What a file holds: its struct (whose fields are the columns), its checks and its rules."""

    def __init__(
        self,
        struct: type[T],
        check: Callable[[T], tuple[T, list[Issue]]],
        rules: Callable[[Values, AbstractSet[str]], list[Issue]],
    ) -> None:
        self.struct = struct
        self.check = check
        self.rules = rules
        self.fields = msgspec.structs.fields(struct)
        self.columns = tuple(field.name for field in self.fields)


ORGANISATIONS: Final = Entity(OrganisationCreate, check_organisation, organisation_rules)
PEOPLE: Final = Entity(PersonCreate, check_person, person_rules)
EMPLOYMENTS: Final = Entity(EmploymentCreate, check_employment, employment_rules)


def convert_row(cells: Mapping[str, str], entity: Entity[T]) -> tuple[T | None, list[Issue]]:
    """The row as the entity's (normalised) struct, or None and every problem of the row."""
    values = {name: value for name, value in cells.items() if value != ""}
    try:
        record = msgspec.convert(values, entity.struct, strict=False)
    except msgspec.ValidationError:
        pass
    else:
        record, problems = entity.check(record)
        return (None, problems) if problems else (record, [])
    issues: list[Issue] = []
    valid: dict[str, Any] = {}
    invalid: set[str] = set()
    for field in entity.fields:
        if field.name not in values:
            valid[field.name] = None
            if field.required:
                issues.append(Issue(field.name, "is required"))
                invalid.add(field.name)
            continue
        try:
            valid[field.name] = msgspec.convert(values[field.name], field.type, strict=False)
        except msgspec.ValidationError as exc:
            issues.append(Issue(field.name, _reason(field.type, str(exc))))
            invalid.add(field.name)
    issues.extend(entity.rules(valid, invalid))
    return None, issues


def convert_rows(table: Iterable[tuple[int, Mapping[str, str]]], entity: Entity[T]) -> Parsed[T]:
    """Convert and check every row; a row with any problem is left out of ``rows``."""
    rows: list[tuple[int, T]] = []
    problems: list[RowProblem] = []
    for line, cells in table:
        record, issues = convert_row(cells, entity)
        if record is None:
            problems.extend(RowProblem(line, issue.field, issue.reason) for issue in issues)
        else:
            rows.append((line, record))
    return Parsed(rows, problems)


def parse_rows(data: bytes, entity: Entity[T]) -> Parsed[T]:
    """Read, convert and check a whole file."""
    table, problems = read_table(data, entity.columns)
    parsed = convert_rows(table, entity)
    parsed.problems[:0] = problems
    return parsed


def _repeats(keyed: Iterable[tuple[int, object | None]], column: str, what: str) -> list[RowProblem]:
    first: dict[object, int] = {}
    problems: list[RowProblem] = []
    for line, key in keyed:
        if key is None:
            continue
        if key in first:
            problems.append(RowProblem(line, column, f"repeats the {what} of row {first[key]}"))
        else:
            first[key] = line
    return problems


def sort_problems(problems: Iterable[RowProblem]) -> list[RowProblem]:
    return sorted(problems, key=lambda p: (p.row, p.column or "", p.reason))


# ---------------------------------------------------------------- organisations


def parse_organisations(data: bytes) -> tuple[Parsed[OrganisationCreate], dict[str, str]]:
    """The parsed file and the kind of every code the file declares (even on rows with other faults)."""
    table, problems = read_table(data, ORGANISATIONS.columns)
    parsed = convert_rows(table, ORGANISATIONS)
    parsed.problems[:0] = problems
    declared: dict[str, str] = {}
    for _, cells in table:
        code, kind = normalise_ods(cells.get("code", "")), cells.get("kind", "")
        if code is not None and kind in PARENT_KIND:
            declared.setdefault(code, kind)
    parsed.refuse(_repeats(((line, org.code) for line, org in parsed.rows), "code", "code"))
    return parsed, declared


def referenced_codes(rows: Iterable[tuple[int, OrganisationCreate]]) -> set[str]:
    return {code for _, org in rows for code in (org.parent_code, org.icb_code) if code is not None}


def organisation_problems(
    rows: Sequence[tuple[int, OrganisationCreate]],
    declared: Mapping[str, str],
    existing: Mapping[str, str],
) -> list[RowProblem]:
    """Codes already in the registry, and parents/ICBs that are unknown or of the wrong kind.

    ``declared``: kinds of the codes in the file; ``existing``: kinds of codes in the registry (at least
    those the file declares or references).
    """
    problems = [
        RowProblem(line, "code", f"an organisation with the code {org.code} already exists")
        for line, org in rows
        if org.code in existing
    ]

    def kind_of(code: str) -> str | None:
        return declared.get(code) or existing.get(code)

    for line, org in rows:
        problems.extend(
            RowProblem(line, i.field, i.reason) for i in check_organisation_references(org, kind_of)
        )
    return problems


def insertion_order(rows: Sequence[tuple[int, OrganisationCreate]]) -> list[OrganisationCreate]:
    """Parents before children (regions, then ICBs and providers, then trusts and sites)."""
    return [org for _, org in sorted(rows, key=lambda item: (LEVEL[item[1].kind], item[0]))]


# ---------------------------------------------------------------- people


def parse_people(data: bytes) -> Parsed[PersonCreate]:
    parsed = parse_rows(data, PEOPLE)
    parsed.refuse(_repeats(((line, p.gmc_number) for line, p in parsed.rows), "gmc_number", "GMC number"))
    return parsed


def taken_gmc_problems(rows: Iterable[tuple[int, PersonCreate]], taken: set[str]) -> list[RowProblem]:
    return [
        RowProblem(line, "gmc_number", f"a person with the GMC number {p.gmc_number} already exists")
        for line, p in rows
        if p.gmc_number in taken
    ]


# ---------------------------------------------------------------- employments


def parse_employments(data: bytes) -> Parsed[EmploymentCreate]:
    return parse_rows(data, EMPLOYMENTS)


class Resolved(NamedTuple):
    line: int
    employment: EmploymentCreate
    person_id: uuid.UUID


def foreign_organisation_problems(
    rows: Iterable[tuple[int, EmploymentCreate]], organisation: str | None
) -> list[RowProblem]:
    """Rows for an organisation other than ``organisation`` (the importing issuer's)."""
    return [
        RowProblem(
            line,
            "organisation_code",
            f"you may record employments only at your organisation ({organisation})",
        )
        for line, e in rows
        if e.organisation_code != organisation
    ]


def resolve_employments(
    rows: Iterable[tuple[int, EmploymentCreate]],
    *,
    organisations: set[str],
    people: set[uuid.UUID],
    by_gmc: Mapping[str, uuid.UUID],
) -> tuple[list[Resolved], list[RowProblem]]:
    """Find each row's person (by id or GMC number) and check its organisation exists."""
    resolved: list[Resolved] = []
    problems: list[RowProblem] = []
    for line, e in rows:
        ok = True
        if e.organisation_code not in organisations:
            problems.append(
                RowProblem(line, "organisation_code", f"no organisation has the code {e.organisation_code}")
            )
            ok = False
        person = e.person_id if e.person_id in people else by_gmc.get(e.gmc_number or "")
        if person is None:
            if e.person_id is not None:
                problems.append(
                    RowProblem(line, "person_id", f"no registered person has the id {e.person_id}")
                )
            else:
                reason = f"no registered person has the GMC number {e.gmc_number}"
                problems.append(RowProblem(line, "gmc_number", reason))
            ok = False
        if ok and person is not None:
            resolved.append(Resolved(line, e, person))
    return resolved, problems


def employment_key(
    person_id: uuid.UUID, organisation: str, role: str, start: dt.date
) -> tuple[str, str, str, str]:
    """What makes two employments the same: person, organisation, role and start date."""
    return (str(person_id), organisation, role, start.isoformat())


def duplicate_employment_problems(
    resolved: Sequence[Resolved], existing: set[tuple[str, str, str, str]]
) -> list[RowProblem]:
    def key(r: Resolved) -> tuple[str, str, str, str]:
        e = r.employment
        return employment_key(r.person_id, e.organisation_code, e.role, e.start_date)

    problems = [
        RowProblem(
            r.line, "start_date", "this person already has this role at this organisation from this date"
        )
        for r in resolved
        if key(r) in existing
    ]
    problems.extend(
        _repeats(((r.line, key(r)) for r in resolved), "start_date", "person, organisation, role and start")
    )
    return problems
