"""The reference wallet end to end against a real server (``passport serve`` in a subprocess): init,
fetch (device sign-in approved on the /device page, key registered with proof of possession, credentials
downloaded), list, verify offline against the saved JWKS, and a tampered credential refused."""

import asyncio
import datetime as dt
import json
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from service import jws
from service.auth import SESSION_COOKIE, TokenService, User
from service.db import Database, make_engine
from service.keys import KeyStore
from service.passport.encryption import DataKeyStore
from service.wallet import cli as wallet_cli
from service.wallet import present
from service.wallet.store import Wallet, WalletError
from service.web import service as web
from service.workforce.models import Person
from tests.credentials import factories as cf
from tests.factories import TEST_PASSPHRASE
from tests.live import LiveServer, live_server
from tests.oid4vc.test_live import _seed as seed_live
from tests.passport import factories as pf
from tests.web.helpers import csrf_token

pytestmark = pytest.mark.slow


async def _seed(url: str, keys_dir: Path) -> User:
    data_keys = DataKeyStore(keys_dir, TEST_PASSPHRASE).load()
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            world = await pf.create_world(session)
            now = dt.datetime.now(dt.UTC)
            await cf.submit(
                session, data_keys, cf.records_of(world.doctor, world.tree), world.tree.trust, now
            )
            user = await cf.holder_user(session, world.doctor, now)
            await session.commit()
            return user
    finally:
        await database.dispose()


