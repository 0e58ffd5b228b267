"""Domain verbs of additionality: submit offers, rosters and activity; version the shortage list and the
parameters; check offers; read, reproduce, summarise and export the results.

Who may see what (the route guards decide who may call at all; see docs/additionality.md):

- an issuer acts for an independent provider or one of its sites: it submits offers and rosters for its
  sites and activity for its own organisation, and reads the offers and results of its sites only;
- analysts, coordinators and admins read every offer and result and run checks;
- only an admin writes shortage lists and parameter versions.

An offer outside the caller's view is reported as not found. Services never commit: the request (or the
CLI command) owns the transaction, so a refused submission writes nothing.

Workforce data (people, employments, organisations, headcounts) comes through
:mod:`service.workforce.service` only.
"""

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service import __version__ as registry_version
from service.additionality import csv_import, report, repository, rules
from service.additionality.csv_import import Entry, Period, as_rows, entry_period, overlap_issues, repeats
from service.additionality.models import Activity, Check, Offer, ParameterSet, RosterEntry, ShortageList
from service.additionality.models import RuleResult as RuleResultRow
from service.additionality.schemas import (
    FIRST_DATE,
    LAST_DATE,
    ActivityBatch,
    ActivityRow,
    CheckBrief,
    CheckPage,
    CheckRead,
    FailedSite,
    IcbSummary,
    ImportResult,
    OfferBrief,
    OfferCreate,
    OfferPage,
    OfferRead,
    OfferRow,
    ParameterSetCreate,
    ParameterSetPage,
    ParameterSetRead,
    Recomputed,
    ReproductionRead,
    RosterEntryRead,
    RunRead,
    ShortageListCreate,
    ShortageListPage,
    ShortageListRead,
    ShortageRole,
    Summary,
    VerdictCounts,
    check_activity,
    check_offer_row,
    month_issues,
    normalise_specialty,
    parse_month,
    roster_rules,
    year_bounds,
)
from service.auth import Principal, Role
from service.db import new_id
from service.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceError,
    field_errors_from_msgspec,
)
from service.workforce import service as workforce
from service.workforce.csv_import import RowProblem
from service.workforce.schemas import EmploymentRead, Issue, OrganisationRead
from service.workforce.service import ImportRejected

MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 100
READ_ALL: Final = frozenset({Role.ADMIN, Role.ANALYST, Role.COORDINATOR})
"""Roles that see every offer and result."""
DECLARED_SOURCE: Final = "declared by the provider in the offer"


def _invalid(
    issues: Iterable[tuple[str, str]], detail: str = "The request has invalid fields."
) -> InvalidInput:
    return InvalidInput(detail, errors=[FieldError(field, reason) for field, reason in issues])


def _body(prefix: str, issues: Iterable[Issue]) -> list[tuple[str, str]]:
    return [(f"body.{prefix}{i.field}", i.reason) for i in issues]


def _next(offset: int, limit: int, more: bool) -> int | None:
    return offset + limit if more else None


def _issuer_organisation(principal: Principal) -> str | None:
    """The organisation an issuer is limited to (None for the roles that are not limited)."""
    if principal.role is not Role.ISSUER:
        return None
    if principal.organisation is None:
        raise Forbidden("You may act only for your own organisation.")
    return principal.organisation


def _may_see(principal: Principal, offer: Offer) -> bool:
    if principal.role in READ_ALL:
        return True
    return principal.role is Role.ISSUER and principal.organisation in (offer.site_code, offer.provider_code)


async def _visible_offer(session: AsyncSession, principal: Principal, offer_id: uuid.UUID) -> Offer:
    offer = await repository.get_offer(session, offer_id)
    if offer is None or not _may_see(principal, offer):
        raise NotFound(f"No offer {offer_id}.")
    return offer


async def _insert(session: AsyncSession, record: Any) -> None:
    try:
        await repository.add(session, record)
    except IntegrityError:
        raise Conflict("The record conflicts with one written at the same time; try again.") from None


async def _insert_all(session: AsyncSession, model: repository.Model, rows: list[dict[str, Any]]) -> None:
    try:
        await repository.insert_many(session, model, rows)
    except IntegrityError:
        raise Conflict(
            "The data conflicts with records written at the same time; nothing was written."
        ) from None


# ---------------------------------------------------------------- offers and rosters


class _Person(NamedTuple):
    ids: set[uuid.UUID]
    by_gmc: dict[str, uuid.UUID]

    def find(
        self, person_id: uuid.UUID | None, gmc_number: str | None
    ) -> tuple[uuid.UUID | None, Issue | None]:
        if person_id is not None:
            if person_id in self.ids:
                return person_id, None
            return None, Issue("person_id", f"no registered person has the id {person_id}")
        found = self.by_gmc.get(gmc_number or "")
        if found is None:
            return None, Issue("gmc_number", f"no registered person has the GMC number {gmc_number}")
        return found, None


async def _people(
    session: AsyncSession, ids: Iterable[uuid.UUID | None], numbers: Iterable[str | None]
) -> _Person:
    known = await workforce.people_by_ids(session, {i for i in ids if i is not None})
    by_gmc = await workforce.person_ids_by_gmc(session, {n for n in numbers if n is not None})
    return _Person(set(known), by_gmc)


def _offer_row(data: OfferCreate) -> OfferRow:
    fields = msgspec.structs.asdict(data)
    del fields["roster"]
    return OfferRow(**fields)


def _offer_record(
    row: OfferRow, placed: csv_import.Placed, principal: Principal, now: dt.datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "reference": row.reference,
        "site_code": row.site_code,
        "provider_code": placed.provider_code,
        "commissioner_code": placed.commissioner_code,
        "specialty": row.specialty,
        "sessions_per_week": row.sessions_per_week,
        "start_date": row.start_date,
        "end_date": row.end_date,
        "declared_training_placements": row.declared_training_placements,
        "submitted_by": principal.subject,
        "created_at": now,
    }


