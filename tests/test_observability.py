"""Request ids on every response; logs never carry secrets or tokens."""

import logging
from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Role
from service.observability import DATA_LOGGERS, JsonFormatter, configure_logging
from tests.factories import create_client, create_organisation


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/health/live", headers={"X-Request-ID": "trace-1234abcd"})
    assert given.headers["x-request-id"] == "trace-1234abcd"
    made = await client.get("/health/live", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


async def test_logs_carry_no_secret_or_token(
    client: httpx.AsyncClient, session: AsyncSession, app: Litestar, caplog: pytest.LogCaptureFixture
) -> None:
    await create_organisation(session, "RLG")
    created = await create_client(session, Role.ISSUER, "RLG")
    caplog.set_level(logging.DEBUG)
    token_response = await client.post(
        "/oauth/token?secret_in_query=1",
        data={"grant_type": "client_credentials"},
        auth=(created.client_id, created.client_secret),
    )
    token = token_response.json()["access_token"]
    await client.get("/api/v1/organisations", headers={"Authorization": f"Bearer {token}"})
    await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(created.client_id, "wrong")
    )
    formatter = JsonFormatter()
    # Our own loggers (the test's HTTP client library logs its own requests, query strings included).
    lines = [
        formatter.format(r) for r in caplog.records if r.name.startswith(("service", "litestar", "uvicorn"))
    ]
    assert any('"path":"/oauth/token"' in line for line in lines), "the access log is written"
    text = "\n".join(lines)
    assert created.client_secret not in text
    assert token not in text
    assert token.split(".")[1] not in text
    assert "secret_in_query" not in text


@pytest.fixture
def logging_as_it_was() -> Iterator[None]:
    """configure_logging changes process-wide loggers (pytest's capture among their handlers): put back."""
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access", *DATA_LOGGERS)
    kept = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in names}
    extra = {n: (logging.getLogger(n).propagate, logging.getLogger(n).disabled) for n in names}
    yield
    for name, (handlers, level) in kept.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = extra[name]


@pytest.mark.usefixtures("logging_as_it_was")
@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR"])
def test_at_any_level_the_database_drivers_log_no_statement(level: str) -> None:
    """aiosqlite's debug log carries each statement's parameters (issued credentials, token digests) and
    SQLAlchemy's info log each statement: at PASSPORT_LOG_LEVEL=DEBUG the registry's own loggers say more,
    those never do."""
    configure_logging(level)
    asked = logging.getLevelNamesMapping()[level]
    assert logging.getLogger("service.verification").isEnabledFor(asked)
    for name in ("aiosqlite", "asyncpg", "sqlalchemy.engine.Engine", "sqlalchemy.pool"):
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.INFO), name
        assert logger.isEnabledFor(logging.ERROR), name
        assert logger.isEnabledFor(logging.WARNING) is (asked <= logging.WARNING), name
