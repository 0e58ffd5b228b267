"""Web pages: sign-in (OpenID Connect, or the demo page in demo mode), the landing page, and the router
that mounts every area's pages (``records.py``, ``placements.py``, ``benchmarks.py``, ``additionality.py``).

Every page handler is either marked public (``opt={"public": True}``) or guarded with
``requires(...)``. Form posts carry :func:`csrf_guard`. Errors under this router are HTML pages.
"""

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery, QueryParameter
from litestar.response import Redirect, Response
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from service.audit import DbSession, Entry, append, set_subject
from service.auth import SESSION_COOKIE, TokenService, User
from service.config import Settings
from service.errors import NotFound, ServiceError
from service.web import service as web
from service.web.additionality import ADDITIONALITY_PAGES
from service.web.benchmarks import BENCHMARK_PAGES
from service.web.doctor import DOCTOR_PAGES
from service.web.hr import HR_PAGES
from service.web.oidc import OidcClient
from service.web.pages import (
    RETURN_COOKIE,
    STATIC,
    STATIC_PATH,
    WEB_EXCEPTION_HANDLERS,
    cookie,
    csrf_guard,
    error_page,
    expired_cookie,
    redirect,
    render,
    returned_to,
    session_cookie,
    settings_of,
    signed_in,
)
from service.web.placements import PLACEMENTS_HANDLERS
from service.web.records import RECORDS_HANDLERS
from service.web.wallet import WALLET_PAGES

PUBLIC: dict[str, Any] = {"public": True}
OIDC_COOKIE = "passport_oidc"
OIDC_COOKIE_PATH = "/auth/oidc"
CALLBACK_PATH = "/auth/oidc/callback"
_STATE_KEY = "web_oidc_client"


class DemoSignInForm(msgspec.Struct, frozen=True):
    user_id: str = ""


def oidc_configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret)


def _oidc_client(request: Request[Any, Any, Any]) -> OidcClient | None:
    """The app's OIDC client, made on first use; it caches the provider's metadata and keys."""
    settings = settings_of(request)
    if not oidc_configured(settings):
        return None
    client: OidcClient | None = request.app.state.get(_STATE_KEY)
    if client is None:
        client = OidcClient(
            issuer=settings.oidc_issuer or "",
            client_id=settings.oidc_client_id or "",
            client_secret=settings.oidc_client_secret or "",
            redirect_uri=settings.issuer + CALLBACK_PATH,
        )
        request.app.state[_STATE_KEY] = client
    return client


def _signed_in(request: Request[Any, Any, Any], user: User) -> Response[Any]:
    """Start the session: the audit event of this request names the person as the actor."""
    principal = web.principal_for(user)
    request.scope.setdefault("state", {})["principal"] = principal
    set_subject(request, f"user:{user.id}")
    tokens: TokenService = request.app.state.tokens
    settings = settings_of(request)
    session = session_cookie(settings, tokens.issue_session(principal))
    return redirect(returned_to(request), cookies=[session, expired_cookie(settings, RETURN_COOKIE)])


# ---------------------------------------------------------------- pages


@get("/", name="web_home", opt=PUBLIC)
async def home(request: Request[Any, Any, Any], db_session: DbSession) -> Response[str]:
    principal = await signed_in(request)
    organisation = None
    if principal is not None:
        organisation = await web.organisation_name(db_session, principal.organisation)
    return await render(request, "home.html", organisation_name=organisation)


@get("/signin", name="web_signin", opt=PUBLIC)
async def signin_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[str]:
    settings = settings_of(request)
    groups = await web.demo_users(db_session) if settings.demo_mode else {}
    return await render(request, "signin.html", oidc_enabled=oidc_configured(settings), demo_groups=groups)


