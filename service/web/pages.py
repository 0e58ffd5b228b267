"""Rendering web pages: templates, cookies, CSRF protection, security headers, error pages.

- Templates are Jinja2 with autoescaping, under ``service/web/templates``; no JavaScript, no CDN.
- CSRF: a double-submit token. A random token lives in an HttpOnly ``SameSite=Lax`` cookie and in a
  hidden field of every form; :func:`csrf_guard` refuses a POST whose field does not match the cookie,
  or that a browser says came from another origin. Only the web pages use it: the API under ``/api``
  and ``/oauth`` authenticates with bearer tokens and is not touched.
- Every page is ``Cache-Control: no-store`` and carries a strict Content-Security-Policy.
- Errors on pages are HTML pages (the exception handlers below are scoped to the web router), so the
  app-wide problem+json rendering of the API is unchanged.
"""

import re
import secrets
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Response
from litestar.types import ExceptionHandlersMap

from service.auth import SESSION_COOKIE, Principal, authenticate
from service.config import Settings
from service.errors import Forbidden, ServiceError, Unauthorized
from service.errors import handle_unexpected as problem_for_unexpected

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/static/web"
CSRF_COOKIE = "passport_csrf"
CSRF_FIELD = "csrf_token"
_CSRF_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

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


def settings_of(request: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


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
    **context: Any,
) -> Response[str]:
    """Render ``template`` inside the layout: who is signed in, the CSRF token, the demo banner."""
    principal = await signed_in(request)
    return render_now(request, template, principal=principal, status=status, cookies=cookies, **context)


def render_now(
    request: Request[Any, Any, Any],
    template: str,
    *,
    principal: Principal | None,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Response[str]:
    """:func:`render` for a known principal (exception handlers cannot await)."""
    settings = settings_of(request)
    token, new = _csrf_token(request)
    html = _environment.get_template(template).render(
        principal=principal,
        csrf_field=CSRF_FIELD,
        csrf_token=token,
        demo_mode=settings.demo_mode,
        static=STATIC_PATH,
        role_labels=ROLE_LABELS,
        **context,
    )
    all_cookies = list(cookies or [])
    if new:
        all_cookies.append(cookie(settings, CSRF_COOKIE, token, max_age=settings.session_lifetime))
    return Response(
        html,
        status_code=status,
        media_type=MediaType.HTML,
        headers=SECURITY_HEADERS,
        cookies=all_cookies,
    )


def redirect(to: str, *, status: Literal[302, 303] = 303, cookies: list[Cookie] | None = None) -> Redirect:
    return Redirect(to, status_code=status, headers=SECURITY_HEADERS, cookies=cookies or [])


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


def handle_service_error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    if isinstance(exc, Unauthorized) and request.method in ("GET", "HEAD"):
        return redirect("/signin")  # a page that needs a signed-in person sends the browser to sign in
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
        return redirect("/signin")
    if detail is None:
        detail = "Please try again later." if status >= 500 else "The request could not be handled."
    return error_page(request, status, detail)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The app-wide handler logs the failure (type only) and tells a database outage (503) from a bug (500).
    status = problem_for_unexpected(request, exc).status_code or 500
    detail = "Please try again shortly." if status == 503 else "It has been logged; please try again later."
    return error_page(request, status, detail)


WEB_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ServiceError: handle_service_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
"""HTML error pages for the web router only; the API keeps its problem+json handlers."""
