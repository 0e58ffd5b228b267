"""Analyst pages: the published training benchmarks, one benchmark's files and signatures, publishing one.

Thin routes over :mod:`service.benchmark.service` (the same rules as ``/api/v1/benchmarks``). The files
are served as downloads; their detached signatures beside them, to check against ``/.well-known/jwks.json``.
"""

import uuid
from typing import Any, Final

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Response

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, Role, requires
from service.benchmark import service as benchmark
from service.benchmark.schemas import FORMATS
from service.errors import NotFound, ServiceError
from service.keys import KeyRing
from service.web.pages import SECURITY_HEADERS, FormRejected, csrf_guard, now_of, redirect, render
from service.web.views import FormErrors, financial_year, parse_year, problems_to_form, year_label

ANALYSTS: Final = (Role.ANALYST, Role.ADMIN)
"""As ``/api/v1/benchmarks``."""
FIRST_YEAR: Final = 2000
LIST_LIMIT: Final = 100
PUBLISH_LABELS: Final = {"financial_year": "Financial year"}
FORMAT_LABELS: Final = {
    "json": "JSON (every figure, machine-readable)",
    "csv": "CSV (one row per figure)",
    "xlsx": "Excel workbook (XLSX)",
    "html": "HTML report with charts",
}


def _format(value: str) -> str:
    if value not in FORMATS:
        raise NotFound(f"There is no {value[:10]!r} format: the formats are {', '.join(FORMATS)}.")
    return value


async def _index_context(request: Request[Any, Any, Any], session: Any) -> dict[str, Any]:
    page = await benchmark.list_benchmarks(session, year=None, limit=LIST_LIMIT, offset=0)
    latest = financial_year(now_of(request).date())
    return {
        "benchmarks": page.items,
        "more": page.next_offset is not None,
        "labels": PUBLISH_LABELS,
        "errors": None,
        "financial_year": str(latest - 1),
        "latest_year": year_label(latest),
    }


@get("/benchmarks", name="web_benchmarks", guards=[requires(*ANALYSTS)])
async def benchmarks_home(request: Request[Any, Any, Any], db_session: DbSession) -> Response[str]:
    return await render(request, "benchmarks/index.html", **await _index_context(request, db_session))


@post("/benchmarks", name="web_benchmarks_publish", guards=[requires(*ANALYSTS), csrf_guard], status_code=303)
async def publish_benchmark(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> Response[Any]:
    """Compute a financial year's benchmark from the registry's data and publish it, every format signed."""
    given = str((await request.form()).get("financial_year") or "")
    latest = financial_year(now_of(request).date())
    year = parse_year(given, first=FIRST_YEAR, last=latest)
    errors, status, published = FormErrors(), 422, None
    if isinstance(year, str):
        errors.add("financial_year", year)
    else:
        keyring: KeyRing = request.app.state.keyring
        try:
            published = await benchmark.publish(
                db_session, principal, year, keyring=keyring, now=now_of(request)
            )
        except ServiceError as exc:
            await db_session.rollback()
            errors, status = problems_to_form(exc.detail, exc.errors, PUBLISH_LABELS), exc.status
    if published is None:
        context = await _index_context(request, db_session)
        context.update(errors=errors, financial_year=given)
        raise FormRejected("benchmarks/index.html", status=status, context=context)
    audit.set_subject(request, f"benchmark:{published.id}")
    return redirect(
        f"/benchmarks/{published.id}",
        notice=f"Published the {published.financial_year} benchmark, every format signed.",
        request=request,
    )


@get("/benchmarks/{benchmark_id:uuid}", name="web_benchmark", guards=[requires(*ANALYSTS)])
async def benchmark_page(
    request: Request[Any, Any, Any], db_session: DbSession, benchmark_id: FromPath[uuid.UUID]
) -> Response[str]:
    found = await benchmark.get_benchmark(db_session, benchmark_id)
    return await render(request, "benchmarks/benchmark.html", benchmark=found, format_labels=FORMAT_LABELS)


@get("/benchmarks/{benchmark_id:uuid}/{format:str}", name="web_benchmark_file", guards=[requires(*ANALYSTS)])
async def benchmark_file(
    db_session: DbSession, benchmark_id: FromPath[uuid.UUID], format: FromPath[str]
) -> Response[bytes]:
    found = await benchmark.get_file(db_session, benchmark_id, _format(format))
    name = f"benchmark-{benchmark_id}.{found.format}"
    return Response(
        found.content,
        media_type=found.media_type.partition(";")[0],  # Litestar adds the charset of text/*
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@get(
    "/benchmarks/{benchmark_id:uuid}/{format:str}/signature",
    name="web_benchmark_signature",
    guards=[requires(*ANALYSTS)],
)
async def benchmark_signature(
    db_session: DbSession, benchmark_id: FromPath[uuid.UUID], format: FromPath[str]
) -> Response[bytes]:
    found = await benchmark.get_file(db_session, benchmark_id, _format(format))
    name = f"benchmark-{benchmark_id}.{found.format}.jws"
    return Response(
        found.signature.encode("ascii") + b"\n",
        media_type="application/jose",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )


BENCHMARK_PAGES: Final = [
    benchmarks_home,
    publish_benchmark,
    benchmark_page,
    benchmark_file,
    benchmark_signature,
]
