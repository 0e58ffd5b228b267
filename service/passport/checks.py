"""Rules a record's type cannot express, shared by the JSON API and CSV imports (pure).

Each rule works on the fields that have a valid value, so a CSV row with one bad cell still gets every
other problem reported. What needs the database (the person, the organisations, the renewal period) is
checked by the service.
"""

import datetime as dt
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Final, NamedTuple

from service.passport.cstf import SUBJECTS, levels_text, subject_name
from service.passport.schemas import OH_ITEM_NAMES, OH_OUTCOMES, REVIEW_REQUIRED

FIRST_DATE: Final = dt.date(1900, 1, 1)
LAST_DATE: Final = dt.date(2099, 12, 31)
CLOCK_SKEW: Final = dt.timedelta(minutes=5)
"""How far in the future ``last_refreshed_at`` may be (the sender's clock may run ahead)."""
MIN_AGE_YEARS: Final = 16

Values = Mapping[str, Any]


class Issue(NamedTuple):
    """One reason a record is refused: the field (or CSV column) and why."""

    field: str
    reason: str


_DATE_FIELDS: Final = {
    "core_skills": ("date_awarded", "date_to"),
    "occupational_health": ("assessed_on", "review_date"),
    "training_placement": ("programme_start", "programme_end", "start_date", "end_date"),
    "identity_link": ("birth_date",),
}


def _common(v: Values, invalid: AbstractSet[str], now: dt.datetime) -> list[Issue]:
    issues: list[Issue] = []
    person_fields = {"person_id", "gmc_number"}
    if not invalid & person_fields and (v.get("person_id") is None) == (v.get("gmc_number") is None):
        issues.append(Issue("person_id", "give the person's person_id or gmc_number (one of the two)"))
    refreshed = v.get("last_refreshed_at")
    if isinstance(refreshed, dt.datetime):
        if refreshed.tzinfo is None:
            issues.append(Issue("last_refreshed_at", "must include a time zone, e.g. 2026-11-23T09:30:00Z"))
        elif refreshed > now + CLOCK_SKEW:
            issues.append(Issue("last_refreshed_at", "cannot be in the future"))
        elif refreshed.date() < FIRST_DATE:
            issues.append(Issue("last_refreshed_at", f"must be after {FIRST_DATE}"))
    return issues


def _dates(kind: str, v: Values) -> list[Issue]:
    return [
        Issue(name, f"must be between {FIRST_DATE} and {LAST_DATE}")
        for name in _DATE_FIELDS.get(kind, ())
        if isinstance(v.get(name), dt.date) and not FIRST_DATE <= v[name] <= LAST_DATE
    ]


def _not_after(v: Values, name: str, today: dt.date, what: str) -> list[Issue]:
    day = v.get(name)
    if isinstance(day, dt.date) and day > today:
        return [Issue(name, f"cannot be in the future: {what}")]
    return []


def _core_skill(v: Values, today: dt.date) -> list[Issue]:
    issues = _not_after(v, "date_awarded", today, "a subject is recorded once completed")
    subject, level = v.get("subject"), v.get("level")
    if subject in SUBJECTS and isinstance(level, int) and level not in SUBJECTS[subject].levels:
        issues.append(Issue("level", f"must be {levels_text(subject)} for {subject_name(subject)}"))
    awarded, until = v.get("date_awarded"), v.get("date_to")
    if isinstance(awarded, dt.date) and isinstance(until, dt.date) and until <= awarded:
        issues.append(Issue("date_to", "must be after date_awarded"))
    return issues


def _occupational_health(v: Values, today: dt.date) -> list[Issue]:
    issues = _not_after(v, "assessed_on", today, "an outcome is recorded once assessed")
    item, outcome = v.get("item"), v.get("outcome")
    if item in OH_OUTCOMES and isinstance(outcome, str) and outcome not in OH_OUTCOMES[item]:
        # Never echo the value: it might be health data typed into the wrong field.
        allowed = ", ".join(OH_OUTCOMES[item])
        issues.append(Issue("outcome", f"is not an outcome of {item}: must be one of {allowed}"))
    assessed, review = v.get("assessed_on"), v.get("review_date")
    if isinstance(assessed, dt.date) and isinstance(review, dt.date) and review <= assessed:
        issues.append(Issue("review_date", "must be after assessed_on"))
    if item in REVIEW_REQUIRED and review is None:
        issues.append(Issue("review_date", f"is required for {OH_ITEM_NAMES[item]}"))
    return issues


def _placement(v: Values) -> list[Issue]:
    issues: list[Issue] = []
    start, end = v.get("start_date"), v.get("end_date")
    p_start, p_end = v.get("programme_start"), v.get("programme_end")
    if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
        issues.append(Issue("end_date", "must be on or after start_date"))
    if isinstance(p_start, dt.date) and isinstance(p_end, dt.date) and p_end < p_start:
        issues.append(Issue("programme_end", "must be on or after programme_start"))
    if isinstance(p_start, dt.date) and isinstance(start, dt.date) and start < p_start:
        within = "must be on or after programme_start (a placement is within its programme)"
        issues.append(Issue("start_date", within))
    if isinstance(p_end, dt.date) and isinstance(end, dt.date) and end > p_end:
        within = "must be on or before programme_end (a placement is within its programme)"
        issues.append(Issue("end_date", within))
    return issues


def _identity(v: Values, today: dt.date) -> list[Issue]:
    born = v.get("birth_date")
    latest = dt.date(today.year - MIN_AGE_YEARS, today.month, min(today.day, 28))
    if isinstance(born, dt.date) and born >= FIRST_DATE and born > latest:
        return [Issue("birth_date", f"must be at least {MIN_AGE_YEARS} years ago")]
    return []


def record_rules(
    kind: str, v: Values, *, today: dt.date, now: dt.datetime, invalid: AbstractSet[str] = frozenset()
) -> list[Issue]:
    """Every rule of a record of ``kind`` that its valid fields ``v`` break (fields in ``invalid`` are
    already refused, and rules needing them are skipped)."""
    issues = [*_common(v, invalid, now), *_dates(kind, v)]
    if kind == "core_skills":
        issues += _core_skill(v, today)
    elif kind == "occupational_health":
        issues += _occupational_health(v, today)
    elif kind == "training_placement":
        issues += _placement(v)
    elif kind == "identity_link":
        issues += _identity(v, today)
    return issues
