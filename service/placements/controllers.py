"""HTTP routes of placements (under ``/api/v1/placements``): parse, call the service, return a schema.

Coordinators (regional training offices) and admins load data, run and publish matches; a site's host
provider (its own or its provider's issuer and verifier clients) lists the placements published there.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from litestar import Request, Response, get, post
from litestar.datastructures import CacheControlHeader, UploadFile
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.types import ControllerRouterHandler

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, Role, requires
from service.errors import FieldError, InvalidInput, ServiceError
from service.placements import service
from service.placements.schemas import (
    DatasetCreate,
    DatasetPage,
    DatasetRead,
    LoadResult,
    PlacementRecordPage,
    PublishRequest,
    PublishResult,
    RunCreate,
    RunPage,
    RunRead,
)

TAGS: Final = ["placements"]
MANAGERS: Final = (Role.ADMIN, Role.COORDINATOR)
HOSTS: Final = (Role.ADMIN, Role.COORDINATOR, Role.ISSUER, Role.VERIFIER)
CSV_TYPES: Final = frozenset({"text/csv", "application/csv", "text/plain"})
NO_STORE: Final = CacheControlHeader(no_store=True)
"""Trainees, logbooks and placements are personal data: no cache may keep them."""
CSV_BODY: Final = (
    "Send the CSV file as the body (Content-Type: text/csv) or as the `file` field of a multipart/form-data "
    "upload. All rows are loaded or none; a refused file gets a 422 listing every problem in `rows`. "
    "Formats: docs/placements.md."
)


@dataclass
class CsvUpload(Operation):
    """The OpenAPI operation of a file load: its body is a CSV file (the handler reads it itself)."""

    def __post_init__(self) -> None:
        text = Schema(type=OpenAPIType.STRING, description="The CSV file, UTF-8, header row first")
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


# ---------------------------------------------------------------- datasets


@post(
    "/placements/datasets",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="create_placement_dataset",
    summary="Create a dataset (a rotation plan of your training office)",
)
async def create_dataset(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[DatasetCreate],
) -> DatasetRead:
    created = await service.create_dataset(db_session, principal, data, _now(request))
    audit.set_subject(request, f"placement_dataset:{created.id}")
    return created


@get(
    "/placements/datasets",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="list_placement_datasets",
    summary="List your training office's datasets",
)
async def list_datasets(db_session: DbSession, principal: CurrentPrincipal) -> DatasetPage:
    return await service.list_datasets(db_session, principal)


@get(
    "/placements/datasets/{dataset_id:uuid}",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="get_placement_dataset",
    summary="One dataset with the rows loaded per file",
)
async def get_dataset(
    db_session: DbSession, principal: CurrentPrincipal, dataset_id: FromPath[uuid.UUID]
) -> DatasetRead:
    return await service.get_dataset(db_session, principal, dataset_id)


@post(
    "/placements/datasets/{dataset_id:uuid}/files/{kind:str}",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="load_placement_dataset_file",
    summary="Load (replace) one file of a dataset: sites, capacity, trainees, needs, preferences, weights, "
    "excluded_sites or excluded_trainee_sites",
    description=CSV_BODY,
    operation_class=CsvUpload,
    cache_control=NO_STORE,
)
async def load_dataset_file(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    dataset_id: FromPath[uuid.UUID],
    kind: FromPath[str],
) -> LoadResult:
    result = await service.load_dataset_file(
        db_session, principal, dataset_id, kind, await _csv_payload(request), _now(request)
    )
    audit.set_subject(request, f"placement_dataset:{dataset_id}:{result.file}:{result.rows}")
    return result


@get(
    "/placements/datasets/{dataset_id:uuid}/files/{kind:str}",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="get_placement_dataset_file",
    summary="Download one file of a dataset in canonical form (text/csv)",
    media_type="text/csv",
    cache_control=NO_STORE,
)
async def get_dataset_file(
    db_session: DbSession, principal: CurrentPrincipal, dataset_id: FromPath[uuid.UUID], kind: FromPath[str]
) -> bytes:
    return await service.dataset_file(db_session, principal, dataset_id, kind)


# ---------------------------------------------------------------- registry-wide facts


@post(
    "/placements/volumes",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="load_placement_volumes",
    summary="Load NHS-funded procedure volumes of independent sites (rows replace rows with the same key)",
    description=CSV_BODY,
    operation_class=CsvUpload,
)
async def load_volumes(request: Request[Any, Any, Any], db_session: DbSession) -> LoadResult:
    result = await service.load_volumes(db_session, await _csv_payload(request), _now(request))
    audit.set_subject(request, f"placement_volumes:{result.rows}")
    return result


@post(
    "/placements/curriculum",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="load_placement_curriculum",
    summary="Load curriculum indicative numbers (rows replace rows with the same key)",
    description=CSV_BODY,
    operation_class=CsvUpload,
)
async def load_curriculum(request: Request[Any, Any, Any], db_session: DbSession) -> LoadResult:
    result = await service.load_curriculum(db_session, await _csv_payload(request), _now(request))
    audit.set_subject(request, f"placement_curriculum:{result.rows}")
    return result


@post(
    "/placements/logbook",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="load_placement_logbook",
    summary="Load logbook entries (the file replaces the logbook of every trainee it names)",
    description=CSV_BODY,
    operation_class=CsvUpload,
    cache_control=NO_STORE,
)
async def load_logbook(request: Request[Any, Any, Any], db_session: DbSession) -> LoadResult:
    result = await service.load_logbook(db_session, await _csv_payload(request), _now(request))
    audit.set_subject(request, f"placement_logbook:{result.rows}")
    return result


# ---------------------------------------------------------------- runs


@post(
    "/placements/datasets/{dataset_id:uuid}/runs",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="create_placement_run",
    summary="Run a match on a dataset through its gates (stored with its inputs' SHA-256, parameters, seed, "
    "dates and gates)",
    cache_control=NO_STORE,
)
async def create_run(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    dataset_id: FromPath[uuid.UUID],
    data: JSONBody[RunCreate],
) -> RunRead:
    run = await service.create_run(
        db_session,
        principal,
        dataset_id,
        data,
        _now(request),
        keys=request.app.state.data_keys,
        base_url=request.app.state.settings.public_base_url,
    )
    audit.set_subject(request, f"placement_run:{run.id}")
    return run


@get(
    "/placements/datasets/{dataset_id:uuid}/runs",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="list_placement_runs",
    summary="The runs of a dataset, newest first",
    cache_control=NO_STORE,
)
async def list_runs(
    db_session: DbSession, principal: CurrentPrincipal, dataset_id: FromPath[uuid.UUID]
) -> RunPage:
    return await service.list_runs(db_session, principal, dataset_id)


@get(
    "/placements/runs/{run_id:uuid}",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="get_placement_run_result",
    summary="A run's result: {summary, placements, unmatched} (JSON), or the same rows as CSV",
    cache_control=NO_STORE,
)
async def get_run_result(
    db_session: DbSession,
    principal: CurrentPrincipal,
    run_id: FromPath[uuid.UUID],
    format: FromQuery[Literal["json", "csv"]] = "json",
) -> Response[bytes]:
    content = await service.run_result(db_session, principal, run_id, as_csv=format == "csv")
    return Response(content, media_type="text/csv" if format == "csv" else "application/json")


@post(
    "/placements/runs/{run_id:uuid}/publish",
    guards=[requires(*MANAGERS)],
    tags=TAGS,
    operation_id="publish_placement_run",
    summary="Publish a run: its placements become placement records of the trainees and training placement "
    "records of their passports",
    cache_control=NO_STORE,
)
async def publish_run(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    run_id: FromPath[uuid.UUID],
    data: JSONBody[PublishRequest],
) -> PublishResult:
    result = await service.publish(db_session, principal, run_id, data, _now(request))
    audit.set_subject(request, f"placement_run:{run_id}:published:{result.records}")
    return result


@get(
    "/placements/sites/{code:str}/placements",
    guards=[requires(*HOSTS)],
    tags=TAGS,
    operation_id="list_site_placements",
    summary="Published placements at an independent site (its host provider, the placing training office)",
    cache_control=NO_STORE,
)
async def list_site_placements(
    db_session: DbSession,
    principal: CurrentPrincipal,
    code: FromPath[str],
    start: FromQuery[dt.date | None] = None,
    end: FromQuery[dt.date | None] = None,
) -> PlacementRecordPage:
    return await service.site_placements(db_session, principal, code, start=start, end=end)


PLACEMENTS_HANDLERS: Sequence[ControllerRouterHandler] = [
    create_dataset,
    list_datasets,
    get_dataset,
    load_dataset_file,
    get_dataset_file,
    load_volumes,
    load_curriculum,
    load_logbook,
    create_run,
    list_runs,
    get_run_result,
    publish_run,
    list_site_placements,
]
