"""The ``passport`` command in-process (service/cli.py): db, keys, clients, audit."""

import asyncio
import datetime as dt
import getpass
import io
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from litestar import Litestar, get
from sqlalchemy.exc import IntegrityError

from service import auth
from service.app import create_app
from service.cli import main
from service.config import load_settings
from service.db import upgrade
from service.keys import KeyStore
from service.passport.encryption import DataKeyStore
from tests.conftest import asgi_transport

PASSPHRASE = "cli-test-passphrase"
BASE_URL = "http://registry.test"


@dataclass(frozen=True)
class Env:
    root: Path
    db_path: Path

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    def store(self) -> KeyStore:
        return KeyStore(self.keys_dir, PASSPHRASE)

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(statement).fetchall()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    for name in list(os.environ):
        if name.startswith("PASSPORT_") and not name.startswith("PASSPORT_TEST_"):
            monkeypatch.delenv(name)
    db_path = tmp_path / "passport.db"
    monkeypatch.setenv("PASSPORT_DATABASE_URL", f"sqlite+aiosqlite:///{db_path}")
    monkeypatch.setenv("PASSPORT_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("PASSPORT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PASSPORT_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("PASSPORT_PUBLIC_BASE_URL", BASE_URL)
    monkeypatch.setenv("PASSPORT_LOG_LEVEL", "WARNING")
    return Env(root=tmp_path, db_path=db_path)


@pytest.fixture
def migrated(env: Env) -> Env:
    upgrade(f"sqlite+aiosqlite:///{env.db_path}")
    return env


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- db


def test_db_upgrade_is_idempotent(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "db", "upgrade")[:2] == (0, "database at head\n")
    tables = env.sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    version = env.sql("SELECT version_num FROM alembic_version")
    assert ("audit_events",) in tables
    assert ("api_clients",) in tables
    assert run(capsys, "db", "upgrade")[:2] == (0, "database at head\n")
    assert env.sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") == tables
    assert env.sql("SELECT version_num FROM alembic_version") == version


def test_bad_setting_is_one_line_and_exit_2(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSPORT_ACCESS_TOKEN_LIFETIME", "forever")
    code, out, err = run(capsys, "keys", "list")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("passport: configuration error: PASSPORT_ACCESS_TOKEN_LIFETIME: ")


# ---------------------------------------------------------------- keys


def audit_events(env: Env) -> list[tuple[object, ...]]:
    """(actor, organisation, action, subject, outcome) of every audit event, oldest first."""
    return env.sql("SELECT actor, organisation, action, subject, outcome FROM audit_events ORDER BY id")


def test_keys_init_list_rotate_retire(migrated: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env = migrated
    code, out, _ = run(capsys, "keys", "init")
    assert code == 0
    created = {m.kid: (m.purpose, m.alg) for m in env.store().metas()}
    assert sorted(created.values()) == [("credential", "ES256"), ("credential", "EdDSA"), ("token", "ES256")]
    for kid, (purpose, alg) in created.items():
        assert f"created {purpose} key {alg} {kid}\n" in out

    before = sorted(p.name for p in env.keys_dir.rglob("*"))
    assert run(capsys, "keys", "init")[:2] == (0, "keys already present; nothing created\n")
    assert sorted(p.name for p in env.keys_dir.rglob("*")) == before

    code, out, _ = run(capsys, "keys", "list")
    assert code == 0
    listed = {line.split()[0]: line.split()[1:4] for line in out.splitlines()[1:]}
    assert listed == {kid: [purpose, alg, "active"] for kid, (purpose, alg) in created.items()}

    old_token = next(k for k, v in created.items() if v[0] == "token")
    code, out, _ = run(capsys, "keys", "rotate", "--purpose", "token")
    assert code == 0
    new_token = out.split()[4].rstrip(";")
    assert env.store().find(new_token).status == "active"
    retired = env.store().find(old_token)
    assert retired.status == "retired"
    assert retired.publish_until is not None
    assert retired.retired_at is not None
    # A token key signs access tokens (5 min) and sessions (8 h): it is published that long, not a year.
    assert retired.publish_until - retired.retired_at == dt.timedelta(hours=8)

    old_credential = next(k for k, v in created.items() if v == ("credential", "EdDSA"))
    assert run(capsys, "keys", "rotate", "--purpose", "credential", "--alg", "EdDSA")[0] == 0
    retired = env.store().find(old_credential)
    assert retired.publish_until is not None
    assert retired.retired_at is not None
    assert retired.publish_until - retired.retired_at == dt.timedelta(days=365)

    code, out, _ = run(capsys, "keys", "list")
    statuses = {line.split()[0]: line.split()[3] for line in out.splitlines()[1:]}
    assert statuses[old_token] == statuses[old_credential] == "retired"
    assert statuses[new_token] == "active"

    code, out, _ = run(capsys, "keys", "retire", new_token)
    assert code == 0
    assert out.startswith(f"retired {new_token}; published until ")
    assert env.store().find(new_token).status == "retired"

    new_credential = next(m.kid for m in env.store().metas() if m.status == "active" and m.alg == "EdDSA")
    events = audit_events(env)
    assert {actor for actor, *_ in events} == {f"cli:{getpass.getuser()}"}
    recorded = [(action, subject) for _, _, action, subject, _ in events]
    (data_key,) = DataKeyStore(env.keys_dir, PASSPHRASE).metas()
    assert sorted(recorded[:4]) == sorted(
        [("cli keys init", f"key:{p}:{k}") for k, (p, _) in created.items()]
        + [("cli keys init", f"key:data:{data_key.kid}")]
    )
    assert recorded[4:] == [
        ("cli keys rotate", f"key:token:{new_token}"),
        ("cli keys rotate", f"key:credential:{new_credential}"),
        ("cli keys retire", f"key:token:{new_token}"),
    ]
    assert run(capsys, "audit", "verify")[:2] == (0, "audit chain intact: 7 events\n")


def test_keys_init_audits_the_data_key_with_the_signing_keys(
    migrated: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """The data key (it seals occupational health) is a key change like the others: its audit event is
    committed with theirs, and a refused event leaves no data key behind (decision 0045)."""
    env = migrated
    env.sql("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'no'); END")
    with pytest.raises(IntegrityError, match="no"):
        main(["keys", "init"])
    assert not [p for p in env.keys_dir.rglob("*") if p.is_file()], "no key without its audit event"
    env.sql("DROP TRIGGER refuse_audit")
    capsys.readouterr()

    code, out, _ = run(capsys, "keys", "init")
    assert code == 0
    (data_key,) = DataKeyStore(env.keys_dir, PASSPHRASE).metas()
    assert f"created data key {data_key.kid}\n" in out
    assert ("cli keys init", f"key:data:{data_key.kid}") in [(a, s) for _, _, a, s, _ in audit_events(env)]
    assert len(audit_events(env)) == 4, "three signing keys and the data key"
    assert run(capsys, "keys", "init")[:2] == (0, "keys already present; nothing created\n")
    assert len(audit_events(env)) == 4, "nothing created, nothing recorded"


def test_key_changes_wait_for_a_migrated_database(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "keys", "init")
    assert (code, out) == (1, "")
    assert err.startswith("passport: the audit log cannot be written")
    assert "run `passport db upgrade` first; no key was changed" in err
    assert env.store().metas() == []


def test_keys_with_a_wrong_passphrase_are_refused_in_one_line(
    migrated: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = migrated
    assert run(capsys, "keys", "init")[0] == 0
    monkeypatch.setenv("PASSPORT_KEY_PASSPHRASE", "not-the-right-one")
    code, _, err = run(capsys, "keys", "rotate")
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("passport: PASSPORT_KEY_PASSPHRASE")
    assert len(env.store().metas()) == 3
    assert [action for _, _, action, _, _ in audit_events(env)] == ["cli keys init"] * 4, "nothing recorded"


def test_retire_unknown_kid_is_one_line(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "keys", "retire", "no-such-kid")
    assert code == 1
    assert err == f"passport: no key with kid no-such-kid under {env.keys_dir}\n"


# ---------------------------------------------------------------- clients and audit


class SteppedClock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def app_with_protected_route(clock: SteppedClock | None = None) -> Litestar:
    @get("/test-only/whoami", guards=[auth.requires(*auth.ALL_ROLES)], sync_to_thread=False)
    def whoami(principal: auth.CurrentPrincipal) -> dict[str, str]:
        return {"subject": principal.subject}

    app = create_app(load_settings(), clock=clock or SteppedClock())
    app.register(whoami)
    return app


async def token_request(app: Litestar, client_id: str, secret: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=asgi_transport(app), base_url=BASE_URL) as http:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        response = await http.post("/oauth/token", data=form)
    await app.state.database.dispose()  # the next call runs in another event loop
    return response


async def whoami(app: Litestar, token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=asgi_transport(app), base_url=BASE_URL) as http:
        response = await http.get("/test-only/whoami", headers={"Authorization": f"Bearer {token}"})
    await app.state.database.dispose()
    return response


def test_clients_create_list_revoke_and_audit_verify(
    migrated: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "keys", "init")[0] == 0
    code, out, err = run(capsys, "clients", "create", "--name", "Registry admin tool", "--role", "admin")
    assert code == 0
    created = json.loads(out)
    client_id, secret = created["client_id"], created["client_secret"]
    assert created["role"] == "admin"
    assert len(secret) >= 32
    assert "client_secret" in err

    code, out, _ = run(capsys, "clients", "list")
    assert code == 0
    assert secret not in out
    row = next(line for line in out.splitlines() if line.startswith(client_id))
    assert row.split()[1:4] == ["admin", "-", "active"]
    assert secret not in str(migrated.sql("SELECT * FROM api_clients"))

    clock = SteppedClock()
    app = app_with_protected_route(clock)
    granted = asyncio.run(token_request(app, client_id, secret))
    assert granted.status_code == 200, granted.text
    access_token = granted.json()["access_token"]
    assert asyncio.run(whoami(app, access_token)).status_code == 200

    assert run(capsys, "clients", "revoke", client_id)[:2] == (0, f"revoked {client_id}\n")
    code, out, _ = run(capsys, "clients", "list")
    assert next(line for line in out.splitlines() if line.startswith(client_id)).split()[3] == "revoked"

    refused = asyncio.run(token_request(app, client_id, secret))
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    # The running server trusted its check of the client for PASSPORT_AUTH_CACHE_SECONDS (5 by default).
    clock.now += dt.timedelta(seconds=4)
    assert asyncio.run(whoami(app, access_token)).status_code == 200, "still within the cache window"
    clock.now += dt.timedelta(seconds=1)
    assert asyncio.run(whoami(app, access_token)).status_code == 401, "refused once the window has passed"
    fresh = app_with_protected_route(clock)
    assert asyncio.run(whoami(fresh, access_token)).status_code == 401, "another process refuses at once"

    # After the key creation (4 events): the two CLI actions and the two token requests, in order.
    assert [(action, subject, outcome) for _, _, action, subject, outcome in audit_events(migrated)][4:] == [
        ("cli clients create", f"client:{client_id}", "success"),
        ("POST oauth_token", "/oauth/token", "success"),
        ("cli clients revoke", f"client:{client_id}", "success"),
        ("POST oauth_token", "/oauth/token", "denied 401"),
    ]
    code, out, _ = run(capsys, "audit", "verify")
    assert (code, out) == (0, "audit chain intact: 8 events\n")


def test_serve_prints_its_addresses_before_the_server_runs(
    env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``make run | tee run.log``, a service manager, a container log: stdout is not a terminal, so it is
    block-buffered, and the server runs until it is stopped. The addresses must be out before it starts."""
    import uvicorn

    import service.app

    written = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(written, encoding="utf-8", line_buffering=False))
    monkeypatch.setattr(service.app, "open_keyring", lambda settings, clock: None)
    seen_when_serving: list[bytes] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen_when_serving.append(written.getvalue()))
    monkeypatch.setenv("PASSPORT_DEMO_MODE", "true")

    assert main(["serve", "--host", "127.0.0.1", "--port", "8123"]) == 0

    assert len(seen_when_serving) == 1
    shown = seen_when_serving[0].decode()
    assert "Staff Passport Registry on http://127.0.0.1:8123\n" in shown
    assert "http://127.0.0.1:8123/schema" in shown
    assert "demo-clients.json" in shown


def test_clients_revoke_in_a_fresh_process(migrated: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's ``passport clients revoke`` as an operator runs it: its own process, where nothing but the
    command has imported the models (an in-process test has them all loaded already)."""
    code, out, _ = run(capsys, "clients", "create", "--name", "R2U HR", "--role", "admin")
    assert code == 0
    client_id = json.loads(out)["client_id"]

    command = [sys.executable, "-c", "import sys; from service.cli import main; sys.exit(main())"]
    revoked = subprocess.run(  # noqa: S603
        [*command, "clients", "revoke", client_id], capture_output=True, text=True, check=False
    )

    assert (revoked.returncode, revoked.stdout, revoked.stderr) == (0, f"revoked {client_id}\n", "")
    code, out, _ = run(capsys, "clients", "list")
    assert next(line for line in out.splitlines() if line.startswith(client_id)).split()[3] == "revoked"


def test_clients_create_for_an_unknown_organisation_is_one_line(
    migrated: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["clients", "create", "--name", "x", "--role", "issuer", "--organisation", "ZZZ"]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err == "passport: unknown organisation ZZZ\n"


def test_a_write_refused_by_a_busy_database_is_one_line(
    migrated: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another process holding SQLite's write lock (the server's lifecycle pass, say): one line, no traceback,
    nothing written."""
    holder = sqlite3.connect(migrated.db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        code, out, err = run(capsys, "clients", "create", "--name", "x", "--role", "admin")
    finally:
        holder.close()
    assert (code, out) == (1, "")
    assert err.startswith("passport: the database is busy: ")
    assert err.endswith(": run it again\n")
    assert err.count("\n") == 1
    assert migrated.sql("SELECT count(*) FROM api_clients") == [(0,)]


def test_output_into_a_closed_pipe_is_no_traceback(migrated: Env) -> None:
    """`passport clients list | head -1` when head has gone: exit 1, nothing on stderr."""
    command = [sys.executable, "-c", "import sys; from service.cli import main; sys.exit(main())"]
    with subprocess.Popen(  # noqa: S603
        [*command, "clients", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        child.stdout.close()  # the reader leaves before the command writes
        _, err = child.communicate(timeout=60)
    assert (child.returncode, err.decode()) == (1, "")


def test_audit_verify_reports_a_tampered_event(migrated: Env, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "keys", "init")[0] == 0
    app = app_with_protected_route()
    for _ in range(3):
        assert asyncio.run(token_request(app, "nobody", "wrong")).status_code == 401
    assert run(capsys, "audit", "verify")[:2] == (0, "audit chain intact: 7 events\n")  # 4 keys, 3 refusals

    # Someone with file access edits the second event (bypassing the append-only triggers).
    with sqlite3.connect(migrated.db_path) as conn:
        triggers = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
        )
        for (name,) in triggers.fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        second = conn.execute("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 4").fetchone()[0]
        conn.execute("UPDATE audit_events SET outcome = 'success' WHERE id = ?", (second,))
    code, out, err = run(capsys, "audit", "verify")
    assert (code, out) == (1, "")
    assert err == (
        f"passport: audit chain broken at event {second}: "
        "its contents do not match its hash (5 events read)\n"
    )