def _roster_record(entry: Entry, sessions: float, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "offer_id": entry.offer_id,
        "person_id": entry.person_id,
        "sessions": sessions,
        "start_date": entry.period.start,
        "end_date": entry.period.end,
        "created_at": now,
    }


async def _offer_organisations(
    session: AsyncSession, rows: Sequence[OfferRow]
) -> dict[str, OrganisationRead]:
    """The sites and commissioners the rows name, and the ICBs of those sites (the default commissioner)."""
    codes = {c for r in rows for c in (r.site_code, r.commissioner_code) if c is not None}
    found = await workforce.organisations_by_codes(session, codes)
    icbs = {o.icb_code for o in found.values() if o.icb_code is not None and o.icb_code not in found}
    return {**found, **await workforce.organisations_by_codes(session, icbs)}


async def create_offer(
    session: AsyncSession, principal: Principal, data: OfferCreate, now: dt.datetime
) -> OfferRead:
    """Record an offer with its roster, all or nothing."""
    row, issues = check_offer_row(_offer_row(data))
    if issues:
        raise _invalid(_body("", issues))
    malformed = {i: roster_rules(msgspec.structs.asdict(e)) for i, e in enumerate(data.roster)}
    placed, issues = csv_import.offer_place_issues(
        row.site_code, row.commissioner_code, await _offer_organisations(session, [row])
    )
    if placed is None:
        raise _invalid(_body("", issues))
    if principal.role is Role.ISSUER and not csv_import.may_act_for_site(principal.organisation, placed.site):
        raise Forbidden(f"You may submit offers only for your own sites, not for {row.site_code}.")
    if await repository.offers_by_reference(session, [(row.site_code, row.reference)]):
        reason = f"an offer with the reference {row.reference} already exists at {row.site_code}"
        raise Conflict(reason[0].upper() + reason[1:] + ".", errors=[FieldError("body.reference", reason)])
    record = _offer_record(row, placed, principal, now)
    people = await _people(session, (e.person_id for e in data.roster), (e.gmc_number for e in data.roster))
    entries, problems = [], []
    for index, item in enumerate(data.roster):
        if malformed[index]:
            problems += _body(f"roster[{index}].", malformed[index])
            continue
        person_id, missing = people.find(item.person_id, item.gmc_number)
        period, issues = entry_period(item.start_date, item.end_date, Period(row.start_date, row.end_date))
        problems += _body(f"roster[{index}].", [*([missing] if missing else []), *issues])
        if person_id is not None and period is not None:
            entries.append(Entry(index, record["id"], person_id, period))
    problems += [
        (f"body.roster[{position}].{issue.field}", issue.reason)
        for position, issue in overlap_issues(entries, [], label="roster[{}]")
    ]
    if problems:
        raise _invalid(problems, "The offer has invalid fields; nothing was written.")
    await _insert(session, Offer(**record))
    sessions = {e.position: data.roster[e.position].sessions for e in entries}
    await _insert_all(session, RosterEntry, [_roster_record(e, sessions[e.position], now) for e in entries])
    return await get_offer(session, principal, record["id"])


async def import_offers(
    session: AsyncSession, principal: Principal, payload: bytes, now: dt.datetime
) -> ImportResult:
    parsed = csv_import.parse_offers(payload)
    organisations = await _offer_organisations(session, [r for _, r in parsed.rows])
    problems = list(parsed.problems)
    placed_rows = []
    for line, row in parsed.rows:
        placed, issues = csv_import.offer_place_issues(row.site_code, row.commissioner_code, organisations)
        problems += as_rows(line, issues)
        if placed is not None:
            placed_rows.append((line, row, placed))
    if principal.role is Role.ISSUER:
        foreign = [
            RowProblem(
                line, "site_code", f"you may submit offers only for your own sites ({principal.organisation})"
            )
            for line, _, placed in placed_rows
            if not csv_import.may_act_for_site(principal.organisation, placed.site)
        ]
        if foreign:
            raise ImportRejected("offers", foreign, status=403)
    taken = await repository.offers_by_reference(
        session, ((r.site_code, r.reference) for _, r, _ in placed_rows)
    )
    problems += [
        RowProblem(
            line,
            "reference",
            f"an offer with the reference {row.reference} already exists at {row.site_code}",
        )
        for line, row, _ in placed_rows
        if (row.site_code, row.reference) in taken
    ]
    if problems:
        raise ImportRejected("offers", problems)
    records = [_offer_record(row, placed, principal, now) for _, row, placed in placed_rows]
    await _insert_all(session, Offer, records)
    return ImportResult(entity="offers", created=len(records), ids=[str(r["id"]) for r in records])


