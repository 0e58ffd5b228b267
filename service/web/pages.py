"""Rendering web pages: templates, cookies, CSRF protection, security headers, navigation, notices,
form errors, error pages. How to add a page: ``docs/web.md``.

- Templates are Jinja2 with autoescaping, under ``service/web/templates``; no CDN. A page has no
  JavaScript unless it names its own scripts (``render(..., scripts=["x.js"])``, files under
  ``service/web/static/``): only then does its Content-Security-Policy allow ``script-src 'self'``.
- Navigation: :data:`NAVIGATION` lists every page link with the roles that may open it; the layout shows
  a signed-in person the links of their role.
- Notices ("flash"): after a form post that changed something, :func:`redirect` with ``notice=...``
  carries one short message, signed, in a cookie that the next page shows once and clears.
- Form errors: a handler that catches a domain error raises :class:`FormRejected` with the page to show
  again; the request's transaction is then rolled back (nothing half-done) and the refusal audited.
- CSRF: a double-submit token. A random token lives in an HttpOnly ``SameSite=Lax`` cookie and in a
  hidden field of every form; :func:`csrf_guard` refuses a POST whose field does not match the cookie,
  or that a browser says came from another origin. Only the web pages use it: the API under ``/api``
  and ``/oauth`` authenticates with bearer tokens and is not touched.
- Every page is ``Cache-Control: no-store`` and carries a strict Content-Security-Policy.
- Errors on pages are HTML pages (the exception handlers below are scoped to the web router), so the
  app-wide problem+json rendering of the API is unchanged.
"""

import base64
import datetime as dt
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, cast
from urllib.parse import urlsplit

import jwt
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Response
from litestar.types import ExceptionHandlersMap

from service.auth import ALL_ROLES, SESSION_COOKIE, Principal, Role, authenticate
from service.config import Settings
from service.errors import Forbidden, ServiceError, Unauthorized
from service.errors import handle_http_exception as api_http_exception
from service.errors import handle_unexpected as problem_for_unexpected
from service.keys import KeyRing
from service.passport.encryption import DataKeyRing

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/static/web"
CSRF_COOKIE = "passport_csrf"
CSRF_FIELD = "csrf_token"
_CSRF_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
NOTICE_COOKIE = "passport_notice"
NOTICE_TYP = "notice+jwt"
NOTICE_LIFETIME = 120
"""Seconds a notice waits for the page that shows it (the redirect is followed at once)."""
RETURN_COOKIE = "passport_return"
RETURN_LIFETIME = 900
"""Seconds the page asked for before signing in is remembered (a sign-in at the identity provider too)."""

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
SCRIPT_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": CSP + "; script-src 'self'; connect-src 'self'",
}
"""Headers of a page that names its own scripts: still no inline script, no other origin."""

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

ROLE_LABELS = {
    "holder": "Doctor (passport holder)",
    "issuer": "Issuer (HR, occupational health, training)",
    "verifier": "Provider HR (verifier)",
    "coordinator": "Placement coordinator",
    "analyst": "Analyst",
    "admin": "Operator (administrator)",
}


@dataclass(frozen=True)
class NavItem:
    """A link of the navigation bar, shown to the roles that may open its page."""

    label: str
    href: str
    roles: frozenset[Role]


_EVERY_ROLE = frozenset(ALL_ROLES)
NAVIGATION: tuple[NavItem, ...] = (
    NavItem("Home", "/", _EVERY_ROLE),
    NavItem("My passport", "/passport", frozenset({Role.HOLDER})),
    NavItem("My wallet", "/wallet", frozenset({Role.HOLDER})),
    NavItem("Records", "/records", frozenset({Role.ISSUER, Role.ADMIN})),
    NavItem("Placement runs", "/placements", frozenset({Role.COORDINATOR, Role.ADMIN})),
    NavItem("Benchmarks", "/benchmarks", frozenset({Role.ANALYST, Role.ADMIN})),
    NavItem("Additionality", "/additionality", frozenset({Role.ANALYST, Role.COORDINATOR, Role.ADMIN})),
    NavItem("Check a passport", "/verify", frozenset({Role.VERIFIER})),
    NavItem("Verification history", "/verify/history", frozenset({Role.VERIFIER})),
)
"""Every page link of the navigation bar. A page for a role adds its row here (``docs/web.md``); the
guard of the page's route must let the same roles in (``tests/web/test_pages.py`` checks it)."""


