"""How the registry is served: uvicorn, with Nagle's algorithm off on every connection; lean responses.

uvicorn with ``--workers N`` (N > 1) binds the listening socket itself with ``proto`` 0; the
connections it accepts inherit that, and asyncio turns ``TCP_NODELAY`` on only for sockets that
report ``IPPROTO_TCP``. Nagle's algorithm then holds the response body (written after the headers)
until the client acknowledges the headers, and on Linux the client delays that acknowledgement by
about 40 ms: every keep-alive request takes at least 40 ms (uvicorn issue 3149, open). The single
worker path is not affected. :class:`NoDelayHTTPProtocol` sets the option on each connection, so
``passport serve`` answers as fast with two workers as with one; the benchmarks serve both the
registry and the hello-world baseline with it. (uvloop sets the option on every accepted TCP socket
itself; the protocol still does, for asyncio, the fallback below.)

The stack is chosen here, explicitly (decision 0049): HTTP/1.1 parsed by ``httptools`` (llhttp, in C)
rather than uvicorn's pure-Python ``h11``, and the ``uvloop`` event loop (libuv) rather than asyncio's;
both are dependencies. Where either cannot be imported (a platform without a wheel) the server runs on
the pure-Python one, correct but slower, and :func:`stack_notes` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import sys
from collections.abc import Iterable
from typing import Any, Final

import msgspec
from litestar import Request
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import MediaType
from litestar.response import Response
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send, TypeEncodersMap

_missing: dict[str, str] = {}
"""What could not be imported, and why: ``{"httptools": "No module named 'httptools'"}``."""

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Parser

    PARSER: str = "httptools"
except ImportError as exc:  # no wheel for this platform: uvicorn's pure-Python parser
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Parser  # type: ignore[assignment]

    PARSER = "h11"
    _missing["httptools"] = str(exc)
"""The HTTP/1.1 parser :class:`NoDelayHTTPProtocol` is built on: ``httptools``, or ``h11`` without it."""

try:
    import uvloop  # noqa: F401 - imported to know it can be: uvicorn makes the loop

    LOOP: str = "uvloop"
except ImportError as exc:
    LOOP = "asyncio"
    _missing["uvloop"] = str(exc)
"""The value for uvicorn's ``loop`` setting: ``uvloop``, or ``asyncio`` without it."""

HTTP_PROTOCOL: Final = "service.serving:NoDelayHTTPProtocol"
"""The value for uvicorn's ``http`` setting (``--http`` on its command line)."""


def uvicorn_settings() -> dict[str, Any]:
    """uvicorn's settings for serving the registry (``passport serve``): the parser and loop above, no
    ``Server`` header, no access log, logging left as configured. The benchmarks start uvicorn with the
    same :data:`HTTP_PROTOCOL` and :data:`LOOP` on its command line, for both of their servers."""
    return {
        "http": HTTP_PROTOCOL,
        "loop": LOOP,
        "server_header": False,
        "access_log": False,
        "log_config": None,
    }


REUSE_PORT: Final = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")
"""Each worker listens on a socket of its own (``SO_REUSEPORT``): Linux shares connections out among them."""


