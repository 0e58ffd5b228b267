"""service/serving.py: connections served the way ``passport serve --workers N`` serves them get TCP_NODELAY.

The listening socket is bound the way uvicorn's multi-worker supervisor binds it (``Config.bind_socket``,
``proto`` 0), so the test sees what a worker sees; the server is real uvicorn on a loopback port.
"""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from service.serving import HTTP_PROTOCOL


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


@asynccontextmanager
async def _served(http: str) -> AsyncIterator[uvicorn.Server]:
    config = uvicorn.Config(_hello, host="127.0.0.1", port=0, http=http, log_config=None, lifespan="on")
    sock = config.bind_socket()  # what uvicorn's Multiprocess supervisor hands to each worker
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    try:
        yield server
    finally:
        server.should_exit = True
        await server.shutdown(sockets=[sock])
        sock.close()


async def _nodelay_of_served_connection(http: str) -> int:
    async with _served(http) as server:
        port = server.servers[0].sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            await writer.drain()
            assert (await reader.readuntil(b"hello")).startswith(b"HTTP/1.1 200")
            (connection,) = server.server_state.connections
            transport = connection.transport
            value: int = transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            return value
        finally:
            writer.close()
            await writer.wait_closed()


async def test_served_connections_have_nagle_off() -> None:
    # With uvicorn's own protocol ("auto") on this socket the option is 0 (uvicorn issue 3149).
    assert await _nodelay_of_served_connection(HTTP_PROTOCOL) != 0
