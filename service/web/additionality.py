"""Analyst and coordinator page: the additionality summary of a financial year per commissioning ICB, with
the self-contained HTML report and the CSV exports.

Thin routes over :mod:`service.additionality.service` (the same rules as ``/api/v1/additionality/summary``,
``/report.html`` and ``/export.csv``).
"""

from typing import Any, Final

from litestar import Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Response

from service.additionality import service as additionality
from service.additionality.report import REPORT_HEADERS
from service.additionality.schemas import FIRST_YEAR, LAST_YEAR
from service.audit import DbSession
from service.auth import Role, requires
from service.errors import NotFound
from service.web.pages import SECURITY_HEADERS, now_of, render
from service.web.views import FormErrors, financial_year, parse_year, year_label

CHECKERS: Final = (Role.ANALYST, Role.COORDINATOR, Role.ADMIN)
"""As ``/api/v1/additionality/summary``."""
LABELS: Final = {"year": "Financial year"}
RULE_LABELS: Final = {
    "cooling_off": "Cooling-off",
    "dual_running": "Dual running",
    "local_draw": "Local draw",
    "training_reciprocity": "Training reciprocity",
    "activity": "Activity baseline and displacement",
}
LEVELS: Final = ("results", "evidence")


def _year(value: int) -> int:
    if not FIRST_YEAR <= value <= LAST_YEAR:
        raise NotFound(f"There is no financial year {value} here: {FIRST_YEAR} to {LAST_YEAR}.")
    return value


@get("/additionality", name="web_additionality", guards=[requires(*CHECKERS)])
async def summary_page(
    request: Request[Any, Any, Any], db_session: DbSession, year: FromQuery[str | None] = None
) -> Response[str]:
    current = financial_year(now_of(request).date())
    chosen = parse_year(year, first=FIRST_YEAR, last=LAST_YEAR) if year is not None else current
    errors = FormErrors()
    if isinstance(chosen, str):
        errors.add("year", chosen)
        return await render(
            request,
            "additionality/index.html",
            status=422,
            errors=errors,
            labels=LABELS,
            year_text=year,
            summary=None,
            year=None,
            year_name=None,
            rule_labels=RULE_LABELS,
        )
    found = await additionality.summary(db_session, chosen)
    return await render(
        request,
        "additionality/index.html",
        errors=None,
        labels=LABELS,
        year_text=str(chosen),
        summary=found,
        year=chosen,
        year_name=year_label(chosen),
        rule_labels=RULE_LABELS,
    )


@get("/additionality/{year:int}/report.html", name="web_additionality_report", guards=[requires(*CHECKERS)])
async def report_page(
    request: Request[Any, Any, Any], db_session: DbSession, year: FromPath[int]
) -> Response[str]:
    """The report as the API serves it: self-contained, under its own strict policy (its one style hash)."""
    html = await additionality.report_html(db_session, _year(year), now_of(request))
    headers = {**SECURITY_HEADERS, **REPORT_HEADERS}
    headers["Content-Security-Policy"] += "; frame-ancestors 'none'"
    return Response(html, media_type="text/html", headers=headers)


@get("/additionality/{year:int}/export.csv", name="web_additionality_csv", guards=[requires(*CHECKERS)])
async def export_page(
    db_session: DbSession, year: FromPath[int], level: FromQuery[str] = "results"
) -> Response[bytes]:
    if level not in LEVELS:
        raise NotFound("The export is by results or by evidence.")
    content = await additionality.export_csv(db_session, _year(year), level)  # type: ignore[arg-type]
    return Response(
        content,
        media_type="text/csv",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="additionality-{year}-{level}.csv"',
        },
    )


ADDITIONALITY_PAGES: Final = [summary_page, report_page, export_page]
