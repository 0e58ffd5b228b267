"""Find or make a PostgreSQL database for one test session.

``provide_postgres(tmp_dir)`` tries, in order:

1. ``PASSPORT_TEST_POSTGRES_URL`` from the environment, used as given (``stop`` does nothing);
2. a server on 127.0.0.1:5432 with trust authentication (user ``$PGUSER``, then ``postgres``, then
   ``root``; maintenance database ``test``), in which a fresh database ``passport_test_<pid>_<hex>``
   is created so parallel runs never share one; ``stop`` drops it;
3. a throwaway cluster made with ``initdb``/``pg_ctl`` (from ``PATH`` or ``/usr/lib/postgresql/*/bin``),
   listening on a unix socket and on 127.0.0.1 at a free port; ``stop`` stops it and deletes its files.
   initdb refuses to run as root, so under root the cluster runs as an unprivileged user
   (``postgres``, else ``nobody``);
4. otherwise a ``Skip`` carrying the reason.

The URL is always an SQLAlchemy ``postgresql+asyncpg://`` URL.  Connections are checked through SQLAlchemy
with the asyncpg driver (typed, and exactly the stack the application uses).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

__all__ = ["ENV_URL", "PostgresHandle", "Skip", "provide_postgres"]

ENV_URL = "PASSPORT_TEST_POSTGRES_URL"
DEFAULT_BIN_GLOBS: tuple[str, ...] = ("/usr/lib/postgresql/*/bin",)
UNPRIVILEGED_USERS: tuple[str, ...] = ("postgres", "nobody")

_CONNECT_TIMEOUT = 3.0  # seconds, per connection attempt
_COMMAND_TIMEOUT = 60.0  # seconds, per initdb / pg_ctl call
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class PostgresHandle:
    """A usable database: ``url`` for SQLAlchemy, ``stop()`` to remove whatever was created (idempotent)."""

    url: str
    stop: Callable[[], None]
    source: Literal["env", "server", "cluster"]
    cluster_dir: Path | None = None  # data, socket and log of a throwaway cluster (removed by ``stop``)


@dataclass(frozen=True, slots=True)
class Skip:
    """No database could be had; ``reason`` says why, for ``pytest.skip``."""

    reason: str


def provide_postgres(
    tmp_dir: Path,
    *,
    prefer_cluster: bool = False,
    env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int = 5432,
    bin_globs: Sequence[str] = DEFAULT_BIN_GLOBS,
) -> PostgresHandle | Skip:
    """Return a fresh PostgreSQL database for a test session, or the reason there is none.

    ``prefer_cluster`` skips steps 1 and 2 and goes straight to a throwaway cluster.  ``env`` replaces
    ``os.environ`` (for ``PASSPORT_TEST_POSTGRES_URL``, ``PGUSER`` and ``PATH``); ``host``, ``port`` and
    ``bin_globs`` say where step 2 and step 3 look.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    reasons: list[str] = []
    if not prefer_cluster:
        url = environ.get(ENV_URL, "").strip()
        if url:
            return PostgresHandle(url=_asyncpg_url(url), stop=_noop, source="env")
        found = _database_on_server(host, port, _candidate_users(environ), reasons)
        if found is not None:
            return found
    bins = find_pg_bin_dir(environ.get("PATH"), bin_globs)
    if bins is None:
        if not prefer_cluster and not reasons:
            return Skip(f"PostgreSQL not reachable on {host}:{port} and initdb/pg_ctl not found on PATH")
        reasons.append("initdb/pg_ctl not found on PATH or in " + ", ".join(bin_globs))
        return Skip("; ".join(reasons))
    cluster = _start_cluster(bins, tmp_dir)
    if isinstance(cluster, Skip) and reasons:
        return Skip("; ".join([*reasons, cluster.reason]))
    return cluster


# ---------------------------------------------------------------------------------------------------------
# step 1


