"""Exports (service/additionality/report.py): CSV cells a spreadsheet will not run, a self-contained HTML
report whose Content-Security-Policy matches the style sheet it embeds."""

import base64
import csv
import datetime as dt
import hashlib
import io
import re
import uuid

import pytest

from service.additionality import report, rules
from service.additionality.schemas import CheckRead, IcbSummary, Summary, VerdictCounts
from tests.additionality.factories import END, START, entry, inputs, nhs, person

AT = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def checked(reference: str = "OPH-1", detail_rows: int = 1) -> report.CheckedOffer:
    offer = inputs(
        roster=[entry(f"p{i}", sessions=2) for i in range(detail_rows)],
        people=[person(f"p{i}", nhs(sessions=10)) for i in range(detail_rows)],
    )
    return report.CheckedOffer(
        offer_id=uuid.UUID(int=1),
        reference=reference,
        site_code="NT301",
        provider_code="NT3",
        commissioner_code="QMM",
        specialty="ophthalmology",
        sessions_per_week=10.0,
        start_date=START,
        end_date=END,
        check_id=7,
        checked_at=AT,
        parameters_version=1,
        shortage_list_version=1,
        rules_version=rules.RULES_VERSION,
        input_hash="0" * 64,
        verdict="fail",
        results=rules.evaluate(offer, rules.DEFAULT_PARAMETERS),
    )


def summary(offers: int = 1) -> Summary:
    counts = VerdictCounts(fail=offers)
    icb = IcbSummary(
        commissioner_code="QMM",
        commissioner_name="NHS <Test> ICB",
        offers=offers,
        checked=offers,
        verdicts=counts,
        rules={r: counts for r in rules.RULES},
        sessions_per_week=10.0 * offers,
    )
    return Summary(financial_year=2026, icbs=[icb], totals=icb)


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_text_cells_that_a_spreadsheet_would_run_are_quoted(prefix: str) -> None:
    exported = report.export_csv(2026, [checked(reference=f"{prefix}SUM(A1:A9)")], "results")
    rows = list(csv.DictReader(io.StringIO(exported.decode())))
    assert {r["reference"] for r in rows} == {f"'{prefix}SUM(A1:A9)"}
    assert len(rows) == len(rules.RULES)


def test_the_evidence_export_has_a_row_per_evidence_row_with_numbers_as_numbers() -> None:
    offer = checked(detail_rows=2)
    exported = report.export_csv(2026, [offer], "evidence")
    rows = list(csv.DictReader(io.StringIO(exported.decode())))
    assert len(rows) == sum(len(r.evidence) for r in offer.results)
    overlap = [r for r in rows if r["kind"] == "overlap"]
    assert [r["person_id"] for r in overlap] == ["p0", "p1"]
    assert float(overlap[0]["value"]) == pytest.approx(2 * 365 / 7)
    assert exported.endswith(b"\r\n")


def test_the_html_report_embeds_exactly_the_style_its_policy_allows() -> None:
    html = report.render_html(
        2026,
        summary(),
        [checked(reference="<script>alert(1)</script>")],
        generated_at=AT,
        registry_version="0.1.0",
    )
    style = re.search(r"<style>(.*?)</style>", html, re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in report.REPORT_HEADERS["Content-Security-Policy"]
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "NHS &lt;Test&gt; ICB" in html
    assert " style=" not in html  # inline style attributes would need 'unsafe-inline'


def test_long_evidence_is_cut_in_the_html_and_complete_in_the_csv() -> None:
    offer = checked(detail_rows=report.EVIDENCE_SHOWN + 3)
    html = report.render_html(2026, summary(), [offer], generated_at=AT, registry_version="0.1.0")
    assert "... and 3 more rows in the evidence export (CSV)." in html
    assert html.count(">overlap<") == report.EVIDENCE_SHOWN


def test_check_text_lists_each_rule_and_its_evidence() -> None:
    offer = checked(detail_rows=12)
    text = report.check_text(
        CheckRead(
            id=7,
            offer_id=offer.offer_id,
            run_id=uuid.UUID(int=2),
            site_code="NT301",
            commissioner_code="QMM",
            checked_at=AT,
            checked_by="test",
            parameters_version=1,
            shortage_list_version=None,
            rules_version="1",
            input_hash="0" * 64,
            verdict="fail",
            results=offer.results,
        )
    )
    assert text.splitlines()[0] == f"offer {offer.offer_id} at NT301 for QMM: FAIL"
    assert "shortage list version none" in text
    assert "FAIL dual_running:" in text
    assert "... 2 more (export the evidence CSV for all)" in text
