"""service/serving.py: connections served the way ``passport serve --workers N`` serves them get TCP_NODELAY;
on httptools and uvloop (or, without them, h11 and asyncio, said); the lean JSON response of hot routes
sends what Litestar's own response sends.

The listening socket is bound the way uvicorn's multi-worker supervisor binds it (``Config.bind_socket``,
``proto`` 0), so the test sees what a worker sees; the server is real uvicorn on a loopback port.
"""

import asyncio
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from litestar import Litestar, get
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.response import Response
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service import serving
from service.db import upgrade
from service.keys import KeyStore
from service.serving import (
    HTTP_PROTOCOL,
    LeanJSONResponse,
    NoDelayHTTPProtocol,
    _EncodedJSON,
    uvicorn_settings,
)
from tests.factories import TEST_PASSPHRASE
from tests.live import free_port, live_server


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the module of the event loop it runs on (``uvloop``, ``asyncio``)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    loop = type(asyncio.get_running_loop()).__module__.partition(".")[0].encode()
    body = b"hello from " + loop
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def _served(settings: dict[str, Any]) -> Iterator[uvicorn.Server]:
    """Real uvicorn with ``settings`` on a loopback port, on its own thread and the loop they name."""
    config = uvicorn.Config(_hello, host="127.0.0.1", port=0, lifespan="on", **settings)
    sock = config.bind_socket()  # what uvicorn's Multiprocess supervisor hands to each worker
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "the server stopped"
            assert time.monotonic() < deadline, "the server did not start in 30 s"
            time.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _served_connection(settings: dict[str, Any]) -> tuple[bytes, asyncio.Protocol, int]:
    """(answer, the connection's protocol, its socket's TCP_NODELAY) for a GET on a kept-alive connection."""
    with _served(settings) as server:
        port = server.servers[0].sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            answer = b""
            while b"hello from " not in answer or not answer.endswith((b"uvloop", b"asyncio")):
                chunk = client.recv(4096)
                assert chunk, answer
                answer += chunk
            (connection,) = server.server_state.connections
            nodelay = connection.transport.get_extra_info("socket").getsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY
            )
            return answer, connection, nodelay


def test_passport_serve_settings_name_httptools_and_uvloop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import service.app
    from service.cli import main

    for name in list(os.environ):
        if name.startswith("PASSPORT_") and not name.startswith("PASSPORT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PASSPORT_DEMO_MODE", "true")
    monkeypatch.setenv("PASSPORT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setattr(service.app, "open_keyring", lambda settings, clock: None)
    called: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: called.append(kwargs))

    monkeypatch.setattr(serving, "REUSE_PORT", False)  # uvicorn's own supervisor, as off Linux

    assert main(["serve", "--port", "8123", "--workers", "2"]) == 0
    assert main(["serve", "--port", "8124"]) == 0

    assert [(s["http"], s["loop"], s["workers"], s["factory"]) for s in called] == [
        (HTTP_PROTOCOL, "uvloop", 2, True),
        (HTTP_PROTOCOL, "uvloop", 1, True),
    ]
    assert issubclass(NoDelayHTTPProtocol, HttpToolsProtocol)
    out = capsys.readouterr().out
    assert "Serving on: httptools parser, uvloop event loop, 2 worker(s)\n" in out
    assert "Note:" not in out


