"""HTTP routes of the workforce domain (mounted under ``/api/v1``): parse, call the service, return a schema.

Who may call each route is in its guard; what a caller may see is decided in ``service.py``.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

from litestar import Request, get, post
from litestar.datastructures import CacheControlHeader, UploadFile
from litestar.enums import HttpMethod, RequestEncodingType
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.types import ControllerRouterHandler

from service import audit
from service.audit import DbSession
from service.auth import ALL_ROLES, CurrentPrincipal, Role, RoleGuardedRoute, requires
from service.errors import FieldError, InvalidInput, ServiceError
from service.serving import LeanJSONResponse
from service.workforce import service
from service.workforce.schemas import (
    GMC_PATTERN,
    ODS_PATTERN,
    EmploymentCreate,
    EmploymentPage,
    EmploymentRead,
    Grade,
    ImportResult,
    OrganisationCreate,
    OrganisationKind,
    OrganisationPage,
    OrganisationRead,
    PersonCreate,
    PersonPage,
    PersonRead,
)

TAGS: Final = ["workforce"]
CSV_TYPES: Final = frozenset({"text/csv", "application/csv", "text/plain"})
NO_STORE: Final = CacheControlHeader(no_store=True)
"""People and employments are personal data: no cache may keep them."""
PEOPLE_WRITERS: Final = (Role.ADMIN, Role.ISSUER)
PEOPLE_READERS: Final = (Role.ADMIN, Role.ISSUER, Role.COORDINATOR)

Limit = Annotated[
    int,
    QueryParameter(ge=1, le=service.MAX_LIMIT, description=f"Page size, 1 to {service.MAX_LIMIT}"),
]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000_000, description="Rows to skip")]
OdsFilter = Annotated[
    str | None, QueryParameter(pattern=ODS_PATTERN, max_length=6, description="An ODS code")
]
GmcFilter = Annotated[
    str | None, QueryParameter(pattern=GMC_PATTERN, max_length=7, description="A GMC number")
]
SpecialtyFilter = Annotated[
    str | None, QueryParameter(pattern=r"^[^\x00-\x1f\x7f]+$(?!\n)", max_length=60, description="A specialty")
]
CSV_BODY: Final = (
    "Send the CSV file as the body (Content-Type: text/csv) or as the `file` field of a multipart/form-data "
    "upload. All rows are imported or none; a refused file gets a 422 listing every problem in `rows`."
)


@dataclass
class CsvUpload(Operation):
    """The OpenAPI operation of an import: its body is a CSV file (the handler reads it itself)."""

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
    """The uploaded file: the raw body (text/csv) or the ``file`` part of a multipart form."""
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


# ---------------------------------------------------------------- organisations


@post(
    "/organisations",
    guards=[requires(Role.ADMIN)],
    tags=TAGS,
    operation_id="create_organisation",
    summary="Register an organisation",
)
async def create_organisation(
    request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[OrganisationCreate]
) -> OrganisationRead:
    created = await service.create_organisation(db_session, data, _now(request))
    audit.set_subject(request, f"organisation:{created.code}")
    return created


@get(
    "/organisations",
    guards=[requires(*ALL_ROLES)],
    tags=TAGS,
    operation_id="list_organisations",
    summary="List organisations",
)
async def list_organisations(
    db_session: DbSession,
    kind: FromQuery[OrganisationKind | None] = None,
    parent: OdsFilter = None,
    limit: Limit = service.DEFAULT_LIMIT,
    offset: Offset = 0,
) -> OrganisationPage:
    return await service.list_organisations(db_session, kind=kind, parent=parent, limit=limit, offset=offset)


@RoleGuardedRoute(  # as @get; its guard gets the handler, not a copy per request
    "/organisations/{code:str}",
    http_method=HttpMethod.GET,
    guards=[requires(*ALL_ROLES)],
    tags=TAGS,
    operation_id="get_organisation",
    summary="One organisation by ODS code",
    response_class=LeanJSONResponse,
)
async def get_organisation(request: Request[Any, Any, Any], code: FromPath[str]) -> OrganisationRead:
    # One row of reference data: read alone, outside a transaction (decision 0036).
    return await service.read_organisation(request.app.state.database, code)


@post(
    "/organisations/import",
    guards=[requires(Role.ADMIN)],
    tags=TAGS,
    operation_id="import_organisations",
    summary="Import organisations from CSV (all or nothing)",
    description=CSV_BODY,
    operation_class=CsvUpload,
)
async def import_organisations(request: Request[Any, Any, Any], db_session: DbSession) -> ImportResult:
    result = await service.import_organisations(db_session, await _csv_payload(request), _now(request))
    audit.set_subject(request, f"organisations:import:{result.created}")
    return result


# ---------------------------------------------------------------- people


@post(
    "/people",
    guards=[requires(*PEOPLE_WRITERS)],
    tags=TAGS,
    operation_id="create_person",
    summary="Register a person",
    cache_control=NO_STORE,
)
async def create_person(
    request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[PersonCreate]
) -> PersonRead:
    created = await service.create_person(db_session, data, _now(request))
    audit.set_subject(request, f"person:{created.id}")
    return created


@get(
    "/people",
    guards=[requires(*PEOPLE_READERS)],
    tags=TAGS,
    operation_id="list_people",
    summary="List the people the caller may see",
    cache_control=NO_STORE,
)
async def list_people(
    db_session: DbSession,
    principal: CurrentPrincipal,
    gmc_number: GmcFilter = None,
    organisation: OdsFilter = None,
    grade: FromQuery[Grade | None] = None,
    specialty: SpecialtyFilter = None,
    limit: Limit = service.DEFAULT_LIMIT,
    offset: Offset = 0,
) -> PersonPage:
    return await service.list_people(
        db_session,
        principal,
        gmc_number=gmc_number,
        organisation=organisation,
        grade=grade,
        specialty=specialty,
        limit=limit,
        offset=offset,
    )


@get(
    "/people/{person_id:uuid}",
    guards=[requires(*PEOPLE_READERS, Role.HOLDER)],
    tags=TAGS,
    operation_id="get_person",
    summary="One person (a holder: only their own record)",
    cache_control=NO_STORE,
)
async def get_person(
    db_session: DbSession, principal: CurrentPrincipal, person_id: FromPath[uuid.UUID]
) -> PersonRead:
    return await service.get_person(db_session, principal, person_id)


@get(
    "/people/{person_id:uuid}/employments",
    guards=[requires(*PEOPLE_READERS)],
    tags=TAGS,
    operation_id="list_person_employments",
    summary="The employments of one person that the caller may see",
    cache_control=NO_STORE,
)
async def list_person_employments(
    db_session: DbSession,
    principal: CurrentPrincipal,
    person_id: FromPath[uuid.UUID],
    limit: Limit = service.DEFAULT_LIMIT,
    offset: Offset = 0,
) -> EmploymentPage:
    return await service.list_person_employments(db_session, principal, person_id, limit=limit, offset=offset)


@post(
    "/people/import",
    guards=[requires(*PEOPLE_WRITERS)],
    tags=TAGS,
    operation_id="import_people",
    summary="Import people from CSV (all or nothing)",
    description=CSV_BODY,
    operation_class=CsvUpload,
    cache_control=NO_STORE,
)
async def import_people(request: Request[Any, Any, Any], db_session: DbSession) -> ImportResult:
    result = await service.import_people(db_session, await _csv_payload(request), _now(request))
    audit.set_subject(request, f"people:import:{result.created}")
    return result


# ---------------------------------------------------------------- employments


@post(
    "/employments",
    guards=[requires(*PEOPLE_WRITERS)],
    tags=TAGS,
    operation_id="create_employment",
    summary="Record an employment (an issuer: only at its own organisation)",
    cache_control=NO_STORE,
)
async def create_employment(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[EmploymentCreate],
) -> EmploymentRead:
    created = await service.create_employment(db_session, principal, data, _now(request))
    audit.set_subject(request, f"employment:{created.id}")
    return created


@get(
    "/employments",
    guards=[requires(*PEOPLE_READERS)],
    tags=TAGS,
    operation_id="list_employments",
    summary="List the employments the caller may see",
    cache_control=NO_STORE,
)
async def list_employments(
    db_session: DbSession,
    principal: CurrentPrincipal,
    organisation: OdsFilter = None,
    person_id: FromQuery[uuid.UUID | None] = None,
    current_on: FromQuery[dt.date | None] = None,
    limit: Limit = service.DEFAULT_LIMIT,
    offset: Offset = 0,
) -> EmploymentPage:
    return await service.list_employments(
        db_session,
        principal,
        organisation=organisation,
        person_id=person_id,
        current_on=current_on,
        limit=limit,
        offset=offset,
    )


@get(
    "/employments/{employment_id:uuid}",
    guards=[requires(*PEOPLE_READERS)],
    tags=TAGS,
    operation_id="get_employment",
    summary="One employment",
    cache_control=NO_STORE,
)
async def get_employment(
    db_session: DbSession, principal: CurrentPrincipal, employment_id: FromPath[uuid.UUID]
) -> EmploymentRead:
    return await service.get_employment(db_session, principal, employment_id)


@post(
    "/employments/import",
    guards=[requires(*PEOPLE_WRITERS)],
    tags=TAGS,
    operation_id="import_employments",
    summary="Import employments from CSV (all or nothing; an issuer: only its own organisation)",
    description=CSV_BODY,
    operation_class=CsvUpload,
    cache_control=NO_STORE,
)
async def import_employments(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> ImportResult:
    result = await service.import_employments(
        db_session, principal, await _csv_payload(request), _now(request)
    )
    audit.set_subject(request, f"employments:import:{result.created}")
    return result


WORKFORCE_HANDLERS: Sequence[ControllerRouterHandler] = [
    create_organisation,
    list_organisations,
    get_organisation,
    import_organisations,
    create_person,
    list_people,
    get_person,
    list_person_employments,
    import_people,
    create_employment,
    list_employments,
    get_employment,
    import_employments,
]
