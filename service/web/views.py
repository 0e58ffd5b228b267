"""What the pages show, computed from the domains' wire structs: pure functions, no web or database code.

- :func:`problems_to_form`: an API problem (``ServiceError`` with ``errors``) as messages next to the
  form's fields, in plain words (field paths such as ``body.start_date`` become the field's label).
- :func:`record_status`: in date / expiring within 30 days / expired, from a record's ``lapses_on``.
- :func:`site_counts`: per-site summary of a placement run.
- :func:`financial_year`, :func:`parse_year`, :func:`parse_date`: form values; :func:`example_date`: the
  example date the forms show (months ahead of today, so it never goes stale).
"""

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from service.errors import FieldError

EXPIRING_DAYS: Final = 30
"""A record that lapses within this many days is shown as expiring."""

Status = Literal["in_date", "expiring", "expired", "no_end"]
STATUS_LABELS: Final[dict[str, str]] = {
    "in_date": "In date",
    "expiring": "Expiring soon",
    "expired": "Expired",
    "no_end": "No end date",
}

_PATH_PREFIX = re.compile(r"^(?:body|query|path|form)(?:\[\d+\])?\.?")
_IDENTIFIER = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")


@dataclass
class FormErrors:
    """What is wrong with a form: a message per field (shown next to it) and messages for the whole form."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def add(self, name: str | None, message: str) -> None:
        """A message next to field ``name`` (several are joined), or for the whole form (``None``)."""
        if name is None:
            self.general.append(message)
        elif name in self.fields:
            self.fields[name] += "; " + message
        else:
            self.fields[name] = message


def field_name(path: str) -> str:
    """``body.start_date`` -> ``start_date``; ``body[3].subject`` -> ``subject``."""
    name = _PATH_PREFIX.sub("", path.strip())
    return name.rsplit(".", 1)[-1] if name else ""


def plain(reason: str, labels: Mapping[str, str]) -> str:
    """A reason in plain words: snake_case names of known fields become their labels; a capital first."""
    text = _IDENTIFIER.sub(lambda m: labels.get(m.group(0), m.group(0)).lower(), reason.strip())
    text = text.replace("`", "")
    return text[:1].upper() + text[1:] if text else text


def problems_to_form(
    detail: str, errors: Sequence[FieldError] | None, labels: Mapping[str, str]
) -> FormErrors:
    """The problem's ``detail`` for the whole form, and each of its ``errors`` next to the form field it
    names (``labels``: field -> label); an error about no field of this form is for the whole form too."""
    found = FormErrors()
    found.add(None, detail)
    for error in errors or []:
        name = field_name(error.field)
        message = plain(error.reason, labels)
        if name in labels:
            found.add(name, message)
        else:
            label = name.replace("_", " ")
            found.add(None, f"{label[:1].upper()}{label[1:]}: {message}" if label else message)
    return found


# ---------------------------------------------------------------- records


def record_status(lapses_on: dt.date | None, today: dt.date) -> Status:
    """``lapses_on`` is the first day a record no longer holds."""
    if lapses_on is None:
        return "no_end"
    if lapses_on <= today:
        return "expired"
    if lapses_on <= today + dt.timedelta(days=EXPIRING_DAYS):
        return "expiring"
    return "in_date"


# ---------------------------------------------------------------- placement runs


@dataclass(frozen=True)
class SiteCount:
    site_code: str
    placed: int
    value: float


def site_counts(placements: Iterable[tuple[str, float]]) -> list[SiteCount]:
    """Per site (code, value of each placement there): how many placed and their total value, the most
    placed first, then by code."""
    placed: dict[str, int] = {}
    value: dict[str, float] = {}
    for code, v in placements:
        placed[code] = placed.get(code, 0) + 1
        value[code] = value.get(code, 0.0) + v
    return sorted(
        (SiteCount(code, placed[code], round(value[code], 2)) for code in placed),
        key=lambda s: (-s.placed, s.site_code),
    )


# ---------------------------------------------------------------- form values


def financial_year(day: dt.date) -> int:
    """The financial year (1 April to 31 March) ``day`` falls in, by its first calendar year."""
    return day.year if day.month >= 4 else day.year - 1


def year_label(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


_YEAR = re.compile(r"^\s*(\d{4})(?:\s*[-/]\s*(\d{2}))?\s*$")


def parse_year(text: str, *, first: int, last: int) -> int | str:
    """A financial year from ``2026`` or ``2026-27``, within ``first`` to ``last``; else why not."""
    found = _YEAR.match(text)
    if found is None:
        return f"Enter a financial year as 4 digits, like {last - 1}, or like {year_label(last - 1)}"
    year = int(found.group(1))
    if found.group(2) is not None and int(found.group(2)) != (year + 1) % 100:
        return f"{text.strip()} is not a financial year: did you mean {year_label(year)}?"
    if not first <= year <= last:
        return f"Enter a financial year from {first} to {last}"
    return year


EXAMPLE_MONTHS_AHEAD: Final = 8
"""A form's example date is this many months after today: a date the reader could plausibly mean."""


def example_date(today: dt.date) -> dt.date:
    """The date a form shows as an example: :data:`EXAMPLE_MONTHS_AHEAD` months after ``today``, on the
    same day of the month (the 28th at most, so every month has it). Never in the past, never stale."""
    months = today.year * 12 + today.month - 1 + EXAMPLE_MONTHS_AHEAD
    return dt.date(months // 12, months % 12 + 1, min(today.day, 28))


def parse_date(text: str, *, today: dt.date | None = None) -> dt.date | str | None:
    """A date from ``YYYY-MM-DD`` (what a date input sends); ``None`` when empty; else why not, with an
    example date relative to ``today`` (by default today in UTC)."""
    value = text.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else _not_a_date()
    except ValueError:
        example = example_date(today or dt.datetime.now(dt.UTC).date())
        return f"Enter a real date, like {example.isoformat()}"


def _not_a_date() -> dt.date:
    raise ValueError


MAX_OFFSET: Final = 1_000_000_000
"""Largest ``offset`` a list page reads; a larger one is read as this."""


def read_offset(text: str) -> int:
    """Where a page of a list starts, from its ``offset`` query parameter, corrected to the nearest valid
    value: below 0 is 0, above :data:`MAX_OFFSET` is that, and what is not a whole number (a link typed
    wrong) is the first page. A bad offset never gets an error page (the doctor's checks, HR's history)."""
    try:
        found = int(text.strip()[:20])
    except ValueError:
        return 0
    return max(0, min(found, MAX_OFFSET))