def _listening(port: int) -> int:
    """How many sockets of this machine listen on ``port`` (IPv4, from /proc/net/tcp; state 0A)."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for row in rows if int(row[1].rpartition(":")[2], 16) == port and row[3] == "0A")


@pytest.mark.skipif(not serving.REUSE_PORT, reason="SO_REUSEPORT sharing out connections: Linux only")
def test_each_worker_of_passport_serve_listens_on_a_socket_of_its_own(tmp_path: Path) -> None:
    """uvicorn's workers would share one socket, and the first woken accepts every connection waiting
    (32 opened at once: 4/28, 0/32); with a socket each the kernel spreads them (decision 0049)."""
    with live_server(tmp_path, workers=2) as server:
        port = int(server.base_url.rpartition(":")[2])
        deadline = time.monotonic() + 60  # ready when the first worker is: the second may still start
        while _listening(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _listening(port) == 2
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert all(client.get("/health/live").status_code == 200 for _ in range(5))
        answers = [httpx.get(server.base_url + "/health/live", timeout=10).status_code for _ in range(10)]
        assert answers == [200] * 10  # new connections, to whichever worker the kernel picks


def test_served_on_passport_serves_settings_httptools_uvloop_and_nagle_off() -> None:
    answer, connection, nodelay = _served_connection(uvicorn_settings())
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"hello from uvloop")
    assert isinstance(connection, HttpToolsProtocol)
    assert nodelay != 0  # uvloop sets it on accepted TCP sockets itself; the protocol does too


def test_on_asyncio_nagle_is_off_too() -> None:
    """The fallback loop: asyncio leaves the option off on a socket bound with ``proto`` 0 (uvicorn issue
    3149; with uvicorn's own protocol here it is 0); the protocol turns it on."""
    answer, _, nodelay = _served_connection({**uvicorn_settings(), "loop": "asyncio"})
    assert answer.endswith(b"hello from asyncio")
    assert nodelay != 0


_WITHOUT_FAST_PARTS = (
    "import sys; sys.modules['httptools'] = None; sys.modules['uvloop'] = None; "
    "from service.cli import main; sys.exit(main(sys.argv[1:]))"
)
"""``passport`` on a platform where neither httptools nor uvloop can be imported."""


def test_serve_without_httptools_or_uvloop_says_so_and_serves_on_h11_and_asyncio(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}"
    upgrade(url)
    KeyStore(tmp_path / "keys", TEST_PASSPHRASE).init(dt.datetime.now(dt.UTC))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")},
        "PASSPORT_DATABASE_URL": url,
        "PASSPORT_KEYS_DIR": str(tmp_path / "keys"),
        "PASSPORT_KEY_PASSPHRASE": TEST_PASSPHRASE,
        "PASSPORT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PASSPORT_VAR_DIR": str(tmp_path / "var"),
        "PASSPORT_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-c", _WITHOUT_FAST_PARTS, "serve", "--port", str(port)]
    out = tmp_path / "stdout"
    with out.open("wb") as stdout:
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, out.read_text()
            with contextlib.suppress(httpx.TransportError):
                answer = httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2)
                break
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
    shown = out.read_text()
    assert "Serving on: h11 parser, asyncio event loop, 1 worker(s)\n" in shown
    assert "Note: httptools cannot be imported" in shown
    assert "HTTP is parsed by h11, pure Python, slower" in shown
    assert "Note: uvloop cannot be imported" in shown
    assert "Traceback" not in shown


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


# ---------------------------------------------------------------- the collector of a serving worker

_COLLECTOR = """
import gc, json
from service import serving

serving.tune_collector()  # as create_app_from_env does, once start-up is made
frozen = [gc.get_freeze_count()]
cache = [[n] for n in range(5000)]  # what a worker's first requests keep
for _ in range(3):
    gc.collect()
    frozen.append(gc.get_freeze_count())
later = [[n] for n in range(5000)]  # made after warm-up: the collector's again
gc.collect()
frozen.append(gc.get_freeze_count())
print(json.dumps({"threshold": gc.get_threshold(), "frozen": frozen}))
"""


def test_a_serving_worker_freezes_what_its_first_requests_keep_once() -> None:
    """Full collections of a warm worker walk only what it made since warm-up (decision 0049): what the
    worker kept before its second full collection is frozen then, and nothing after it is."""
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script: gc state is per process
        [sys.executable, "-c", _COLLECTOR], capture_output=True, text=True, timeout=60, check=True
    )
    seen = msgspec.json.decode(done.stdout)
    assert tuple(seen["threshold"]) == (10_000, 10, 10)
    start, first, second, third, after = seen["frozen"]
    assert first == start, "the first full collection freezes nothing"
    assert second >= start + 5000, "the second freezes what survived it: the cache"
    assert third == second, "once only"
    assert after == second, "objects made after warm-up stay collectable"
