"""HTTP routes of the benchmark domain (mounted under ``/api/v1``): parse, call the service, return.

Who may call each route is in its guard; what a caller may see is decided in ``service.py``.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

from litestar import Request, get, post
from litestar.datastructures import CacheControlHeader, UploadFile
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Response
from litestar.types import ControllerRouterHandler

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, Role, requires
from service.benchmark import service
from service.benchmark.schemas import (
    FORMATS,
    BenchmarkPage,
    BenchmarkRead,
    ComputeRequest,
    LearnerBatch,
    LearnerPage,
    SubmissionResult,
)
from service.errors import FieldError, InvalidInput, NotFound, ServiceError
from service.keys import KeyRing

TAGS: Final = ["benchmark"]
ANALYSTS: Final = (Role.ANALYST, Role.ADMIN)
SUBMITTERS: Final = (Role.ISSUER, Role.ADMIN)
LEARNER_READERS: Final = (Role.ISSUER, Role.ANALYST, Role.ADMIN)
CSV_TYPES: Final = frozenset({"text/csv", "application/csv", "text/plain"})
JOSE: Final = "application/jose"
NO_STORE: Final = CacheControlHeader(no_store=True)
MAX_LIMIT: Final = 500

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}")]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000_000, description="Rows to skip")]
YearFilter = Annotated[
    int | None, QueryParameter(ge=2000, le=2098, description="A financial year: 2025 means 2025-26")
]
CSV_BODY: Final = (
    "Send learners.csv as the body (Content-Type: text/csv) or as the `file` field of a multipart/form-data "
    "upload. All rows are stored or none; a refused file gets a 422 listing every problem in `rows`. A row "
    "for a site, year, staff group and route already submitted replaces it."
)


@dataclass
class CsvUpload(Operation):
    """The OpenAPI operation of an import: its body is a CSV file (the handler reads it itself)."""

    def __post_init__(self) -> None:
        text = Schema(type=OpenAPIType.STRING, description="learners.csv, UTF-8, header row first")
        upload = Schema(
            type=OpenAPIType.OBJECT,
            properties={"file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)},
            required=["file"],
        )
        self.request_body = RequestBody(
            required=True,
            description=CSV_BODY,
            content={
                "text/csv": OpenAPIMediaType(schema=text),
                "multipart/form-data": OpenAPIMediaType(schema=upload),
            },
        )


def _now(request: Request[Any, Any, Any]) -> dt.datetime:
    now: dt.datetime = request.app.state.clock()
    return now


async def _csv_payload(request: Request[Any, Any, Any]) -> bytes:
    media_type = request.content_type[0]
    if media_type in CSV_TYPES:
        return await request.body()
    if media_type == RequestEncodingType.MULTI_PART:
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput(
                "The upload has no file.",
                errors=[FieldError("body.file", "a CSV file is required in the field file")],
            )
        return await upload.read()
    raise ServiceError(
        f"Send the file as text/csv or multipart/form-data, not {media_type or 'no content type'}.",
        status=415,
        code="unsupported_media_type",
    )


def _format(value: str) -> str:
    if value not in FORMATS:
        raise NotFound(f"No format {value[:10]!r}: the formats are {', '.join(FORMATS)}.")
    return value


# ---------------------------------------------------------------- published benchmarks


@post(
    "/benchmarks",
    guards=[requires(*ANALYSTS)],
    tags=TAGS,
    operation_id="publish_benchmark",
    summary="Compute the benchmark of a financial year from the registry's data and publish it",
)
async def publish_benchmark(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[ComputeRequest],
) -> BenchmarkRead:
    keyring: KeyRing = request.app.state.keyring
    published = await service.publish(
        db_session, principal, data.financial_year, keyring=keyring, now=_now(request)
    )
    audit.set_subject(request, f"benchmark:{published.id}")
    return published


@get(
    "/benchmarks",
    guards=[requires(*ANALYSTS)],
    tags=TAGS,
    operation_id="list_benchmarks",
    summary="List published benchmarks, newest first",
)
async def list_benchmarks(
    db_session: DbSession, financial_year: YearFilter = None, limit: Limit = 100, offset: Offset = 0
) -> BenchmarkPage:
    return await service.list_benchmarks(db_session, year=financial_year, limit=limit, offset=offset)


@get(
    "/benchmarks/{benchmark_id:uuid}",
    guards=[requires(*ANALYSTS)],
    tags=TAGS,
    operation_id="get_benchmark",
    summary="One published benchmark: its input hash and files",
)
async def get_benchmark(db_session: DbSession, benchmark_id: FromPath[uuid.UUID]) -> BenchmarkRead:
    return await service.get_benchmark(db_session, benchmark_id)


@get(
    "/benchmarks/{benchmark_id:uuid}/{format:str}",
    guards=[requires(*ANALYSTS)],
    tags=TAGS,
    operation_id="download_benchmark",
    summary="Download one format (json, csv, xlsx, html); its signature is at .../signature",
    media_type="application/octet-stream",
)
async def download_benchmark(
    db_session: DbSession,
    benchmark_id: FromPath[uuid.UUID],
    format: FromPath[str],
) -> Response[bytes]:
    found = await service.get_file(db_session, benchmark_id, _format(format))
    name = f"benchmark-{benchmark_id}.{found.format}"
    return Response(
        found.content,
        media_type=found.media_type.partition(";")[0],  # Litestar adds the charset of text/*
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Link": f'<{service.API_PREFIX}/{benchmark_id}/{found.format}/signature>; rel="signature"',
        },
    )


@get(
    "/benchmarks/{benchmark_id:uuid}/{format:str}/signature",
    guards=[requires(*ANALYSTS)],
    tags=TAGS,
    operation_id="download_benchmark_signature",
    summary="The detached JWS signature of one format (check it with `passport benchmark verify`)",
    media_type=JOSE,
)
async def download_signature(
    db_session: DbSession,
    benchmark_id: FromPath[uuid.UUID],
    format: FromPath[str],
) -> Response[bytes]:
    found = await service.get_file(db_session, benchmark_id, _format(format))
    name = f"benchmark-{benchmark_id}.{found.format}.jws"
    return Response(
        found.signature.encode("ascii") + b"\n",
        media_type=JOSE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# ---------------------------------------------------------------- learner submissions


@post(
    "/benchmark-learners",
    guards=[requires(*SUBMITTERS)],
    tags=TAGS,
    operation_id="submit_learners",
    summary="Submit learners the registry does not hold (a provider: only its own sites)",
)
async def submit_learners(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[LearnerBatch],
) -> SubmissionResult:
    result = await service.submit_learners(db_session, principal, data.items, _now(request))
    audit.set_subject(request, f"benchmark-learners:{result.created}+{result.replaced}")
    return result


@post(
    "/benchmark-learners/import",
    guards=[requires(*SUBMITTERS)],
    tags=TAGS,
    operation_id="import_learners",
    summary="Import learners.csv (all or nothing; a provider: only its own sites)",
    description=CSV_BODY,
    operation_class=CsvUpload,
)
async def import_learners(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> SubmissionResult:
    result = await service.import_learners(db_session, principal, await _csv_payload(request), _now(request))
    audit.set_subject(request, f"benchmark-learners:import:{result.created}+{result.replaced}")
    return result


@get(
    "/benchmark-learners",
    guards=[requires(*LEARNER_READERS)],
    tags=TAGS,
    operation_id="list_learners",
    summary="List learner submissions (a provider: only its own)",
    cache_control=NO_STORE,
)
async def list_learners(
    db_session: DbSession,
    principal: CurrentPrincipal,
    financial_year: YearFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> LearnerPage:
    return await service.list_learners(db_session, principal, year=financial_year, limit=limit, offset=offset)


BENCHMARK_HANDLERS: Sequence[ControllerRouterHandler] = [
    publish_benchmark,
    list_benchmarks,
    get_benchmark,
    download_benchmark,
    download_signature,
    submit_learners,
    import_learners,
    list_learners,
]