async def import_roster(
    session: AsyncSession, principal: Principal, payload: bytes, now: dt.datetime
) -> ImportResult:
    parsed = csv_import.parse_roster(payload)
    offers = await repository.offers_by_reference(
        session, ((r.site_code, r.offer_reference) for _, r in parsed.rows)
    )
    problems = list(parsed.problems)
    found = []
    for line, row in parsed.rows:
        offer = offers.get((row.site_code, row.offer_reference))
        if offer is None:
            reason = f"no offer has the reference {row.offer_reference} at the site {row.site_code}"
            problems.append(RowProblem(line, "offer_reference", reason))
        else:
            found.append((line, row, offer))
    if principal.role is Role.ISSUER:
        foreign = [
            RowProblem(
                line,
                "site_code",
                f"you may submit rosters only for your own sites ({principal.organisation})",
            )
            for line, _, offer in found
            if principal.organisation not in (offer.site_code, offer.provider_code)
        ]
        if foreign:
            raise ImportRejected("roster", foreign, status=403)
    people = await _people(session, (r.person_id for _, r, _ in found), (r.gmc_number for _, r, _ in found))
    entries, sessions = [], {}
    for line, row, offer in found:
        person_id, missing = people.find(row.person_id, row.gmc_number)
        period, issues = entry_period(row.start_date, row.end_date, Period(offer.start_date, offer.end_date))
        problems += as_rows(line, [*([missing] if missing else []), *issues])
        if person_id is not None and period is not None:
            entries.append(Entry(line, offer.id, person_id, period))
            sessions[line] = row.sessions
    stored = await repository.roster(session, {e.offer_id for e in entries})
    existing = [(r.offer_id, r.person_id, Period(r.start_date, r.end_date)) for r in stored]
    problems += [RowProblem(line, i.field, i.reason) for line, i in overlap_issues(entries, existing)]
    if problems:
        raise ImportRejected("roster", problems)
    records = [_roster_record(e, sessions[e.position], now) for e in entries]
    await _insert_all(session, RosterEntry, records)
    return ImportResult(entity="roster", created=len(records), ids=[str(r["id"]) for r in records])


def _roster_read(row: Any) -> RosterEntryRead:
    return RosterEntryRead(
        id=row.id,
        person_id=row.person_id,
        sessions=row.sessions,
        start_date=row.start_date,
        end_date=row.end_date,
    )


async def get_offer(session: AsyncSession, principal: Principal, offer_id: uuid.UUID) -> OfferRead:
    offer = await _visible_offer(session, principal, offer_id)
    entries = await repository.roster(session, [offer.id])
    latest = (await repository.latest_verdicts(session, [offer.id])).get(offer.id)
    return OfferRead(
        id=offer.id,
        reference=offer.reference,
        site_code=offer.site_code,
        provider_code=offer.provider_code,
        commissioner_code=offer.commissioner_code,
        specialty=offer.specialty,
        sessions_per_week=offer.sessions_per_week,
        start_date=offer.start_date,
        end_date=offer.end_date,
        declared_training_placements=offer.declared_training_placements,
        submitted_by=offer.submitted_by,
        created_at=offer.created_at,
        roster=[_roster_read(r) for r in entries],
        latest_check_id=latest[0] if latest else None,
        latest_verdict=msgspec.convert(latest[1], rules.Verdict) if latest else None,
    )


async def list_offers(
    session: AsyncSession,
    principal: Principal,
    *,
    year: int | None,
    site: str | None,
    provider: str | None,
    commissioner: str | None,
    limit: int,
    offset: int,
) -> OfferPage:
    start, end = year_bounds(year) if year is not None else (None, None)
    rows, more = await repository.list_offers(
        session,
        start=start,
        end=end,
        site=site.upper() if site else None,
        provider=provider.upper() if provider else None,
        commissioner=commissioner.upper() if commissioner else None,
        organisation=_issuer_organisation(principal),
        limit=limit,
        offset=offset,
    )
    ids = [o.id for o in rows]
    sizes = await repository.roster_sizes(session, ids)
    latest = await repository.latest_verdicts(session, ids)
    items = [
        OfferBrief(
            id=o.id,
            reference=o.reference,
            site_code=o.site_code,
            provider_code=o.provider_code,
            commissioner_code=o.commissioner_code,
            specialty=o.specialty,
            sessions_per_week=o.sessions_per_week,
            start_date=o.start_date,
            end_date=o.end_date,
            roster_entries=sizes.get(o.id, 0),
            latest_check_id=latest[o.id][0] if o.id in latest else None,
            latest_verdict=msgspec.convert(latest[o.id][1], rules.Verdict) if o.id in latest else None,
        )
        for o in rows
    ]
    return OfferPage(items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, more))


# ---------------------------------------------------------------- activity


async def _activity_problems(
    session: AsyncSession, principal: Principal, rows: Sequence[tuple[int, ActivityRow]], replace: bool
) -> tuple[
    list[tuple[int, Issue]], list[tuple[int, Issue]], list[tuple[int, ActivityRow, str]], list[uuid.UUID]
]:
    """``(problems, refused for the caller's organisation, rows with their sector, ids to replace)``."""
    codes = {c for _, r in rows for c in (r.provider_code, r.commissioner_code)}
    organisations = await workforce.organisations_by_codes(session, codes)
    problems: list[tuple[int, Issue]] = []
    foreign: list[tuple[int, Issue]] = []
    good = []
    own = _issuer_organisation(principal)
    for position, row in rows:
        sector, issues = csv_import.activity_provider_issues(row, organisations)
        problems += [(position, i) for i in issues]
        if own is not None and not csv_import.may_record_activity(own, organisations.get(row.provider_code)):
            reason = f"you may record activity only for your own organisation ({own})"
            foreign.append((position, Issue("provider_code", reason)))
        if sector is not None and not issues:
            good.append((position, row, sector))
    existing = await repository.activity_ids(session, (csv_import.activity_key(r) for _, r, _ in good))
    if not replace:
        problems += [
            (
                position,
                Issue(
                    "month",
                    "activity for this provider, commissioner, specialty and month is already recorded; "
                    "send it with replace to revise it",
                ),
            )
            for position, row, _ in good
            if csv_import.activity_key(row) in existing
        ]
    return problems, foreign, good, list(existing.values())


async def _store_activity(
    session: AsyncSession,
    principal: Principal,
    good: list[tuple[int, ActivityRow, str]],
    replaced: list[uuid.UUID],
    now: dt.datetime,
) -> ImportResult:
    await repository.delete_activity(session, replaced)
    records = [
        {
            "id": new_id(),
            "provider_code": row.provider_code,
            "sector": sector,
            "commissioner_code": row.commissioner_code,
            "specialty": row.specialty,
            "month": parse_month(row.month),
            "activity": row.activity,
            "submitted_by": principal.subject,
            "created_at": now,
        }
        for _, row, sector in good
    ]
    await _insert_all(session, Activity, records)
    return ImportResult(
        entity="activity", created=len(records) - len(replaced), replaced=len(replaced), ids=[]
    )