def _asyncpg_url(url: str) -> str:
    """Accept libpq-style ``postgres://``/``postgresql://`` URLs too, naming the asyncpg driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


def _noop() -> None:
    return None


# ---------------------------------------------------------------------------------------------------------
# step 2: a running server


def _candidate_users(environ: Mapping[str, str]) -> list[str]:
    users = [environ.get("PGUSER", ""), "postgres", "root"]
    return list(dict.fromkeys(u for u in users if u))


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _url(user: str, host: str, port: int, database: str) -> str:
    return f"postgresql+asyncpg://{quote(user, safe='')}@{host}:{port}/{database}"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _new_database_name() -> str:
    return f"passport_test_{os.getpid()}_{secrets.token_hex(4)}"


async def _execute(url: str, statements: Sequence[str], params: Mapping[str, Any] | None = None) -> None:
    """Run statements outside a transaction (CREATE/DROP DATABASE cannot run inside one)."""
    engine = create_async_engine(
        url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": _CONNECT_TIMEOUT},
    )
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement), dict(params or {}))
    finally:
        await engine.dispose()


def _run(coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
    """``asyncio.run`` with a time limit; from inside a running loop (async fixture), use a helper thread."""

    async def bounded() -> _T:
        return await asyncio.wait_for(coro, timeout)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(bounded())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, bounded()).result(timeout + 5)


def _database_on_server(
    host: str, port: int, users: Sequence[str], reasons: list[str]
) -> PostgresHandle | None:
    if not _port_open(host, port):
        return None
    for user in users:
        name = _new_database_name()
        maintenance = _url(user, host, port, "test")
        try:
            _run(_execute(maintenance, [f"CREATE DATABASE {_quote_ident(name)}"]), _CONNECT_TIMEOUT * 3)
        except (OSError, SQLAlchemyError, TimeoutError) as exc:
            reasons.append(f"{host}:{port} as {user!r}: {_one_line(exc)}")
            continue
        stop = _Once(functools.partial(_drop_database, maintenance, name))
        return PostgresHandle(url=_url(user, host, port, name), stop=stop, source="server")
    return None


def _drop_database(maintenance_url: str, name: str) -> None:
    statements = [
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = :name AND pid <> pg_backend_pid()",
        f"DROP DATABASE IF EXISTS {_quote_ident(name)}",
    ]
    _run(_execute(maintenance_url, statements, {"name": name}), _CONNECT_TIMEOUT * 5)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


class _Once:
    """Run ``action`` at most once, on demand or at interpreter exit, whichever comes first."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action
        self._lock = threading.Lock()
        atexit.register(self)

    def __call__(self) -> None:
        with self._lock:
            action, self._action = self._action, None
        if action is None:
            return
        atexit.unregister(self)
        action()


# ---------------------------------------------------------------------------------------------------------
# step 3: a throwaway cluster


@dataclass(frozen=True, slots=True)
class PgBin:
    initdb: Path
    pg_ctl: Path


@dataclass(frozen=True, slots=True)
class _RunAs:
    """Who runs initdb/pg_ctl: ``None`` fields mean the current user."""

    uid: int | None = None
    gid: int | None = None
    name: str | None = None


def find_pg_bin_dir(path: str | None, globs: Sequence[str] = DEFAULT_BIN_GLOBS) -> PgBin | None:
    """initdb and pg_ctl from one directory: PATH first, then the newest ``/usr/lib/postgresql/*/bin``."""
    dirs: list[Path] = []
    found = shutil.which("initdb", path=path) if path else None
    if found:
        dirs.append(Path(found).parent)
    for pattern in globs:
        anchor = Path(pattern).anchor or "."
        matches = Path(anchor).glob(pattern.removeprefix(anchor))
        dirs.extend(sorted(matches, key=_version_key, reverse=True))
    for directory in dirs:
        initdb, pg_ctl = directory / "initdb", directory / "pg_ctl"
        if _executable(initdb) and _executable(pg_ctl):
            return PgBin(initdb=initdb, pg_ctl=pg_ctl)
    return None


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    parts = bin_dir.parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _run_as() -> _RunAs | Skip:
    if os.geteuid() != 0:
        return _RunAs()
    for name in UNPRIVILEGED_USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(uid=entry.pw_uid, gid=entry.pw_gid, name=name)
    return Skip(
        "initdb refuses to run as root and no unprivileged user ("
        + ", ".join(UNPRIVILEGED_USERS)
        + ") exists to run the throwaway cluster"
    )


