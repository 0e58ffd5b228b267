"""Every operation in the OpenAPI document, with generated input, over real HTTP (shared by the two
fuzzing modules, one a generation mode: in two files, pytest-xdist's ``--dist loadfile`` runs them on
two processes at once, a minute each).

Schemathesis generates valid and invalid requests from the published schema; the registry must never
answer 5xx and every response must match the schema it publishes.
"""

from typing import Any, cast

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.live import LiveServer


def _operations(base_url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(base_url + "/schema/openapi.json")
    return [cast(Any, result).ok() for result in schema.get_all_operations()]


def fuzz_every_operation(server: LiveServer, admin_token: str, mode: GenerationMode) -> None:
    """Driven without schemathesis' pytest plugin, one hypothesis run per operation."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    operations = _operations(server.base_url)
    assert len(operations) >= 5
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            case.call_and_validate(
                headers=headers,
                checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
            )

        run()