def navigation(principal: Principal | None, path: str) -> list[tuple[NavItem, bool]]:
    """The links this person sees, each with whether it is the current section (``aria-current``)."""
    if principal is None:
        return []
    items = [item for item in NAVIGATION if principal.role in item.roles]
    current = max((i.href for i in items if _within(path, i.href)), key=len, default=None)
    return [(item, item.href == current) for item in items]


def _within(path: str, href: str) -> bool:
    return path == href or (href != "/" and path.startswith(href + "/"))


def settings_of(request: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def now_of(request: ASGIConnection[Any, Any, Any, Any]) -> dt.datetime:
    """The app's clock (tests inject one): what every page takes as now."""
    now: dt.datetime = request.app.state.clock()
    return now


def data_keys_of(request: ASGIConnection[Any, Any, Any, Any]) -> DataKeyRing:
    """The data keys that open sealed records and credentials (occupational health)."""
    keys: DataKeyRing = request.app.state.data_keys
    return keys


def is_https(settings: Settings) -> bool:
    return urlsplit(settings.public_base_url).scheme == "https"


def cookie(settings: Settings, key: str, value: str, *, max_age: int, path: str = "/") -> Cookie:
    """A cookie as every web cookie is: HttpOnly, SameSite=Lax, Secure when the registry is on https."""
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="lax",
        secure=is_https(settings),
    )


def expired_cookie(settings: Settings, key: str, *, path: str = "/") -> Cookie:
    return cookie(settings, key, "", max_age=0, path=path)


