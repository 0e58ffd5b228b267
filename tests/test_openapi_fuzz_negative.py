"""Every operation in the OpenAPI document with invalid generated input, over real HTTP: never a 5xx,
every response as the schema says (``tests/openapi_fuzz.py``; valid input: ``test_openapi_fuzz.py``).
"""

from collections.abc import Iterator

import pytest
from schemathesis.generation import GenerationMode

from tests.live import LiveServer, live_server
from tests.openapi_fuzz import fuzz_every_operation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("fuzz-negative")) as live:
        yield live


def test_no_operation_fails_or_breaks_its_schema_on_invalid_input(server: LiveServer) -> None:
    fuzz_every_operation(server, GenerationMode.NEGATIVE)
