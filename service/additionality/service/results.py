"""A year's results: the summary per ICB, CSV and HTML exports, and the placements gate (failed sites)."""

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from service import __version__ as registry_version
from service.additionality import report, repository, rules
from service.additionality.models import Check, Offer
from service.additionality.schemas import FailedSite, IcbSummary, Summary, VerdictCounts, year_bounds
from service.additionality.service.checks import rule_result
from service.workforce import service as workforce


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
    results = {check_id: [rule_result(r) for r in found] for check_id, found in rows.items()}
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
