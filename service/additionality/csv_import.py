"""Reading and checking the additionality files and bodies: pure (no web, no database).

Three CSV files, each all or nothing with a row-by-row report (formats in docs/additionality.md):
``offers.csv``, ``roster.csv`` and ``activity.csv``. Reading, header checks and cell conversion are the
workforce domain's generic CSV reader (:mod:`service.workforce.csv_import`), so every file of the registry
follows the same rules. What needs the database (organisations, people, offers, activity already
recorded) is looked up by the service and passed to the functions here; JSON bodies go through the same
functions, so a JSON offer and a CSV row are accepted or refused alike.
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, NamedTuple

from service.additionality.schemas import (
    ActivityRow,
    OfferRow,
    RosterRow,
    activity_rules,
    check_activity,
    check_offer_row,
    check_roster_row,
    month_issues,
    offer_rules,
    parse_month,
    roster_rules,
)
from service.workforce.csv_import import Entity, Parsed, RowProblem, parse_rows
from service.workforce.schemas import Issue, OrganisationRead

OFFERS: Final = Entity(OfferRow, check_offer_row, offer_rules)
ROSTER: Final = Entity(RosterRow, check_roster_row, roster_rules)
ACTIVITY: Final = Entity(ActivityRow, check_activity, activity_rules)
ACTIVITY_PROVIDER_KINDS: Final = frozenset({"nhs_trust", "independent_provider", "independent_site"})
INDEPENDENT_KINDS: Final = frozenset({"independent_provider", "independent_site"})


def _a(kind: str) -> str:
    label = {"icb": "ICB", "nhs_trust": "NHS trust"}.get(kind, kind.replace("_", " "))
    return ("a " if kind == "region" else "an ") + label


def repeats(
    keyed: Iterable[tuple[int, object]], column: str, what: str, label: str = "row {}"
) -> list[RowProblem]:
    """A problem for each row whose key an earlier row already had (``label`` names the earlier one)."""
    first: dict[object, int] = {}
    problems = []
    for line, key in keyed:
        if key in first:
            problems.append(RowProblem(line, column, f"repeats the {what} of {label.format(first[key])}"))
        else:
            first.setdefault(key, line)
    return problems


def as_rows(line: int, issues: Iterable[Issue]) -> list[RowProblem]:
    return [RowProblem(line, i.field, i.reason) for i in issues]


# ---------------------------------------------------------------- organisations and scope


def may_act_for_site(organisation: str | None, site: OrganisationRead) -> bool:
    """An issuer may act for an independent site if it is the site or the provider that runs it."""
    return organisation is not None and organisation in (site.code, site.parent_code)


class Placed(NamedTuple):
    """An offer's site, provider and commissioner once they are known to be right."""

    site: OrganisationRead
    provider_code: str
    commissioner_code: str


def offer_place_issues(
    site_code: str, commissioner_code: str | None, organisations: Mapping[str, OrganisationRead]
) -> tuple[Placed | None, list[Issue]]:
    """The site must be an independent site and the commissioner an ICB (default: the site's ICB)."""
    site = organisations.get(site_code)
    if site is None:
        return None, [Issue("site_code", f"no organisation has the code {site_code}")]
    if site.kind != "independent_site":
        return None, [Issue("site_code", f"must be an independent site, but {site_code} is {_a(site.kind)}")]
    code = commissioner_code or site.icb_code
    if code is None:
        return None, [Issue("commissioner_code", f"is required: no ICB is recorded for the site {site_code}")]
    commissioner = organisations.get(code)
    if commissioner is None:
        return None, [Issue("commissioner_code", f"no organisation has the code {code}")]
    if commissioner.kind != "icb":
        return None, [Issue("commissioner_code", f"must be an ICB, but {code} is {_a(commissioner.kind)}")]
    return Placed(site, site.parent_code or "", code), []


