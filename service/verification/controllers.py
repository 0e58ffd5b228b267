"""HTTP routes of verification (mounted under ``/api/v1``): parse, call the service, return a schema.

Submissions are read as raw bytes (their size checked before parsing: 413) and decoded with msgspec;
the answer of a verification is 200 or 201 whatever its verdict: a refused presentation is a verdict,
not an error. Malformed input is a 400 problem, an answered request 409, an expired one 410.
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Final, TypeVar, cast

import msgspec
from litestar import HttpMethod, MediaType, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED
from litestar.types import ControllerRouterHandler

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, Role, RoleGuardedRoute, provide_principal, requires
from service.errors import ServiceError, field_errors_from_msgspec
from service.serving import LeanJSONResponse
from service.verification import service
from service.verification.errors import PresentationTooLarge
from service.verification.schemas import (
    MAX_BODY_BYTES,
    HolderRequestView,
    HolderVerificationPage,
    PresentationRequestCreate,
    PresentationRequestPage,
    PresentationRequestRead,
    PresentationSubmission,
    Verdict,
    VerificationCreate,
    VerificationRead,
)

TAGS: Final = ["verification"]
NO_STORE: Final = CacheControlHeader(no_store=True)
"""Results hold personal (and occupational health) data: no cache may keep them."""
T = TypeVar("T")

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Page size, 1 to 500")]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000_000, description="Rows to skip")]


def _runtime(request: Request[Any, Any, Any]) -> service.Runtime:
    runtime: service.Runtime = request.app.state.verification
    return runtime


def _now(request: Request[Any, Any, Any]) -> dt.datetime:
    now: dt.datetime = request.app.state.clock()
    return now


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    found = request.scope.get("state", {}).get("request_id")
    return found if isinstance(found, str) else None


def _content_length(request: Request[Any, Any, Any]) -> str | None:
    """The first ``Content-Length`` header, from the raw ASGI headers (names in lower case): no header
    structure is built for one look-up."""
    for name, value in request.scope["headers"]:
        if name == b"content-length":
            text: str = value.decode("latin-1")
            return text
    return None


async def _body(request: Request[Any, Any, Any], kind: type[T]) -> T:
    """The JSON body as ``kind``: 413 past :data:`MAX_BODY_BYTES`, 400 malformed, 422 invalid fields.

    Read from the ASGI ``receive`` channel directly (as Litestar's ``Request.stream`` does, without its
    asynchronous generator): an announced length past the limit is refused before reading, and the bytes
    actually received are counted whatever was announced."""
    length = _content_length(request)
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise PresentationTooLarge(f"The submission is larger than {MAX_BODY_BYTES} bytes.")
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ServiceError(
                "The client disconnected before the body ended.", status=400, code="bad_request"
            )
        chunk = cast("bytes", message.get("body", b""))  # an http.request message
        if chunk:
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise PresentationTooLarge(f"The submission is larger than {MAX_BODY_BYTES} bytes.")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return _decode(chunks[0] if len(chunks) == 1 else b"".join(chunks), kind)


def _decode(body: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise ServiceError(
            "The request has invalid fields.",
            status=422,
            code="invalid_input",
            errors=field_errors_from_msgspec(str(exc)),
        ) from None
    except msgspec.DecodeError:
        raise ServiceError("The request body is not valid JSON.", status=400, code="bad_request") from None


def _answer(answer: service.Answered) -> Response[VerificationRead]:
    """201 with the result as the service encoded (and sealed) it: the JSON is not encoded twice. The
    annotation still names :class:`VerificationRead`, so the OpenAPI schema shows the result. Sent as
    :class:`LeanJSONResponse`: the same headers (the route's ``cache-control``, then ``content-type`` and
    ``content-length``) and bytes as Litestar's response, with less work per answer."""
    return LeanJSONResponse(
        cast(VerificationRead, answer.body), status_code=HTTP_201_CREATED, media_type=MediaType.JSON
    )


@post(
    "/presentation-requests",
    guards=[requires(Role.VERIFIER)],
    tags=TAGS,
    operation_id="create_presentation_request",
    summary="Ask for a presentation meeting a compliance policy (returns nonce, audience, expiry, needs)",
    cache_control=NO_STORE,
)
async def create_presentation_request(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[PresentationRequestCreate],
) -> PresentationRequestRead:
    created = await service.create_request(db_session, _runtime(request), principal, data, _now(request))
    audit.set_subject(
        request, f"presentation-request:{created.id} policy:{created.policy.name}/v{created.policy.version}"
    )
    return created


