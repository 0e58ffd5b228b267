"""Fixtures of the browser tests: a seeded demo server per database, one Chromium, a clean page per test.

The tests are skipped, with the reason printed, when no Chromium can be had (see ``harness.skip_reason``).
They run on SQLite and, when a PostgreSQL can be had (``tests/postgres.py``), on PostgreSQL too.

The browser and the server are module-scoped: Playwright's synchronous API drives its own event loop on
this thread while it is open, which the rest of the suite's ``asyncio`` tests must not find running, so
it is closed as soon as the browser tests (run as one block per database) are done.
"""

from collections.abc import Iterator

import pytest

from service.web.pages import ROLE_LABELS
from tests.browser.harness import (
    ARTEFACTS,
    SCREENSHOTS,
    Browser,
    DemoServer,
    Findings,
    Visit,
    demo_server,
    find_chromium,
    skip_reason,
)
from tests.postgres import Skip, provide_postgres

BROWSER_BACKENDS = ("sqlite", "postgresql")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "visit" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> str:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(f"browser tests skipped: {reason}")
    found = find_chromium()
    assert found is not None
    return found


@pytest.fixture(scope="module", params=BROWSER_BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, chromium: str
) -> Iterator[DemoServer]:
    """A demo registry seeded and served over HTTP (``make run`` in miniature), one per database."""
    backend: str = request.param
    tmp = tmp_path_factory.mktemp(f"browser-{backend}")
    if backend == "sqlite":
        with demo_server(
            tmp, database_url=f"sqlite+aiosqlite:///{tmp / 'demo.db'}", backend=backend
        ) as found:
            yield found
        return
    postgres = provide_postgres(tmp_path_factory.mktemp("browser-postgres"))
    if isinstance(postgres, Skip):
        pytest.skip(f"PostgreSQL browser run skipped: {postgres.reason}")
    try:
        with demo_server(tmp, database_url=postgres.url, backend=backend) as found:
            yield found
    finally:
        postgres.stop()


@pytest.fixture(scope="session")
def findings() -> Iterator[Findings]:
    found = Findings()
    yield found
    found.save(ARTEFACTS / "accessibility.json")


@pytest.fixture(scope="module")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    opened = Browser(chromium, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def visit(browser: Browser, server: DemoServer, findings: Findings, request: pytest.FixtureRequest) -> Visit:
    """A clean page (no session) on the demo server; screenshots under ``<backend>/<test name>/``."""
    name = request.node.name.replace("[", "-").replace("]", "")
    return Visit(
        page=browser.page(),
        base_url=server.base_url,
        folder=SCREENSHOTS / server.backend / name,
        findings=findings,
    )


def sign_in_as(visit: Visit, role: str) -> str:
    """Sign in as the first demo account of ``role`` (a role's value); that person's name."""
    return visit.sign_in_as(ROLE_LABELS[role])
