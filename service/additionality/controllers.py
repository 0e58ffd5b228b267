"""HTTP routes of the additionality domain (mounted under ``/api/v1``): parse, call the service, return a
schema. Who may call each route is in its guard; what a caller may see is decided in ``service/``.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Final, Literal

from litestar import Request, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter
from litestar.response import Response
from litestar.types import ControllerRouterHandler

from service import audit
from service.additionality import report, service
from service.additionality.schemas import (
    FIRST_YEAR,
    LAST_YEAR,
    ActivityBatch,
    CheckPage,
    CheckRead,
    CheckYear,
    ImportResult,
    OfferCreate,
    OfferPage,
    OfferRead,
    ParameterSetCreate,
    ParameterSetPage,
    ParameterSetRead,
    ReproductionRead,
    RunRead,
    ShortageListCreate,
    ShortageListPage,
    ShortageListRead,
    Summary,
)
from service.audit import DbSession
from service.auth import CurrentPrincipal, Role, requires

# The upload handling and list parameters of the workforce routes, so every import behaves alike.
from service.workforce.controllers import CSV_BODY, CsvUpload, Limit, OdsFilter, Offset
from service.workforce.controllers import _csv_payload as csv_payload

TAGS: Final = ["additionality"]
NO_STORE: Final = CacheControlHeader(no_store=True)
"""Rosters, evidence and results name people: no cache may keep them."""
SUBMITTERS: Final = (Role.ADMIN, Role.ISSUER)
"""Who submits offers, rosters and activity: a provider's (or trust's) system, or an operator."""
CHECKERS: Final = (Role.ADMIN, Role.ANALYST, Role.COORDINATOR)
"""Who runs checks and reads everything about every offer."""
RESULT_READERS: Final = (*CHECKERS, Role.ISSUER)
"""Who reads offers and results (an issuer: those of its own sites only)."""
CONFIG_READERS: Final = (*CHECKERS, Role.ISSUER)
"""Who reads the shortage lists and the parameters the offers are judged by."""

Year = Annotated[
    int,
    QueryParameter(
        ge=FIRST_YEAR,
        le=LAST_YEAR,
        description=f"Financial year {FIRST_YEAR} to {LAST_YEAR} (2026 is 2026-27)",
    ),
]
OptionalYear = Annotated[
    int | None,
    QueryParameter(
        ge=FIRST_YEAR,
        le=LAST_YEAR,
        description="Only offers overlapping this financial year (2026 is 2026-27)",
    ),
]
Version = Annotated[int, Parameter(ge=1, le=2_147_483_647, description="A version number")]
CheckId = Annotated[int, Parameter(ge=1, le=9_223_372_036_854_775_807, description="A check id")]
YEAR_FORMS: Final = (
    f"`year` is a financial year, {FIRST_YEAR} to {LAST_YEAR}: 2026 is 1 April 2026 to 31 March 2027."
)


def _now(request: Request[Any, Any, Any]) -> dt.datetime:
    now: dt.datetime = request.app.state.clock()
    return now


# ---------------------------------------------------------------- offers, rosters, activity


@post(
    "/additionality/offers",
    guards=[requires(*SUBMITTERS)],
    tags=TAGS,
    operation_id="create_offer",
    summary="Submit a capacity offer with its roster (an issuer: only for its own sites)",
    cache_control=NO_STORE,
)
async def create_offer(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[OfferCreate],
) -> OfferRead:
    created = await service.create_offer(db_session, principal, data, _now(request))
    audit.set_subject(request, f"additionality_offer:{created.id}")
    return created


@post(
    "/additionality/offers/import",
    guards=[requires(*SUBMITTERS)],
    tags=TAGS,
    operation_id="import_offers",
    summary="Import offers from CSV (all or nothing; an issuer: only its own sites)",
    description=CSV_BODY,
    operation_class=CsvUpload,
)
async def import_offers(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> ImportResult:
    result = await service.import_offers(db_session, principal, await csv_payload(request), _now(request))
    audit.set_subject(request, f"additionality_offers:import:{result.created}")
    return result


@post(
    "/additionality/roster/import",
    guards=[requires(*SUBMITTERS)],
    tags=TAGS,
    operation_id="import_roster",
    summary="Import roster entries of recorded offers from CSV (all or nothing)",
    description=CSV_BODY,
    operation_class=CsvUpload,
    cache_control=NO_STORE,
)
async def import_roster(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> ImportResult:
    result = await service.import_roster(db_session, principal, await csv_payload(request), _now(request))
    audit.set_subject(request, f"additionality_roster:import:{result.created}")
    return result


@get(
    "/additionality/offers",
    guards=[requires(*RESULT_READERS)],
    tags=TAGS,
    operation_id="list_offers",
    summary="List offers with the verdict of their latest check (an issuer: its own sites')",
)
async def list_offers(
    db_session: DbSession,
    principal: CurrentPrincipal,
    year: OptionalYear = None,
    site: OdsFilter = None,
    provider: OdsFilter = None,
    commissioner: OdsFilter = None,
    limit: Limit = service.DEFAULT_LIMIT,
    offset: Offset = 0,
) -> OfferPage:
    return await service.list_offers(
        db_session,
        principal,
        year=year,
        site=site,
        provider=provider,
        commissioner=commissioner,
        limit=limit,
        offset=offset,
    )


@get(
    "/additionality/offers/{offer_id:uuid}",
    guards=[requires(*RESULT_READERS)],
    tags=TAGS,
    operation_id="get_offer",
    summary="One offer with its roster",
    cache_control=NO_STORE,
)
async def get_offer(
    db_session: DbSession, principal: CurrentPrincipal, offer_id: FromPath[uuid.UUID]
) -> OfferRead:
    return await service.get_offer(db_session, principal, offer_id)


@post(
    "/additionality/activity",
    guards=[requires(*SUBMITTERS)],
    tags=TAGS,
    operation_id="record_activity",
    summary="Record monthly activity by provider, commissioner and specialty (all rows or none)",
)
async def record_activity(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[ActivityBatch],
) -> ImportResult:
    result = await service.record_activity(db_session, principal, data, _now(request))
    audit.set_subject(request, f"additionality_activity:{result.created}+{result.replaced}")
    return result


@post(
    "/additionality/activity/import",
    guards=[requires(*SUBMITTERS)],
    tags=TAGS,
    operation_id="import_activity",
    summary="Import monthly activity from CSV (all or nothing; `replace=true` revises recorded months)",
    description=CSV_BODY,
    operation_class=CsvUpload,
)
async def import_activity(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    replace: Annotated[bool, QueryParameter(description="Replace months already recorded")] = False,
) -> ImportResult:
    payload = await csv_payload(request)
    result = await service.import_activity(db_session, principal, payload, replace=replace, now=_now(request))
    audit.set_subject(request, f"additionality_activity:import:{result.created}+{result.replaced}")
    return result


# ---------------------------------------------------------------- shortage lists and parameters


@get(
    "/additionality/shortage-lists",
    guards=[requires(*CONFIG_READERS)],
    tags=TAGS,
    operation_id="list_shortage_lists",
    summary="Every version of the shortage list of roles",
)
async def list_shortage_lists(db_session: DbSession) -> ShortageListPage:
    return await service.list_shortage_lists(db_session)


@get(
    "/additionality/shortage-lists/{version:int}",
    guards=[requires(*CONFIG_READERS)],
    tags=TAGS,
    operation_id="get_shortage_list",
    summary="One version of the shortage list",
)
async def get_shortage_list(db_session: DbSession, version: Version) -> ShortageListRead:
    return await service.get_shortage_list(db_session, version)


@post(
    "/additionality/shortage-lists",
    guards=[requires(Role.ADMIN)],
    tags=TAGS,
    operation_id="create_shortage_list",
    summary="Publish a new version of the shortage list, in effect from a date",
)
async def create_shortage_list(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[ShortageListCreate],
) -> ShortageListRead:
    created = await service.create_shortage_list(db_session, principal, data, _now(request))
    audit.set_subject(request, f"additionality_shortage_list:{created.version}")
    return created


@get(
    "/additionality/parameters",
    guards=[requires(*CONFIG_READERS)],
    tags=TAGS,
    operation_id="list_parameter_sets",
    summary="Every version of the rules' parameters, newest (current) first",
)
async def list_parameter_sets(db_session: DbSession) -> ParameterSetPage:
    return await service.list_parameter_sets(db_session)


@get(
    "/additionality/parameters/{version:int}",
    guards=[requires(*CONFIG_READERS)],
    tags=TAGS,
    operation_id="get_parameter_set",
    summary="One version of the rules' parameters",
)
async def get_parameter_set(db_session: DbSession, version: Version) -> ParameterSetRead:
    return await service.get_parameter_set(db_session, version)


@post(
    "/additionality/parameters",
    guards=[requires(Role.ADMIN)],
    tags=TAGS,
    operation_id="create_parameter_set",
    summary="Make a new parameter version from the current one and the changes given",
)
async def create_parameter_set(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[ParameterSetCreate],
) -> ParameterSetRead:
    created = await service.create_parameter_set(db_session, principal, data, _now(request))
    audit.set_subject(request, f"additionality_parameters:{created.version}")
    return created


# ---------------------------------------------------------------- checks


@post(
    "/additionality/offers/{offer_id:uuid}/checks",
    guards=[requires(*CHECKERS)],
    tags=TAGS,
    operation_id="check_offer",
    summary="Check one offer now with the current parameters; the result is stored",
    cache_control=NO_STORE,
)
async def check_offer(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    offer_id: FromPath[uuid.UUID],
) -> CheckRead:
    checked = await service.check_offer(db_session, principal, offer_id, _now(request))
    audit.set_subject(request, f"additionality_check:{checked.id}")
    return checked


@get(
    "/additionality/offers/{offer_id:uuid}/checks",
    guards=[requires(*RESULT_READERS)],
    tags=TAGS,
    operation_id="list_offer_checks",
    summary="Every check of one offer, latest first, with results and evidence",
    cache_control=NO_STORE,
)
async def list_offer_checks(
    db_session: DbSession, principal: CurrentPrincipal, offer_id: FromPath[uuid.UUID]
) -> CheckPage:
    return await service.list_checks(db_session, principal, offer_id)


@post(
    "/additionality/checks",
    guards=[requires(*CHECKERS)],
    tags=TAGS,
    operation_id="check_year",
    summary="Check every offer overlapping a financial year; the results are stored",
)
async def check_year(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[CheckYear],
) -> RunRead:
    run = await service.check_year(db_session, principal, data.financial_year, _now(request))
    audit.set_subject(
        request, f"additionality_run:{run.run_id} year={run.financial_year} offers={run.offers}"
    )
    return run


@get(
    "/additionality/checks/{check_id:int}",
    guards=[requires(*RESULT_READERS)],
    tags=TAGS,
    operation_id="get_check",
    summary="One check with each rule's verdict and evidence",
    cache_control=NO_STORE,
)
async def get_check(db_session: DbSession, principal: CurrentPrincipal, check_id: CheckId) -> CheckRead:
    return await service.get_check(db_session, principal, check_id)


@get(
    "/additionality/checks/{check_id:int}/reproduction",
    guards=[requires(*RESULT_READERS)],
    tags=TAGS,
    operation_id="reproduce_check",
    summary="Recompute a check from its stored inputs and parameter version, and from today's data",
    cache_control=NO_STORE,
)
async def reproduce_check(
    db_session: DbSession, principal: CurrentPrincipal, check_id: CheckId
) -> ReproductionRead:
    return await service.reproduce(db_session, principal, check_id)


# ---------------------------------------------------------------- summaries and exports


@get(
    "/additionality/summary",
    guards=[requires(*CHECKERS)],
    tags=TAGS,
    operation_id="additionality_summary",
    summary="Per commissioning ICB: offers of a year and the verdicts of their latest checks",
    description=YEAR_FORMS,
)
async def additionality_summary(db_session: DbSession, year: Year) -> Summary:
    return await service.summary(db_session, year)


@get(
    "/additionality/export.csv",
    guards=[requires(*CHECKERS)],
    tags=TAGS,
    operation_id="export_additionality",
    summary="The latest results of a year's offers as CSV (one row per offer and rule, or per evidence row)",
    description=YEAR_FORMS,
    media_type="text/csv",
    cache_control=NO_STORE,
)
async def export_additionality(
    db_session: DbSession,
    year: Year,
    level: Annotated[
        Literal["results", "evidence"],
        QueryParameter(description="`results`: a row per offer and rule; `evidence`: a row per evidence row"),
    ] = "results",
) -> Response[bytes]:
    content = await service.export_csv(db_session, year, level)
    filename = f"additionality-{year}-{level}.csv"
    return Response(
        content,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@get(
    "/additionality/report.html",
    guards=[requires(*CHECKERS)],
    tags=TAGS,
    operation_id="additionality_report",
    summary="A self-contained HTML report of a year's results (no external resources)",
    description=YEAR_FORMS,
    media_type="text/html",
)
async def additionality_report(
    request: Request[Any, Any, Any], db_session: DbSession, year: Year
) -> Response[str]:
    html = await service.report_html(db_session, year, _now(request))
    return Response(html, media_type="text/html", headers=report.REPORT_HEADERS)


ADDITIONALITY_HANDLERS: Sequence[ControllerRouterHandler] = [
    create_offer,
    import_offers,
    import_roster,
    list_offers,
    get_offer,
    record_activity,
    import_activity,
    list_shortage_lists,
    get_shortage_list,
    create_shortage_list,
    list_parameter_sets,
    get_parameter_set,
    create_parameter_set,
    check_offer,
    list_offer_checks,
    check_year,
    get_check,
    reproduce_check,
    additionality_summary,
    export_additionality,
    additionality_report,
]