def wallet(live: LiveServer, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "service.cli", "wallet", "--dir", str(folder), *args]
    return subprocess.run(command, env=live.env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603


def approve(live: LiveServer, keys_dir: Path, user: User, user_code: str) -> None:
    keyring = KeyStore(keys_dir, TEST_PASSPHRASE).load(dt.datetime.now(dt.UTC))
    tokens = TokenService(
        keyring,
        issuer=live.base_url,
        lifetime=300,
        session_lifetime=3600,
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    with httpx.Client(base_url=live.base_url, timeout=10) as browser:
        browser.cookies.set(SESSION_COOKIE, tokens.issue_session(web.principal_for(user)))
        page = browser.get("/device", params={"user_code": user_code})
        assert page.status_code == 200, page.text
        decided = browser.post(
            "/device",
            data={"user_code": user_code, "decision": "approve", "csrf_token": csrf_token(page.text)},
        )
        assert decided.status_code == 303, decided.text


def test_wallet_init_fetch_list_verify_against_a_live_server(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    DataKeyStore(keys_dir, TEST_PASSPHRASE).init(dt.datetime.now(dt.UTC))
    with live_server(tmp_path) as live:
        user = asyncio.run(_seed(live.env["PASSPORT_DATABASE_URL"], keys_dir))
        folder = tmp_path / "wallet"
        made = wallet(live, folder, "init")
        assert made.returncode == 0, made.stderr
        assert stat.S_IMODE((folder / "holder-key.pem").stat().st_mode) == 0o600
        command = [
            sys.executable,
            "-m",
            "service.cli",
            "wallet",
            "--dir",
            str(folder),
            "fetch",
            "--registry",
            live.base_url,
            "--timeout",
            "60",
        ]
        process = subprocess.Popen(  # noqa: S603
            command, env=live.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            found = re.search(r"enter the code ([A-Z]{4}-[A-Z]{4})", line)
            assert found, line
            approve(live, keys_dir, user, found.group(1))
            out, err = process.communicate(timeout=90)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, err
        assert "4 credential(s) saved" in out
        saved = sorted(p.name for p in (folder / "credentials").iterdir())
        assert saved == [
            "core_skills.json",
            "identity_link.json",
            "occupational_health.json",
            "training_placement.json",
        ]

        listed = wallet(live, folder, "list", "--check-status")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.count("status valid") == 4
        assert "claims: core_skills (2: " in listed.stdout

        checked = wallet(live, folder, "verify", "core_skills")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "valid: signed by the registry" in checked.stdout

        stored = json.loads((folder / "credentials" / "core_skills.json").read_text())
        jwt, _, rest = stored["credential"].partition("~")
        header, payload, signature = jwt.split(".")
        claims = json.loads(jws.b64url_decode(payload))
        claims["exp"] += 86400 * 365
        forged = ".".join([header, jws.b64url_encode(json.dumps(claims).encode()), signature])
        tampered = tmp_path / "tampered.json"
        tampered.write_text(json.dumps({**stored, "credential": forged + "~" + rest}))
        refused = wallet(live, folder, "verify", str(tampered), "--jwks", str(folder / "issuer-jwks.json"))
        assert refused.returncode == 1
        assert "bad_signature" in refused.stdout


async def _seed_for_presenting(url: str) -> dict[str, Any]:
    """The doctor, issuer, verifier, policy and records of tests/oid4vc/test_live.py (the records meet the
    verifier site's policy; they go in through the API), and a user who signs in as that doctor."""
    seeded = await seed_live(url)
    database = Database(make_engine(url, pool_size=1))
    try:
        async with database.session() as session:
            doctor = await session.get(Person, seeded["doctor"])
            assert doctor is not None
            user = await cf.holder_user(session, doctor, dt.datetime.now(dt.UTC))
            await session.commit()
            return {**seeded, "user": user}
    finally:
        await database.dispose()


def test_present_refuses_revoked_and_suspended_copies_and_prefers_a_valid_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole passport on a real server, its log at DEBUG: records in, credentials fetched, revoked,
    suspended, reinstated, presented and verified; and nothing of the tokens, credentials or health
    outcomes is in what the server logged."""
    keys_dir = tmp_path / "keys"
    DataKeyStore(keys_dir, TEST_PASSPHRASE).init(dt.datetime.now(dt.UTC))
    log = tmp_path / "server.log"
    with (
        live_server(tmp_path, env={"PASSPORT_LOG_LEVEL": "DEBUG"}, log=log) as live,
        httpx.Client(base_url=live.base_url + "/api/v1", timeout=30) as api,
    ):
        seeded = asyncio.run(_seed_for_presenting(live.env["PASSPORT_DATABASE_URL"]))
        issuer = {"Authorization": f"Bearer {live.token(seeded['issuer'])}"}
        verifier = {"Authorization": f"Bearer {live.token(seeded['verifier'])}"}
        posted = api.post("/records", json=seeded["records"], headers=issuer)
        assert posted.status_code == 201, posted.text
        folder = tmp_path / "wallet"
        Wallet(folder).init()

        def sign_in(grant: dict[str, Any]) -> None:
            approve(live, keys_dir, seeded["user"], grant["user_code"])

        def ask() -> dict[str, Any]:
            made = api.post(
                "/presentation-requests",
                json={"policy": "theatre-surgical-trainee", "purpose": "Theatre list on Monday"},
                headers=verifier,
            )
            assert made.status_code == 201, made.text
            found: dict[str, Any] = made.json()
            return found

        def act(credential_id: str, action: str) -> None:
            done = api.post(
                f"/credentials/{credential_id}/{action}", json={"reason": "checking"}, headers=issuer
            )
            assert done.status_code == 200, done.text

        wallet_cli.fetch(folder, live.base_url, timeout=60, on_code=sign_in)
        revoked = Wallet(folder).credential("core_skills")
        act(revoked.id, "revoke")
        act(Wallet(folder).credential("identity_link").id, "suspend")
        request = ask()
        with pytest.raises(WalletError) as refused:
            present.present(folder, request["request_uri"], submit=True, timeout=60, on_code=sign_in)
        message = str(refused.value)
        assert "not presented, nothing was sent" in message
        assert "core_skills (revoked)" in message
        assert "identity_link (suspended)" in message
        assert "training_placement" not in message
        state = api.get(f"/presentation-requests/{request['id']}", headers=verifier).json()["state"]
        assert state == "pending", "the request is still open for a good answer"

        capsys.readouterr()
        wallet_cli.list_credentials(folder, check_status=True)
        listed = capsys.readouterr().out
        assert re.search(r"core_skills .*\n  expires [^\n]*; status invalid;", listed), listed
        assert re.search(r"identity_link .*\n  expires [^\n]*; status suspended;", listed), listed
        assert listed.count("status valid;") == 2

        # The issuer reinstates the identity link and submits the core skills records again (a new fact: a
        # revoked type is issued again only then, decision 0046); a new fetch brings a new core skills
        # credential, and the wallet keeps the revoked one as its first copy: present passes over it.
        act(Wallet(folder).credential("identity_link").id, "reinstate")
        skills = [r for r in seeded["records"] if r["kind"] == "core_skills"]
        again = api.post("/records", json=skills, headers=issuer)
        assert again.status_code == 201, again.text
        wallet_cli.fetch(folder, live.base_url, timeout=60, on_code=sign_in)
        fresh = Wallet(folder).credentials()
        assert revoked.id not in {c.id for c in fresh}
        Wallet(folder).save_credentials([revoked, *fresh])
        assert [c.id for c in Wallet(folder).copies("core_skills")] == [revoked.id, fresh[0].id]
        assert (folder / "credentials" / "core_skills.2.json").is_file()
        capsys.readouterr()
        request = ask()
        result = present.present(folder, request["request_uri"], submit=True, timeout=60, on_code=sign_in)
        assert result["verdict"] == "valid", result["summary"]
        told = capsys.readouterr().err
        assert "core_skills: presenting another copy (the wallet's first is revoked)" in told
        assert "status not checked" not in told
        secrets = [issuer["Authorization"][7:], verifier["Authorization"][7:], seeded["issuer"].client_secret]
        held = [c.credential for c in Wallet(folder).credentials()] + [revoked.credential]

    logged = log.read_text()
    # At DEBUG, aiosqlite logged every statement with its parameters (an issued credential among them)
    # until its logger was held at WARNING (service.observability.DATA_LOGGERS).
    assert '"path":"/api/v1/presentation-requests"' in logged, "the access log was written"
    for secret in secrets:
        assert secret not in logged
        assert secret.split(".")[-1] not in logged  # a token's signature (or a client secret)
    for credential in held:
        jwt, *disclosures = [part for part in credential.split("~") if part]
        assert jwt.split(".")[2] not in logged  # the issuer's signature
        assert jwt.split(".")[1][:40] not in logged  # its claims
        for disclosure in disclosures:
            assert disclosure not in logged
    for outcome in ('"immune"', '"cleared"', "hepatitis_b", "epp_clearance"):
        assert outcome not in logged, outcome
