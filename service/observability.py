"""Request ids, JSON logs and the access log.

Logs carry method, path (never the query string, which may hold codes or tokens), status, time
and request id. Nothing here ever logs a header value, a body, a token, a key or health data, and the
database drivers' and SQLAlchemy's loggers stay at WARNING or above (``DATA_LOGGERS``).
"""

import json
import logging
import os
import re
import sys
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

access_log = logging.getLogger("service.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields we set."""

    _FIELDS = ("request_id", "method", "path", "status", "duration_ms", "actor")

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self._FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                out[field] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where it happened; not its message, which may carry data.
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""
            out["exception"] = f"{record.exc_info[0].__name__} at {where}"
        return json.dumps(out, separators=(",", ":"))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced after set-up)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        return None


DATA_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy", "httpcore", "hpack", "multipart")
"""Other libraries' loggers whose debug (and SQLAlchemy's info) output carries what they were given:
statements with their parameters (issued credentials, token and code digests, device codes), request and
response bytes. Never below WARNING, whatever level the registry logs at."""


def configure_logging(level: str) -> None:
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in DATA_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # Uvicorn's own access log prints the query string; ours does not.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def ensure_request_id(scope: Scope) -> str:
    """The request's id: the caller's ``X-Request-ID`` when sane, else a new one; made once per request."""
    state = scope.setdefault("state", {})
    existing: str | None = state.get("request_id")
    if existing is not None:
        return existing
    incoming = None
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            incoming = value.decode("latin-1")
            break
    # 128 random bits as 32 hex digits (as uuid4().hex, without building a UUID: a fifth of its cost)
    request_id = incoming if incoming and _VALID_ID.match(incoming) else os.urandom(16).hex()
    state["request_id"] = request_id
    return request_id


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """``before_send`` hook: every response, routed or not (404, 405), carries its request id."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", []))
        headers.append((b"x-request-id", ensure_request_id(scope).encode("latin-1")))
        message["headers"] = headers


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request an id (the caller's ``X-Request-ID`` if sane), echo it, log the request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = ensure_request_id(scope)
        if not access_log.isEnabledFor(logging.INFO):  # nothing to log: no status to catch on the way out
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            principal = scope.get("state", {}).get("principal")
            access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "actor": getattr(principal, "subject", None),
                },
            )

    return middleware
