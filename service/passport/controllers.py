"""HTTP routes of the passport's source records, CSTF reference table and compliance policies (mounted
under ``/api/v1``): parse, call the service, return a schema.

Who may call each route is in its guard; what a caller may see is decided in ``service.py``.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Request, get, post, put
from litestar.datastructures import CacheControlHeader, UploadFile
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.types import ControllerRouterHandler

from service import audit
from service.audit import DbSession
from service.auth import ALL_ROLES, CurrentPrincipal, Role, requires
from service.errors import FieldError, InvalidInput, ServiceError
from service.passport import service
from service.passport.encryption import DataKeyRing
from service.passport.schemas import (
    PolicyCreate,
    PolicyName,
    PolicyPage,
    PolicyRead,
    RecordCorrection,
    RecordImportResult,
    RecordKind,
    RecordPage,
    RecordRead,
    RecordsCreated,
    RecordSubmission,
    RecordWithdrawal,
    SubjectRead,
    SubjectUpdate,
)
from service.workforce.schemas import GMC_PATTERN, ODS_PATTERN

TAGS: Final = ["passport"]
CSV_TYPES: Final = frozenset({"text/csv", "application/csv", "text/plain"})
NO_STORE: Final = CacheControlHeader(no_store=True)
"""Records are personal (and occupational health special category) data: no cache may keep them."""
POLICY_READERS: Final = (Role.ADMIN, Role.VERIFIER, Role.HOLDER, Role.COORDINATOR)

Limit = Annotated[
    int, QueryParameter(ge=1, le=service.MAX_LIMIT, description=f"Page size, 1 to {service.MAX_LIMIT}")
]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000_000, description="Rows to skip")]
OdsFilter = Annotated[
    str | None, QueryParameter(pattern=ODS_PATTERN, max_length=6, description="An ODS code")
]
GmcFilter = Annotated[
    str | None, QueryParameter(pattern=GMC_PATTERN, max_length=7, description="A GMC number")
]
StateFilter = Literal["current", "replaced", "corrected", "withdrawn", "any"]
CSV_BODY: Final = (
    "Send the CSV file as the body (Content-Type: text/csv) or as the `file` field of a multipart/form-data "
    "upload. All rows are imported or none; a refused file gets a 422 listing every problem in `rows`. "
    "The columns are the fields of the kind's JSON record (see docs/passport.md)."
)


class RecordHistory(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RecordRead]


class SubjectList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SubjectRead]


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


def _keys(request: Request[Any, Any, Any]) -> DataKeyRing:
    keys: DataKeyRing = request.app.state.data_keys
    return keys


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


# ---------------------------------------------------------------- records


@post(
    "/records",
    guards=[requires(Role.ISSUER)],
    tags=TAGS,
    operation_id="submit_records",
    summary="Submit one record, or a list of records (all or nothing), as your organisation",
    cache_control=NO_STORE,
)
async def submit_records(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[RecordSubmission],
) -> RecordRead | RecordsCreated:
    single = not isinstance(data, list)
    records = [data] if not isinstance(data, list) else data
    created = await service.submit(
        db_session, principal, records, now=_now(request), keys=_keys(request), single=single
    )
    if single:
        audit.set_subject(request, f"record:{created[0].id}")
        return created[0]
    audit.set_subject(request, f"records:{len(created)}")
    return RecordsCreated(created=len(created), records=created)


@post(
    "/records/import",
    guards=[requires(Role.ISSUER)],
    tags=TAGS,
    operation_id="import_records",
    summary="Import records of one kind from CSV (all or nothing), as your organisation",
    description=CSV_BODY,
    operation_class=CsvUpload,
    cache_control=NO_STORE,
)
async def import_records(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    kind: FromQuery[RecordKind],
) -> RecordImportResult:
    result = await service.import_records(
        db_session, principal, kind, await _csv_payload(request), now=_now(request), keys=_keys(request)
    )
    audit.set_subject(request, f"records:import:{kind}:{result.created}")
    return result


@get(
    "/records",
    guards=[requires(Role.ADMIN, Role.ISSUER)],
    tags=TAGS,
    operation_id="list_records",
    summary="List records (an issuer: those of its own organisation)",
    cache_control=NO_STORE,
)
async def list_records(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    person_id: FromQuery[uuid.UUID | None] = None,
    gmc_number: GmcFilter = None,
    kind: FromQuery[RecordKind | None] = None,
    record_state: Annotated[
        StateFilter, QueryParameter(name="state", description="current (default), a state, or any")
    ] = "current",
    organisation: OdsFilter = None,
    limit: Limit = service.DEFAULT_LIMIT,
    offset: Offset = 0,
) -> RecordPage:
    return await service.list_records(
        db_session,
        principal,
        _keys(request),
        person_id=person_id,
        gmc_number=gmc_number,
        kind=kind,
        state=None if record_state == "any" else record_state,
        organisation=organisation,
        limit=limit,
        offset=offset,
    )


@get(
    "/records/{record_id:uuid}",
    guards=[requires(Role.ADMIN, Role.ISSUER)],
    tags=TAGS,
    operation_id="get_record",
    summary="One record",
    cache_control=NO_STORE,
)
async def get_record(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    record_id: FromPath[uuid.UUID],
) -> RecordRead:
    return await service.get_record(db_session, principal, record_id, _keys(request))


@get(
    "/records/{record_id:uuid}/history",
    guards=[requires(Role.ADMIN, Role.ISSUER)],
    tags=TAGS,
    operation_id="get_record_history",
    summary="Every version of a record: what it corrected or replaced, and what corrected or replaced it",
    cache_control=NO_STORE,
)
async def get_record_history(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    record_id: FromPath[uuid.UUID],
) -> RecordHistory:
    return RecordHistory(items=await service.record_history(db_session, principal, record_id, _keys(request)))


@post(
    "/records/{record_id:uuid}/corrections",
    guards=[requires(Role.ISSUER)],
    tags=TAGS,
    operation_id="correct_record",
    summary="Correct a record: the corrected version supersedes it (the old one is kept)",
    cache_control=NO_STORE,
)
async def correct_record(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    record_id: FromPath[uuid.UUID],
    data: JSONBody[RecordCorrection],
) -> RecordRead:
    created = await service.correct(
        db_session, principal, record_id, data, now=_now(request), keys=_keys(request)
    )
    audit.set_subject(request, f"record:{record_id}:corrected-by:{created.id}")
    return created


@post(
    "/records/{record_id:uuid}/withdrawal",
    guards=[requires(Role.ISSUER)],
    tags=TAGS,
    operation_id="withdraw_record",
    summary="Withdraw a record stated in error (it is kept, marked withdrawn)",
    status_code=200,
    cache_control=NO_STORE,
)
async def withdraw_record(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    record_id: FromPath[uuid.UUID],
    data: JSONBody[RecordWithdrawal],
) -> RecordRead:
    withdrawn = await service.withdraw(
        db_session, principal, record_id, data, now=_now(request), keys=_keys(request)
    )
    audit.set_subject(request, f"record:{record_id}:withdrawn")
    return withdrawn


# ---------------------------------------------------------------- CSTF reference table


@get(
    "/cstf-subjects",
    guards=[requires(*ALL_ROLES)],
    tags=TAGS,
    operation_id="list_cstf_subjects",
    summary="CSTF subjects, their levels and renewal periods",
)
async def list_cstf_subjects(db_session: DbSession) -> SubjectList:
    return SubjectList(items=await service.list_subjects(db_session))


@put(
    "/cstf-subjects/{subject:str}",
    guards=[requires(Role.ADMIN)],
    tags=TAGS,
    operation_id="update_cstf_subject",
    summary="Set the renewal periods of a CSTF subject (for records submitted from now on)",
)
async def update_cstf_subject(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    subject: FromPath[str],
    data: JSONBody[SubjectUpdate],
) -> SubjectRead:
    updated = await service.update_subject(db_session, principal, subject, data, _now(request))
    audit.set_subject(request, f"cstf-subject:{updated.subject}")
    return updated


# ---------------------------------------------------------------- compliance policies


@post(
    "/policies",
    guards=[requires(Role.ADMIN)],
    tags=TAGS,
    operation_id="create_policy",
    summary="Create a compliance policy, or a new version of one (old versions are kept)",
)
async def create_policy(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[PolicyCreate],
) -> PolicyRead:
    created = await service.create_policy(db_session, principal, data, _now(request))
    audit.set_subject(request, f"policy:{created.organisation_code}/{created.name}/v{created.version}")
    return created


@get(
    "/policies",
    guards=[requires(*POLICY_READERS)],
    tags=TAGS,
    operation_id="list_policies",
    summary="List compliance policies (the newest version of each, or every version)",
)
async def list_policies(
    db_session: DbSession,
    organisation: OdsFilter = None,
    name: FromQuery[PolicyName | None] = None,
    all_versions: FromQuery[bool] = False,
    limit: Limit = service.DEFAULT_LIMIT,
    offset: Offset = 0,
) -> PolicyPage:
    return await service.list_policies(
        db_session,
        organisation=organisation,
        name=name,
        all_versions=all_versions,
        limit=limit,
        offset=offset,
    )


@get(
    "/policies/{policy_id:uuid}",
    guards=[requires(*POLICY_READERS)],
    tags=TAGS,
    operation_id="get_policy",
    summary="One version of a compliance policy",
)
async def get_policy(db_session: DbSession, policy_id: FromPath[uuid.UUID]) -> PolicyRead:
    return await service.get_policy(db_session, policy_id)


PASSPORT_HANDLERS: Sequence[ControllerRouterHandler] = [
    submit_records,
    import_records,
    list_records,
    get_record,
    get_record_history,
    correct_record,
    withdraw_record,
    list_cstf_subjects,
    update_cstf_subject,
    create_policy,
    list_policies,
    get_policy,
]
