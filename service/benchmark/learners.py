"""Rules for provider submissions of learners (API and CSV alike). Pure: no web, no database.

``learners.csv``: provider_code, site_code, financial_year, staff_group, route, learners, placements,
placement_weeks; one row per site, year, staff group and route. The service looks up the organisations
and passes their kinds and parents here.
"""

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

import msgspec

from service.benchmark.canonical import ROUTES, SUBMITTED_STAFF_GROUPS, parse_financial_year
from service.benchmark.schemas import LearnerSubmission

HEADER: Final = (
    "provider_code",
    "site_code",
    "financial_year",
    "staff_group",
    "route",
    "learners",
    "placements",
    "placement_weeks",
)
MAX_WEEKS_PER_PLACEMENT: Final = 366 / 7
"""A placement can add at most a year's days to one financial year."""


class Problem(NamedTuple):
    """One problem: the line (header = 1; 0 for a JSON body's item index), column, reason."""

    row: int
    column: str | None
    reason: str


class Org(NamedTuple):
    kind: str
    parent_code: str | None


def key(item: LearnerSubmission) -> tuple[str, int, str, str]:
    return (item.site_code, item.financial_year, item.staff_group, item.route)


def normalise(item: LearnerSubmission) -> LearnerSubmission:
    return msgspec.structs.replace(
        item, provider_code=item.provider_code.upper(), site_code=item.site_code.upper()
    )


def rules(item: LearnerSubmission, latest_year: int) -> list[tuple[str, str]]:
    """(field, reason) for what no field's type can say."""
    issues: list[tuple[str, str]] = []
    if item.financial_year > latest_year:
        issues.append(("financial_year", f"must be a year that has started: {latest_year} or earlier"))
    if round(item.placement_weeks, 1) != item.placement_weeks:
        issues.append(("placement_weeks", "must have at most one decimal place"))
    if item.placements < item.learners:
        issues.append(("placements", "must be at least learners: every learner has a placement"))
    if item.learners == 0 and item.placements > 0:
        issues.append(("learners", "must be more than 0 when there are placements"))
    if item.placement_weeks > item.placements * MAX_WEEKS_PER_PLACEMENT:
        issues.append(("placement_weeks", "is more than the placements can hold (52.3 weeks each at most)"))
    if item.placements == 0 and item.placement_weeks > 0:
        issues.append(("placement_weeks", "must be 0 when there are no placements"))
    return issues


def reference_problems(item: LearnerSubmission, orgs: Mapping[str, Org]) -> list[tuple[str, str]]:
    issues: list[tuple[str, str]] = []
    provider, site = orgs.get(item.provider_code), orgs.get(item.site_code)
    if provider is None:
        issues.append(("provider_code", f"no organisation has the code {item.provider_code}"))
    elif provider.kind != "independent_provider":
        issues.append(("provider_code", f"{item.provider_code} is not an independent provider"))
    if site is None:
        issues.append(("site_code", f"no organisation has the code {item.site_code}"))
    elif site.kind != "independent_site":
        issues.append(("site_code", f"{item.site_code} is not an independent site"))
    elif provider is not None and site.parent_code != item.provider_code:
        issues.append(("site_code", f"{item.site_code} is not a site of {item.provider_code}"))
    return issues


def duplicate_problems(items: Sequence[tuple[int, LearnerSubmission]]) -> list[Problem]:
    seen: dict[tuple[str, int, str, str], int] = {}
    problems = []
    for line, item in items:
        k = key(item)
        if k in seen:
            problems.append(
                Problem(line, "route", f"repeats the site, year, staff group and route of row {seen[k]}")
            )
        else:
            seen[k] = line
    return problems


