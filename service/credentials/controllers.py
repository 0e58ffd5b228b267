"""HTTP routes of the credentials: public documents (status lists, type metadata, issuer metadata), the
issuer's actions and listing (``/api/v1/credentials``), the holder's keys and credentials
(``/api/v1/holder``), and the device grant (``/oauth/device_authorization``, the ``/device`` page).
Thin: parse, call the service, return a schema."""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Final

import msgspec
from litestar import Request, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Response
from litestar.types import ControllerRouterHandler

from service import audit
from service.audit import DbSession
from service.auth import CurrentPrincipal, OAuthError, Role, TokenService, requires
from service.credentials import device, service
from service.credentials.schemas import (
    CredentialAction,
    CredentialPage,
    CredentialRead,
    DeviceAuthorizationRequest,
    DeviceAuthorizationResponse,
    HolderCredentials,
    HolderKeyRead,
    HolderKeyRegistration,
    IssuerMetadata,
    NonceRead,
)
from service.errors import NotFound, handle_service_error
from service.passport.claims import SPECS, VERSION, type_metadata
from service.web.pages import WEB_EXCEPTION_HANDLERS, csrf_guard, redirect, render

TAGS: Final = ["credentials"]
PUBLIC: Final[dict[str, Any]] = {"public": True}
NO_STORE: Final = CacheControlHeader(no_store=True)
STATUS_LIST_MEDIA: Final = "application/statuslist+jwt"
METADATA_CACHE: Final = "public, max-age=3600"
_SLUGS: Final = {spec.slug: kind for kind, spec in SPECS.items()}
_ISSUER_KEY: Final = "credential_issuer"


def _now(request: Request[Any, Any, Any]) -> dt.datetime:
    now: dt.datetime = request.app.state.clock()
    return now


def issuer_of(request: Request[Any, Any, Any]) -> service.Issuer:
    """The app's :class:`service.Issuer` (made once: it caches organisation names)."""
    found: service.Issuer | None = request.app.state.get(_ISSUER_KEY)
    if found is None:
        found = service.issuer_from_state(request.app.state)
        request.app.state[_ISSUER_KEY] = found
    return found


# ---------------------------------------------------------------- public documents


@get(
    "/status-lists/{list_id:str}",
    tags=TAGS,
    summary="A status list token (statuslist+jwt, 2 bits per credential)",
    operation_id="status_list",
    opt=PUBLIC,
    media_type=STATUS_LIST_MEDIA,
)
async def status_list(
    request: Request[Any, Any, Any], db_session: DbSession, list_id: FromPath[str]
) -> Response[str]:
    found = await service.published_list(db_session, list_id[:40])
    if found is None:
        raise NotFound("No such status list.", code="status_list_not_found")
    token, etag = found
    headers = {"Cache-Control": f"public, max-age={service.STATUS_TTL}", "ETag": f'"{etag}"'}
    if request.headers.get("if-none-match") in (f'"{etag}"', f'W/"{etag}"'):
        return Response("", status_code=304, headers=headers, media_type=STATUS_LIST_MEDIA)
    return Response(token, headers=headers, media_type=STATUS_LIST_MEDIA)


@get(
    "/vct/{slug:str}/{version:str}",
    tags=TAGS,
    summary="SD-JWT VC type metadata of a credential type (its vct URL)",
    operation_id="type_metadata",
    opt=PUBLIC,
)
async def vct_metadata(
    request: Request[Any, Any, Any], slug: FromPath[str], version: FromPath[str]
) -> Response[dict[str, Any]]:
    kind = _SLUGS.get(slug)
    if kind is None or version != VERSION:
        raise NotFound("No such credential type.", code="unknown_vct")
    body = type_metadata(request.app.state.settings.public_base_url, kind)
    return Response(body, headers={"Cache-Control": METADATA_CACHE})


