"""Starting the registry as a user does: the ``passport`` program in a clean environment and folder."""

import datetime as dt
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import service
from service.keys import KeyStore
from tests.live import stop

PASSPHRASE = "startup-test-passphrase"
SCRIPT = Path(sys.executable).with_name("passport")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "service.cli"]
SOURCE_ROOT = Path(service.__file__).resolve().parent.parent  # run the code under test, wherever it is
TIMEOUT = 60


def clean_env(home: Path, **passport: str) -> dict[str, str]:
    """No inherited PASSPORT_* variable: only what the test sets."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(SOURCE_ROOT),
        **{f"PASSPORT_{name.upper()}": value for name, value in passport.items()},
    }


def passport(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own program, fixed arguments
        [*COMMAND, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def assert_one_line(stderr: str, *fragments: str) -> None:
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in stderr


@pytest.mark.parametrize(
    ("argv", "variable", "value"),
    [
        (["serve"], "PASSPORT_ACCESS_TOKEN_LIFETIME", "soon"),
        (["serve"], "PASSPORT_PUBLIC_BASE_URL", "registry.example"),
        (["db", "upgrade"], "PASSPORT_DATABASE_URL", "mysql://root@localhost/passport"),
        (["db", "upgrade"], "PASSPORT_DATABSE_URL", "sqlite+aiosqlite:///typo.db"),
    ],
)
def test_bad_variable_stops_with_one_line_and_exit_2(
    tmp_path: Path, argv: Sequence[str], variable: str, value: str
) -> None:
    env = clean_env(tmp_path, key_passphrase=PASSPHRASE)
    env[variable] = value
    result = passport(tmp_path, env, *argv)
    assert result.returncode == 2, result.stderr
    assert_one_line(result.stderr, variable)
    assert result.stdout == ""
    assert not (tmp_path / "typo.db").exists()


def test_without_keys_outside_demo_mode_it_says_to_run_keys_init(tmp_path: Path) -> None:
    result = passport(tmp_path, clean_env(tmp_path, key_passphrase=PASSPHRASE), "serve")
    assert result.returncode != 0
    assert_one_line(result.stderr, "passport keys init")
    assert result.stdout == ""


def test_wrong_passphrase_stops_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    KeyStore(tmp_path / "keys", PASSPHRASE).init(dt.datetime.now(dt.UTC))
    result = passport(tmp_path, clean_env(tmp_path, key_passphrase="a-wrong-passphrase"), "serve")
    assert result.returncode != 0
    assert_one_line(result.stderr, "PASSPORT_KEY_PASSPHRASE")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(cwd: Path, env: dict[str, str], logs: Path) -> Iterator[str]:
    """``passport serve`` on a free port until ready; always stopped (then killed) on the way out."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs.mkdir(exist_ok=True)
    errors = logs / "stderr"
    with (logs / "stdout").open("w") as out, errors.open("w") as err:
        process = subprocess.Popen(  # noqa: S603 - our own program, fixed arguments
            [*COMMAND, "serve", "--port", str(port)], cwd=cwd, env=env, stdout=out, stderr=err
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while True:
                if process.poll() is not None:
                    pytest.fail(f"passport serve exited ({process.returncode}): {errors.read_text()}")
                try:
                    if httpx.get(base + "/health/live", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"passport serve not up after {TIMEOUT} s: {errors.read_text()}")
                time.sleep(0.1)
            yield base
        finally:
            stop(process, timeout=15)


def published_kids(base: str) -> set[str]:
    kids: set[str] = set()
    for path in ("/.well-known/jwks.json", "/oauth/jwks.json"):
        response = httpx.get(base + path, timeout=5)
        assert response.status_code == 200
        kids |= {key["kid"] for key in response.json()["keys"]}
    return kids


def key_files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_demo_mode_serves_over_http_with_keys_made_on_first_start_and_kept(tmp_path: Path) -> None:
    env = clean_env(tmp_path, demo_mode="true", database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    upgraded = passport(tmp_path, env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert not (tmp_path / "var" / "key-passphrase").exists()
    assert not (tmp_path / "keys").exists()

    with serving(tmp_path, env, tmp_path / "first") as base:
        ready = httpx.get(base + "/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ok"
        first_kids = published_kids(base)
    passphrase_file = tmp_path / "var" / "key-passphrase"
    passphrase = passphrase_file.read_text()
    assert stat.S_IMODE(passphrase_file.stat().st_mode) == 0o600
    files = key_files(tmp_path / "keys")
    assert {Path(name).stem for name in files if name.endswith(".pem")} == first_kids
    assert len(first_kids) == 3
    assert "Traceback" not in (tmp_path / "first" / "stderr").read_text()

    with serving(tmp_path, env, tmp_path / "second") as base:
        assert httpx.get(base + "/health/ready", timeout=5).status_code == 200
        assert published_kids(base) == first_kids
    assert passphrase_file.read_text() == passphrase
    assert key_files(tmp_path / "keys") == files
