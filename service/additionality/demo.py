"""The additionality domain's demo step: offers from the busiest independent sites, their rosters, a
shortage list, two years of activity, and one check of the whole financial year.

Everything is read from the demo workforce through :mod:`service.workforce.service` and is deterministic
for a given seed and day:

- the shortage list (version 1, in effect from 2020-01-01): nursing, allied health professions, and
  doctors in anaesthetics and radiology (shortage roles of the treatment-centre era; check them);
- an offer at each of the :data:`OFFERS` independent sites with the most current staff, for the financial
  year of the demo day, to the site's ICB, in the specialty most of its doctors work in;
- each roster holds the site's current staff from when they joined (so someone who left an NHS post
  shortly before is caught by the cooling-off rule), and at every third site also two NHS staff of
  trusts in the same ICB doing two extra sessions a week (caught by dual running and local draw);
- activity for the baseline year and the twelve months before each offer, for the ICB's trusts and the
  site; at every other site independent growth is matched by NHS decline (the displacement rule);
- finally every offer of the year is checked with the current parameters.

Services never commit: ``passport demo seed`` owns the transaction.
"""

import datetime as dt
import random
from collections import Counter
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import rules, service
from service.additionality.schemas import (
    ActivityBatch,
    ActivityRow,
    OfferCreate,
    RosterEntryCreate,
    ShortageListCreate,
    ShortageRole,
    financial_year,
    year_bounds,
)
from service.auth import Principal, Role
from service.workforce import service as workforce
from service.workforce.schemas import EmploymentRead, OrganisationRead

OFFERS: Final = 8
ACTOR: Final = Principal(subject="passport demo seed", kind="client", role=Role.ADMIN, organisation=None)
SHORTAGE_ROLES: Final = (
    ShortageRole(staff_group="nursing"),
    ShortageRole(staff_group="allied_health"),
    ShortageRole(staff_group="medical", specialty="anaesthetics"),
    ShortageRole(staff_group="medical", specialty="radiology"),
)
DEFAULT_SPECIALTY: Final = "trauma_and_orthopaedics"


async def _all(session: AsyncSession, *, organisation: str, on: dt.date) -> list[EmploymentRead]:
    page = await workforce.list_employments(
        session, ACTOR, organisation=organisation, person_id=None, current_on=on, limit=500, offset=0
    )
    return page.items


async def _organisations(session: AsyncSession, kind: str) -> list[OrganisationRead]:
    found, offset = [], 0
    while True:
        page = await workforce.list_organisations(session, kind=kind, parent=None, limit=500, offset=offset)
        found += page.items
        if page.next_offset is None:
            return found
        offset = page.next_offset


def _specialty(staff: list[EmploymentRead]) -> str:
    counts = Counter(e.specialty for e in staff if e.specialty)
    return min(counts, key=lambda s: (-counts[s], s)) if counts else DEFAULT_SPECIALTY


def _roster(staff: list[EmploymentRead], start: dt.date, end: dt.date) -> list[RosterEntryCreate]:
    entries = []
    for e in sorted(staff, key=lambda e: str(e.person_id)):
        first = max(start, e.start_date)
        last = min(end, e.end_date or end)
        if first <= last:
            sessions = min(10.0, max(1.0, e.contracted_sessions))
            entries.append(
                RosterEntryCreate(person_id=e.person_id, sessions=sessions, start_date=first, end_date=last)
            )
    return entries


def _activity(
    rng: random.Random,
    offer: OfferCreate,
    commissioner: str,
    trusts: list[str],
    displaced: bool,
    today: dt.date,
) -> list[ActivityRow]:
    baseline = rules.baseline_months(rules.DEFAULT_PARAMETERS.activity)
    comparison = rules.comparison_months(offer.start_date, rules.DEFAULT_PARAMETERS.activity)
    rows = []
    for provider in [*trusts, offer.site_code]:
        independent = provider == offer.site_code
        level = rng.randint(40, 90) if independent else rng.randint(150, 400)
        for months, period in ((baseline, "baseline"), (comparison, "comparison")):
            growth = 1.0
            if period == "comparison":
                growth = (1.6 if independent else 0.85) if displaced else (1.3 if independent else 1.08)
            for month in months:
                if month > today:
                    continue
                rows.append(
                    ActivityRow(
                        provider_code=provider,
                        commissioner_code=commissioner,
                        specialty=offer.specialty,
                        month=f"{month:%Y-%m}",
                        activity=max(0, round(level * growth * rng.uniform(0.9, 1.1))),
                    )
                )
    return rows


async def seed_additionality(
    session: AsyncSession, *, today: dt.date, now: dt.datetime, seed: int
) -> list[str]:
    """Write the demo offers, rosters, activity and shortage list, then check the year; summary lines."""
    rng = random.Random(f"{seed}/additionality")  # noqa: S311 - demo data, not cryptography
    year = financial_year(today)
    start, end = year_bounds(year)
    await service.create_shortage_list(
        session,
        ACTOR,
        ShortageListCreate(
            effective_from=dt.date(2020, 1, 1),
            roles=list(SHORTAGE_ROLES),
            note="Demo shortage list (check the roles).",
        ),
        now,
    )
    sites = [s for s in await _organisations(session, "independent_site") if s.icb_code is not None]
    staffed = [(site, await _all(session, organisation=site.code, on=today)) for site in sites]
    busiest = sorted((x for x in staffed if x[1]), key=lambda x: (-len(x[1]), x[0].code))[:OFFERS]
    trusts_by_icb: dict[str, list[str]] = {}
    for trust in await _organisations(session, "nhs_trust"):
        trusts_by_icb.setdefault(trust.icb_code or "", []).append(trust.code)
    activity: list[ActivityRow] = []
    for index, (site, staff) in enumerate(busiest):
        icb = site.icb_code or ""
        offer_start = start if index % 4 else min(today, dt.date(year, 7, 1))
        roster = _roster(staff, offer_start, end)
        trusts = sorted(trusts_by_icb.get(icb, []))
        if index % 3 == 1 and trusts:
            nhs = [
                e
                for e in await _all(session, organisation=trusts[0], on=offer_start)
                if e.staff_group != "other"
            ]
            roster += [
                RosterEntryCreate(person_id=e.person_id, sessions=2, start_date=offer_start, end_date=end)
                for e in sorted(nhs, key=lambda e: str(e.person_id))[:2]
                if e.person_id not in {r.person_id for r in roster}
            ]
        offer = OfferCreate(
            reference=f"DEMO-{year}-{index + 1:02d}",
            site_code=site.code,
            specialty=_specialty(staff),
            sessions_per_week=float(8 + 2 * (index % 4)),
            start_date=offer_start,
            end_date=end,
            declared_training_placements=index % 3,
            roster=roster,
        )
        await service.create_offer(session, ACTOR, offer, now)
        activity += _activity(rng, offer, icb, trusts, displaced=index % 2 == 1, today=today)
    # Two offers to one ICB in one specialty share its trusts' activity: keep the first of each month.
    activity = list(
        {(r.provider_code, r.commissioner_code, r.specialty, r.month): r for r in reversed(activity)}.values()
    )
    if activity:
        await service.record_activity(session, ACTOR, ActivityBatch(rows=activity), now)
    run = await service.check_year(session, ACTOR, year, now)
    counts = ", ".join(f"{run.verdicts[v]} {v}" for v in rules.VERDICTS)
    return [
        f"additionality: {run.offers} offers for {year}-{(year + 1) % 100:02d} with "
        f"{sum(len(o[1]) for o in busiest)} site staff rostered, {len(activity):,} activity rows, "
        f"shortage list version 1; checked: {counts}"
    ]
