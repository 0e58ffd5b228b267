"""Coordinator pages: a region's placement datasets and runs, a run's result, publishing it.

Thin routes over :mod:`service.placements.service` (the same rules as ``/api/v1/placements/...``: a
coordinator sees the datasets of its own organisation, an admin every one).

- ``/placements``: datasets, their runs, and a form to run a match (mode).
- ``/placements/runs/{id}``: the summary (matched, unmatched, total value, per-site counts), every
  placement with its explanation, the unmatched trainees with the reason, and the publish form.
"""

import uuid
from typing import Any, Final

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, Principal, Role, requires
from service.errors import ServiceError, field_errors_from_msgspec
from service.placements import service as placements
from service.placements.schemas import MODES, MatchResult, PublishRequest, RunCreate
from service.web.pages import (
    SECURITY_HEADERS,
    FormRejected,
    csrf_guard,
    data_keys_of,
    now_of,
    redirect,
    render,
)
from service.web.views import FormErrors, parse_date, problems_to_form, site_counts
from service.workforce import service as workforce

MANAGERS: Final = (Role.COORDINATOR, Role.ADMIN)
"""As ``/api/v1/placements/datasets`` and ``/api/v1/placements/runs``."""
MODE_LABELS: Final = {
    "optimal": "Optimal: the most training value in total",
    "stable": "Stable: no trainee and site would both rather swap",
    "fair": "Fair: the largest smallest share of need covered",
}
RUN_LABELS: Final = {
    "mode": "Matching mode",
    "start_date": "Start date",
    "passport_policy": "Passport policy",
    "additionality_gate": "Leave out sites whose latest additionality check failed",
}
RUN_FIELDS: Final = (
    ("start_date", "date", "The first day of the placements, e.g. the changeover Wednesday; blank: today"),
    (
        "passport_policy",
        "text",
        "Optional: the name of the sites' compliance policy every trainee's passport must meet on the start"
        " day",
    ),
)
PUBLISH_LABELS: Final = {"start_date": "Start date", "end_date": "End date"}