@get(
    "/presentation-requests",
    guards=[requires(Role.VERIFIER)],
    tags=TAGS,
    operation_id="list_presentation_requests",
    summary="Your organisation's presentation requests, newest first: state, policy, purpose, verdict, "
    "claim names disclosed (never values)",
    cache_control=NO_STORE,
)
async def list_presentation_requests(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    created_from: FromQuery[dt.date | None] = None,
    created_to: FromQuery[dt.date | None] = None,
    verdict: FromQuery[Verdict | None] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PresentationRequestPage:
    return await service.list_requests(
        db_session,
        _runtime(request),
        principal,
        created_from=created_from,
        created_to=created_to,
        verdict=verdict,
        limit=limit,
        offset=offset,
        now=_now(request),
    )


@get(
    "/presentation-requests/{request_id:uuid}",
    guards=[requires(Role.VERIFIER)],
    tags=TAGS,
    operation_id="get_presentation_request",
    summary="A presentation request of yours: its state and, once answered, the result",
    cache_control=NO_STORE,
)
async def get_presentation_request(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    request_id: FromPath[uuid.UUID],
) -> PresentationRequestRead:
    return await service.get_request(db_session, _runtime(request), principal, request_id, _now(request))


@get(
    "/presentation-requests/{request_id:uuid}/request",
    guards=[requires(Role.HOLDER)],
    tags=TAGS,
    operation_id="get_presentation_request_for_holder",
    summary="What a doctor's wallet needs to answer a request: nonce, audience, the claims to disclose",
    cache_control=NO_STORE,
)
async def get_presentation_request_for_holder(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    request_id: FromPath[uuid.UUID],
) -> HolderRequestView:
    return await service.holder_view(db_session, _runtime(request), principal, request_id, _now(request))


@RoleGuardedRoute(  # as @post; its guard gets the handler, not a copy per request
    "/presentation-requests/{request_id:uuid}/response",
    http_method=HttpMethod.POST,
    guards=[requires(Role.HOLDER)],
    tags=TAGS,
    operation_id="respond_to_presentation_request",
    summary="The doctor's wallet answers a request with its presentations; returns the verification",
    cache_control=NO_STORE,
)
async def respond_to_presentation_request(
    request: Request[Any, Any, Any],
    request_id: FromPath[uuid.UUID],
) -> Response[VerificationRead]:
    principal = await provide_principal(request)  # checked by the guard: remembered in the scope
    body = await _body(request, PresentationSubmission)
    answer = await service.respond(
        _runtime(request), principal, request_id, body.presentations, _now(request), _request_id(request)
    )
    return _answer(answer)


@RoleGuardedRoute(  # as @post; its guard gets the handler, not a copy per request
    "/verifications",
    http_method=HttpMethod.POST,
    guards=[requires(Role.VERIFIER)],
    tags=TAGS,
    operation_id="verify_presentations",
    summary="Verify presentations you received, for your request or ad hoc with a policy and nonce",
    cache_control=NO_STORE,
)
async def verify_presentations(request: Request[Any, Any, Any]) -> Response[VerificationRead]:
    principal = await provide_principal(request)  # checked by the guard: remembered in the scope
    body = await _body(request, VerificationCreate)
    answer = await service.verify(_runtime(request), principal, body, _now(request), _request_id(request))
    return _answer(answer)


@get(
    "/holder/verifications",
    guards=[requires(Role.HOLDER)],
    tags=TAGS,
    operation_id="list_holder_verifications",
    summary="Every verification of your credentials: who, when, why, which claims, the verdict",
    cache_control=NO_STORE,
)
async def list_holder_verifications(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    offset: Offset = 0,
) -> HolderVerificationPage:
    return await service.holder_verifications(
        db_session, _runtime(request), principal, limit=limit, offset=offset
    )


VERIFICATION_HANDLERS: Sequence[ControllerRouterHandler] = [
    create_presentation_request,
    list_presentation_requests,
    get_presentation_request,
    get_presentation_request_for_holder,
    respond_to_presentation_request,
    verify_presentations,
    list_holder_verifications,
]