async def record_activity(
    session: AsyncSession, principal: Principal, batch: ActivityBatch, now: dt.datetime
) -> ImportResult:
    """Record activity rows sent as JSON, all or nothing."""
    rows, problems = [], []
    for index, raw in enumerate(batch.rows):
        row, _ = check_activity(raw)
        issues = month_issues(row.month, now.date())
        problems += _body(f"rows[{index}].", issues)
        if not issues:
            rows.append((index, row))
    keys = ((i, csv_import.activity_key(r)) for i, r in rows)
    problems += [
        (f"body.rows[{p.row}].{p.column}", p.reason)
        for p in repeats(keys, "month", "provider, commissioner, specialty and month", label="rows[{}]")
    ]
    if problems:
        raise _invalid(problems, "The activity has invalid rows; nothing was written.")
    found, foreign, good, replaced = await _activity_problems(session, principal, rows, batch.replace)
    if foreign:
        raise Forbidden(
            "You may record activity only for your own organisation.",
            errors=[FieldError(f"body.rows[{p}].{i.field}", i.reason) for p, i in foreign],
        )
    if found:
        raise _invalid(
            [(f"body.rows[{p}].{i.field}", i.reason) for p, i in found],
            "The activity has invalid rows; nothing was written.",
        )
    return await _store_activity(session, principal, good, replaced, now)


async def import_activity(
    session: AsyncSession, principal: Principal, payload: bytes, *, replace: bool, now: dt.datetime
) -> ImportResult:
    parsed = csv_import.parse_activity(payload, now.date())
    found, foreign, good, replaced = await _activity_problems(session, principal, parsed.rows, replace)
    if foreign:
        raise ImportRejected("activity", [RowProblem(p, i.field, i.reason) for p, i in foreign], status=403)
    problems = [*parsed.problems, *(RowProblem(p, i.field, i.reason) for p, i in found)]
    if problems:
        raise ImportRejected("activity", problems)
    return await _store_activity(session, principal, good, replaced, now)


# ---------------------------------------------------------------- shortage lists


def _shortage_read(record: ShortageList) -> ShortageListRead:
    return ShortageListRead(
        version=record.version,
        effective_from=record.effective_from,
        roles=msgspec.json.decode(record.roles, type=list[ShortageRole]),
        note=record.note,
        created_by=record.created_by,
        created_at=record.created_at,
    )


async def create_shortage_list(
    session: AsyncSession, principal: Principal, data: ShortageListCreate, now: dt.datetime
) -> ShortageListRead:
    """A new version of the shortage list; versions are never changed afterwards."""
    problems = []
    if not FIRST_DATE <= data.effective_from <= LAST_DATE:
        problems.append(("body.effective_from", f"must be between {FIRST_DATE} and {LAST_DATE}"))
    roles = [
        ShortageRole(
            staff_group=r.staff_group, specialty=normalise_specialty(r.specialty) if r.specialty else None
        )
        for r in data.roles
    ]
    problems += [
        (f"body.roles[{p.row}].specialty", p.reason)
        for p in repeats(
            enumerate((r.staff_group, r.specialty) for r in roles), "roles", "role", label="roles[{}]"
        )
    ]
    if problems:
        raise _invalid(problems)
    ordered = sorted(roles, key=lambda r: (r.staff_group, r.specialty or ""))
    record = ShortageList(
        version=await repository.next_version(session, ShortageList),
        effective_from=data.effective_from,
        roles=rules.canonical(ordered).decode(),
        note=data.note,
        created_by=principal.subject,
        created_at=now,
    )
    await _insert(session, record)
    return _shortage_read(record)


async def list_shortage_lists(session: AsyncSession) -> ShortageListPage:
    return ShortageListPage(items=[_shortage_read(r) for r in await repository.shortage_lists(session)])


async def get_shortage_list(session: AsyncSession, version: int) -> ShortageListRead:
    record = await repository.get_shortage_list(session, version)
    if record is None:
        raise NotFound(f"No shortage list version {version}.")
    return _shortage_read(record)


def shortage_list_on(lists: Sequence[ShortageList], day: dt.date) -> ShortageList | None:
    """The version in effect on ``day``: the latest ``effective_from`` on or before it; for the same day, the
    higher version (so a correction is published with the same date and replaces the list it corrects)."""
    in_effect = [s for s in lists if s.effective_from <= day]
    return max(in_effect, key=lambda s: (s.effective_from, s.version)) if in_effect else None


# ---------------------------------------------------------------- parameters


def _parameters(record: ParameterSet) -> rules.Parameters:
    return msgspec.json.decode(record.parameters, type=rules.Parameters)


def _parameter_read(record: ParameterSet, current: int) -> ParameterSetRead:
    return ParameterSetRead(
        version=record.version,
        current=record.version == current,
        parameters=_parameters(record),
        note=record.note,
        created_by=record.created_by,
        created_at=record.created_at,
    )


async def _current_parameters(session: AsyncSession) -> ParameterSet:
    record = await repository.current_parameter_set(session)
    if record is None:  # the migration writes version 1
        raise ServiceError(
            "No parameter set is recorded: run the migrations.", status=503, code="unavailable"
        )
    return record


