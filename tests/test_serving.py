"""service/serving.py: connections served the way ``passport serve --workers N`` serves them get TCP_NODELAY;
the lean JSON response of hot routes sends what Litestar's own response sends.

The listening socket is bound the way uvicorn's multi-worker supervisor binds it (``Config.bind_socket``,
``proto`` 0), so the test sees what a worker sees; the server is real uvicorn on a loopback port.
"""

import asyncio
import datetime as dt
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
import uvicorn
from litestar import Litestar, get
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.response import Response

from service.serving import HTTP_PROTOCOL, LeanJSONResponse, _EncodedJSON


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


# ---------------------------------------------------------------- LeanJSONResponse


class _Thing(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    at: dt.datetime
    ratio: float | None
    tags: list[str]


def _asgi_app(response_class: type[Response[Any]] | None, **route: Any) -> Litestar:
    @get("/thing", response_class=response_class, sync_to_thread=False, **route)
    def thing() -> _Thing:
        return _Thing(name="Zoë", at=dt.datetime(2026, 8, 5, 9, 30, tzinfo=dt.UTC), ratio=None, tags=["a"])

    return Litestar([thing], debug=False)


async def _sent(app: Litestar) -> list[Any]:
    messages: list[Any] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/thing", "raw_path": b"/thing", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"test")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        messages.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    return messages


async def test_the_lean_response_sends_what_litestar_sends() -> None:
    lean, plain = await _sent(_asgi_app(LeanJSONResponse)), await _sent(_asgi_app(None))
    assert lean == plain
    assert lean[0]["headers"] == [(b"content-type", b"application/json"), (b"content-length", b"69")]
    assert msgspec.json.decode(lean[1]["body"])["at"] == "2026-08-05T09:30:00Z"


@pytest.mark.parametrize(
    "route",
    [
        {"response_headers": {"x-extra": "1"}},
        {"response_cookies": [Cookie(key="k", value="v")]},
        {"status_code": 203},
        {"media_type": "application/vnd.thing+json"},
    ],
    ids=["headers", "cookies", "status", "media-type"],
)
async def test_anything_else_is_litestars_own_response(route: dict[str, Any]) -> None:
    lean, plain = await _sent(_asgi_app(LeanJSONResponse, **route)), await _sent(_asgi_app(None, **route))
    assert lean == plain


_ENCODED = b'{"id":"r-1","verdict":"valid"}'


def _answering_app(response_class: type[Response[Any]], **route: Any) -> Litestar:
    """A route answering 201 with JSON its handler encoded itself, as ``POST /api/v1/verifications`` does."""

    @get("/thing", sync_to_thread=False, cache_control=CacheControlHeader(no_store=True), **route)
    def thing() -> Response[Any]:
        return response_class(_ENCODED, status_code=201, media_type="application/json")

    return Litestar([thing], debug=False)


async def test_a_route_with_cache_control_and_encoded_json_gets_the_same_answer() -> None:
    lean, plain = await _sent(_answering_app(LeanJSONResponse)), await _sent(_answering_app(Response))
    assert lean == plain
    assert lean[0]["status"] == 201
    assert lean[0]["headers"] == [
        (b"cache-control", b"no-store"),
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(_ENCODED)),
    ]
    assert lean[1]["body"] == _ENCODED  # sent as it is, not encoded again


@pytest.mark.parametrize(
    "route",
    [
        {"response_headers": {"X-Extra": "1"}},
        {"response_headers": {"Content-Type": "application/problem+json"}},
        {"response_headers": {"content-length": "3"}},
    ],
    ids=["more-headers", "own-content-type", "own-content-length"],
)
async def test_route_headers_are_sent_as_litestar_sends_them(route: dict[str, Any]) -> None:
    lean, plain = (
        await _sent(_answering_app(LeanJSONResponse, **route)),
        await _sent(_answering_app(Response, **route)),
    )
    assert lean == plain


def test_the_lean_path_is_taken_only_without_per_response_settings() -> None:
    route_headers = {"cache-control": "no-store"}
    lean = LeanJSONResponse(_ENCODED, status_code=201).to_asgi_response(None, None, headers=route_headers)  # type: ignore[arg-type]
    assert type(lean) is _EncodedJSON
    for response in (
        LeanJSONResponse(_ENCODED, status_code=201, headers={"x-one": "1"}),
        LeanJSONResponse(b"", status_code=204),
        LeanJSONResponse("text", status_code=200),
    ):
        assert type(response.to_asgi_response(None, None, headers=route_headers)) is not _EncodedJSON  # type: ignore[arg-type]
