"""Every operation in the OpenAPI document with valid generated input, over real HTTP: never a 5xx, every
response as the schema says (``tests/openapi_fuzz.py``; invalid input: ``test_openapi_fuzz_negative.py``).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from schemathesis.generation import GenerationMode

from tests.live import LiveServer, live_server
from tests.openapi_fuzz import fuzz_every_operation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("fuzz")) as live:
        yield live


def test_no_operation_fails_or_breaks_its_schema_on_valid_input(server: LiveServer) -> None:
    fuzz_every_operation(server, GenerationMode.POSITIVE)


def test_schema_document_is_served(server: LiveServer, tmp_path: Path) -> None:
    import httpx

    document = httpx.get(server.base_url + "/schema/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    assert "/oauth/token" in document["paths"]
    page = httpx.get(server.base_url + "/schema", timeout=10)
    assert page.status_code == 200
    assert "/schema/assets/swagger-ui-bundle.js" in page.text  # served by us, no external CDN
    assert httpx.get(server.base_url + "/schema/assets/swagger-ui-bundle.js", timeout=10).status_code == 200
