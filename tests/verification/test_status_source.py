"""The status source reads the registry's own lists in a session that says it only reads."""

from sqlalchemy.ext.asyncio import AsyncSession

from service.credentials import service as credentials
from service.db import ReadSession
from service.verification.status_source import RegistryStatusSource
from tests.conftest import ConnectionDatabase

BASE = "http://registry.test"


async def test_an_own_list_is_read_in_a_read_session(database: ConnectionDatabase) -> None:
    """``Database.session(write=False)``: deferred on SQLite (it waits for no writer) and any write in it
    reported; the token itself is read from the real table (an unknown list: none)."""
    sessions: list[type[object]] = []

    async def token(session: AsyncSession, list_id: str) -> str | None:
        sessions.append(type(session.sync_session))
        return await credentials.status_list_token(session, list_id)

    source = RegistryStatusSource(base_url=BASE, database=database, in_process=token)
    assert await source.token(f"{BASE}/status-lists/no-such-list") is None
    assert sessions == [ReadSession]