def _merge(base: Any, changes: Any) -> Any:
    """``changes`` laid over ``base``: objects are merged key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(changes, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in changes.items()}}
    return changes


async def create_parameter_set(
    session: AsyncSession, principal: Principal, data: ParameterSetCreate, now: dt.datetime
) -> ParameterSetRead:
    """A new parameter version: the current one with ``data.parameters`` laid over it."""
    current = await _current_parameters(session)
    merged = _merge(msgspec.to_builtins(_parameters(current)), data.parameters)
    try:
        parameters = msgspec.convert(merged, rules.Parameters)
    except msgspec.ValidationError as exc:
        raise InvalidInput(
            "The parameters are invalid; nothing was written.",
            errors=field_errors_from_msgspec(str(exc), root="body.parameters"),
        ) from None
    if issues := rules.parameter_issues(parameters):
        raise _invalid([(f"body.parameters.{field}", reason) for field, reason in issues])
    if rules.canonical(parameters) == current.parameters.encode():
        raise _invalid([("body.parameters", f"changes nothing: version {current.version} has these values")])
    record = ParameterSet(
        version=current.version + 1,
        parameters=rules.canonical(parameters).decode(),
        note=data.note,
        created_by=principal.subject,
        created_at=now,
    )
    await _insert(session, record)
    return _parameter_read(record, record.version)


async def list_parameter_sets(session: AsyncSession) -> ParameterSetPage:
    records = await repository.parameter_sets(session)
    current = max((r.version for r in records), default=0)
    return ParameterSetPage(items=[_parameter_read(r, current) for r in reversed(records)])


async def get_parameter_set(session: AsyncSession, version: int) -> ParameterSetRead:
    record = await repository.get_parameter_set(session, version)
    if record is None:
        raise NotFound(f"No parameter version {version}.")
    current = await _current_parameters(session)
    return _parameter_read(record, current.version)


# ---------------------------------------------------------------- gathering the inputs of a check


class HostedPlacements(NamedTuple):
    placements: int
    source: str


async def hosted_training_placements(
    session: AsyncSession, offers: Sequence[Offer]
) -> dict[uuid.UUID, HostedPlacements]:
    """Training placements hosted at each offer's site during the offer, for the reciprocity rule.

    For now the count the provider declared in its offer. Where to wire the placements domain in: replace
    the body with its function counting published placements hosted at a site in a date range (one call
    per offer, or a bulk form of it), and say so in ``source``; the rules and stored results need no change.
    """
    return {o.id: HostedPlacements(o.declared_training_placements, DECLARED_SOURCE) for o in offers}


def _nhs_employment(e: EmploymentRead, employer: OrganisationRead) -> rules.NhsEmployment:
    icb = employer.code if employer.kind == "icb" else employer.icb_code
    return rules.NhsEmployment(
        organisation_code=e.organisation_code,
        icb_code=icb,
        staff_group=e.staff_group,
        specialty=e.specialty,
        start_date=e.start_date,
        end_date=e.end_date,
        contracted_sessions=e.contracted_sessions,
    )


class _Histories(NamedTuple):
    people: dict[uuid.UUID, rules.PersonHistory]
    organisations: dict[str, OrganisationRead]


async def _histories(session: AsyncSession, person_ids: set[uuid.UUID], sites: set[str]) -> _Histories:
    people = await workforce.people_by_ids(session, person_ids)
    employments = await workforce.employments_of_people(session, person_ids)
    organisations = await workforce.organisations_by_codes(
        session, {e.organisation_code for e in employments} | sites
    )
    nhs: dict[uuid.UUID, list[rules.NhsEmployment]] = defaultdict(list)
    for e in employments:
        employer = organisations.get(e.organisation_code)
        if employer is not None and employer.kind in rules.NHS_KINDS:
            nhs[e.person_id].append(_nhs_employment(e, employer))
    histories = {
        pid: rules.PersonHistory(
            person_id=str(pid),
            staff_group=person.staff_group,
            nhs_employments=sorted(
                nhs[pid], key=lambda x: (x.start_date, x.organisation_code, x.end_date or LAST_DATE)
            ),
        )
        for pid, person in people.items()
    }
    return _Histories(histories, organisations)


async def _activity(
    session: AsyncSession, offers: Sequence[Offer], parameters: rules.ActivityParameters
) -> dict[tuple[str, str], dict[dt.date, list[int]]]:
    """``{(commissioner, specialty): {month: [nhs, independent]}}`` in the baseline and comparison months."""
    windows = [
        rules.baseline_months(parameters),
        *(rules.comparison_months(o.start_date, parameters) for o in offers),
    ]
    commissioners = {o.commissioner_code for o in offers}
    wanted = {(o.commissioner_code, o.specialty) for o in offers}
    months = sorted({m for window in windows for m in window})
    if not months or not commissioners:
        return {}
    ranges = [(windows[0][0], windows[0][-1])]
    comparison = sorted({m for window in windows[1:] for m in window})
    if comparison:
        ranges.append((comparison[0], comparison[-1]))
    series: dict[tuple[str, str], dict[dt.date, list[int]]] = defaultdict(dict)
    seen: set[tuple[str, str, dt.date, str]] = set()
    for first, last in ranges:
        for commissioner, specialty, month, sector, total in await repository.activity_totals(
            session, commissioners, first, last
        ):
            if (commissioner, specialty) not in wanted or (commissioner, specialty, month, sector) in seen:
                continue
            seen.add((commissioner, specialty, month, sector))
            pair = series[(commissioner, specialty)].setdefault(month, [0, 0])
            pair[0 if sector == "nhs" else 1] += total
    return series


async def _employer_workforce(
    session: AsyncSession, offers: Sequence[Offer], local: Mapping[uuid.UUID, set[str]]
) -> dict[tuple[dt.date, str, str], int]:
    """Headcounts of each offer's local NHS employers on the day the offer starts."""
    by_day: dict[dt.date, set[str]] = defaultdict(set)
    for offer in offers:
        by_day[offer.start_date] |= local.get(offer.id, set())
    counts: dict[tuple[dt.date, str, str], int] = {}
    for day, codes in by_day.items():
        if codes:
            for (code, group), n in (await workforce.headcounts(session, codes, day)).items():
                counts[(day, code, group)] = n
    return counts


