"""Exports of a year's additionality results: CSV files and a self-contained HTML report (pure).

The HTML report embeds its style sheet and draws its chart as inline SVG: it loads nothing from anywhere,
so it can be mailed, archived or opened from disk. The response carries a Content-Security-Policy that
allows only that style sheet (by its SHA-256), so even a browser would fetch nothing else.

Cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return) are prefixed with ``'`` in text columns: references and summaries are partly provider-written.
"""

import base64
import csv
import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import msgspec
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from service.additionality.rules import RULES, Evidence, RuleResult
from service.additionality.schemas import CheckRead, RunRead, Summary

TEMPLATES: Final = Path(__file__).parent / "templates"
CSS: Final = (TEMPLATES / "report.css").read_text(encoding="utf-8")
CSS_HASH: Final = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
REPORT_HEADERS: Final = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
EVIDENCE_SHOWN: Final = 25
"""Evidence rows shown per rule in the HTML report; the CSV export has them all."""
Level = Literal["results", "evidence"]

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class CheckedOffer(msgspec.Struct, frozen=True, kw_only=True):
    """An offer of the year and its latest check (none if never checked)."""

    offer_id: uuid.UUID
    reference: str
    site_code: str
    provider_code: str
    commissioner_code: str
    specialty: str
    sessions_per_week: float
    start_date: dt.date
    end_date: dt.date
    check_id: int | None
    checked_at: dt.datetime | None
    parameters_version: int | None
    shortage_list_version: int | None
    rules_version: str | None
    input_hash: str | None
    verdict: str | None
    results: list[RuleResult]


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA) else value


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


RESULT_COLUMNS: Final = (
    "financial_year",
    "offer_id",
    "reference",
    "site_code",
    "provider_code",
    "commissioner_code",
    "specialty",
    "sessions_per_week",
    "start_date",
    "end_date",
    "check_id",
    "checked_at",
    "parameters_version",
    "shortage_list_version",
    "rules_version",
    "input_hash",
    "offer_verdict",
    "rule",
    "rule_verdict",
    "summary",
)
EVIDENCE_COLUMNS: Final = (
    "financial_year",
    "offer_id",
    "site_code",
    "commissioner_code",
    "check_id",
    "rule",
    "rule_verdict",
    "kind",
    "person_id",
    "organisation_code",
    "staff_group",
    "specialty",
    "period",
    "sector",
    "date",
    "sessions",
    "count",
    "total",
    "value",
    "detail",
)


def _offer_cells(year: int, o: CheckedOffer) -> list[str]:
    return [
        str(year),
        str(o.offer_id),
        _text(o.reference),
        o.site_code,
        o.provider_code,
        o.commissioner_code,
        _text(o.specialty),
        _number(o.sessions_per_week),
        o.start_date.isoformat(),
        o.end_date.isoformat(),
        _number(o.check_id),
        o.checked_at.isoformat() if o.checked_at else "",
        _number(o.parameters_version),
        _number(o.shortage_list_version),
        o.rules_version or "",
        o.input_hash or "",
        o.verdict or "not checked",
    ]


def _evidence_cells(year: int, o: CheckedOffer, r: RuleResult, e: Evidence) -> list[str]:
    return [
        str(year),
        str(o.offer_id),
        o.site_code,
        o.commissioner_code,
        _number(o.check_id),
        r.rule,
        r.verdict,
        e.kind,
        e.person_id or "",
        _text(e.organisation_code),
        e.staff_group or "",
        _text(e.specialty),
        e.period or "",
        e.sector or "",
        e.date.isoformat() if e.date else "",
        _number(e.sessions),
        _number(e.count),
        _number(e.total),
        _number(e.value),
        _text(e.detail),
    ]