def _csrf_token(request: Request[Any, Any, Any]) -> tuple[str, bool]:
    """The browser's CSRF token, or a new one (``True``) to set."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing is not None and _CSRF_SHAPE.match(existing):
        return existing, False
    return secrets.token_urlsafe(32), True


async def signed_in(request: Request[Any, Any, Any]) -> Principal | None:
    """The person (or client) this page is for, or ``None``; a page never fails on a bad credential."""
    try:
        return await authenticate(request)
    except ServiceError:  # e.g. a malformed Authorization header on a page: render as signed out
        return None


async def render(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    scripts: Sequence[str] = (),
    **context: Any,
) -> Response[str]:
    """Render ``template`` inside the layout: who is signed in, their navigation, the CSRF token, the
    notice left by the previous page, the demo banner. ``scripts``: files of ``static/`` the page loads."""
    principal = await signed_in(request)
    return render_now(
        request, template, principal=principal, status=status, cookies=cookies, scripts=scripts, **context
    )


def render_now(
    request: Request[Any, Any, Any],
    template: str,
    *,
    principal: Principal | None,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    scripts: Sequence[str] = (),
    **context: Any,
) -> Response[str]:
    """:func:`render` for a known principal (exception handlers cannot await)."""
    settings = settings_of(request)
    token, new = _csrf_token(request)
    all_cookies = list(cookies or [])
    notice = _take_notice(request, all_cookies)
    html = _environment.get_template(template).render(
        principal=principal,
        navigation=navigation(principal, request.url.path),
        notice=notice,
        csrf_field=CSRF_FIELD,
        csrf_token=token,
        demo_mode=settings.demo_mode,
        static=STATIC_PATH,
        scripts=[f"{STATIC_PATH}/{name}" for name in scripts],
        role_labels=ROLE_LABELS,
        **context,
    )
    if new:
        all_cookies.append(cookie(settings, CSRF_COOKIE, token, max_age=settings.session_lifetime))
    return Response(
        html,
        status_code=status,
        media_type=MediaType.HTML,
        headers=SCRIPT_HEADERS if scripts else SECURITY_HEADERS,
        cookies=all_cookies,
    )


def redirect(
    to: str,
    *,
    status: Literal[302, 303] = 303,
    cookies: list[Cookie] | None = None,
    notice: str | None = None,
    request: Request[Any, Any, Any] | None = None,
) -> Redirect:
    """A redirect; with ``notice`` (and the ``request``), the page it leads to shows that message once."""
    all_cookies = list(cookies or [])
    if notice is not None:
        if request is None:
            raise TypeError("a notice needs the request")  # pragma: no cover - a programming error
        settings = settings_of(request)
        sealed = seal_notice(
            request.app.state.keyring, notice, issuer=settings.issuer, now=request.app.state.clock()
        )
        all_cookies.append(cookie(settings, NOTICE_COOKIE, sealed, max_age=NOTICE_LIFETIME))
    return Redirect(to, status_code=status, headers=SECURITY_HEADERS, cookies=all_cookies)


# ---------------------------------------------------------------- notices


def _notice_audience(issuer: str) -> str:
    return issuer + "/web/notice"


def seal_notice(keyring: KeyRing, text: str, *, issuer: str, now: dt.datetime) -> str:
    """A short message for the next page, signed with the token key so no one else can plant one."""
    key = keyring.signer("token", "ES256")
    issued = int(now.timestamp())
    claims = {
        "aud": _notice_audience(issuer),
        "iat": issued,
        "exp": issued + NOTICE_LIFETIME,
        "msg": text[:500],
    }
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"typ": NOTICE_TYP, "kid": key.kid})


def open_notice(keyring: KeyRing, token: str, *, issuer: str, now: dt.datetime) -> str | None:
    """The message sealed by :func:`seal_notice`, or ``None`` if it is forged, stale or not one."""
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = keyring.verification_key("token", kid) if isinstance(kid, str) else None
        if header.get("typ") != NOTICE_TYP or key is None or header.get("alg") != key.alg:
            return None
        claims: dict[str, Any] = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=[key.alg],
            audience=_notice_audience(issuer),
            options={"require": ["exp", "iat", "aud"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return None
    message, exp = claims.get("msg"), claims.get("exp")
    if not isinstance(message, str) or not isinstance(exp, int) or exp <= now.timestamp():
        return None
    return message


def _take_notice(request: Request[Any, Any, Any], cookies: list[Cookie]) -> str | None:
    """The notice the previous page left, cleared so it shows once."""
    sealed = request.cookies.get(NOTICE_COOKIE)
    if not sealed:
        return None
    settings = settings_of(request)
    cookies.append(expired_cookie(settings, NOTICE_COOKIE))
    state = request.app.state
    return open_notice(state.keyring, sealed, issuer=settings.issuer, now=state.clock())


# ---------------------------------------------------------------- forms


class FormRejected(ServiceError):
    """Show ``template`` again with what was wrong, as a ``status`` page.

    Raised (not returned) so the request's transaction is rolled back and the refusal audited like any
    refused post: nothing a service wrote before it failed is kept.
    """

    def __init__(self, template: str, *, status: int = 422, context: Mapping[str, Any]) -> None:
        super().__init__("The form has problems.", status=status, code="form_rejected")
        self.template = template
        self.context = dict(context)


def session_cookie(settings: Settings, token: str) -> Cookie:
    return cookie(settings, SESSION_COOKIE, token, max_age=settings.session_lifetime)


# ---------------------------------------------------------------- CSRF


def _expected_origin(settings: Settings) -> str:
    parts = urlsplit(settings.public_base_url)
    return f"{parts.scheme}://{parts.netloc}"


async def csrf_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse a form POST that did not come from one of our pages (double-submit token, Origin)."""
    refused = Forbidden(
        "This form did not come from this site, or it has expired: go back, reload the page and try again.",
        code="csrf_failed",
    )
    origin = connection.headers.get("origin")
    if origin is not None and origin != _expected_origin(settings_of(connection)):
        raise refused
    if connection.headers.get("sec-fetch-site") == "cross-site":
        raise refused
    request = cast("Request[Any, Any, Any]", connection)
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = connection.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not expected or not _CSRF_SHAPE.match(expected):
        raise refused
    if not secrets.compare_digest(sent.encode(), expected.encode()):
        raise refused


# ---------------------------------------------------------------- error pages