async def gather_inputs(
    session: AsyncSession, offers: Sequence[Offer], parameters: rules.Parameters
) -> dict[uuid.UUID, rules.OfferInputs]:
    """The rules' inputs for each offer, read in bulk (a few dozen queries for a whole year)."""
    roster_rows = await repository.roster(session, [o.id for o in offers])
    rosters: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for r in roster_rows:
        rosters[r.offer_id].append(r)
    found = await _histories(session, {r.person_id for r in roster_rows}, {o.site_code for o in offers})
    site_icb = {
        o.id: (found.organisations[o.site_code].icb_code if o.site_code in found.organisations else None)
        for o in offers
    }
    local: dict[uuid.UUID, set[str]] = {
        o.id: {
            e.organisation_code
            for r in rosters[o.id]
            if r.person_id in found.people
            for e in found.people[r.person_id].nhs_employments
            if site_icb[o.id] is not None and e.icb_code == site_icb[o.id]
        }
        for o in offers
    }
    workforce_counts = await _employer_workforce(session, offers, local)
    shortage_lists = await repository.shortage_lists(session)
    activity = await _activity(session, offers, parameters.activity)
    placements = await hosted_training_placements(session, offers)
    workforce_on: dict[dt.date, list[tuple[tuple[str, str], int]]] = defaultdict(list)
    for (day, code, group), n in sorted(workforce_counts.items()):
        workforce_on[day].append(((code, group), n))
    baseline = set(rules.baseline_months(parameters.activity))
    comparison_by_start = {
        day: set(rules.comparison_months(day, parameters.activity)) for day in {o.start_date for o in offers}
    }
    inputs = {}
    for offer in offers:
        entries = rosters[offer.id]
        shortage = shortage_list_on(shortage_lists, offer.start_date)
        person_ids = sorted({r.person_id for r in entries if r.person_id in found.people}, key=str)
        series = activity.get((offer.commissioner_code, offer.specialty), {})
        inputs[offer.id] = rules.OfferInputs(
            offer_id=str(offer.id),
            site_code=offer.site_code,
            site_icb_code=site_icb[offer.id],
            commissioner_code=offer.commissioner_code,
            specialty=offer.specialty,
            sessions_per_week=offer.sessions_per_week,
            start_date=offer.start_date,
            end_date=offer.end_date,
            roster=[
                rules.RosterEntry(
                    person_id=str(r.person_id),
                    sessions=r.sessions,
                    start_date=r.start_date,
                    end_date=r.end_date,
                )
                for r in sorted(entries, key=lambda r: (str(r.person_id), r.start_date))
            ],
            people=[found.people[pid] for pid in person_ids],
            shortage_list_version=shortage.version if shortage else None,
            shortage_roles=msgspec.json.decode(shortage.roles, type=list[rules.ShortageRole])
            if shortage
            else [],
            employer_workforce=[
                rules.EmployerWorkforce(organisation_code=code, staff_group=group, headcount=n)
                for (code, group), n in workforce_on[offer.start_date]
                if code in local[offer.id]
            ],
            training_placements_hosted=placements[offer.id].placements,
            training_placements_source=placements[offer.id].source,
            activity=[
                rules.ActivityMonth(month=month, nhs=pair[0], independent=pair[1])
                for month, pair in sorted(series.items())
                if month in baseline or month in comparison_by_start[offer.start_date]
            ],
        )
    return inputs


def input_hash(inputs: rules.OfferInputs) -> str:
    return hashlib.sha256(rules.canonical(inputs)).hexdigest()


# ---------------------------------------------------------------- running checks


def _check_read(check: Check, offer: Offer, results: Sequence[RuleResultRow]) -> CheckRead:
    order: dict[str, int] = {name: i for i, name in enumerate(rules.RULES)}
    return CheckRead(
        id=check.id,
        offer_id=check.offer_id,
        run_id=check.run_id,
        site_code=offer.site_code,
        commissioner_code=offer.commissioner_code,
        checked_at=check.checked_at,
        checked_by=check.checked_by,
        parameters_version=check.parameters_version,
        shortage_list_version=check.shortage_list_version,
        rules_version=check.rules_version,
        input_hash=check.input_hash,
        verdict=msgspec.convert(check.verdict, rules.Verdict),
        results=[_rule_result(r) for r in sorted(results, key=lambda r: order.get(r.rule, len(order)))],
    )


def _rule_result(row: RuleResultRow) -> rules.RuleResult:
    return rules.RuleResult(
        rule=msgspec.convert(row.rule, rules.RuleName),
        verdict=msgspec.convert(row.verdict, rules.Verdict),
        summary=row.summary,
        measures=msgspec.json.decode(row.measures, type=dict[str, float]),
        evidence=msgspec.json.decode(row.evidence, type=list[rules.Evidence]),
    )


class _Run(NamedTuple):
    run_id: uuid.UUID
    version: int
    checks: list[tuple[Offer, int, rules.Verdict]]


