"""The README's walk-through "From record to verified presentation" against a real demo server.

The README shows ``docs/examples/verification/walkthrough.sh``; this test runs that script, unchanged,
against a seeded demo registry served over real HTTP (as ``make run`` does), approving each device
sign-in code the wallet prints as the demo doctor would on the /device page.
"""

import asyncio
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from service.auth import SESSION_COOKIE, TokenService, User
from service.db import Database, make_engine
from service.keys import KeyStore, demo_passphrase
from service.web import service as web
from tests.browser.harness import demo_server
from tests.web.helpers import csrf_token

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "examples" / "verification" / "walkthrough.sh"


def approve(base_url: str, folder: Path, user: User, user_code: str) -> None:
    """What the demo doctor does in a browser: approve the code on the /device page."""
    keyring = KeyStore(folder / "keys", demo_passphrase(folder / "var")).load(dt.datetime.now(dt.UTC))
    tokens = TokenService(
        keyring, issuer=base_url, lifetime=300, session_lifetime=3600, clock=lambda: dt.datetime.now(dt.UTC)
    )
    with httpx.Client(base_url=base_url, timeout=10) as browser:
        browser.cookies.set(SESSION_COOKIE, tokens.issue_session(web.principal_for(user)))
        page = browser.get("/device", params={"user_code": user_code})
        assert page.status_code == 200, page.text
        decided = browser.post(
            "/device",
            data={"user_code": user_code, "decision": "approve", "csrf_token": csrf_token(page.text)},
        )
        assert decided.status_code == 303, decided.text


async def _demo_doctor(url: str) -> User:
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            return (await session.scalars(select(User).where(User.role == "holder"))).one()
    finally:
        await database.dispose()


def test_the_readme_walkthrough_runs_against_a_demo_server(tmp_path: Path) -> None:
    if shutil.which("jq") is None or shutil.which("curl") is None:
        pytest.skip("the walk-through uses curl and jq, not found on PATH")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/examples/verification/walkthrough.sh" in readme
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    with demo_server(tmp_path, database_url=url, backend="sqlite") as server:
        doctor = asyncio.run(_demo_doctor(url))
        passport = Path(sys.executable).parent / "passport"
        env = {
            **server.env,
            "REGISTRY": server.base_url,
            "CLIENTS": str(tmp_path / "var" / "demo-clients.json"),
            "PASSPORT": str(passport),
            "WALLET": str(tmp_path / "wallet"),
            "PATH": os.environ.get("PATH", ""),
        }
        process = subprocess.Popen(  # noqa: S603
            [shutil.which("bash") or "/bin/bash", str(SCRIPT)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        approvals = 0
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                found = re.search(r"enter the code ([A-Z]{4}-[A-Z]{4})", line)
                if found:
                    approve(server.base_url, tmp_path, doctor, found.group(1))
                    approvals += 1
            process.wait(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
        output = "".join(lines)
        assert process.returncode == 0, output[-4000:]
        assert approvals == 2, output[-4000:]
        assert "4 credential(s) saved" in output
        assert re.search(r"verdict: (valid|not_compliant)", output), output[-4000:]
        assert '"state": "answered"' in output
        assert '"checks_failed": []' in output
