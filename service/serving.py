"""How the registry is served: uvicorn, with Nagle's algorithm off on every connection; lean responses.

uvicorn with ``--workers N`` (N > 1) binds the listening socket itself with ``proto`` 0; the
connections it accepts inherit that, and asyncio turns ``TCP_NODELAY`` on only for sockets that
report ``IPPROTO_TCP``. Nagle's algorithm then holds the response body (written after the headers)
until the client acknowledges the headers, and on Linux the client delays that acknowledgement by
about 40 ms: every keep-alive request takes at least 40 ms (uvicorn issue 3149, open). The single
worker path is not affected. :class:`NoDelayHTTPProtocol` sets the option on each connection, so
``passport serve`` answers as fast with two workers as with one; the benchmarks serve both the
registry and the hello-world baseline with it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any, Final

import msgspec
from litestar import Request
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import MediaType
from litestar.response import Response
from litestar.response.base import ASGIResponse
from litestar.types import TypeEncodersMap
from uvicorn.protocols.http.auto import AutoHTTPProtocol

HTTP_PROTOCOL: Final = "service.serving:NoDelayHTTPProtocol"
"""The value for uvicorn's ``http`` setting (``--http`` on its command line)."""


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on the TCP socket under ``transport`` (other sockets: nothing)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's default HTTP/1.1 protocol, with ``TCP_NODELAY`` set when a connection opens."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        set_nodelay(transport)
        super().connection_made(transport)


# ---------------------------------------------------------------- a lean JSON response for hot routes

_JSON: Final = MediaType.JSON.value
_ENCODER: Final = msgspec.json.Encoder()


class _EncodedJSON(ASGIResponse):
    """An :class:`ASGIResponse` of a body already encoded as JSON, with only its two headers."""

    __slots__ = ()

    def __init__(self, body: bytes, status_code: int) -> None:  # no super().__init__: set here
        self.headers = MutableScopeHeaders(
            {"headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]}
        )
        self.background = None
        self.body = body
        self.content_length = len(body)
        self._encoded_cookies = ()
        self.encoding = "utf-8"
        self.is_head_response = False
        self.status_code = status_code


class LeanJSONResponse(Response[Any]):
    """The response class of hot JSON routes: what Litestar sends, with less work per response.

    Litestar's response renders the content, merges headers, cookies and type encoders, and builds a
    header structure with look-ups for each default header: about a sixth of the authenticated read in
    process. When none of those is in play (no headers, cookies, background task or type encoders, JSON,
    not HEAD) this one encodes the content with msgspec (as Litestar does: same bytes) and sends the
    same two headers (``content-type``, ``content-length``); otherwise it is Litestar's own.
    """

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
        if (
            app is not None
            or background is not None
            or self.background is not None
            or cookies
            or self.cookies
            or encoded_headers is not None
            or headers
            or self.headers
            or is_head_response
            or type_encoders
            or self.response_type_encoders
            or chosen != _JSON
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
        return _EncodedJSON(_ENCODER.encode(self.content), self.status_code or status_code or 200)