def export_csv(year: int, offers: Sequence[CheckedOffer], level: Level) -> bytes:
    """``results``: one row per offer and rule (one row for an offer never checked); ``evidence``: one row
    per evidence row. UTF-8, comma separated, header first, CRLF line ends (RFC 4180)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    if level == "results":
        writer.writerow(RESULT_COLUMNS)
        for o in offers:
            cells = _offer_cells(year, o)
            if not o.results:
                writer.writerow([*cells, "", "", ""])
            for r in o.results:
                writer.writerow([*cells, r.rule, r.verdict, _text(r.summary)])
    else:
        writer.writerow(EVIDENCE_COLUMNS)
        for o in offers:
            for r in o.results:
                writer.writerows(_evidence_cells(year, o, r, e) for e in r.evidence)
    return out.getvalue().encode("utf-8")


# ---------------------------------------------------------------- HTML


class _Bar(msgspec.Struct, frozen=True):
    label: str
    y: int
    segments: list[tuple[str, float, float, int]]
    """(css class, x, width, count)."""
    total: int


def _bars(summary: Summary, width: float) -> list[_Bar]:
    rows = [*summary.icbs]
    most = max((icb.offers for icb in rows), default=0) or 1
    bars = []
    for index, icb in enumerate(rows):
        counts = [
            ("pass", icb.verdicts.pass_),
            ("warn", icb.verdicts.warn),
            ("fail", icb.verdicts.fail),
            ("none", icb.offers - icb.checked),
        ]
        x, segments = 0.0, []
        for name, n in counts:
            w = width * n / most
            if n:
                segments.append((name, round(x, 2), round(w, 2), n))
            x += w
        bars.append(_Bar(label=icb.commissioner_code, y=index * 22, segments=segments, total=icb.offers))
    return bars


def render_html(
    year: int,
    summary: Summary,
    offers: Sequence[CheckedOffer],
    *,
    generated_at: dt.datetime,
    registry_version: str,
) -> str:
    """The self-contained HTML report of a year."""
    versions: dict[str, Iterable[Any]] = {
        "parameters": sorted({o.parameters_version for o in offers if o.parameters_version is not None}),
        "shortage lists": sorted(
            {o.shortage_list_version for o in offers if o.shortage_list_version is not None}
        ),
        "rules": sorted({o.rules_version for o in offers if o.rules_version is not None}),
    }
    template = _environment.get_template("report.html")
    return template.render(
        css=CSS,
        year=year,
        year_label=f"{year}-{(year + 1) % 100:02d}",
        summary=summary,
        offers=offers,
        bars=_bars(summary, 480.0),
        chart_height=max(1, len(summary.icbs)) * 22,
        generated_at=generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        registry_version=registry_version,
        versions={k: ", ".join(str(v) for v in vs) or "none" for k, vs in versions.items()},
        rules=RULES,
        shown=EVIDENCE_SHOWN,
    )


# ---------------------------------------------------------------- plain text (the command line)


def check_text(check: CheckRead, *, evidence: int = 10) -> str:
    """A check as lines of text: the verdict, then each rule with its summary and first evidence rows."""
    shortage = check.shortage_list_version if check.shortage_list_version is not None else "none"
    lines = [
        f"offer {check.offer_id} at {check.site_code} for {check.commissioner_code}: {check.verdict.upper()}",
        f"  check {check.id}, {check.checked_at:%Y-%m-%d %H:%M} UTC, parameter version "
        f"{check.parameters_version}, shortage list version {shortage}, rules version {check.rules_version}",
        f"  input SHA-256 {check.input_hash}",
    ]
    for r in check.results:
        lines.append(f"  {r.verdict.upper():<4} {r.rule}: {r.summary}")
        for e in r.evidence[:evidence]:
            who = " ".join(x for x in (e.person_id, e.organisation_code, e.sector, e.period) if x)
            lines.append(f"         - {e.kind}: {who}{' - ' if who and e.detail else ''}{e.detail}")
        if len(r.evidence) > evidence:
            lines.append(f"         ... {len(r.evidence) - evidence} more (export the evidence CSV for all)")
    return "\n".join(lines)


def run_text(run: RunRead) -> str:
    """A year's run as lines of text: the counts, then one line per offer."""
    counts = ", ".join(f"{n} {verdict}" for verdict, n in run.verdicts.items())
    lines = [
        f"financial year {run.financial_year}: {run.offers} offers checked ({counts}), parameter version "
        f"{run.parameters_version}, run {run.run_id}"
    ]
    lines += [
        f"  {c.verdict.upper():<4} {c.site_code:<8} offer {c.offer_id} check {c.check_id}" for c in run.checks
    ]
    return "\n".join(lines)