_HEADINGS = {
    400: "There is a problem with this request",
    401: "You need to sign in",
    403: "You cannot do this",
    404: "Page not found",
    405: "This page cannot be used that way",
    413: "What you sent is too large",
    500: "Sorry, there is a problem with the service",
    502: "The identity provider is not available",
    503: "The service is not available",
}


def error_page(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    principal: Principal | None = None,
    cookies: list[Cookie] | None = None,
) -> Response[str]:
    """A friendly page for a refusal or failure; ``detail`` is shown as given (escaped)."""
    if principal is None:
        # Exception handlers cannot await: use the principal if this request has already looked it up.
        cached = request.scope.get("state", {}).get("principal")
        principal = cached if isinstance(cached, Principal) else None
    return render_now(
        request,
        "error.html",
        principal=principal,
        status=status,
        cookies=cookies,
        heading=_HEADINGS.get(status, "Something went wrong"),
        detail=detail,
        status_code=status,
        request_id=request.scope.get("state", {}).get("request_id"),
    )


def return_path(value: str | None) -> str | None:
    """A page of this site to go back to after signing in: a path (and query) here, never another site."""
    if not value or len(value) > 2048 or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith(("/signin", "/signout", "/auth/")):
        return None
    return value


def to_sign_in(request: Request[Any, Any, Any]) -> Redirect:
    """The sign-in page, remembering the page asked for (a provider's link to the browser wallet, scanned
    on a phone that is not signed in yet), so that signing in leads back to it."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    wanted = return_path(request.url.path + (f"?{query}" if query else ""))
    if wanted is None:
        return redirect("/signin")
    encoded = base64.urlsafe_b64encode(wanted.encode("utf-8")).decode("ascii")
    kept = cookie(settings_of(request), RETURN_COOKIE, encoded, max_age=RETURN_LIFETIME)
    return redirect("/signin", cookies=[kept])


def returned_to(request: Request[Any, Any, Any]) -> str:
    """Where signing in leads: the page remembered by :func:`to_sign_in`, or home."""
    try:
        remembered = base64.urlsafe_b64decode(request.cookies.get(RETURN_COOKIE) or "").decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return "/"
    return return_path(remembered) or "/"


def handle_service_error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    if isinstance(exc, FormRejected):
        cached = request.scope.get("state", {}).get("principal")
        principal = cached if isinstance(cached, Principal) else None
        return render_now(request, exc.template, principal=principal, status=exc.status, **exc.context)
    if isinstance(exc, Unauthorized) and request.method in ("GET", "HEAD"):
        return to_sign_in(request)  # a page that needs a signed-in person sends the browser to sign in
    return error_page(request, exc.status, exc.detail)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return error_page(request, 400, "The form was not filled in as expected: go back and try again.")
    detail = {
        401: "You need to sign in to see this page.",
        403: "Your role does not allow this.",
        404: "There is no page at this address.",
        405: "This page cannot be used that way.",
        413: "What you sent is too large.",
    }.get(status)
    if status == 401 and request.method in ("GET", "HEAD"):
        return to_sign_in(request)
    if detail is None:
        detail = "Please try again later." if status >= 500 else "The request could not be handled."
    return error_page(request, status, detail)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The app-wide handler logs the failure (type only) and tells a database outage (503) from a bug (500).
    status = problem_for_unexpected(request, exc).status_code or 500
    detail = "Please try again shortly." if status == 503 else "It has been logged; please try again later."
    return error_page(request, status, detail)


MACHINE_PREFIXES: Final = (
    "/api/",
    "/oauth/",
    "/.well-known/",
    "/status-lists/",
    "/vct/",
    "/schema",
    "/health",
)
"""Addresses for programs: an unknown one is answered with problem details, whatever the client accepts."""


def handle_unknown_address(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    """App-wide 404 (no route matched): an HTML page for a browser asking for a page, else problem details."""
    path = request.url.path
    wants_page = "text/html" in request.headers.get("accept", "")
    if wants_page and not path.startswith(MACHINE_PREFIXES):
        detail = "There is no page at this address. Check the address, or start again from the home page."
        return error_page(request, 404, detail)
    return api_http_exception(request, exc)


WEB_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ServiceError: handle_service_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
"""HTML error pages for the web router only; the API keeps its problem+json handlers."""