def _bind(family: int, address: tuple[Any, ...], kind: type[socket.socket] = socket.socket) -> socket.socket:
    """A TCP socket bound to ``address`` with ``SO_REUSEPORT``, not yet listening, inheritable."""
    sock = kind(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


class _EachWorkerItsOwn(socket.socket):
    """The supervisor's socket: it holds the address (bound, never listening, so it is given no
    connection) and reaches each worker, which uvicorn starts by ``spawn`` and hands its sockets by
    pickling, as a new socket of the worker's own bound to the same address beside it."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_bind, (self.family, self.getsockname()))


def serve(
    app: str,
    *,
    host: str,
    port: int,
    workers: int,
    http: str = HTTP_PROTOCOL,
    loop: str = LOOP,
    reuse_port: bool | None = None,
    factory: bool = True,
    **more: Any,
) -> None:
    """Serve the ASGI app factory ``app`` (an import string; ``factory=False``: the app itself) with
    :func:`uvicorn_settings` (``http``, ``loop`` replace theirs; ``more``: other uvicorn settings) until
    stopped. ``reuse_port``: a listening socket for each worker (None: :data:`REUSE_PORT`); False:
    uvicorn's one shared socket.

    With more than one worker, uvicorn's supervisor would bind one socket and let every worker accept
    from it: whichever worker the kernel wakes first accepts every connection waiting, so keep-alive
    connections opened together (a load balancer's, a client's pool) are not shared out: 32 opened at
    once ended 4/28, 6/26, 8/24 or 0/32 between two workers, and the busier worker's queue made the
    p99 (decision 0049). On Linux each worker listens on a socket of its own instead (``SO_REUSEPORT``)
    and the kernel spreads connections over them by their addresses; uvicorn's supervisor still starts,
    watches and restarts the workers. Elsewhere uvicorn's own way.
    """
    import uvicorn

    settings = {**uvicorn_settings(), "http": http, "loop": loop, **more}
    if workers <= 1 or not (REUSE_PORT if reuse_port is None else reuse_port):
        uvicorn.run(app, factory=factory, host=host, port=port, workers=workers, **settings)
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(app, factory=factory, host=host, port=port, workers=workers, **settings)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = _bind(family, (host, port), _EachWorkerItsOwn)
    except OSError as exc:
        sys.stderr.write(f"passport: cannot listen on {host}:{port}: {exc}\n")
        raise SystemExit(1) from None
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[sock]).run()


def sockets_description(workers: int, reuse_port: bool | None = None) -> str:
    """How :func:`serve` listens with ``workers`` and ``reuse_port``: ``one a worker`` (Linux's
    ``SO_REUSEPORT``), ``one shared by the workers`` (uvicorn's way) or ``one (one worker)``."""
    if workers <= 1:
        return "one (one worker)"
    each = REUSE_PORT if reuse_port is None else reuse_port
    return "one a worker" if each else "one shared by the workers"


def stack_description() -> str:
    """One line naming the parser and the loop in use: ``httptools parser, uvloop event loop``."""
    return f"{PARSER} parser, {LOOP} event loop"


def stack_notes() -> list[str]:
    """A line for each fast part that could not be imported, saying what runs instead (none: [])."""
    notes = []
    if "httptools" in _missing:
        notes.append(
            f"httptools cannot be imported ({_missing['httptools']}): HTTP is parsed by h11, "
            "pure Python, slower"
        )
    if "uvloop" in _missing:
        notes.append(f"uvloop cannot be imported ({_missing['uvloop']}): the event loop is asyncio's, slower")
    return notes


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on the TCP socket under ``transport`` (other sockets: nothing)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHTTPProtocol(_Parser):
    """uvicorn's HTTP/1.1 protocol on :data:`PARSER`, with ``TCP_NODELAY`` set when a connection opens."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


# ---------------------------------------------------------------- the collector of a serving worker

COLLECTOR_THRESHOLD: Final = (10_000, 10, 10)
"""``gc.set_threshold`` of a serving worker: a young collection once 10,000 more container objects
are alive than at the last one (Python's default is 700). A request frees what it makes, by reference
counting, so a worker rarely gets there: the collector then runs for garbage in reference cycles, not
for each burst of a request's own objects (decision 0049)."""

WARM_UP_FULL_COLLECTIONS: Final = 2
"""After this many full collections of a serving worker, what survived them is frozen too."""


def tune_collector() -> None:
    """The collector of a serving worker, once its start-up has made what lives as long as it does.

    Everything alive now (modules, the app, SQLAlchemy's and Litestar's structures: about a million
    objects) is frozen, out of the collector's reach (decision 0039), and the young generation's
    threshold is :data:`COLLECTOR_THRESHOLD`. The first requests make more that lives as long as the
    worker (caches, pooled connections, compiled statements): after the worker's
    :data:`WARM_UP_FULL_COLLECTIONS`-th full collection, whose survivors are all alive, they are frozen
    too, once, so later full collections walk only what was made since (0.2 ms instead of 3 ms of CPU,
    8 to 20 ms of wall time on the loaded machine; decision 0049). Freezing is done once only: an
    object frozen never joins a garbage cycle the collector can free, so what is frozen must be what
    lasts; a request's own objects frozen then are freed by reference counting as usual.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLD)
    full = 0

    def freeze_after_warm_up(phase: str, info: dict[str, int]) -> None:
        nonlocal full
        if phase == "stop" and info["generation"] == 2 and full < WARM_UP_FULL_COLLECTIONS:
            full += 1
            if full == WARM_UP_FULL_COLLECTIONS:
                gc.freeze()

    gc.callbacks.append(freeze_after_warm_up)


# ---------------------------------------------------------------- a lean JSON response for hot routes

_JSON: Final = MediaType.JSON.value
_ENCODER: Final = msgspec.json.Encoder()


_BODYLESS: Final = frozenset({204, 304})
_OWN_HEADERS: Final = frozenset({"content-type", "content-length"})


class _EncodedJSON(ASGIResponse):
    """An :class:`ASGIResponse` of a body already encoded as JSON: the route's fixed headers, then its two."""

    __slots__ = ()

    def __init__(self, body: bytes, status_code: int, fixed: list[tuple[bytes, bytes]]) -> None:
        # no super().__init__: set here, as Litestar's would for a JSON body with these headers
        self.headers = MutableScopeHeaders(
            {
                "headers": [
                    *fixed,
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                ]
            }
        )
        self.background = None
        self.body = body
        self.content_length = len(body)
        self._encoded_cookies = ()
        self.encoding = "utf-8"
        self.is_head_response = False
        self.status_code = status_code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Litestar's, for what this one always is (not HEAD, no cookies, no background task): the
        # same two events, without its three awaited steps
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.encode_headers()}
        )
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


_NO_HEADERS: Final[list[tuple[bytes, bytes]]] = []
_fixed_cache: dict[tuple[tuple[str, str], ...], list[tuple[bytes, bytes]] | None] = {}


def _fixed_headers(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]] | None:
    """The route's own headers (``cache_control``, ``response_headers``) as Litestar encodes them, in
    order; None when one of them is ``content-type`` or ``content-length`` (Litestar's rules then)."""
    if not headers:
        return _NO_HEADERS
    key = tuple(headers.items())
    if key in _fixed_cache:
        return _fixed_cache[key]
    encoded: list[tuple[bytes, bytes]] | None = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in key
    ]
    if any(name.lower() in _OWN_HEADERS for name, _ in key):
        encoded = None
    if len(_fixed_cache) < 256:  # a route's headers are fixed: a handful of distinct sets
        _fixed_cache[key] = encoded
    return encoded