def activity_provider_issues(
    row: ActivityRow, organisations: Mapping[str, OrganisationRead]
) -> tuple[str | None, list[Issue]]:
    """The row's sector (``nhs`` or ``independent``) and the problems with its codes."""
    issues = []
    sector = None
    provider = organisations.get(row.provider_code)
    if provider is None:
        issues.append(Issue("provider_code", f"no organisation has the code {row.provider_code}"))
    elif provider.kind not in ACTIVITY_PROVIDER_KINDS:
        issues.append(
            Issue(
                "provider_code",
                f"must be an NHS trust or an independent provider or site, but {row.provider_code} is "
                f"{_a(provider.kind)}",
            )
        )
    else:
        sector = "independent" if provider.kind in INDEPENDENT_KINDS else "nhs"
    commissioner = organisations.get(row.commissioner_code)
    if commissioner is None:
        issues.append(Issue("commissioner_code", f"no organisation has the code {row.commissioner_code}"))
    elif commissioner.kind != "icb":
        issues.append(
            Issue(
                "commissioner_code", f"must be an ICB, but {row.commissioner_code} is {_a(commissioner.kind)}"
            )
        )
    return sector, issues


def may_record_activity(organisation: str | None, provider: OrganisationRead | None) -> bool:
    """An issuer records activity for its own organisation, or an independent provider for its sites."""
    if organisation is None or provider is None:
        return False
    return provider.code == organisation or (
        provider.kind == "independent_site" and provider.parent_code == organisation
    )


# ---------------------------------------------------------------- roster periods


class Period(NamedTuple):
    start: dt.date
    end: dt.date


def entry_period(
    start: dt.date | None, end: dt.date | None, offer: Period
) -> tuple[Period | None, list[Issue]]:
    """A roster entry's period (the offer's where it gives none), which must lie within the offer."""
    period = Period(start or offer.start, end or offer.end)
    issues = []
    if period.start < offer.start or period.start > offer.end:
        issues.append(Issue("start_date", f"must be within the offer, {offer.start} to {offer.end}"))
    if period.end > offer.end or period.end < offer.start:
        issues.append(Issue("end_date", f"must be within the offer, {offer.start} to {offer.end}"))
    if not issues and period.end < period.start:
        issues.append(Issue("end_date", f"must be on or after the entry's start ({period.start})"))
    return (None, issues) if issues else (period, [])


class Entry(NamedTuple):
    """A roster entry being added: where it came from (a line, or an index in a JSON list)."""

    position: int
    offer_id: uuid.UUID
    person_id: uuid.UUID
    period: Period


def overlap_issues(
    entries: Sequence[Entry],
    existing: Iterable[tuple[uuid.UUID, uuid.UUID, Period]],
    label: str = "row {}",
) -> list[tuple[int, Issue]]:
    """``(position, issue)`` for each entry overlapping an earlier entry or a stored one of the same person
    on the same offer: a person is on an offer once at any time. ``label`` names an earlier entry."""
    seen: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[str, Period]]] = {}
    for offer_id, person_id, period in existing:
        seen.setdefault((offer_id, person_id), []).append(("an entry already recorded", period))
    problems = []
    for entry in entries:
        others = seen.setdefault((entry.offer_id, entry.person_id), [])
        clash = next(
            (o for o in others if o[1].start <= entry.period.end and entry.period.start <= o[1].end), None
        )
        if clash is not None:
            what, period = clash
            problems.append(
                (
                    entry.position,
                    Issue(
                        "start_date",
                        f"overlaps {what} of the same person on this offer ({period.start} to {period.end})",
                    ),
                )
            )
        else:
            others.append((label.format(entry.position), entry.period))
    return problems


# ---------------------------------------------------------------- files


def parse_offers(data: bytes) -> Parsed[OfferRow]:
    parsed = parse_rows(data, OFFERS)
    parsed.refuse(
        repeats(((line, (o.site_code, o.reference)) for line, o in parsed.rows), "reference", "reference")
    )
    return parsed


def parse_roster(data: bytes) -> Parsed[RosterRow]:
    return parse_rows(data, ROSTER)


def activity_key(row: ActivityRow) -> tuple[str, str, str, dt.date]:
    return (row.provider_code, row.commissioner_code, row.specialty, parse_month(row.month))


def parse_activity(data: bytes, today: dt.date) -> Parsed[ActivityRow]:
    parsed = parse_rows(data, ACTIVITY)
    parsed.refuse([p for line, row in parsed.rows for p in as_rows(line, month_issues(row.month, today))])
    keys = ((line, activity_key(row)) for line, row in parsed.rows)
    parsed.refuse(repeats(keys, "month", "provider, commissioner, specialty and month"))
    return parsed