@get(
    "/.well-known/jwt-vc-issuer",
    tags=TAGS,
    summary="JWT VC issuer metadata: the issuer and its credential keys",
    operation_id="jwt_vc_issuer",
    opt=PUBLIC,
)
async def jwt_vc_issuer(request: Request[Any, Any, Any]) -> Response[IssuerMetadata]:
    base: str = request.app.state.settings.issuer
    body = IssuerMetadata(issuer=base, jwks=request.app.state.keyring.jwks("credential"))
    return Response(body, headers={"Cache-Control": "public, max-age=300"})


# ---------------------------------------------------------------- issuers and admins


@get(
    "/credentials",
    guards=[requires(Role.ADMIN, Role.ISSUER)],
    tags=TAGS,
    operation_id="list_credentials",
    summary="A person's credentials, metadata only (an issuer: those stating its records)",
    cache_control=NO_STORE,
)
async def list_credentials(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    person_id: FromQuery[uuid.UUID],
) -> CredentialPage:
    items = await service.list_credentials(
        db_session, principal, person_id, request.app.state.settings.public_base_url
    )
    return CredentialPage(items=items)


async def _act(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    credential_id: uuid.UUID,
    action: str,
    data: JSONBody[CredentialAction],
) -> CredentialRead:
    audit.set_subject(request, f"credential:{credential_id}")
    return await service.change_state(
        db_session, issuer_of(request), principal, credential_id, action, data.reason, now=_now(request)
    )


@post(
    "/credentials/{credential_id:uuid}/revoke",
    guards=[requires(Role.ADMIN, Role.ISSUER)],
    tags=TAGS,
    operation_id="revoke_credential",
    summary="Revoke a credential (for good), with a reason",
    status_code=200,
    cache_control=NO_STORE,
)
async def revoke(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    credential_id: FromPath[uuid.UUID],
    data: JSONBody[CredentialAction],
) -> CredentialRead:
    return await _act(request, db_session, principal, credential_id, "revoke", data)


@post(
    "/credentials/{credential_id:uuid}/suspend",
    guards=[requires(Role.ADMIN, Role.ISSUER)],
    tags=TAGS,
    operation_id="suspend_credential",
    summary="Suspend a credential, with a reason",
    status_code=200,
    cache_control=NO_STORE,
)
async def suspend(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    credential_id: FromPath[uuid.UUID],
    data: JSONBody[CredentialAction],
) -> CredentialRead:
    return await _act(request, db_session, principal, credential_id, "suspend", data)


@post(
    "/credentials/{credential_id:uuid}/reinstate",
    guards=[requires(Role.ADMIN, Role.ISSUER)],
    tags=TAGS,
    operation_id="reinstate_credential",
    summary="Reinstate a suspended credential, with a reason",
    status_code=200,
    cache_control=NO_STORE,
)
async def reinstate(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    credential_id: FromPath[uuid.UUID],
    data: JSONBody[CredentialAction],
) -> CredentialRead:
    return await _act(request, db_session, principal, credential_id, "reinstate", data)


# ---------------------------------------------------------------- the holder