def _command(
    args: Sequence[str | Path], run_as: _RunAs, cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool, dropping root privileges when needed (subprocess does setgid/setuid)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"LC_ALL": "C", "LANG": "C", "TZ": "UTC"})
    return subprocess.run(  # noqa: S603, RUF100 - fixed argv of PostgreSQL tools, no shell
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        user=run_as.uid,
        group=run_as.gid,
        extra_groups=[] if run_as.uid is not None else None,
        capture_output=True,
        text=True,
        timeout=_COMMAND_TIMEOUT,
        check=check,
    )


def _can_use(directory: Path, run_as: _RunAs) -> bool:
    """Whether ``run_as`` may create files in ``directory`` (pytest's tmp dirs are mode 0700 for root)."""
    if run_as.uid is None:
        return True
    test_bin = shutil.which("test") or "/usr/bin/test"
    result = _command([test_bin, "-w", directory, "-a", "-x", directory], run_as, Path("/"), check=False)
    return result.returncode == 0


def _cluster_base(tmp_dir: Path, run_as: _RunAs) -> Path:
    """A fresh directory for data, socket and log that ``run_as`` owns; short enough for a unix socket."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    candidate = tmp_dir / f"pg-{secrets.token_hex(3)}"
    socket_path = candidate / "s" / ".s.PGSQL.65535"
    if len(str(socket_path)) <= _SOCKET_PATH_MAX and _can_use(tmp_dir, run_as):
        candidate.mkdir()
        base = candidate
    else:
        base = Path(tempfile.mkdtemp(prefix="passport-pg-"))
    for directory in (base, base / "s"):
        directory.mkdir(exist_ok=True)
        if run_as.uid is not None and run_as.gid is not None:
            os.chown(directory, run_as.uid, run_as.gid)
    return base


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _pg_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _write_config(data: Path, socket_dir: Path, port: int) -> None:
    settings = {
        "listen_addresses": _pg_string("127.0.0.1"),
        "port": str(port),
        "unix_socket_directories": _pg_string(str(socket_dir)),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "100",
    }
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write("\n# throwaway test cluster (tests/postgres.py)\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())


def _start_cluster(bins: PgBin, tmp_dir: Path) -> PostgresHandle | Skip:
    run_as = _run_as()
    if isinstance(run_as, Skip):
        return run_as
    base = _cluster_base(tmp_dir, run_as)
    data, log = base / "data", base / "postgres.log"
    try:
        _command(
            [bins.initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "-N"],
            run_as,
            base,
        )
        port = _free_port()
        _write_config(data, base / "s", port)
        _command([bins.pg_ctl, "-D", data, "-l", log, "-w", "-t", "30", "start"], run_as, base)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = _failure_detail(exc, log)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _command([bins.pg_ctl, "-D", data, "-m", "immediate", "stop"], run_as, base, check=False)
        shutil.rmtree(base, ignore_errors=True)
        who = f" as {run_as.name!r}" if run_as.name else ""
        return Skip(f"could not start a throwaway cluster with {bins.initdb.parent}{who}: {detail}")

    def stop_cluster() -> None:
        try:
            _command([bins.pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], run_as, base, check=False)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    stop = _Once(stop_cluster)
    url = _url("postgres", "127.0.0.1", port, "passport_test")
    try:
        _run(_execute(_url("postgres", "127.0.0.1", port, "postgres"), ["CREATE DATABASE passport_test"]), 15)
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        stop()
        return Skip(f"throwaway cluster started but CREATE DATABASE failed: {_one_line(exc)}")
    return PostgresHandle(url=url, stop=stop, source="cluster", cluster_dir=base)


def _failure_detail(exc: BaseException, log: Path) -> str:
    lines: list[str] = []
    if isinstance(exc, subprocess.CalledProcessError):
        lines.extend((exc.stderr or exc.stdout or "").strip().splitlines()[-3:])
    with contextlib.suppress(OSError):
        lines.extend(log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:])
    return " | ".join([_one_line(exc), *lines])
