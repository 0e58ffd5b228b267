"""``GET /api/v1/organisations/{code}`` served from a SQLite file by the service's own ``Database``.

The other route tests inject a database bound to the test's rolled-back connection; here the read goes
the way it goes in production on SQLite: on the event loop's thread, on the reader's own connection
(decision 0038), while other connections write to the same file as other worker processes would.
"""

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from service.app import create_app
from service.auth import Role
from service.config import Settings
from service.db import Database, make_engine, upgrade
from service.keys import KeyRing
from service.workforce.models import Organisation
from tests.conftest import BASE_URL, asgi_transport
from tests.factories import bearer, create_client

API = "/api/v1/organisations"
CREATED = dt.datetime(2026, 8, 5, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
async def served(
    tmp_path: Path, settings: Settings, keyring: KeyRing
) -> AsyncIterator[tuple[Litestar, Database, Path]]:
    path = tmp_path / "registry.db"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    database = Database(make_engine(f"sqlite+aiosqlite:///{path}"))
    async with database.session() as session:
        session.add(
            Organisation(
                code="RRK",
                name="University Hospitals Birmingham NHS Foundation Trust",
                kind="nhs_trust",
                parent_code=None,
                icb_code=None,
                postcode="B15 2GW",
                latitude=52.45,
                longitude=-1.94,
                created_at=CREATED,
            )
        )
        await session.commit()
    app = create_app(settings, database=database, keyring=keyring)
    try:
        yield app, database, path
    finally:
        await database.dispose()


@pytest.fixture
async def client(served: tuple[Litestar, Database, Path]) -> AsyncIterator[httpx.AsyncClient]:
    app, database, _ = served
    async with database.session() as session:
        created = await create_client(session, Role.VERIFIER, "RRK")
    headers = bearer(app, Role.VERIFIER, "RRK", created.client_id)
    async with httpx.AsyncClient(transport=asgi_transport(app), base_url=BASE_URL, headers=headers) as client:
        yield client


async def test_the_read_answers_as_before(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/rrk")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "code": "RRK",
        "name": "University Hospitals Birmingham NHS Foundation Trust",
        "kind": "nhs_trust",
        "parent_code": None,
        "icb_code": None,
        "postcode": "B15 2GW",
        "latitude": 52.45,
        "longitude": -1.94,
        "created_at": "2026-08-05T09:30:00Z",
    }
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("code", ["ZZZ", "zz", "%00", "a" * 300])
async def test_an_unknown_or_malformed_code_is_a_404_problem(client: httpx.AsyncClient, code: str) -> None:
    response = await client.get(f"{API}/{code}")
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


async def test_no_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/RRK", headers={"Authorization": ""})
    assert response.status_code == 401


async def test_a_change_committed_by_another_process_is_seen_at_once(
    client: httpx.AsyncClient, served: tuple[Litestar, Database, Path]
) -> None:
    assert (await client.get(f"{API}/RRK")).json()["postcode"] == "B15 2GW"
    other = sqlite3.connect(served[2], isolation_level=None, timeout=5)
    try:
        other.execute("UPDATE organisations SET postcode = 'B15 2TH' WHERE code = 'RRK'")
        assert (await client.get(f"{API}/RRK")).json()["postcode"] == "B15 2TH"
        other.execute("BEGIN IMMEDIATE")  # a writer mid-transaction neither blocks nor fails the read
        other.execute("UPDATE organisations SET postcode = 'B1 1AA' WHERE code = 'RRK'")
        during = await client.get(f"{API}/RRK")
        assert during.status_code == 200
        assert during.json()["postcode"] == "B15 2TH", "not what is still uncommitted"
        other.execute("COMMIT")
    finally:
        other.close()
    assert (await client.get(f"{API}/RRK")).json()["postcode"] == "B1 1AA"


async def test_a_locked_database_is_a_503_problem_and_then_passes(
    client: httpx.AsyncClient, served: tuple[Litestar, Database, Path]
) -> None:
    assert (await client.get(f"{API}/RRK")).status_code == 200  # the caller's status is remembered
    await served[1].dispose()  # its connections closed; it opens new ones when used again
    locker = sqlite3.connect(served[2], isolation_level=None, timeout=5)
    try:  # an exclusive-locking writer keeps even WAL readers out
        locker.execute("PRAGMA locking_mode=EXCLUSIVE")
        locker.execute("BEGIN EXCLUSIVE")
        locker.execute("UPDATE organisations SET postcode = 'B15 2TT' WHERE code = 'RRK'")
        locker.execute("COMMIT")
        response = await client.get(f"{API}/RRK")
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"].startswith("application/problem+json")
    finally:
        locker.close()
    after = await client.get(f"{API}/RRK")
    assert after.status_code == 200
    assert after.json()["postcode"] == "B15 2TT"
