"""Wire structs of the additionality domain and the format rules shared by JSON bodies and CSV rows.

A JSON body and a CSV row go through the same struct and the same ``*_rules`` function, as in the
workforce domain. Codes are stored in upper case and specialties in lower case, so ``trauma_and_orthopaedics``
in an offer matches ``Trauma_and_Orthopaedics`` in an activity file.
"""

import datetime as dt
import uuid
from collections.abc import Set as AbstractSet
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

from service.additionality.rules import Parameters, RuleResult, Verdict
from service.workforce.schemas import GmcNumber, Issue, OdsCode, Sessions, Specialty, StaffGroup, Values

FIRST_DATE: Final = dt.date(2000, 1, 1)
LAST_DATE: Final = dt.date(2099, 12, 31)
FIRST_YEAR: Final = 2000
LAST_YEAR: Final = 2098
"""Financial years 2000-01 to 2098-99 (every one of their days is within the accepted dates)."""
MAX_ROSTER: Final = 20_000
MAX_ACTIVITY_ROWS: Final = 100_000

_END = r"$(?!\n)"
_TEXT = r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?" + _END
MONTH_PATTERN: Final = r"^[0-9]{4}-(?:0[1-9]|1[0-2])" + _END

Reference = Annotated[
    str,
    Meta(min_length=1, max_length=60, pattern=_TEXT, description="1 to 60 characters, no control characters"),
]
Note = Annotated[str, Meta(max_length=500, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*" + _END)]
OfferSessions = Annotated[
    float,
    Meta(ge=0.5, le=1000, multiple_of=0.5, description="sessions a week: 0.5 to 1000 in steps of 0.5"),
]
Count = Annotated[int, Meta(ge=0, le=1_000_000_000, description="a whole number, 0 or more")]
Placements = Annotated[int, Meta(ge=0, le=100_000, description="a whole number from 0 to 100000")]
Month = Annotated[str, Meta(pattern=MONTH_PATTERN, description="a month as YYYY-MM")]
FinancialYear = Annotated[
    int,
    Meta(
        ge=FIRST_YEAR,
        le=LAST_YEAR,
        description=f"a financial year, {FIRST_YEAR} to {LAST_YEAR} (2026 is 2026-27)",
    ),
]


def financial_year(day: dt.date) -> int:
    """The financial year (1 April to 31 March) ``day`` is in, named by its first calendar year."""
    return day.year if day.month >= 4 else day.year - 1


def year_bounds(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 4, 1), dt.date(year + 1, 3, 31)


_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalise_specialty(text: str) -> str:
    """ASCII letters in lower case; nothing else changes, so the length never grows ("İ".lower() would)."""
    return text.translate(_ASCII_LOWER)


# ---------------------------------------------------------------- requests


class RosterEntryCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A person on an offer's roster, named by ``person_id`` or ``gmc_number`` (one of the two)."""

    person_id: uuid.UUID | None = None
    gmc_number: GmcNumber | None = None
    sessions: Sessions
    """Sessions a week the person works on the offer."""
    start_date: dt.date | None = None
    """When the person starts on the offer; none: when the offer starts."""
    end_date: dt.date | None = None
    """When the person stops; none: when the offer ends."""


class OfferCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reference: Reference
    """The provider's own reference for this offer, unique at the site."""
    site_code: OdsCode
    """The independent site where the capacity is."""
    commissioner_code: OdsCode | None = None
    """The ICB the capacity is offered to; none: the site's ICB."""
    specialty: Specialty
    sessions_per_week: OfferSessions
    start_date: dt.date
    end_date: dt.date
    declared_training_placements: Placements = 0
    """Training placements the provider will host at the site during the offer."""
    roster: Annotated[list[RosterEntryCreate], Meta(max_length=MAX_ROSTER)] = msgspec.field(
        default_factory=list
    )


class OfferRow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One line of ``offers.csv`` (an offer without its roster)."""

    reference: Reference
    site_code: OdsCode
    commissioner_code: OdsCode | None = None
    specialty: Specialty
    sessions_per_week: OfferSessions
    start_date: dt.date
    end_date: dt.date
    declared_training_placements: Placements = 0


class RosterRow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One line of ``roster.csv``: a roster entry of an offer named by its site and reference."""

    site_code: OdsCode
    offer_reference: Reference
    person_id: uuid.UUID | None = None
    gmc_number: GmcNumber | None = None
    sessions: Sessions
    start_date: dt.date | None = None
    end_date: dt.date | None = None


class ActivityRow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Activity of one provider for one commissioner ICB and specialty in one month."""

    provider_code: OdsCode
    """An NHS trust, an independent provider or an independent site."""
    commissioner_code: OdsCode
    """The commissioning ICB."""
    specialty: Specialty
    month: Month
    activity: Count
    """Episodes (or the unit the commissioner counts) in the month."""


class ActivityBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rows: Annotated[list[ActivityRow], Meta(min_length=1, max_length=MAX_ACTIVITY_ROWS)]
    replace: bool = False
    """Replace activity already recorded for the same provider, commissioner, specialty and month."""


class ShortageRole(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    staff_group: StaffGroup
    specialty: Specialty | None = None
    """None: every specialty of the staff group."""


class ShortageListCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    effective_from: dt.date
    """The version is in effect for offers starting on or after this day, until a later version's day."""
    roles: Annotated[list[ShortageRole], Meta(max_length=1000)]
    note: Note = ""


class ParameterSetCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new parameter version: ``parameters`` holds only what changes from the current version, e.g.
    ``{"cooling_off": {"months": 9}}``; everything else is carried over."""

    parameters: dict[str, Any]
    note: Note = ""


class CheckYear(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    financial_year: FinancialYear


# ---------------------------------------------------------------- responses


class RosterEntryRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    person_id: uuid.UUID
    sessions: float
    start_date: dt.date
    end_date: dt.date


class OfferRead(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    reference: str
    site_code: str
    provider_code: str
    commissioner_code: str
    specialty: str
    sessions_per_week: float
    start_date: dt.date
    end_date: dt.date
    declared_training_placements: int
    submitted_by: str
    created_at: dt.datetime
    roster: list[RosterEntryRead]
    latest_check_id: int | None
    latest_verdict: Verdict | None


class OfferBrief(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    reference: str
    site_code: str
    provider_code: str
    commissioner_code: str
    specialty: str
    sessions_per_week: float
    start_date: dt.date
    end_date: dt.date
    roster_entries: int
    latest_check_id: int | None
    latest_verdict: Verdict | None


class OfferPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[OfferBrief]
    limit: int
    offset: int
    next_offset: int | None


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    entity: Literal["offers", "roster", "activity"]
    created: int
    replaced: int = 0
    """Activity rows that replaced rows already recorded (``replace`` only)."""
    ids: list[str]
    """Ids of the created offers or roster entries in the order of the rows (activity: none)."""


class ShortageListRead(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    effective_from: dt.date
    roles: list[ShortageRole]
    note: str
    created_by: str
    created_at: dt.datetime


class ShortageListPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ShortageListRead]


class ParameterSetRead(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    current: bool
    """Whether new checks use this version (the highest one)."""
    parameters: Parameters
    note: str
    created_by: str
    created_at: dt.datetime


class ParameterSetPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ParameterSetRead]


class CheckRead(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    offer_id: uuid.UUID
    run_id: uuid.UUID
    site_code: str
    commissioner_code: str
    checked_at: dt.datetime
    checked_by: str
    parameters_version: int
    shortage_list_version: int | None
    rules_version: str
    input_hash: str
    """SHA-256 (hex) of the canonical JSON of the inputs the rules read."""
    verdict: Verdict
    results: list[RuleResult]


class CheckPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[CheckRead]


class CheckBrief(msgspec.Struct, frozen=True, kw_only=True):
    check_id: int
    offer_id: uuid.UUID
    site_code: str
    verdict: Verdict


class RunRead(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of checking all offers of a financial year."""

    run_id: uuid.UUID
    financial_year: int
    parameters_version: int
    offers: int
    verdicts: dict[str, int]
    checks: list[CheckBrief]


class Recomputed(msgspec.Struct, frozen=True, kw_only=True):
    parameters_version: int
    verdict: Verdict
    rule_verdicts: dict[str, Verdict]


class ReproductionRead(msgspec.Struct, frozen=True, kw_only=True):
    """A stored check recomputed: from its stored inputs (must match), and from today's data."""

    check_id: int
    stored_verdict: Verdict
    stored_input_hash: str
    stored_inputs_hash_ok: bool
    """Whether the stored inputs still hash to the stored input hash (they were not altered)."""
    reproduced: bool
    """Whether the stored inputs and parameter version give exactly the stored results again."""
    rules_version_then: str
    rules_version_now: str
    differences: list[str]
    current_input_hash: str
    inputs_changed: bool
    """Whether today's data differs from what the check read."""
    today_with_stored_parameters: Recomputed
    today_with_current_parameters: Recomputed


class VerdictCounts(msgspec.Struct, frozen=True, kw_only=True):
    pass_: int = msgspec.field(name="pass", default=0)
    warn: int = 0
    fail: int = 0


class IcbSummary(msgspec.Struct, frozen=True, kw_only=True):
    commissioner_code: str
    commissioner_name: str | None
    offers: int
    checked: int
    verdicts: VerdictCounts
    """Offers by the verdict of their latest check."""
    rules: dict[str, VerdictCounts]
    sessions_per_week: float
    """Sessions a week offered to the ICB by the offers of the year."""


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    financial_year: int
    icbs: list[IcbSummary]
    totals: IcbSummary


class FailedSite(msgspec.Struct, frozen=True, kw_only=True):
    """A site with an offer whose latest check failed, for the period asked about."""

    site_code: str
    offer_id: uuid.UUID
    check_id: int
    start_date: dt.date
    end_date: dt.date
    failed_rules: list[str]


# ---------------------------------------------------------------- format rules


def _date_issues(v: Values, fields: tuple[str, str]) -> list[Issue]:
    issues = []
    start, end = (v.get(f) for f in fields)
    for field, value in zip(fields, (start, end), strict=True):
        if value is not None and not FIRST_DATE <= value <= LAST_DATE:
            issues.append(Issue(field, f"must be between {FIRST_DATE} and {LAST_DATE}"))
    if start is not None and end is not None and end < start:
        issues.append(Issue(fields[1], f"must be on or after {fields[0]} ({start}): the dates are reversed"))
    return issues


def _person_issues(v: Values, invalid: AbstractSet[str]) -> list[Issue]:
    if invalid & {"person_id", "gmc_number"}:
        return []
    if v.get("person_id") is None and v.get("gmc_number") is None:
        return [Issue("person_id", "is required: give person_id or gmc_number")]
    if v.get("person_id") is not None and v.get("gmc_number") is not None:
        return [Issue("gmc_number", "must be empty when person_id is given: name the person once")]
    return []


def offer_rules(v: Values, invalid: AbstractSet[str] = frozenset()) -> list[Issue]:
    return _date_issues(v, ("start_date", "end_date"))


def roster_rules(v: Values, invalid: AbstractSet[str] = frozenset()) -> list[Issue]:
    return [*_person_issues(v, invalid), *_date_issues(v, ("start_date", "end_date"))]


def parse_month(text: str) -> dt.date:
    """``YYYY-MM`` (already matched by :data:`MONTH_PATTERN`) as the first day of the month."""
    return dt.date(int(text[:4]), int(text[5:7]), 1)


def month_issues(text: str, today: dt.date) -> list[Issue]:
    """A month (``YYYY-MM``, already checked) must be from January 2000 and not after the current month."""
    year = int(text[:4])
    if year < FIRST_YEAR:  # before parsing: there is no year 0
        return [Issue("month", f"must be in {FIRST_YEAR} or later, not {year}")]
    month = parse_month(text)
    if month > today.replace(day=1):
        return [Issue("month", f"is in the future: activity can be recorded up to {today:%Y-%m}")]
    return []


def check_offer_row(data: OfferRow) -> tuple[OfferRow, list[Issue]]:
    issues = offer_rules(msgspec.structs.asdict(data))
    commissioner = data.commissioner_code.upper() if data.commissioner_code is not None else None
    normalised = msgspec.structs.replace(
        data,
        site_code=data.site_code.upper(),
        commissioner_code=commissioner,
        specialty=normalise_specialty(data.specialty),
    )
    return normalised, issues


def check_roster_row(data: RosterRow) -> tuple[RosterRow, list[Issue]]:
    issues = roster_rules(msgspec.structs.asdict(data))
    return msgspec.structs.replace(data, site_code=data.site_code.upper()), issues


def activity_rules(v: Values, invalid: AbstractSet[str] = frozenset()) -> list[Issue]:
    return []


def check_activity(data: ActivityRow) -> tuple[ActivityRow, list[Issue]]:
    normalised = msgspec.structs.replace(
        data,
        provider_code=data.provider_code.upper(),
        commissioner_code=data.commissioner_code.upper(),
        specialty=normalise_specialty(data.specialty),
    )
    return normalised, []
