"""HTTP routes of OpenID4VCI issuance: the issuer metadata, offers (made at ``/api/v1/credential-offers``,
served by reference at ``/oid4vci/offers/{id}``), the nonce, credential and notification endpoints. The
token endpoint is ``/oauth/token`` (:func:`token`, called by :func:`service.auth.token_endpoint` for the
pre-authorized code grant). Thin: parse, call the service, return a schema."""

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from litestar import Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, JSONBody
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, Role, requires
from service.credentials.controllers import issuer_of
from service.errors import problem_responses
from service.observability import ensure_request_id
from service.oid4vc import authorization, metadata, service
from service.oid4vc.schemas import (
    CredentialResponse,
    NonceResponse,
    NotificationRequest,
    OfferCreate,
    OfferCreated,
    OpenId4VpLinks,
    PreAuthorizedTokenResponse,
)
from service.verification import service as verification

TAGS: Final = ["openid4vci"]
CLOSED_REQUEST: Final = problem_responses(
    {
        409: "The presentation request has already been answered (`request_answered`): a nonce is used once",
        410: "The presentation request has expired (`request_expired`): the verifier makes a new one",
    }
)
"""The answers of a route acting on a presentation request that is no longer open (the OpenID4VP routes
here, and the verification routes' answering ones: see :func:`service.app.create_app`)."""
PUBLIC: Final[dict[str, Any]] = {"public": True}
NO_STORE: Final = CacheControlHeader(no_store=True)
NO_STORE_HEADERS: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _now(request: Request[Any, Any, Any]) -> dt.datetime:
    now: dt.datetime = request.app.state.clock()
    return now


def issuer_metadata_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    settings = request.app.state.settings
    algorithms = [settings.credential_alg]
    return metadata.credential_issuer_metadata(
        settings.public_base_url, signing_algorithms=algorithms, batch_size=service.BATCH_SIZE
    )


