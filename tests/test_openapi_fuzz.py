"""Every operation in the OpenAPI document, with generated input, over real HTTP.

Schemathesis generates valid and invalid requests from the published schema; the registry must never
answer 5xx and every response must match the schema it publishes.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.live import LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("fuzz")) as live:
        yield live


@pytest.fixture(scope="module")
def admin_token(server: LiveServer) -> str:
    return server.token()


def _operations(base_url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(base_url + "/schema/openapi.json")
    return [cast(Any, result).ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_operation_fails_or_breaks_its_schema(
    server: LiveServer, admin_token: str, mode: GenerationMode
) -> None:
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


def test_schema_document_is_served(server: LiveServer, tmp_path: Path) -> None:
    import httpx

    document = httpx.get(server.base_url + "/schema/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    assert "/oauth/token" in document["paths"]
    page = httpx.get(server.base_url + "/schema", timeout=10)
    assert page.status_code == 200
    assert "/schema/assets/swagger-ui-bundle.js" in page.text  # served by us, no external CDN
    assert httpx.get(server.base_url + "/schema/assets/swagger-ui-bundle.js", timeout=10).status_code == 200
