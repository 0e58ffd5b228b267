"""Occupational health outcomes are never in the database file nor in the logs, only their ciphertext.

A real SQLite file (database, WAL and shared-memory files read as bytes) behind the real app over ASGI,
with every logger at DEBUG, SQL statements and their parameters included.
"""

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.app import create_app
from service.auth import Role
from service.config import Settings
from service.db import Database, make_engine, upgrade
from service.keys import KeyRing
from service.passport.encryption import DataKeyRing
from tests.conftest import BASE_URL, asgi_transport
from tests.factories import client_headers
from tests.passport.factories import API, TODAY, create_world, health, identity

SECRETS = ("hepatitis_b", "non_responder", "epp_clearance", "fit_with_adjustments", "Hepatitis", "responder")
"""Strings of the outcomes submitted below that must never be stored or logged in clear."""
ASSESSED = (TODAY - dt.timedelta(days=17)).isoformat()


@pytest.fixture
async def registry(
    tmp_path: Path, settings: Settings, keyring: KeyRing, data_keys: DataKeyRing
) -> AsyncIterator[tuple[Litestar, Database, Path]]:
    path = tmp_path / "at-rest.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    database = Database(make_engine(url, pool_size=1))
    app = create_app(settings, database=database, keyring=keyring, data_keys=data_keys)
    yield app, database, path
    await database.dispose()


def stored_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def test_outcomes_are_not_in_the_database_file_nor_in_the_logs(
    registry: tuple[Litestar, Database, Path], caplog: pytest.LogCaptureFixture
) -> None:
    app, database, path = registry
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        async with database.session() as session:
            world = await create_world(session)
            headers = await client_headers(session, app, Role.ISSUER, world.tree.trust)
        bodies = [
            health(world.doctor, outcome="non_responder", assessed_on=ASSESSED),
            health(
                world.doctor,
                item="epp_clearance",
                outcome="cleared",
                assessed_on=ASSESSED,
                review_date="2031-02-03",
            ),
            health(
                world.doctor, item="fitness_for_work", outcome="fit_with_adjustments", assessed_on=ASSESSED
            ),
            identity(world.doctor, family_name="Controlname"),
        ]
        async with httpx.AsyncClient(transport=asgi_transport(app), base_url=BASE_URL) as client:
            created = await client.post(f"{API}/records", json=bodies, headers=headers)
            assert created.status_code == 201, created.text
            refused = await client.post(
                f"{API}/records", json=health(world.doctor, outcome="Hepatitis B carrier"), headers=headers
            )
            assert refused.status_code == 422
            listed = await client.get(
                f"{API}/records", params={"kind": "occupational_health"}, headers=headers
            )
            assert {r["outcome"] for r in listed.json()["items"]} == {
                "non_responder",
                "cleared",
                "fit_with_adjustments",
            }
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)

    on_disk = stored_bytes(path)
    assert b"Controlname" in on_disk  # the check can see what is stored in clear
    for secret in SECRETS:
        assert secret.encode() not in on_disk, secret
    assert ASSESSED.encode() not in on_disk
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert "passport_records" in logged  # SQL was logged, with its parameters
    for secret in (*SECRETS, "carrier", ASSESSED):
        assert secret not in logged, secret


async def test_no_column_of_any_row_holds_an_outcome_in_clear(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar
) -> None:
    world = await create_world(session)
    headers = await client_headers(session, app, Role.ISSUER, world.tree.trust)
    body = health(world.doctor, outcome="non_responder", assessed_on=ASSESSED)
    assert (await client.post(f"{API}/records", json=body, headers=headers)).status_code == 201
    rows = (await session.execute(text("SELECT * FROM passport_records"))).all()
    changes = (await session.execute(text("SELECT * FROM passport_record_changes"))).all()
    audit = (await session.execute(text("SELECT * FROM audit_events"))).all()
    assert len(rows) == 1
    dumped = repr(rows) + repr(changes) + repr(audit)
    for secret in (*SECRETS, ASSESSED):
        assert secret not in dumped, secret
