"""Checks: gather each offer's inputs in bulk, run the rules, store the results, read and reproduce them."""

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import repository, rules
from service.additionality.models import Check, Offer
from service.additionality.models import RuleResult as RuleResultRow
from service.additionality.schemas import (
    LAST_DATE,
    CheckBrief,
    CheckPage,
    CheckRead,
    Recomputed,
    ReproductionRead,
    RunRead,
    year_bounds,
)
from service.additionality.service.common import insert_all, may_see, visible_offer
from service.additionality.service.versions import current_parameters, parameters_of, shortage_list_on
from service.auth import Principal
from service.db import new_id
from service.errors import NotFound
from service.workforce import service as workforce
from service.workforce.schemas import EmploymentRead, OrganisationRead

DECLARED_SOURCE: Final = "declared by the provider in the offer"
"""How results stored before the placements domain was wired in name their source."""
PUBLISHED_SOURCE: Final = "placement records published in the registry"


class HostedPlacements(NamedTuple):
    placements: int
    source: str


async def hosted_training_placements(
    session: AsyncSession, offers: Sequence[Offer]
) -> dict[uuid.UUID, HostedPlacements]:
    """Training placements hosted at each offer's site during the offer, for the reciprocity rule: the
    placement records published in the registry (the placements domain's ``placements_hosted_many``,
    one query for all offers). The provider's declared figure is a promise, not evidence: it stays on
    the offer and is named beside the count in ``source``, but the rule counts what was published."""
    from service.placements import service as placements  # placements' run gate reads this domain

    counts = await placements.placements_hosted_many(
        session, [(o.site_code, o.start_date, o.end_date) for o in offers]
    )
    return {
        o.id: HostedPlacements(
            n, f"{PUBLISHED_SOURCE} (the provider declared {o.declared_training_placements})"
        )
        for o, n in zip(offers, counts, strict=True)
    }


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
        results=[rule_result(r) for r in sorted(results, key=lambda r: order.get(r.rule, len(order)))],
    )


def rule_result(row: RuleResultRow) -> rules.RuleResult:
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
    record = await current_parameters(session)
    parameters = parameters_of(record)
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
    await insert_all(session, RuleResultRow, result_rows)
    verdicts = [rules.overall(results) for results in result_sets]
    return _Run(run_id, record.version, list(zip(offers, ids, verdicts, strict=True)))


async def check_offer(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID, now: dt.datetime
) -> CheckRead:
    """Check one offer now and store the result."""
    offer = await visible_offer(session, principal, offer_id)
    run = await _check(session, principal, [offer], now)
    return await get_check(session, principal, run.checks[0][1])


async def check_year(session: AsyncSession, principal: Principal, year: int, now: dt.datetime) -> RunRead:
    """Check every offer overlapping financial year ``year`` (1 April to 31 March) in one run."""
    start, end = year_bounds(year)
    offers = await repository.offers_overlapping(session, start, end)
    if not offers:
        record = await current_parameters(session)
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
    if check is None or offer is None or not may_see(principal, offer):
        raise NotFound(f"No check {check_id}.")
    return check, offer


async def get_check(session: AsyncSession, principal: Principal, check_id: int) -> CheckRead:
    check, offer = await _visible_check(session, principal, check_id)
    results = (await repository.rule_results(session, [check.id])).get(check.id, [])
    return _check_read(check, offer, results)


async def list_checks(session: AsyncSession, principal: Principal, offer_id: uuid.UUID) -> CheckPage:
    offer = await visible_offer(session, principal, offer_id)
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
    parameters = parameters_of(version)
    stored_bytes = check.inputs.encode()
    inputs = msgspec.json.decode(stored_bytes, type=rules.OfferInputs)
    again = rules.evaluate(inputs, parameters)
    by_rule = {r.rule: r for r in stored}
    differences = [_difference(by_rule.get(r.rule), r) for r in again if _difference(by_rule.get(r.rule), r)]
    current_record = await current_parameters(session)
    now_parameters = parameters_of(current_record)
    today = (await gather_inputs(session, [offer], parameters))[offer.id]
    today_current = (
        today
        if now_parameters.activity == parameters.activity
        else (await gather_inputs(session, [offer], now_parameters))[offer.id]
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
            current_record.version, rules.evaluate(today_current, now_parameters)
        ),
    )