async def _index_context(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    datasets = (await placements.list_datasets(session, principal)).items
    runs = {d.id: (await placements.list_runs(session, principal, d.id)).items for d in datasets}
    return {
        "datasets": datasets,
        "runs": runs,
        "modes": [(m, MODE_LABELS.get(m, m)) for m in MODES],
        "labels": RUN_LABELS,
        "run_fields": RUN_FIELDS,
        "errors": None,
        "failed_dataset": None,
        "chosen_mode": "optimal",
        "chosen": {},
    }


@get("/placements", name="web_placements", guards=[requires(*MANAGERS)])
async def placements_home(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> Response[str]:
    return await render(request, "placements/index.html", **await _index_context(db_session, principal))


def _run_form(form: Any) -> tuple[dict[str, Any], FormErrors, dict[str, Any]]:
    """The run request from the form: mode, start date, passport policy, additionality gate."""
    errors = FormErrors()
    names = ("mode", "start_date", "passport_policy")
    chosen: dict[str, Any] = {name: str(form.get(name) or "").strip() for name in names}
    chosen["additionality_gate"] = form.get("additionality_gate") == "on"
    body: dict[str, Any] = {"additionality_gate": chosen["additionality_gate"]}
    if chosen["mode"] not in MODES:
        errors.add("mode", "Choose a matching mode")
    else:
        body["mode"] = chosen["mode"]
    start = parse_date(chosen["start_date"])
    if isinstance(start, str):
        errors.add("start_date", start)
    elif start is not None:
        body["start_date"] = start
    if chosen["passport_policy"]:
        body["passport_policy"] = chosen["passport_policy"]
    return body, errors, chosen


@post(
    "/placements/datasets/{dataset_id:uuid}/runs",
    name="web_placements_run",
    guards=[requires(*MANAGERS), csrf_guard],
    status_code=303,
)
async def run_match(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    dataset_id: FromPath[uuid.UUID],
) -> Response[Any]:
    form = await request.form()
    body, errors, chosen = _run_form(form)
    status, run = 422, None
    if not errors:
        try:
            data = msgspec.convert(body, RunCreate)
            run = await placements.create_run(
                db_session,
                principal,
                dataset_id,
                data,
                now_of(request),
                keys=data_keys_of(request),
                base_url=request.app.state.settings.public_base_url,
            )
        except msgspec.ValidationError as exc:  # a policy name that cannot be one, say
            await db_session.rollback()
            errors = problems_to_form(
                "The run has invalid fields.", field_errors_from_msgspec(str(exc)), RUN_LABELS
            )
        except ServiceError as exc:
            await db_session.rollback()  # nothing half-done; the page below reads afresh
            errors, status = problems_to_form(exc.detail, exc.errors, RUN_LABELS), exc.status
    if run is None:
        context = await _index_context(db_session, principal)
        context.update(errors=errors, failed_dataset=dataset_id, chosen_mode=chosen["mode"], chosen=chosen)
        raise FormRejected("placements/index.html", status=status, context=context)
    audit.set_subject(request, f"placement_run:{run.id}")
    s = run.summary
    return redirect(
        f"/placements/runs/{run.id}",
        notice=f"Matched {s.matched} of {s.trainees} trainees ({run.mode}).",
        request=request,
    )


async def _run_context(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> dict[str, Any]:
    run = await placements.get_run(session, principal, run_id)
    result = msgspec.json.decode(
        await placements.run_result(session, principal, run_id, as_csv=False), type=MatchResult
    )
    codes = {p.site_code for p in result.placements} | {e.site_code for e in result.summary.exclusions.sites}
    sites = await workforce.organisations_by_codes(session, codes)
    _, people = await workforce.find_people(
        session,
        gmc_numbers=[p.trainee_id for p in result.placements] + [u.trainee_id for u in result.unmatched],
    )
    return {
        "run": run,
        "result": result,
        "summary": result.summary,
        "per_site": site_counts((p.site_code, p.value) for p in result.placements),
        "site_names": {code: o.name for code, o in sites.items()},
        "names": {gmc: f"{p.given_name} {p.family_name}" for gmc, p in people.items()},
        "labels": PUBLISH_LABELS,
        "errors": None,
        "start_date": "",
        "end_date": "",
    }


@get("/placements/runs/{run_id:uuid}", name="web_placements_run_result", guards=[requires(*MANAGERS)])
async def run_page(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    run_id: FromPath[uuid.UUID],
) -> Response[str]:
    return await render(request, "placements/run.html", **await _run_context(db_session, principal, run_id))


@get("/placements/runs/{run_id:uuid}/result.csv", name="web_placements_run_csv", guards=[requires(*MANAGERS)])
async def run_csv(
    db_session: DbSession, principal: CurrentPrincipal, run_id: FromPath[uuid.UUID]
) -> Response[bytes]:
    content = await placements.run_result(db_session, principal, run_id, as_csv=True)
    return Response(
        content,
        media_type="text/csv",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="placement-run-{run_id}.csv"',
        },
    )


def _publish_form(form: Any) -> tuple[dict[str, Any], FormErrors, dict[str, str]]:
    errors = FormErrors()
    given = {name: str(form.get(name) or "") for name in PUBLISH_LABELS}
    body: dict[str, Any] = {}
    for name in PUBLISH_LABELS:
        value = parse_date(given[name])
        if isinstance(value, str):
            errors.add(name, value)
        elif value is not None:
            body[name] = value
    return body, errors, given


@post(
    "/placements/runs/{run_id:uuid}/publish",
    name="web_placements_publish",
    guards=[requires(*MANAGERS), csrf_guard],
    status_code=303,
)
async def publish_run(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    run_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """Publish: every placement becomes a placement record, or none does (a clash refuses the whole run)."""
    body, errors, given = _publish_form(await request.form())
    published, status = None, 422
    if not errors:
        try:
            published = await placements.publish(
                db_session, principal, run_id, msgspec.convert(body, PublishRequest), now_of(request)
            )
        except ServiceError as exc:
            await db_session.rollback()  # nothing half-done; the page below reads afresh
            errors, status = problems_to_form(exc.detail, exc.errors, PUBLISH_LABELS), exc.status
    if published is None:
        context = await _run_context(db_session, principal, run_id)
        context.update(errors=errors, **given)
        raise FormRejected("placements/run.html", status=status, context=context)
    audit.set_subject(request, f"placement_run:{run_id}:published:{published.records}")
    return redirect(
        f"/placements/runs/{run_id}",
        notice=(
            f"Published {published.records} placement records, "
            f"{published.start_date.isoformat()} to {published.end_date.isoformat()}."
        ),
        request=request,
    )


PLACEMENTS_HANDLERS: Final = [placements_home, run_match, run_page, run_csv, publish_run]
