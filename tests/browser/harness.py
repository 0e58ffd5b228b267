"""The real-browser harness: Debian's Chromium driven by Playwright, against a real demo server.

- :func:`find_chromium`: ``PASSPORT_TEST_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on ``PATH``;
  ``tests/browser/ensure-chromium.sh`` (run by ``make test``) installs it when it can.
- :func:`demo_server`: ``passport db upgrade``, ``keys init``, ``demo seed`` and ``serve`` in demo mode,
  on a free loopback port, exactly as ``make run`` does; stopped at the end.
- :class:`Browser`: one headless Chromium with a fresh user-data dir; :meth:`Browser.page` gives a page
  with no cookies; :meth:`Visit.check` saves a screenshot under ``var/test-artefacts/screenshots/`` and
  runs axe-core on the page (no serious or critical violation allowed; every finding saved beside it).
"""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.live import free_port, serving

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "var" / "test-artefacts"
SCREENSHOTS = ARTEFACTS / "screenshots"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
DEMO_SCALE = "0.05"
"""A small demo: every page has data, seeding takes a few seconds."""


def find_chromium(environ: Mapping[str, str] = os.environ) -> str | None:
    configured = environ.get("PASSPORT_TEST_CHROMIUM", "").strip()
    if configured:
        return configured if Path(configured).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name, path=environ.get("PATH"))
        if found is not None:
            return found
    return None


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    try:
        import axe_playwright_python  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the dev dependencies include both
        return f"Playwright or axe-playwright-python is not installed ({exc.name}): pip install -e '.[dev]'"
    if find_chromium() is None:
        return (
            "no Chromium: install Debian's chromium (tests/browser/ensure-chromium.sh does it as root) "
            "or set PASSPORT_TEST_CHROMIUM"
        )
    return None


# ---------------------------------------------------------------- the server


@dataclass(frozen=True)
class DemoServer:
    base_url: str
    backend: str
    env: dict[str, str]

    def passport(self, *args: str) -> str:
        """Run a ``passport`` command against this server's database; its standard output."""
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "service.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"passport {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout


@contextlib.contextmanager
def demo_server(
    tmp: Path, *, database_url: str, backend: str, settings: Mapping[str, str] | None = None
) -> Iterator[DemoServer]:
    """Seed a demo registry and serve it over real HTTP on loopback; always stop it. ``settings``: more
    ``PASSPORT_*`` variables for every command (e.g. a shorter lifecycle interval)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")},
        "PASSPORT_DATABASE_URL": database_url,
        "PASSPORT_KEYS_DIR": str(tmp / "keys"),
        "PASSPORT_VAR_DIR": str(tmp / "var"),
        "PASSPORT_PUBLIC_BASE_URL": base,
        "PASSPORT_DEMO_MODE": "true",
        "PASSPORT_LOG_LEVEL": "WARNING",
        **(settings or {}),
    }
    server = DemoServer(base_url=base, backend=backend, env=env)
    server.passport("db", "upgrade")
    server.passport("keys", "init")
    server.passport("demo", "seed", "--scale", DEMO_SCALE)
    with serving(env, port):
        yield server


# ---------------------------------------------------------------- the browser


@dataclass
class Findings:
    """Every axe-core violation of every page checked, by page (saved as JSON at the end)."""

    pages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.pages, indent=2, sort_keys=True))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Every axe-core violation on the page as it is now (all rules, best practices included)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [
        {
            "id": v["id"],
            "impact": v.get("impact"),
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"]][:10],
        }
        for v in violations
    ]


@dataclass
class Visit:
    """A page of a test: the server it talks to, where its screenshots go, the findings it adds to."""

    page: Any
    base_url: str
    folder: Path
    findings: Findings
    console_errors: list[str] = field(default_factory=list)
    """Every error the page's console showed (a failed load, such as a missing ``/favicon.ico``, and
    uncaught exceptions), with where it came from: a test asserts there are none it did not cause."""

    def __post_init__(self) -> None:
        self.watch(self.page)

    def watch(self, page: Any) -> None:
        """Collect the console errors of ``page`` too (a second tab)."""

        def on_console(message: Any) -> None:
            if message.type == "error":
                where = message.location.get("url", "") if message.location else ""
                self.console_errors.append(f"{message.text} ({where})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.console_errors.append(f"uncaught: {error}"))

    def go(self, path: str, *, status: int = 200) -> None:
        """Open ``path`` of the demo server and check the answer's status."""
        response = self.page.goto(self.base_url + path)
        assert response is not None
        assert response.status == status, f"GET {path}: {response.status}"

    def path(self) -> str:
        url: str = self.page.url
        return url.removeprefix(self.base_url)

    def sign_in_as(self, role_label: str, *, lands: str = "/", go: bool = True) -> str:
        """Sign in on the demo sign-in page as the first demo account listed under ``role_label``; signing
        in leads to ``lands`` (home, or the page asked for before, when the browser was sent to sign in
        from it: ``go=False`` stays on that sign-in page)."""
        if go:
            self.go("/signin")
        button = self.page.locator(
            f"xpath=//h3[normalize-space()='{role_label}']/following-sibling::ul[1]//button"
        ).first
        name: str = button.inner_text().removeprefix("Sign in as ").strip()
        button.click()
        self.page.wait_for_url(self.base_url + lands)
        return name

    def check(self, name: str) -> None:
        """Screenshot the page as it is now and fail on any serious or critical accessibility violation."""
        self.folder.mkdir(parents=True, exist_ok=True)
        slug = _slug(name)
        self.page.screenshot(path=str(self.folder / f"{slug}.png"), full_page=True)
        found = axe_violations(self.page)
        self.findings.pages[f"{self.folder.name}/{slug} {self.page.url}"] = found
        blocking = [v for v in found if v["impact"] in BLOCKING_IMPACTS]
        assert blocking == [], f"accessibility violations on {self.page.url} ({name}): {blocking}"


class Browser:
    """Headless Chromium (Debian's) with a fresh user-data dir, for the whole test session."""

    def __init__(self, executable: str, user_data_dir: Path) -> None:
        from playwright.sync_api import sync_playwright

        self._manager = sync_playwright()
        self._playwright = self._manager.start()
        self.context = self._playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
            locale="en-GB",
            timezone_id="Europe/London",
        )
        self.context.set_default_timeout(15_000)

    def page(self) -> Any:
        """A new page with no cookies (so no session), the pages of earlier tests closed."""
        for old in list(self.context.pages):
            old.close()
        self.context.clear_cookies()
        return self.context.new_page()

    def close(self) -> None:
        try:
            self.context.close()
        finally:
            self._manager.__exit__(None, None, None)
