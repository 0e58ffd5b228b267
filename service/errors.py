"""One root error and one renderer of RFC 9457 problem details.

Domain errors subclass :class:`ServiceError` beside their service. Every exception that reaches
the application is rendered here as ``application/problem+json``; nothing else leaks a traceback.
"""

import ast
import logging
import re
from collections.abc import Sequence
from typing import Any, Final

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from service.observability import ensure_request_id

log = logging.getLogger("service.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://passport.nhs.example/problems/"


class FieldError(msgspec.Struct, frozen=True):
    """One reason a request was refused, with the path of the field it concerns."""

    field: str
    reason: str


class RowError(msgspec.Struct, frozen=True):
    """One problem in an uploaded file: its line (header = 1), the column (None: the whole row), why."""

    row: int
    column: str | None
    reason: str


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 9457 problem details; ``code``, ``request_id``, ``errors``, ``rows`` are extension members."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    error: str | None = None
    """RFC 6749 error code, present on OAuth endpoints so OAuth clients understand the failure."""
    rows: list[RowError] | None = None
    """Row-by-row report of a refused file import (set by errors carrying ``rows``)."""


class ServiceError(Exception):
    """An expected failure: rendered as problem details with ``status``, never as a 500."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None and status != self.status:
            self.status = status
            self.title = _TITLES.get(status, self.title)  # a 401 from a 400 class is not titled "Bad request"
        if code is not None:
            self.code = code
        self.errors = list(errors) if errors else None
        self.headers = headers or {}


class InvalidInput(ServiceError):
    status = 422
    code = "invalid_input"
    title = "Invalid input"


class NotFound(ServiceError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class Unavailable(ServiceError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"


_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]*)`")
_MISSING_PARAMETER = re.compile(r"^Missing required (?P<source>\w+) parameter '(?P<name>[^']*)'")
_MSGSPEC_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)


_END = r"$(?!\n)"
PATTERN_REASONS: Final[dict[str, str]] = {
    r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?" + _END: (
        "must not begin or end with a space, nor hold control characters such as line breaks or tabs"
    ),
    r"^[^\x00-\x1f\x7f]+" + _END: "must not hold control characters such as line breaks or tabs",
    r"^[^\x00-\x08\x0b-\x1f\x7f]*" + _END: "must not hold control characters other than tabs and line feeds",
    r"^[0-9]{7}" + _END: "must be a GMC number of 7 digits",
    r"^[A-Za-z0-9]{3,6}" + _END: "must be an ODS code of 3 to 6 letters or digits",
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])" + _END: "must be a month as YYYY-MM",
    r"^[0-9]{4}-[0-9]{2}" + _END: "must be a financial year such as 2025-26",
    r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?" + _END: (
        "must be a name of 1 to 80 lower-case letters, digits and hyphens, not beginning or ending with one"
    ),
    r"^[A-Za-z0-9_.~-]{16,128}"
    + _END: "must be 16 to 128 characters, each a letter, a digit or one of _ . ~ -",
    r"^[A-Za-z0-9][A-Za-z0-9/\-]{2,39}" + _END: (
        "must be a post number of 3 to 40 letters, digits, / or -, beginning with a letter or digit"
    ),
}
"""What each string pattern of the wire schemas means, in words: msgspec's own message quotes the regex.
A pattern of the form ``^(?:a|b|c)$`` needs no entry ("must be one of a, b, c"); any other pattern gets
:data:`UNKNOWN_PATTERN` (``tests/test_errors.py`` checks that no schema pattern does)."""
UNKNOWN_PATTERN: Final = "is not in the form this field takes (see its description in the API document)"
_PLAIN_MESSAGES: Final = {
    "Invalid RFC3339 encoded date": "must be a date as YYYY-MM-DD",
    "Invalid RFC3339 encoded datetime": "must be a date and time with its zone, such as 2026-11-23T09:30:00Z",
    "Invalid UUID": "must be a UUID",
}
_MATCHING_REGEX = re.compile(r"^Expected `str` matching regex (?P<quoted>'.*'|\".*\")$", re.DOTALL)
_CHOICES = re.compile(r"^\^\(\?:(?P<words>[A-Za-z0-9_]+(?:\|[A-Za-z0-9_]+)*)\)\$(?:\(\?!\\n\))?$")


def pattern_reason(pattern: str) -> str:
    """A string pattern of a schema in words, never the regex itself."""
    known = PATTERN_REASONS.get(pattern)
    if known is not None:
        return known
    choices = _CHOICES.match(pattern)
    if choices is not None:
        return "must be one of " + ", ".join(choices.group("words").split("|"))
    return UNKNOWN_PATTERN


def plain_reason(reason: str) -> str:
    """msgspec's reason in the words the CSV imports use: a pattern or an encoding named, not quoted."""
    if reason in _PLAIN_MESSAGES:
        return _PLAIN_MESSAGES[reason]
    match = _MATCHING_REGEX.match(reason)
    if match is None:
        return reason
    try:
        pattern = ast.literal_eval(match.group("quoted"))  # msgspec quotes the pattern with repr()
    except (ValueError, SyntaxError):  # pragma: no cover - msgspec always writes a Python literal
        return UNKNOWN_PATTERN
    return pattern_reason(pattern) if isinstance(pattern, str) else UNKNOWN_PATTERN


def field_errors_from_msgspec(message: str, *, root: str = "body") -> list[FieldError]:
    """Turn msgspec's "Expected `int`, got `str` - at `$.a[0].b`" into a field path and a reason."""
    match = _MSGSPEC_PATH.match(message.strip())
    if match is None:  # pragma: no cover - the pattern matches any string
        return [FieldError(field=root, reason=plain_reason(message))]
    path = match.group("path")
    field = root if not path else root + path[1:]
    reason = plain_reason(match.group("reason"))
    named = _UNKNOWN_FIELD.search(reason) or _MISSING_FIELD.search(reason)
    if named is not None:
        field = f"{field}.{named.group(1)}"
    return [FieldError(field=field, reason=reason)]


def _missing_parameter(message: str) -> FieldError | None:
    """Litestar's "Missing required query parameter 'kind' for path ...": the parameter, without the URL."""
    match = _MISSING_PARAMETER.match(message)
    if match is None:
        return None
    source = match.group("source")
    return FieldError(field=f"{source}.{match.group('name')}", reason=f"missing required {source} parameter")


def _problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    detail: str,
    code: str | None = None,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    oauth_error: str | None = None,
    rows: list[RowError] | None = None,
) -> Response[Problem]:
    code = code or _CODES.get(status, "error")
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="passport"', **(headers or {})}
    problem = Problem(
        type=PROBLEM_BASE + code,
        title=title or _TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        code=code,
        instance=request.url.path,
        request_id=ensure_request_id(request.scope),
        errors=errors,
        error=oauth_error,
        rows=rows,
    )
    return Response(problem, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: ValidationException) -> list[FieldError]:
    errors: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        key = item.get("key")
        source = getattr(item.get("source"), "value", item.get("source"))
        if key is not None and source is not None and not (source == "body" and key == "data"):
            errors.append(FieldError(field=f"{source}.{key}", reason=plain_reason(message)))
        else:
            errors.extend(_field_errors(message))
    return errors or _field_errors(exc.detail)