class LeanJSONResponse(Response[Any]):
    """The response class of hot JSON routes: what Litestar sends, with less work per response.

    Litestar's response renders the content, merges headers, cookies and type encoders, and builds a
    header structure with look-ups for each default header: about a sixth of the authenticated read in
    process. When none of those is in play (no cookies, background task or type encoders, no headers
    set on the response itself, JSON, not HEAD, a status with a body) this one encodes the content with
    msgspec (as Litestar does: same bytes; content already ``bytes`` is sent as it is, as Litestar
    does) and sends the route's fixed headers (such as ``cache-control``) and the same two headers
    (``content-type``, ``content-length``), in Litestar's order; otherwise it is Litestar's own.

    Made as Litestar's handler makes it (content, media type, status, no cookies, headers or type
    encoders), its constructor sets the same attributes without Litestar's ``isinstance`` checks
    against ``typing.Mapping`` (an ABC check through typing's alias, twice a response).
    """

    def __init__(
        self,
        content: Any,
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Any = None,
        encoding: str = "utf-8",
        headers: Any = None,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> None:
        if cookies is not None or headers is not None or type_encoders or self.type_encoders:
            super().__init__(
                content,
                background=background,
                cookies=cookies,
                encoding=encoding,
                headers=headers,
                media_type=media_type,
                status_code=status_code,
                type_encoders=type_encoders,
            )
            return
        self.content = content
        self.background = background
        self.cookies = []
        self.encoding = encoding
        self.headers = {}
        self.media_type = media_type
        self.status_code = status_code
        self.response_type_encoders = {}

    def to_asgi_response(
        self,
        app: Any,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> ASGIResponse:
        chosen = self.media_type or media_type or _JSON
        code = self.status_code or status_code or 200
        fixed = _fixed_headers(headers)
        content = self.content
        if (
            app is not None
            or background is not None
            or self.background is not None
            or cookies
            or self.cookies
            or encoded_headers is not None
            or fixed is None
            or self.headers
            or is_head_response
            or type_encoders
            or self.response_type_encoders
            or chosen != _JSON
            or code in _BODYLESS
            or code < 200  # informational statuses carry no body
            or self.encoding != "utf-8"
            or isinstance(content, str)
        ):
            return super().to_asgi_response(
                app,
                request,
                background=background,
                cookies=cookies,
                encoded_headers=encoded_headers,
                headers=headers,
                is_head_response=is_head_response,
                media_type=media_type,
                status_code=status_code,
                type_encoders=type_encoders,
            )
        body = content if isinstance(content, bytes) else _ENCODER.encode(content)
        return _EncodedJSON(body, code, fixed)