@post(
    "/holder/nonce",
    guards=[requires(Role.HOLDER)],
    tags=TAGS,
    operation_id="holder_nonce",
    summary="A nonce for the proof of possession of a holder key (single use, 5 minutes)",
    status_code=201,
    cache_control=NO_STORE,
)
async def holder_nonce(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> NonceRead:
    person = service.holder_person(principal)
    return await service.new_nonce(
        db_session, person, request.app.state.settings.public_base_url, now=_now(request)
    )


@post(
    "/holder/keys",
    guards=[requires(Role.HOLDER)],
    tags=TAGS,
    operation_id="register_holder_key",
    summary="Register your wallet's public key with a proof of possession; your credentials are issued to it",
    status_code=201,
    cache_control=NO_STORE,
)
async def register_holder_key(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: JSONBody[HolderKeyRegistration],
) -> HolderKeyRead:
    person = service.holder_person(principal)
    audit.set_subject(request, f"person:{person}")
    return await service.register_key(db_session, issuer_of(request), person, data.proof, now=_now(request))


@get(
    "/holder/credentials",
    guards=[requires(Role.HOLDER)],
    tags=TAGS,
    operation_id="holder_credentials",
    summary="Your current credentials, each with every disclosure",
    cache_control=NO_STORE,
)
async def holder_credentials(
    request: Request[Any, Any, Any], db_session: DbSession, principal: CurrentPrincipal
) -> HolderCredentials:
    person = service.holder_person(principal)
    return HolderCredentials(items=await service.holder_credentials(db_session, issuer_of(request), person))


# ---------------------------------------------------------------- the device grant (RFC 8628)


@post(
    "/oauth/device_authorization",
    tags=["auth"],
    operation_id="oauth_device_authorization",
    summary="Start the device authorization grant (RFC 8628) for the wallet",
    status_code=200,
    opt=PUBLIC,
)
async def device_authorization(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    data: Annotated[DeviceAuthorizationRequest, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[DeviceAuthorizationResponse]:
    body = await device.authorize(
        db_session, data.client_id, request.app.state.settings.public_base_url, now=_now(request)
    )
    return Response(body, headers={"Cache-Control": "no-store"})


async def device_token(
    request: Request[Any, Any, Any], db_session: Any, device_code: str, client_id: str
) -> Response[Any]:
    """``grant_type=urn:ietf:params:oauth:grant-type:device_code`` at ``POST /oauth/token``."""
    tokens: TokenService = request.app.state.tokens
    result = await device.token(db_session, tokens, device_code, client_id, now=_now(request))
    if isinstance(result, OAuthError):
        return handle_service_error(request, result)
    body = {"access_token": result, "token_type": "Bearer", "expires_in": tokens.lifetime, "scope": "holder"}
    return Response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


class DeviceForm(msgspec.Struct, frozen=True):
    user_code: str = ""
    decision: str = ""


@get("/device", guards=[requires(Role.HOLDER)], operation_id="device_page", include_in_schema=False)
async def device_page(request: Request[Any, Any, Any], user_code: FromQuery[str] = "") -> Response[str]:
    return await render(request, "device.html", user_code=user_code[:20], error=None, done=None)


@post(
    "/device",
    guards=[requires(Role.HOLDER), csrf_guard],
    operation_id="device_decide",
    include_in_schema=False,
    status_code=200,
)
async def device_decide(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    principal: CurrentPrincipal,
    data: Annotated[DeviceForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Any:
    approve = data.decision == "approve"
    audit.set_subject(request, "device:" + ("approve" if approve else "deny"))
    if not await device.decide(db_session, principal, data.user_code, approve, now=_now(request)):
        return await render(
            request,
            "device.html",
            status=422,
            user_code=data.user_code[:20],
            done=None,
            error="This code is not valid: it may have expired or been used. Start again in your wallet.",
        )
    notice = "Your wallet is signed in: go back to it." if approve else "You refused the wallet's sign-in."
    return redirect("/device?done=1", notice=notice, request=request)


DEVICE_ROUTER = Router(
    "/",
    route_handlers=[device_page, device_decide],
    exception_handlers=WEB_EXCEPTION_HANDLERS,
    include_in_schema=False,
)

PUBLIC_HANDLERS: Sequence[ControllerRouterHandler] = [
    status_list,
    vct_metadata,
    jwt_vc_issuer,
    device_authorization,
    DEVICE_ROUTER,
]
"""Mounted at the root: public documents, the device grant's endpoint and page."""
CREDENTIALS_HANDLERS: Sequence[ControllerRouterHandler] = [
    list_credentials,
    revoke,
    suspend,
    reinstate,
    holder_nonce,
    register_holder_key,
    holder_credentials,
]
"""Mounted under ``/api/v1``."""