@get(
    "/.well-known/openid-credential-issuer",
    tags=TAGS,
    summary="OpenID4VCI credential issuer metadata",
    operation_id="openid_credential_issuer",
    opt=PUBLIC,
)
async def issuer_metadata(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    return Response(issuer_metadata_document(request), headers={"Cache-Control": "public, max-age=300"})


@post(
    "/credential-offers",
    guards=[requires(Role.ADMIN, Role.ISSUER, Role.HOLDER)],
    tags=TAGS,
    operation_id="create_credential_offer",
    summary="Offer credentials to a person's wallet: link, QR code, and the transaction code to send apart",
    status_code=201,
    cache_control=NO_STORE,
)
async def create_offer(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[OfferCreate],
) -> OfferCreated:
    audit.set_subject(request, f"person:{data.person_id}")
    return await service.create_offer(db_session, issuer_of(request), principal, data, now=_now(request))


@get(
    metadata.DEFAULT_ENDPOINTS.offers + "/{offer_id:str}",
    tags=TAGS,
    summary="A credential offer by reference (served once)",
    operation_id="credential_offer",
    opt={**PUBLIC, "writes": True},  # it burns the served copy: a write session (decision 0045)
)
async def offer(
    request: Request[Any, Any, Any], db_session: DbSession, offer_id: FromPath[str]
) -> Response[bytes]:
    body = await service.offer_object(db_session, issuer_of(request), offer_id, now=_now(request))
    # A GET changes nothing by the audit's rule, but this one burns the served copy: commit it.
    await db_session.commit()
    return Response(body, media_type="application/json", headers=NO_STORE_HEADERS)


async def token(
    request: Request[Any, Any, Any], db_session: AsyncSession, form: Mapping[str, str | Sequence[str]]
) -> Response[PreAuthorizedTokenResponse]:
    """``/oauth/token`` with ``grant_type=urn:ietf:params:oauth:grant-type:pre-authorized_code``."""
    try:
        body = await service.redeem(db_session, form, now=_now(request))
    except service.Refusal:
        await db_session.commit()  # the counted wrong code, or the burnt offer, must stay
        raise
    return Response(body, headers=NO_STORE_HEADERS)


@post(
    metadata.DEFAULT_ENDPOINTS.nonce,
    tags=TAGS,
    summary="A fresh c_nonce for key proofs",
    operation_id="oid4vci_nonce",
    opt=PUBLIC,
    status_code=200,
)
async def nonce(request: Request[Any, Any, Any], db_session: DbSession) -> Response[NonceResponse]:
    value = await service.new_c_nonce(db_session, now=_now(request))
    return Response(NonceResponse(c_nonce=value), headers=NO_STORE_HEADERS)


@post(
    metadata.DEFAULT_ENDPOINTS.credential,
    tags=TAGS,
    summary="Issue credentials: one per key proof, each bound to its key (batch issuance)",
    operation_id="oid4vci_credential",
    opt=PUBLIC,
    status_code=200,
)
async def credential(
    request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[dict[str, Any]]
) -> Response[CredentialResponse]:
    now = _now(request)
    token_row = await service.bearer(db_session, request.headers.get("authorization"), now=now)
    audit.set_subject(request, f"person:{token_row.person_id}")
    body = await service.issue(db_session, issuer_of(request), token_row, data, now=now)
    return Response(body, headers=NO_STORE_HEADERS)


@post(
    metadata.DEFAULT_ENDPOINTS.notification,
    tags=TAGS,
    summary="The wallet says whether it kept the credentials (accepted, deleted, failure)",
    operation_id="oid4vci_notification",
    opt=PUBLIC,
    status_code=204,
)
async def notification(
    request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[NotificationRequest]
) -> None:
    now = _now(request)
    token_row = await service.bearer(db_session, request.headers.get("authorization"), now=now)
    person = await service.notify(db_session, token_row, data, now=now)
    audit.set_subject(request, f"person:{person} oid4vci {data.event}")


# ---------------------------------------------------------------- OpenID4VP


def _runtime(request: Request[Any, Any, Any]) -> verification.Runtime:
    runtime: verification.Runtime = request.app.state.verification
    return runtime


@get(
    "/presentation-requests/{request_id:uuid}/openid4vp",
    guards=[requires(Role.VERIFIER)],
    tags=["openid4vp"],
    operation_id="presentation_request_openid4vp",
    responses=CLOSED_REQUEST,
    summary="Your presentation request as an OpenID4VP link and QR code (signed request by reference)",
    cache_control=NO_STORE,
)
async def wallet_links(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    request_id: FromPath[uuid.UUID],
) -> OpenId4VpLinks:
    return await service.wallet_links(db_session, _runtime(request), principal, request_id, now=_now(request))


@get(
    service.REQUESTS_PATH + "/{request_id:uuid}",
    tags=["openid4vp"],
    summary="The signed OpenID4VP request object of a presentation request (request_uri)",
    operation_id="oid4vp_request_object",
    responses=CLOSED_REQUEST,
    opt=PUBLIC,
    media_type=authorization.REQUEST_MEDIA_TYPE,
)
async def request_object(request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID]) -> Response[str]:
    alg = request.app.state.settings.credential_alg
    token = await service.request_object(_runtime(request), request_id, alg=alg, now=_now(request))
    return Response(token, media_type=authorization.REQUEST_MEDIA_TYPE, headers=NO_STORE_HEADERS)


@post(
    service.RESPONSES_PATH + "/{request_id:uuid}",
    tags=["openid4vp"],
    summary="The wallet's direct_post answer (form: vp_token, state)",
    operation_id="oid4vp_direct_post",
    responses=CLOSED_REQUEST,
    opt=PUBLIC,
    status_code=200,
)
async def direct_post(
    request: Request[Any, Any, Any], request_id: FromPath[uuid.UUID]
) -> Response[dict[str, Any]]:
    form = await request.form()
    await service.direct_post(
        _runtime(request),
        request_id,
        {k: form.getall(k) for k in form},
        now=_now(request),
        http_request_id=ensure_request_id(request.scope),
    )
    return Response({}, headers=NO_STORE_HEADERS)


@get(
    "/.well-known/did.json",
    tags=["openid4vp"],
    summary="The registry's did:web DID document (its OpenID4VP client identifier's keys)",
    operation_id="did_document",
    opt=PUBLIC,
)
async def did_document(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    return Response(service.did_document(_runtime(request)), headers={"Cache-Control": "public, max-age=300"})


API_HANDLERS: Final[Sequence[ControllerRouterHandler]] = (create_offer, wallet_links)
PUBLIC_HANDLERS: Final[Sequence[ControllerRouterHandler]] = (
    issuer_metadata,
    offer,
    nonce,
    credential,
    notification,
    request_object,
    direct_post,
    did_document,
)