@post(
    "/signin/demo",
    name="web_demo_sign_in",
    operation_id="web_demo_sign_in",
    guards=[csrf_guard],
    opt=PUBLIC,
    status_code=303,
)
async def demo_sign_in(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    data: Annotated[DemoSignInForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    user = await web.demo_sign_in(db_session, data.user_id, demo_mode=settings_of(request).demo_mode)
    return _signed_in(request, user)


@post(
    "/signout",
    name="web_signout",
    operation_id="web_sign_out",
    guards=[csrf_guard],
    opt=PUBLIC,
    status_code=303,
)
async def sign_out(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    # db_session makes the sign-out an audited event; looking the principal up names who signed out.
    await signed_in(request)
    return redirect("/", cookies=[expired_cookie(settings_of(request), SESSION_COOKIE)])


# ---------------------------------------------------------------- OpenID Connect


@get(OIDC_COOKIE_PATH + "/login", name="web_oidc_login", opt=PUBLIC)
async def oidc_login(request: Request[Any, Any, Any]) -> Response[Any]:
    client = _oidc_client(request)
    if client is None:
        raise NotFound("Sign-in with an identity provider is not configured.")
    settings = settings_of(request)
    url, sealed = await web.start_oidc_sign_in(
        client, request.app.state.keyring, issuer=settings.issuer, now=request.app.state.clock()
    )
    kept = cookie(settings, OIDC_COOKIE, sealed, max_age=web.OIDC_STATE_LIFETIME, path=OIDC_COOKIE_PATH)
    return redirect(url, status=302, cookies=[kept])


# A GET that writes (the user, the sign-in's audit): its session is a write session (decision 0045).
@get(
    CALLBACK_PATH,
    name="web_oidc_callback",
    operation_id="web_oidc_callback",
    opt={**PUBLIC, "writes": True},
)
async def oidc_callback(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    code: FromQuery[str | None] = None,
    returned_state: Annotated[str | None, QueryParameter(name="state")] = None,
    error: FromQuery[str | None] = None,
) -> Response[Any]:
    """The provider sends the browser back here. Success and refusal are both audited (this is a GET)."""
    client = _oidc_client(request)
    if client is None:
        raise NotFound("Sign-in with an identity provider is not configured.")
    settings = settings_of(request)
    clear_state = expired_cookie(settings, OIDC_COOKIE, path=OIDC_COOKIE_PATH)
    try:
        user = await web.finish_oidc_sign_in(
            db_session,
            client,
            request.app.state.keyring,
            sealed=request.cookies.get(OIDC_COOKIE),
            state=returned_state,
            code=code,
            error=error,
            issuer=settings.issuer,
            now=request.app.state.clock(),
        )
    except ServiceError as exc:
        # The refusal is committed with the request's transaction, as the page is returned, not raised.
        await _audit_callback(request, db_session, _outcome(exc.status))
        return error_page(request, exc.status, exc.detail, cookies=[clear_state])
    response = _signed_in(request, user)
    response.cookies.append(clear_state)
    await _audit_callback(request, db_session, "success")
    return response


def _outcome(status: int) -> str:
    if status >= 500:
        return f"failed {status}"
    return f"denied {status}" if status in (401, 403) else f"rejected {status}"


async def _audit_callback(request: Request[Any, Any, Any], db_session: DbSession, outcome: str) -> None:
    """The audit event of a callback, in the request's transaction (the app audits only POSTs itself)."""
    state = request.scope.get("state", {})
    principal = state.get("principal")
    await append(
        db_session,
        Entry(
            at=request.app.state.clock(),
            actor=getattr(principal, "subject", None) or "anonymous",
            organisation=getattr(principal, "organisation", None),
            action="GET web_oidc_callback",
            subject=str(state.get("audit_subject") or request.url.path),
            request_id=state.get("request_id"),
            outcome=outcome,
        ),
    )


ICONS_PATH = "/static/icons"
ICONS = STATIC / "icons"
ICON = f"{ICONS_PATH}/registry-1.svg"
"""The site's icon (``base.html`` links it). Served for a year: change the file's name when it changes."""
ICON_CACHE = CacheControlHeader(public=True, max_age=365 * 24 * 3600, immutable=True)


@get(
    "/favicon.ico",
    name="web_favicon",
    opt=PUBLIC,
    cache_control=CacheControlHeader(public=True, max_age=86_400),
)
async def favicon() -> Redirect:
    """Browsers (and tools) that ask for ``/favicon.ico`` without reading the page get the SVG icon."""
    return Redirect(ICON, status_code=301)


WEB_ROUTER = Router(
    "/",
    route_handlers=[
        home,
        signin_page,
        demo_sign_in,
        sign_out,
        oidc_login,
        oidc_callback,
        *RECORDS_HANDLERS,
        *DOCTOR_PAGES,
        *PLACEMENTS_HANDLERS,
        *BENCHMARK_PAGES,
        *ADDITIONALITY_PAGES,
        *WALLET_PAGES,
        *HR_PAGES,
        favicon,
        create_static_files_router(STATIC_PATH, directories=[STATIC], name="web_static", opt=PUBLIC),
        create_static_files_router(
            ICONS_PATH, directories=[ICONS], name="web_icons", opt=PUBLIC, cache_control=ICON_CACHE
        ),
    ],
    exception_handlers=WEB_EXCEPTION_HANDLERS,
    include_in_schema=False,
)

WEB_HANDLERS: Sequence[ControllerRouterHandler] = [WEB_ROUTER]