async def _check(
    session: AsyncSession, principal: Principal, offers: Sequence[Offer], now: dt.datetime
) -> _Run:
    """Check ``offers`` with the current parameters and store one check per offer (one run)."""
    record = await _current_parameters(session)
    parameters = _parameters(record)
    inputs = await gather_inputs(session, offers, parameters)
    run_id = new_id()
    check_rows, result_sets = [], []
    for offer in offers:
        encoded = rules.canonical(inputs[offer.id])
        # The rules read exactly what is stored (decoded again), so a recomputation gives the same bytes.
        offer_inputs = msgspec.json.decode(encoded, type=rules.OfferInputs)
        results = rules.evaluate(offer_inputs, parameters)
        check_rows.append(
            {
                "offer_id": offer.id,
                "run_id": run_id,
                "checked_at": now,
                "checked_by": principal.subject,
                "parameters_version": record.version,
                "shortage_list_version": offer_inputs.shortage_list_version,
                "rules_version": rules.RULES_VERSION,
                "input_hash": hashlib.sha256(encoded).hexdigest(),
                "inputs": encoded.decode(),
                "verdict": rules.overall(results),
            }
        )
        result_sets.append(results)
    ids = await repository.insert_checks(session, check_rows)
    result_rows = [
        {
            "check_id": check_id,
            "rule": r.rule,
            "verdict": r.verdict,
            "summary": r.summary,
            "measures": rules.canonical(r.measures).decode(),
            "evidence": rules.canonical(r.evidence).decode(),
        }
        for check_id, results in zip(ids, result_sets, strict=True)
        for r in results
    ]
    await _insert_all(session, RuleResultRow, result_rows)
    verdicts = [rules.overall(results) for results in result_sets]
    return _Run(run_id, record.version, list(zip(offers, ids, verdicts, strict=True)))


async def check_offer(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID, now: dt.datetime
) -> CheckRead:
    """Check one offer now and store the result."""
    offer = await _visible_offer(session, principal, offer_id)
    run = await _check(session, principal, [offer], now)
    return await get_check(session, principal, run.checks[0][1])


async def check_year(session: AsyncSession, principal: Principal, year: int, now: dt.datetime) -> RunRead:
    """Check every offer overlapping financial year ``year`` (1 April to 31 March) in one run."""
    start, end = year_bounds(year)
    offers = await repository.offers_overlapping(session, start, end)
    if not offers:
        record = await _current_parameters(session)
        return RunRead(
            run_id=new_id(),
            financial_year=year,
            parameters_version=record.version,
            offers=0,
            verdicts={v: 0 for v in rules.VERDICTS},
            checks=[],
        )
    run = await _check(session, principal, offers, now)
    verdicts: dict[str, int] = {v: sum(1 for _, _, x in run.checks if x == v) for v in rules.VERDICTS}
    return RunRead(
        run_id=run.run_id,
        financial_year=year,
        parameters_version=run.version,
        offers=len(offers),
        verdicts=verdicts,
        checks=[
            CheckBrief(check_id=i, offer_id=o.id, site_code=o.site_code, verdict=v) for o, i, v in run.checks
        ],
    )


async def _visible_check(session: AsyncSession, principal: Principal, check_id: int) -> tuple[Check, Offer]:
    check = await repository.get_check(session, check_id)
    offer = await repository.get_offer(session, check.offer_id) if check is not None else None
    if check is None or offer is None or not _may_see(principal, offer):
        raise NotFound(f"No check {check_id}.")
    return check, offer


async def get_check(session: AsyncSession, principal: Principal, check_id: int) -> CheckRead:
    check, offer = await _visible_check(session, principal, check_id)
    results = (await repository.rule_results(session, [check.id])).get(check.id, [])
    return _check_read(check, offer, results)


async def list_checks(session: AsyncSession, principal: Principal, offer_id: uuid.UUID) -> CheckPage:
    offer = await _visible_offer(session, principal, offer_id)
    checks = await repository.checks_of_offer(session, offer.id)
    results = await repository.rule_results(session, [c.id for c in checks])
    return CheckPage(items=[_check_read(c, offer, results.get(c.id, [])) for c in checks])


def _difference(stored: RuleResultRow | None, again: rules.RuleResult) -> str:
    """Empty when the recomputed result is the stored one, byte for byte; otherwise what differs."""
    if stored is None:
        return f"{again.rule}: not stored, recomputed {again.verdict}"
    same = (stored.verdict, stored.summary, stored.measures, stored.evidence) == (
        again.verdict,
        again.summary,
        rules.canonical(again.measures).decode(),
        rules.canonical(again.evidence).decode(),
    )
    if same:
        return ""
    if stored.verdict != again.verdict:
        return f"{again.rule}: stored {stored.verdict}, recomputed {again.verdict}"
    return f"{again.rule}: same verdict ({again.verdict}), different evidence or measures"


def _recomputed(version: int, results: Sequence[rules.RuleResult]) -> Recomputed:
    return Recomputed(
        parameters_version=version,
        verdict=rules.overall(results),
        rule_verdicts={r.rule: r.verdict for r in results},
    )


async def reproduce(session: AsyncSession, principal: Principal, check_id: int) -> ReproductionRead:
    """Recompute a stored check from its stored inputs and parameter version (it must come out the same),
    and from today's data with the stored and with the current parameters."""
    check, offer = await _visible_check(session, principal, check_id)
    stored = (await repository.rule_results(session, [check.id])).get(check.id, [])
    version = await repository.get_parameter_set(session, check.parameters_version)
    if version is None:  # pragma: no cover - a foreign key keeps it
        raise NotFound(f"No parameter version {check.parameters_version}.")
    parameters = _parameters(version)
    stored_bytes = check.inputs.encode()
    inputs = msgspec.json.decode(stored_bytes, type=rules.OfferInputs)
    again = rules.evaluate(inputs, parameters)
    by_rule = {r.rule: r for r in stored}
    differences = [_difference(by_rule.get(r.rule), r) for r in again if _difference(by_rule.get(r.rule), r)]
    current_record = await _current_parameters(session)
    current_parameters = _parameters(current_record)
    today = (await gather_inputs(session, [offer], parameters))[offer.id]
    today_current = (
        today
        if current_parameters.activity == parameters.activity
        else (await gather_inputs(session, [offer], current_parameters))[offer.id]
    )
    today_hash = input_hash(today)
    return ReproductionRead(
        check_id=check.id,
        stored_verdict=msgspec.convert(check.verdict, rules.Verdict),
        stored_input_hash=check.input_hash,
        stored_inputs_hash_ok=hashlib.sha256(stored_bytes).hexdigest() == check.input_hash,
        reproduced=not differences and rules.overall(again) == check.verdict,
        rules_version_then=check.rules_version,
        rules_version_now=rules.RULES_VERSION,
        differences=differences,
        current_input_hash=today_hash,
        inputs_changed=today_hash != check.input_hash,
        today_with_stored_parameters=_recomputed(version.version, rules.evaluate(today, parameters)),
        today_with_current_parameters=_recomputed(
            current_record.version, rules.evaluate(today_current, current_parameters)
        ),
    )


