"""When the database goes away the registry answers 503 with Retry-After, and recovers by itself."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from sqlalchemy.engine import make_url

from service.app import create_app
from service.config import Settings
from service.db import Database, make_engine
from service.keys import KeyRing
from tests.conftest import BASE_URL, asgi_transport


class Proxy:
    """A TCP proxy to the real database that can be cut and restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self._links: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._links.update({writer, up_writer})
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for link in self._links:
            link.close()
        self._links.clear()
        await self.server.wait_closed()


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[tuple[Proxy, str]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("database outage is simulated with a TCP proxy, on PostgreSQL only")
    url = make_url(database_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    with contextlib.suppress(Exception):
        await proxy.cut()


async def test_outage_gives_503_and_recovery_is_automatic(
    proxy: tuple[Proxy, str], settings: Settings, keyring: KeyRing
) -> None:
    tcp, url = proxy
    database = Database(make_engine(url, pool_size=2))
    app = create_app(settings, database=database, keyring=keyring)
    async with httpx.AsyncClient(transport=asgi_transport(app), base_url=BASE_URL) as client:
        assert (await client.get("/health/ready")).status_code == 200

        await tcp.cut()
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.headers["retry-after"]
        api = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
        )
        assert api.status_code == 503
        assert api.headers["retry-after"]
        problem = msgspec.json.decode(api.content)
        assert problem["status"] == 503
        assert "Traceback" not in api.text

        await tcp.start()  # the database is back on the same port
        for _ in range(20):
            if (await client.get("/health/ready")).status_code == 200:
                break
            await asyncio.sleep(0.25)
        assert (await client.get("/health/ready")).status_code == 200
        token = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
        )
        assert token.status_code == 401  # an ordinary answer again: unknown client
    await database.dispose()
