"""``passport benchmark compute|verify`` in-process: files, signatures, refusals, exit codes."""

import datetime as dt
import http.server
import json
import os
import socket
import threading
from pathlib import Path

import pytest

from service.cli import main
from service.db import upgrade
from service.keys import KeyStore
from tests.benchmark.conftest import FILES, write_folder

PASSPHRASE = "cli-test-passphrase"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("PASSPORT_") and not name.startswith("PASSPORT_TEST_"):
            monkeypatch.delenv(name)
    db = tmp_path / "passport.db"
    monkeypatch.setenv("PASSPORT_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    monkeypatch.setenv("PASSPORT_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("PASSPORT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PASSPORT_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("PASSPORT_LOG_LEVEL", "WARNING")
    KeyStore(tmp_path / "keys", PASSPHRASE).init(dt.datetime.now(dt.UTC))
    upgrade(f"sqlite+aiosqlite:///{db}")
    return tmp_path


def jwks_file(root: Path) -> Path:
    ring = KeyStore(root / "keys", PASSPHRASE).load(dt.datetime.now(dt.UTC))
    path = root / "jwks.json"
    path.write_text(json.dumps(ring.jwks("credential")))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx", "html"])
def test_compute_from_a_folder_writes_a_signed_file_that_verifies(
    env: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    folder = write_folder(env / "data")
    output = env / "out" / f"benchmark.{fmt}"
    code, out, err = run(
        capsys,
        "benchmark",
        "compute",
        "--year",
        "2025",
        "--data",
        str(folder),
        "--format",
        fmt,
        "--output",
        str(output),
    )
    assert (code, err) == (0, "")
    assert "benchmark 2025-26" in out
    assert output.with_name(output.name + ".jws").is_file()
    code, out, err = run(
        capsys, "benchmark", "verify", str(output), str(output) + ".jws", "--jwks", str(jwks_file(env))
    )
    assert code == 0, err
    assert out.startswith(f"verified: {output}")
    first = output.read_bytes()
    run(
        capsys,
        "benchmark",
        "compute",
        "--year",
        "2025",
        "--data",
        str(folder),
        "--format",
        fmt,
        "--output",
        str(output),
    )
    assert output.read_bytes() == first  # the same inputs give the same bytes


def test_a_changed_file_is_not_verified(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = env / "b.csv"
    run(
        capsys,
        "benchmark",
        "compute",
        "--year",
        "2025",
        "--data",
        str(write_folder(env / "data")),
        "--format",
        "csv",
        "--output",
        str(output),
    )
    output.write_bytes(output.read_bytes().replace(b",12,", b",13,", 1))
    code, out, err = run(
        capsys, "benchmark", "verify", str(output), str(output) + ".jws", "--jwks", str(jwks_file(env))
    )
    assert (code, out) == (1, "")
    assert err.startswith("passport: NOT VERIFIED: the signature does not match this file")


def test_verify_fetches_the_published_keys_over_http(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = env / "b.json"
    run(
        capsys,
        "benchmark",
        "compute",
        "--year",
        "2025",
        "--data",
        str(write_folder(env / "data")),
        "--output",
        str(output),
    )
    with serve(jwks_file(env).read_bytes()) as url:
        code, _out, err = run(capsys, "benchmark", "verify", str(output), str(output) + ".jws", "--jwks", url)
    assert code == 0, err
    closed = f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"
    code, _, err = run(capsys, "benchmark", "verify", str(output), str(output) + ".jws", "--jwks", closed)
    assert code == 1
    assert err.startswith("passport: cannot fetch the key set")


def test_a_folder_with_problems_lists_them_and_computes_nothing(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    placements = (
        FILES["placements.csv"] + "7000300,NX999,ent,ST3,medical,doctors_in_training,2025-06-01,2025-05-01\n"
    )
    folder = write_folder(env / "data", placements=placements)
    output = env / "b.json"
    code, out, err = run(
        capsys, "benchmark", "compute", "--year", "2025", "--data", str(folder), "--output", str(output)
    )
    assert (code, out) == (1, "")
    assert (
        "placements.csv, row 9, column site_code: no organisation in organisations.csv has this code\n" in err
    )
    assert "placements.csv, row 9, column end_date: must be on or after start_date\n" in err
    assert not output.exists()


def test_a_year_that_has_not_started_is_refused(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "benchmark", "compute", "--year", "2090", "--data", str(env), "--output", str(env / "x")
    )
    assert code == 1
    assert err.startswith("passport: --year: The financial year 2090-91 has not started")


def test_compute_from_the_database(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(
        capsys, "benchmark", "compute", "--year", "2025", "--format", "json", "--output", str(env / "db.json")
    )
    assert (code, err) == (0, "")
    assert json.loads((env / "db.json").read_text())["financial_year"] == "2025-26"


# ---------------------------------------------------------------- a JWKS over real HTTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class serve:  # noqa: N801 - used as a context manager, like open()
    """A JWKS document served over HTTP on a loopback port for the length of a ``with`` block."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __enter__(self) -> str:
        body = self.body

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