# ---------------------------------------------------------------- summaries, exports, the placements gate


class YearResults(NamedTuple):
    """Offers of a year with their latest checks and those checks' rule results."""

    year: int
    offers: list[Offer]
    latest: dict[uuid.UUID, Check]
    results: dict[int, list[rules.RuleResult]]


async def year_results(session: AsyncSession, year: int) -> YearResults:
    start, end = year_bounds(year)
    offers = await repository.offers_overlapping(session, start, end)
    latest = await repository.latest_checks(session, [o.id for o in offers])
    rows = await repository.rule_results(session, [c.id for c in latest.values()])
    results = {check_id: [_rule_result(r) for r in found] for check_id, found in rows.items()}
    order: dict[str, int] = {name: i for i, name in enumerate(rules.RULES)}
    for found in results.values():
        found.sort(key=lambda r: order[r.rule])
    return YearResults(year, offers, latest, results)


def _counts(verdicts: Iterable[str]) -> VerdictCounts:
    listed = list(verdicts)
    return VerdictCounts(pass_=listed.count("pass"), warn=listed.count("warn"), fail=listed.count("fail"))


def _icb_summary(code: str, name: str | None, offers: Sequence[Offer], found: YearResults) -> IcbSummary:
    checks = [found.latest[o.id] for o in offers if o.id in found.latest]
    per_rule: dict[str, VerdictCounts] = {
        rule: _counts(r.verdict for c in checks for r in found.results.get(c.id, []) if r.rule == rule)
        for rule in rules.RULES
    }
    return IcbSummary(
        commissioner_code=code,
        commissioner_name=name,
        offers=len(offers),
        checked=len(checks),
        verdicts=_counts(c.verdict for c in checks),
        rules=per_rule,
        sessions_per_week=sum(o.sessions_per_week for o in offers),
    )


async def summary(session: AsyncSession, year: int, found: YearResults | None = None) -> Summary:
    """Per commissioning ICB: offers of the year, how many were checked, verdicts of their latest checks."""
    found = found or await year_results(session, year)
    by_icb: dict[str, list[Offer]] = defaultdict(list)
    for offer in found.offers:
        by_icb[offer.commissioner_code].append(offer)
    names = await workforce.organisations_by_codes(session, by_icb)
    icbs = [
        _icb_summary(code, names[code].name if code in names else None, by_icb[code], found)
        for code in sorted(by_icb)
    ]
    return Summary(
        financial_year=year, icbs=icbs, totals=_icb_summary("all", "All ICBs", found.offers, found)
    )


async def failed_sites(session: AsyncSession, start: dt.date, end: dt.date | None = None) -> list[FailedSite]:
    """Sites with an offer overlapping ``start`` to ``end`` (one day: ``start``) whose latest check failed.

    For the placements matcher's additionality gate. An offer that has not been checked is not listed: the
    gate is "has failed", not "has not passed". A site may be listed once per failed offer.
    """
    offers = await repository.offers_overlapping(session, start, end or start)
    latest = await repository.latest_checks(session, [o.id for o in offers])
    failed = {o.id: latest[o.id] for o in offers if o.id in latest and latest[o.id].verdict == "fail"}
    results = await repository.rule_results(session, [c.id for c in failed.values()])
    return [
        FailedSite(
            site_code=o.site_code,
            offer_id=o.id,
            check_id=failed[o.id].id,
            start_date=o.start_date,
            end_date=o.end_date,
            failed_rules=sorted(r.rule for r in results.get(failed[o.id].id, []) if r.verdict == "fail"),
        )
        for o in offers
        if o.id in failed
    ]


def _checked(found: YearResults) -> list[report.CheckedOffer]:
    offers = []
    for o in found.offers:
        c = found.latest.get(o.id)
        offers.append(
            report.CheckedOffer(
                offer_id=o.id,
                reference=o.reference,
                site_code=o.site_code,
                provider_code=o.provider_code,
                commissioner_code=o.commissioner_code,
                specialty=o.specialty,
                sessions_per_week=o.sessions_per_week,
                start_date=o.start_date,
                end_date=o.end_date,
                check_id=c.id if c else None,
                checked_at=c.checked_at if c else None,
                parameters_version=c.parameters_version if c else None,
                shortage_list_version=c.shortage_list_version if c else None,
                rules_version=c.rules_version if c else None,
                input_hash=c.input_hash if c else None,
                verdict=c.verdict if c else None,
                results=found.results.get(c.id, []) if c else [],
            )
        )
    return offers


async def export_csv(session: AsyncSession, year: int, level: report.Level) -> bytes:
    """The year's latest results as CSV: one row per offer and rule, or one row per evidence row."""
    return report.export_csv(year, _checked(await year_results(session, year)), level)


async def report_html(session: AsyncSession, year: int, now: dt.datetime) -> str:
    """The year's self-contained HTML report: summary per ICB with a chart, then every offer's results."""
    found = await year_results(session, year)
    return report.render_html(
        year,
        await summary(session, year, found),
        _checked(found),
        generated_at=now,
        registry_version=registry_version,
    )
