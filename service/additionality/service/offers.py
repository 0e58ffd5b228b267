"""Offers and their rosters: submit (JSON or CSV), read and list."""

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import csv_import, repository, rules
from service.additionality.csv_import import Entry, Period, as_rows, entry_period, overlap_issues
from service.additionality.models import Offer, RosterEntry
from service.additionality.schemas import (
    ImportResult,
    OfferBrief,
    OfferCreate,
    OfferPage,
    OfferRead,
    OfferRow,
    RosterEntryRead,
    check_offer_row,
    roster_rules,
    year_bounds,
)
from service.additionality.service.common import (
    body_errors,
    insert_all,
    insert_one,
    invalid,
    issuer_organisation,
    next_offset,
    visible_offer,
)
from service.auth import Principal, Role
from service.db import new_id
from service.errors import Conflict, FieldError, Forbidden
from service.workforce import service as workforce
from service.workforce.csv_import import RowProblem
from service.workforce.schemas import Issue, OrganisationRead
from service.workforce.service import ImportRejected


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
        raise invalid(body_errors("", issues))
    malformed = {i: roster_rules(msgspec.structs.asdict(e)) for i, e in enumerate(data.roster)}
    placed, issues = csv_import.offer_place_issues(
        row.site_code, row.commissioner_code, await _offer_organisations(session, [row])
    )
    if placed is None:
        raise invalid(body_errors("", issues))
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
            problems += body_errors(f"roster[{index}].", malformed[index])
            continue
        person_id, missing = people.find(item.person_id, item.gmc_number)
        period, issues = entry_period(item.start_date, item.end_date, Period(row.start_date, row.end_date))
        problems += body_errors(f"roster[{index}].", [*([missing] if missing else []), *issues])
        if person_id is not None and period is not None:
            entries.append(Entry(index, record["id"], person_id, period))
    problems += [
        (f"body.roster[{position}].{issue.field}", issue.reason)
        for position, issue in overlap_issues(entries, [], label="roster[{}]")
    ]
    if problems:
        raise invalid(problems, "The offer has invalid fields; nothing was written.")
    await insert_one(session, Offer(**record))
    sessions = {e.position: data.roster[e.position].sessions for e in entries}
    await insert_all(session, RosterEntry, [_roster_record(e, sessions[e.position], now) for e in entries])
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
    await insert_all(session, Offer, records)
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
    await insert_all(session, RosterEntry, records)
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
    offer = await visible_offer(session, principal, offer_id)
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
        organisation=issuer_organisation(principal),
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
    return OfferPage(items=items, limit=limit, offset=offset, next_offset=next_offset(offset, limit, more))