def _cell(raw: str, column: str) -> tuple[Any, str | None]:
    """A CSV cell as the JSON value the struct expects, or a reason."""
    text = raw.strip()
    if column == "financial_year":
        year = parse_financial_year(text)
        return (year, None) if year is not None else (None, "must be a financial year such as 2025-26")
    if column in ("learners", "placements"):
        if not text.isascii() or not text.isdigit():
            return None, "must be a whole number, 0 or more"
        return int(text), None
    if column == "placement_weeks":
        try:
            value = float(text)
        except ValueError:
            return None, "must be a number of weeks, 0 or more"
        if not math.isfinite(value) or value < 0:
            return None, "must be a number of weeks, 0 or more"
        return value, None
    if column == "staff_group" and text not in SUBMITTED_STAFF_GROUPS:
        return None, f"must be one of {', '.join(SUBMITTED_STAFF_GROUPS)}"
    if column == "route" and text not in ROUTES:
        return None, f"must be one of {', '.join(ROUTES)}"
    return text, None


def _lines(data: bytes) -> tuple[list[tuple[int, list[str]]], Problem | None]:
    """The non-blank records as ``(the line each starts on, cells)``, or what stops the file being read:
    not UTF-8, or a record that is not CSV (a field over the csv module's limit of 131,072 characters,
    say); past that record no line of the file can be read reliably."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], Problem(1, None, "the file is not UTF-8 text")
    reader = csv.reader(io.StringIO(text, newline=""))
    numbered: list[tuple[int, list[str]]] = []
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return numbered, None
        except csv.Error as exc:
            return [], Problem(start, None, f"is not CSV: {exc}")
        if any(c.strip() for c in cells):
            numbered.append((start, cells))
        start = reader.line_num + 1


def parse_csv(data: bytes, latest_year: int) -> tuple[list[tuple[int, LearnerSubmission]], list[Problem]]:
    """The rows of a ``learners.csv`` that pass the format rules, and the problems of the others."""
    numbered, broken = _lines(data)
    if broken is not None:
        return [], [broken]
    if not numbered:
        return [], [Problem(1, None, f"the file is empty: expected the header {','.join(HEADER)}")]
    header_line, header = numbered[0]
    names = [h.strip() for h in header]
    missing = [h for h in HEADER if h not in names]
    unknown = [h for h in names if h not in HEADER]
    repeated = sorted({h for h in names if names.count(h) > 1})
    if missing or unknown or repeated:
        parts = [
            f"missing {', '.join(missing)}" if missing else "",
            f"unknown {', '.join(unknown)}" if unknown else "",
        ]
        parts.append(f"repeated {', '.join(repeated)}" if repeated else "")
        reason = "; ".join(p for p in parts if p)
        return [], [Problem(header_line, None, f"the header must name exactly {','.join(HEADER)}: {reason}")]
    rows: list[tuple[int, LearnerSubmission]] = []
    problems: list[Problem] = []
    for line, cells in numbered[1:]:
        if len(cells) != len(names):
            problems.append(Problem(line, None, f"has {len(cells)} cells; the header has {len(names)}"))
            continue
        values: dict[str, Any] = {}
        bad = False
        for column, raw in zip(names, cells, strict=True):
            if not raw.strip():
                problems.append(Problem(line, column, "is required"))
                bad = True
                continue
            value, why = _cell(raw, column)
            if why is not None:
                problems.append(Problem(line, column, why))
                bad = True
            values[column] = value
        if bad:
            continue
        try:
            item = normalise(msgspec.convert(values, LearnerSubmission))
        except msgspec.ValidationError as exc:
            problems.append(Problem(line, _failed_column(str(exc)), _reason(str(exc))))
            continue
        row_issues = rules(item, latest_year)
        problems.extend(Problem(line, column, reason) for column, reason in row_issues)
        if not row_issues:
            rows.append((line, item))
    return rows, problems


def _failed_column(message: str) -> str | None:
    marker = "`$."
    start = message.find(marker)
    if start < 0:
        return None
    end = message.find("`", start + len(marker))
    return message[start + len(marker) : end]


def _reason(message: str) -> str:
    return message.split(" - at `", 1)[0]
