"""The README's walk-through "From record to verified presentation" against a real demo server.

The README shows ``docs/examples/verification/walkthrough.sh`` and then ``renewal.sh``; this test runs both
scripts, unchanged, one after the other against a seeded demo registry served over real HTTP (as ``make
run`` does, its credential lifecycle included), approving each device sign-in code the wallet prints as
the demo doctor would on the /device page.
"""

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from service.auth import SESSION_COOKIE, Role, TokenService, User
from service.db import Database, make_engine
from service.keys import KeyStore, demo_passphrase
from service.passport.demo import changeover_after
from service.passport.policy import ENGLAND
from service.web import service as web
from service.workforce.models import Person
from tests.browser.harness import demo_server
from tests.web.helpers import csrf_token

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "verification"
WALKTHROUGH = EXAMPLES / "walkthrough.sh"
RENEWAL = EXAMPLES / "renewal.sh"


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


async def _demo_doctor(url: str) -> tuple[User, str]:
    """The demo doctor's web account and GMC number (at the test's small scale, not the README's)."""
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            # the demo doctor: the first holder the demo sign-in page lists (the demo colleagues follow)
            user = (await web.demo_users(session))[Role.HOLDER][0]
            gmc = await session.scalar(select(Person.gmc_number).where(Person.id == user.person_id))
            assert gmc is not None
            return user, gmc
    finally:
        await database.dispose()


def run_script(
    script: Path, env: dict[str, str], approve_code: Callable[[str], None]
) -> tuple[int, str, int]:
    """Run ``script`` with bash, approving every sign-in code it prints: exit code, output, approvals."""
    process = subprocess.Popen(  # noqa: S603
        [shutil.which("bash") or "/bin/bash", str(script)],
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
                approve_code(found.group(1))
                approvals += 1
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    return process.returncode, "".join(lines), approvals


def printed_objects(output: str) -> list[dict[str, Any]]:
    """Every JSON object the script printed from the start of a line (jq's output)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    for start in (m.start() for m in re.finditer(r"^\{", output, re.MULTILINE)):
        try:
            value, _ = decoder.raw_decode(output, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def verdicts(output: str) -> list[dict[str, Any]]:
    """The verified results the verifier read, in order."""
    return [o for o in printed_objects(output) if "verdict" in o]


def failed_rules(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in result["rules"] if not r["passed"]]


def test_the_readme_walkthrough_then_the_renewal_reach_valid(tmp_path: Path) -> None:
    if shutil.which("jq") is None or shutil.which("curl") is None:
        pytest.skip("the walk-through uses curl and jq, not found on PATH")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/examples/verification/walkthrough.sh" in readme
    assert "docs/examples/verification/renewal.sh" in readme
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    with demo_server(
        tmp_path, database_url=url, backend="sqlite", settings={"PASSPORT_LIFECYCLE_INTERVAL": "2"}
    ) as server:
        doctor, gmc_number = asyncio.run(_demo_doctor(url))
        bin_dir = Path(sys.executable).parent
        env = {
            **server.env,
            "REGISTRY": server.base_url,
            "CLIENTS": str(tmp_path / "var" / "demo-clients.json"),
            "PASSPORT": str(bin_dir / "passport"),
            "PYTHON": sys.executable,
            "WALLET": str(tmp_path / "wallet"),
            "GMC_NUMBER": gmc_number,
            "PATH": os.environ.get("PATH", ""),
        }

        def approve_code(code: str) -> None:
            approve(server.base_url, tmp_path, doctor, code)

        start = changeover_after(dt.date.today()).isoformat()  # noqa: DTZ011 - as renewal.sh computes it

        # walkthrough.sh: fetch, present, judged today: only the placement (it starts at the changeover) fails
        code, output, approvals = run_script(WALKTHROUGH, env, approve_code)
        assert code == 0, output[-4000:]
        assert approvals == 2, output[-4000:]
        assert "4 credential(s) saved" in output
        [first] = verdicts(output)
        assert first["state"] == "answered"
        assert first["verdict"] == "not_compliant", first
        assert first["checks_failed"] == []
        [placement] = failed_rules(first)
        assert placement["type"] == "training_placement"
        assert f"does not cover {dt.datetime.now(ENGLAND).date().isoformat()}" in placement["reason"]

        # renewal.sh: judged on the placement start, renewed, re-issued, fetched, judged again
        code, output, approvals = run_script(RENEWAL, env, approve_code)
        assert code == 0, output[-4000:]
        assert approvals == 3, output[-4000:]  # present, fetch, present
        before, after = verdicts(output)
        assert before["evaluated_on"] == start
        assert before["verdict"] == "not_compliant", before
        [lapsed] = failed_rules(before)
        assert lapsed["type"] == "core_skills"
        assert lapsed["reason"].startswith("Information governance"), lapsed
        assert f"before {start}" in lapsed["reason"]

        reissue = [o for o in printed_objects(output) if o.get("kind") == "core_skills"]
        new, old = sorted(reissue, key=lambda o: o["state"] == "revoked")
        assert old["state"] == "revoked"
        assert old["superseded_by"] == new["id"]
        assert new["state"] == "valid"
        assert "4 credential(s) saved" in output

        assert after["state"] == "answered"
        assert after["evaluated_on"] == start
        assert after["verdict"] == "valid", after
        assert after["checks_failed"] == []
        assert len(after["rules"]) == 9
        assert failed_rules(after) == []
        assert after["summary"] == f"Valid: Meets all 9 rules on {start}"