def _field_errors(message: str) -> list[FieldError]:
    missing = _missing_parameter(message)
    return [missing] if missing is not None else field_errors_from_msgspec(message)


def handle_service_error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Problem]:
    return _problem_response(
        request,
        status=exc.status,
        detail=exc.detail,
        code=exc.code,
        title=exc.title,
        errors=exc.errors,
        headers=exc.headers,
        oauth_error=getattr(exc, "oauth_error", None),
        rows=getattr(exc, "rows", None),
    )


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        # Litestar reports body decoding problems as 400; a well-formed body with bad values is 422.
        malformed = any("malformed" in e.reason.lower() or "json is" in e.reason.lower() for e in errors)
        status = 400 if malformed else 422
        detail = "The request body is not valid JSON." if malformed else "The request has invalid fields."
        return _problem_response(request, status=status, detail=detail, errors=errors, headers=headers)
    if isinstance(exc.__cause__, SerializationException):  # a JSON body that does not decode
        return _undecodable_body(request, str(exc.__cause__), headers)
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="passport"')
    detail = exc.detail
    if isinstance(exc, NotFoundException) and detail in ("Not Found", ""):
        detail = "No resource at this address."
    if isinstance(exc, MethodNotAllowedException):
        detail = "This method is not allowed on this address."
    if isinstance(exc, PermissionDeniedException) and detail in ("Forbidden", ""):
        detail = "Your role does not allow this."
    return _problem_response(request, status=status, detail=detail, headers=headers)


