"""How the registry is served: uvicorn, with Nagle's algorithm off on every connection.

uvicorn with ``--workers N`` (N > 1) binds the listening socket itself with ``proto`` 0; the
connections it accepts inherit that, and asyncio turns ``TCP_NODELAY`` on only for sockets that
report ``IPPROTO_TCP``. Nagle's algorithm then holds the response body (written after the headers)
until the client acknowledges the headers, and on Linux the client delays that acknowledgement by
about 40 ms: every keep-alive request takes at least 40 ms (uvicorn issue 3149, open). The single
worker path is not affected. :class:`NoDelayHTTPProtocol` sets the option on each connection, so
``passport serve`` answers as fast with two workers as with one; the benchmarks serve both the
registry and the hello-world baseline with it.
"""

import asyncio
import socket
from typing import Final

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
