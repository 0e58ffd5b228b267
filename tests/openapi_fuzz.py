"""Every operation in the OpenAPI document, with generated input, over real HTTP (shared by the two
fuzzing modules, one a generation mode: in two files, pytest-xdist's ``--dist loadfile`` runs them on
two processes at once, a minute each).

Schemathesis generates valid and invalid requests from the published schema; the registry must never
answer 5xx and every response must match the schema it publishes. Each operation is called as a role the
reviewed permission matrix (``tests/test_roles.py``) lets through: the admin where it may, else an
issuer, verifier, coordinator or analyst of the live server's trust, so the input reaches the handler
instead of a 403 (a holder-only route is called as the admin: it needs a holder linked to a person).
"""

import asyncio
import datetime as dt
import re
from typing import Any, cast

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from service import auth
from service.db import Database, make_engine
from tests.live import LiveServer
from tests.test_roles import EXPECTED

CALLED_AS = (auth.Role.ADMIN, auth.Role.ISSUER, auth.Role.VERIFIER, auth.Role.COORDINATOR, auth.Role.ANALYST)
"""The roles operations are called as, in this order of preference."""


def _operations(base_url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(base_url + "/schema/openapi.json")
    return [cast(Any, result).ok() for result in schema.get_all_operations()]


async def _clients(url: str) -> dict[auth.Role, auth.ClientCreated]:
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            made = {
                role: await auth.create_client(
                    session,
                    name=f"fuzz {role.value}",
                    role=role,
                    organisation_code="RLV",
                    now=dt.datetime.now(dt.UTC),
                )
                for role in CALLED_AS[1:]
            }
            await session.commit()
            return made
    finally:
        await database.dispose()


def _allowed(method: str, path: str) -> frozenset[auth.Role]:
    """The roles the matrix lets call an operation (its keys write path parameters as ``{name:type}``)."""
    for (verb, template), roles in EXPECTED.items():
        if verb == method and re.sub(r":\w+}", "}", template) == path:
            return roles
    return frozenset(CALLED_AS)  # public, or not in the matrix (tests/test_roles.py fails on that)


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        case.call_and_validate(
            headers=headers,
            checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
        )

    run()


def fuzz_every_operation(server: LiveServer, mode: GenerationMode) -> None:
    """Driven without schemathesis' pytest plugin, one hypothesis run per operation."""
    clients = {auth.Role.ADMIN: server.admin, **asyncio.run(_clients(server.env["PASSPORT_DATABASE_URL"]))}
    operations = _operations(server.base_url)
    assert len(operations) >= 5
    called_as: dict[auth.Role, int] = {}
    for operation in operations:
        allowed = _allowed(operation.method.upper(), operation.path)
        role = next((r for r in CALLED_AS if r in allowed), auth.Role.ADMIN)
        called_as[role] = called_as.get(role, 0) + 1
        token = server.token(clients[role])  # a fresh one each time: a token expires
        _fuzz(operation, mode, {"Authorization": f"Bearer {token}"})
    # the issuer-only routes (records) and the verifier-only ones (presentation requests) were reached
    assert {auth.Role.ISSUER, auth.Role.VERIFIER} <= set(called_as), called_as