def _undecodable_body(
    request: Request[Any, Any, Any], reason: str, headers: dict[str, str]
) -> Response[Problem]:
    """415 when the body was sent as something other than JSON (a form, text), else 400 saying why."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        return _problem_response(
            request,
            status=415,
            detail=f"Send the body as JSON (Content-Type: application/json), not {media_type}.",
            headers=headers,
        )
    return _problem_response(
        request, status=400, detail=f"The request body is not valid JSON ({reason}).", headers=headers
    )


def handle_database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.warning("database unavailable: %s", type(exc).__name__)
    return _problem_response(
        request,
        status=503,
        detail="The database is unavailable; try again shortly.",
        headers={"Retry-After": "5"},
    )


_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
_SQLITE_WAITED = frozenset({_SQLITE_BUSY, 261, 773})
"""SQLITE_BUSY, _BUSY_RECOVERY, _BUSY_TIMEOUT: another connection held a lock longer than the busy timeout."""


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, OperationalError | DBAPIError):
        if getattr(exc, "connection_invalidated", False):
            return True
        code = getattr(exc.orig, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
            # A lock held past the busy timeout is "try again later". SQLITE_BUSY_SNAPSHOT (a transaction
            # that read, then wrote after another commit: a session not opened as a writer, decision
            # 0045) and SQLITE_LOCKED (a conflict on one connection) are our faults, logged as such; the
            # caller still gets a 503, since the same request sent again succeeds (never a 500).
            if code not in _SQLITE_WAITED:
                log.error("SQLite %s: a session that writes was not opened as a writer", code)
            return True
        text = str(exc.orig).lower() if exc.orig is not None else ""
        return any(word in text for word in ("locked", "connect", "connection", "closed", "shutdown", "busy"))
    return isinstance(exc, OSError)


_UNSTORABLE_TEXT: Final = frozenset({"22021", "22P05"})
"""PostgreSQL's character_not_in_repertoire and untranslatable_character: text it cannot store (a NUL)."""


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    if _is_unavailable(exc):
        return handle_database_unavailable(request, exc)
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _UNSTORABLE_TEXT:
        # A NUL character in text that no schema pattern or lookup kept from PostgreSQL, which cannot
        # store or even compare one (SQLite can): rolled back, and the caller's to mend.
        return _problem_response(
            request,
            status=400,
            detail="Text in the request may not contain the NUL character.",
            code="nul_character",
        )
    # The type only: messages may carry data we must not log.
    log.error("unexpected error %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return _problem_response(
        request,
        status=HTTP_500_INTERNAL_SERVER_ERROR,
        detail="The registry failed to handle this request; it has been logged.",
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ServiceError: handle_service_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}


def _problem_spec(description: str) -> Any:
    from litestar.openapi.datastructures import ResponseSpec

    return ResponseSpec(data_container=Problem, description=description, media_type=PROBLEM_JSON)


def problem_responses(descriptions: dict[int, str]) -> dict[int, Any]:
    """A route's own ``responses`` entries: each status answered with problem details, so described.
    For answers beyond :func:`document_problems`' common ones (a 410), or a common one said better."""
    return {status: _problem_spec(text) for status, text in descriptions.items()}


def document_problems(app: Any) -> None:
    """Declare in the OpenAPI document that every operation's errors are problem details.

    Applied to every route handler once, here, instead of on each decorator; a handler's own
    ``responses`` entries win.
    """
    from litestar.routes import HTTPRoute

    common = {
        400: "Malformed request (body is not valid JSON or form data)",
        401: "Missing, invalid or expired access token",
        403: "The caller's role or organisation may not do this",
        404: "No such resource",
        405: "Method not allowed",
        409: "Conflicts with existing data",
        413: "Request body larger than the configured limit",
        415: "Unsupported content type",
        422: "Invalid fields; `errors` names each field and the reason",
        503: "Database unavailable; retry after the Retry-After header",
    }
    specs = {status: _problem_spec(text) for status, text in common.items()}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            handler.responses = {**specs, **(handler.responses or {})}
