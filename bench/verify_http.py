"""Verification over HTTP: the registry's ``POST /api/v1/verifications`` against a bare Litestar endpoint.

The registry (``passport serve --workers 2``, or ``--workers N``, on SQLite in a temporary folder)
verifies each request with every check: the issuer signature with a registry key, ``typ``, times,
disclosures, ``vct``, the status from its own status list (read in-process, cached for its ``ttl``), the
key-binding JWT (``typ``, signature, audience, nonce, ``iat``, ``sd_hash``), the nonce claimed in the
database (each request has a new one), the compliance policy (a core-skills rule), the result sealed and
stored with its audit event (group commit: see ``service/verification/writer.py``). The credential is
really issued by the credentials domain (ES256, bound to an ES256 holder key); each presentation has 5
disclosures.

The bare endpoint (``bare_app`` below, same uvicorn, HTTP parser, protocol and event loop as ``passport
serve``: httptools and uvloop, decision 0049; as many workers) takes the same body and only verifies the
two signatures (issuer and key binding), keys prepared in advance: the floor of any HTTP verifier on this
stack. Both are served as ``passport serve`` serves (``service.serving.serve``: with 2 workers, a
listening socket each; ``--shared-socket``: uvicorn's one), and each round prints how many connections
each worker held. ``--http`` and ``--loop`` put both servers on another stack (``--http
bench.verify_http:NoDelayH11Protocol --loop asyncio``: the pure-Python one; the registry then runs
through uvicorn with passport serve's other settings).

Load: ``--connections`` keep-alive connections (default 32) from ``--processes`` generator processes on
the same machine (asyncio streams on uvloop), each POSTing presentations made in advance, whole requests
built before the clock starts (one per request: a nonce is used once), reading only each answer's
``verdict``; the generators' own CPU per request is reported beside the servers': on 2 cores, what they
spend is taken from the server;
figures are 2xx responses per second and latency percentiles over ``--seconds``. Rounds alternate the
two servers; ratios are per round, then the median. Each server's CPU time (all its processes and
threads, from /proc) per request answered is reported too: on a shared machine it moves far less than
requests/second, and says what the server's own work bounds throughput at.

    python bench/verify_http.py [--seconds 8] [--rounds 3] [--connections 32] [--processes 2] [--workers 2]
"""

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import secrets
import select
import shlex
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from service import serving  # noqa: E402 - the repository's, found by the line above

PASSPHRASE = "bench-passphrase-not-secret"  # noqa: S105 - a throwaway folder
AUDIENCE_PLACEHOLDER = "client"
GOAL_RATE = 2500
GOAL_P99_MS = 25.0
GOAL_BARE = 0.50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def machine() -> str:
    cpu = platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} CPUs, {system}, Python {platform.python_version()}"


# ---------------------------------------------------------------- the registry's data


async def _prepare(url: str, keys_dir: Path, base: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from service import auth, jws
    from service.credentials import service as credentials
    from service.credentials.models import HolderKey
    from service.db import Database, make_engine
    from service.keys import KeyStore
    from service.passport import service as passport
    from service.passport.encryption import DataKeyStore
    from service.passport.schemas import PolicyCreate, RecordCreate
    from service.workforce.models import Organisation, Person

    now = dt.datetime.now(dt.UTC)
    keyring = KeyStore(keys_dir, PASSPHRASE).load(now)
    data_keys = DataKeyStore(keys_dir, PASSPHRASE).load()
    database = Database(make_engine(url))
    try:
        async with database.session() as session:
            for code, kind, parent in (
                ("RRK", "nhs_trust", None),
                ("NT3", "independent_provider", None),
                ("NT301", "independent_site", "NT3"),
            ):
                session.add(
                    Organisation(
                        code=code,
                        name=f"Bench {code}",
                        kind=kind,
                        parent_code=parent,
                        icb_code=None,
                        postcode=None,
                        latitude=None,
                        longitude=None,
                        created_at=now,
                    )
                )
                await session.flush()
            person = Person(
                id=uuid.uuid4(),
                given_name="Ada",
                family_name="Okafor",
                gmc_number="7000001",
                staff_group="medical",
                grade="CT2",
                specialty="general surgery",
                created_at=now,
            )
            session.add(person)
            await session.flush()
            verifier = await auth.create_client(
                session, name="bench HR", role=auth.Role.VERIFIER, organisation_code="NT301", now=now
            )
            assurance = {
                "assurance_policy": "CSTF attainment",
                "assurance_outcome": "verified",
                "verification_method": "source_system",
            }
            bodies = [
                {
                    "kind": "core_skills",
                    "person_id": str(person.id),
                    "subject": "fire_safety",
                    "date_awarded": (now.date() - dt.timedelta(days=60)).isoformat(),
                    "learning_provider": "e-Learning for Healthcare",
                    "learning_method": "e_learning",
                    **assurance,
                },
            ]
            issuer_principal = auth.Principal(
                subject="bench-issuer", kind="client", role=auth.Role.ISSUER, organisation="RRK"
            )
            await passport.submit(
                session,
                issuer_principal,
                msgspec.convert(bodies, list[RecordCreate]),
                now=now,
                keys=data_keys,
            )
            admin = auth.Principal(
                subject="bench-admin", kind="client", role=auth.Role.ADMIN, organisation=None
            )
            policy = {
                "organisation_code": "NT301",
                "name": "bench-fire-safety",
                "title": "Fire safety in date",
                "role": "anyone",
                "rules": [{"type": "core_skills", "subjects": [{"subject": "fire_safety"}]}],
            }
            await passport.create_policy(session, admin, msgspec.convert(policy, PolicyCreate), now)
            holder = ec.generate_private_key(ec.SECP256R1())
            jwk = jws.public_jwk(holder.public_key())
            session.add(
                HolderKey(
                    id=uuid.uuid4(),
                    person_id=person.id,
                    jwk=jwk,
                    thumbprint=jws.jwk_thumbprint(jwk),
                    alg="ES256",
                    registered_at=now,
                )
            )
            await session.flush()
            issuer = credentials.Issuer(keyring=keyring, data_keys=data_keys, base_url=base)
            await credentials.issue(session, issuer, [(person.id, "core_skills")], now=now, tell=False)
            held = await credentials.holder_credentials(session, issuer, person.id)
            await session.commit()
    finally:
        await database.dispose()
    pem = holder.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    signer = keyring.signer("credential")
    return {
        "client_id": verifier.client_id,
        "client_secret": verifier.client_secret,
        "credential": held[0].credential,
        "holder_pem": pem,
        "issuer_jwk": signer.public_jwk(),
    }


def setup(folder: Path, base: str, url: str | None) -> tuple[dict[str, str], dict[str, Any]]:
    from service.db import upgrade
    from service.keys import KeyStore
    from service.passport.encryption import DataKeyStore

    url = url or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    upgrade(url)
    now = dt.datetime.now(dt.UTC)
    KeyStore(folder / "keys", PASSPHRASE).init(now)
    DataKeyStore(folder / "keys", PASSPHRASE).init(now)
    data = asyncio.run(_prepare(url, folder / "keys", base))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")},
        "PASSPORT_DATABASE_URL": url,
        "PASSPORT_KEYS_DIR": str(folder / "keys"),
        "PASSPORT_KEY_PASSPHRASE": PASSPHRASE,
        "PASSPORT_PUBLIC_BASE_URL": base,
        "PASSPORT_VAR_DIR": str(folder / "var"),
        "PASSPORT_LOG_LEVEL": "WARNING",
        "PASSPORT_ACCESS_TOKEN_LIFETIME": "3600",
        "PASSPORT_AUTH_CACHE_SECONDS": "5",
        "PASSPORT_LIFECYCLE_INTERVAL": "0",
    }
    return env, data


# ---------------------------------------------------------------- the bare endpoint


def bare_app() -> Any:
    """A Litestar app whose one route verifies the issuer and key-binding signatures, nothing else."""
    from cryptography.hazmat.primitives import serialization
    from litestar import Litestar, Request, post

    from service import jws

    issuer_key = jws.key_from_jwk(json.loads(os.environ["BENCH_ISSUER_JWK"]))
    private = serialization.load_pem_private_key(os.environ["BENCH_HOLDER_PEM"].encode(), password=None)
    holder_key = jws.VerificationKey("ES256", private.public_key(), None)  # type: ignore[arg-type]

    class Body(msgspec.Struct):
        presentations: list[str]

    @post("/verify", status_code=200)
    async def verify(request: Request[Any, Any, Any]) -> dict[str, bool]:
        body = msgspec.json.decode(await request.body(), type=Body)
        text = body.presentations[0]
        jwt = text[: text.index("~")]
        kb = text[text.rindex("~") + 1 :]
        jws.verify(jwt, issuer_key, typ="dc+sd-jwt")
        jws.verify(kb, holder_key, typ="kb+jwt")
        return {"valid": True}

    return Litestar([verify], debug=False, logging_config=None)


# ---------------------------------------------------------------- servers


class Server:
    def __init__(self, command: list[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise SystemExit(
                    "server exited: "
                    + (self.process.stderr.read().decode()[-2000:] if self.process.stderr else "")
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("server did not start in 60 s")
            time.sleep(0.2)
        time.sleep(1.0)  # both workers up

    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread) of the server and its workers so far: the processes of
        its session, read from /proc (0 where there is no /proc)."""
        total = 0
        tick = os.sysconf("SC_CLK_TCK")
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[3]) == self.process.pid:  # the server's session (start_new_session)
                    total += int(fields[11]) + int(fields[12])
        return total / tick

    def connections_per_worker(self) -> list[int]:
        """How many established connections each process of the server holds on its port, fewest first
        (from /proc; [] where there is none). uvicorn's workers share one listening socket and whichever
        is woken first accepts every connection waiting: 32 opened at once are not shared out evenly."""
        inodes: dict[str, int] = {}  # socket inode -> pid
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(stat.read_text().rpartition(")")[2].split()[3]) != self.process.pid:
                    continue
                for fd in (stat.parent / "fd").iterdir():
                    with contextlib.suppress(OSError):
                        target = str(fd.readlink())
                        if target.startswith("socket:["):
                            inodes[target[8:-1]] = int(stat.parent.name)
        held: dict[int, int] = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text().splitlines()[1:]:
                    fields = line.split()
                    port = int(fields[1].rpartition(":")[2], 16)
                    if port == self.port and fields[3] == "01" and fields[9] in inodes:  # 01: established
                        pid = inodes[fields[9]]
                        held[pid] = held.get(pid, 0) + 1
        return sorted(held.values())

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=5)


def token(port: int, data: dict[str, Any]) -> str:
    import httpx

    response = httpx.post(
        f"http://127.0.0.1:{port}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(data["client_id"], data["client_secret"]),
        timeout=30,
    )
    response.raise_for_status()
    value: str = response.json()["access_token"]
    return value


# ---------------------------------------------------------------- the WAL, watched


class WalWatch:
    """Samples an SQLite database's WAL while the registry is loaded: the largest size of the file, and
    the frames appended (from the WAL index's ``mxFrame``, read from the ``-shm`` file every few
    milliseconds; a restart of the WAL counts the frames before it and after it), so WAL bytes per
    verification = frames x (page size + 24) / verifications. A sample can miss the last frames before a
    restart: the count is a lower bound, close when restarts are far apart in samples."""

    def __init__(self, database: Path, every: float = 0.002) -> None:
        self.wal = Path(f"{database}-wal")
        self.shm = Path(f"{database}-shm")
        self.every = every
        self.max_bytes = 0
        self.frames = 0
        self.page = 4096
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _frame_count(self) -> int | None:
        with contextlib.suppress(OSError, struct.error):
            with self.shm.open("rb") as shm:
                head = shm.read(24)
            page, frames = struct.unpack_from("=HI", head, 14)  # szPage, mxFrame (native byte order)
            self.page = 65536 if page == 1 else page or self.page
            return int(frames)
        return None

    def _run(self) -> None:
        last = self._frame_count() or 0
        while not self._stop.wait(self.every):
            with contextlib.suppress(OSError):
                self.max_bytes = max(self.max_bytes, self.wal.stat().st_size)
            frames = self._frame_count()
            if frames is None:
                continue
            self.frames += frames - last if frames >= last else frames  # smaller: the WAL started again
            last = frames

    def __enter__(self) -> "WalWatch":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def bytes_written(self) -> int:
        return self.frames * (self.page + 24)


# ---------------------------------------------------------------- --trace: where the tail comes from

TRACE_DIR_VARIABLE = "BENCH_TRACE_DIR"
SLOW_CALLBACK_SECONDS = 0.002
"""With --trace, each callback of a worker's event loop that runs longer than this is recorded: while it
runs, nothing else on that loop does (no request is read, verified or answered)."""

Event = tuple[str, float, float, float, str]
"""(kind, start, end, value, note): times by ``time.perf_counter`` (CLOCK_MONOTONIC, one clock for every
process of the machine); the value is CPU seconds or frames, by kind."""


class _Tracer:
    """What a worker records with --trace (see :func:`traced_registry_app`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.events: list[Event] = []
        self.clock = time.perf_counter
        self._gc_began = (0.0, 0.0)
        self.last_pass: tuple[float, float] = (-1.0, -1.0)

    def record(self, kind: str, start: float, value: float = 0.0, note: str = "") -> None:
        self.events.append((kind, start, self.clock(), value, note))

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_began = (self.clock(), time.thread_time())
        else:
            start, cpu = self._gc_began
            self.record(f"gc{info['generation']}", start, time.thread_time() - cpu, f"{info['collected']}")

    def dump(self) -> None:
        (self.folder / f"trace-{os.getpid()}.json").write_text(json.dumps(self.events))


def _trace_loop_callbacks(tracer: _Tracer) -> None:
    """Record every event-loop callback that runs longer than :data:`SLOW_CALLBACK_SECONDS`, with the
    CPU time its thread used meanwhile (wall time well above it: the process waited for a core)."""
    import asyncio.events

    real = asyncio.events.Handle._run
    clock, cpu = tracer.clock, time.thread_time

    def run(handle: Any) -> None:
        start, used = clock(), cpu()
        real(handle)
        if clock() - start > SLOW_CALLBACK_SECONDS:
            owner = getattr(handle._callback, "__self__", None)
            name = (
                getattr(owner.get_coro(), "__qualname__", "?")
                if isinstance(owner, asyncio.Task)
                else repr(handle._callback)
            )
            tracer.record("slow callback", start, cpu() - used, name[:80])

    asyncio.events.Handle._run = run  # type: ignore[method-assign, assignment]


STALL_PERIOD_SECONDS = 0.001


async def _watch_stalls(tracer: _Tracer) -> None:
    """On a loop whose callbacks :func:`_trace_loop_callbacks` cannot see (uvloop runs its own handles, in
    C): wake every :data:`STALL_PERIOD_SECONDS` and record each wake-up later than
    :data:`SLOW_CALLBACK_SECONDS` as a "slow callback" (unnamed: whatever held the loop, or the wait for
    a core), from when it was due, with the CPU time the thread used meanwhile."""
    clock, cpu = tracer.clock, time.thread_time
    while True:
        due, used = clock() + STALL_PERIOD_SECONDS, cpu()
        await asyncio.sleep(STALL_PERIOD_SECONDS)
        if clock() - due > SLOW_CALLBACK_SECONDS:
            tracer.record("slow callback", due, cpu() - used, "loop stall (uvloop: callbacks unnamed)")


def _trace_writer(tracer: _Tracer) -> None:
    """Wrap the verification writer's batch, batch lock and WAL checkpoint (by name, where they exist: the
    same tracing runs on an older tree copied beside this script)."""
    import contextvars

    from service.verification import writer

    beside = contextvars.ContextVar("beside", default=False)
    real_pass = getattr(writer, "_checkpoint", None)
    if real_pass is not None:

        def checkpoint(path: str, *args: Any, **kwargs: Any) -> Any:  # on the checkpoint's thread
            before = _wal_index(path)
            result = real_pass(path, *args, **kwargs)
            after = _wal_index(path)
            tracer.last_pass = (
                float(after[1] - before[1]) if after[1] >= before[1] else -1.0,
                float(after[0]),
            )
            return result

        writer._checkpoint = checkpoint
    real_run = getattr(writer, "_run_checkpoint", None)
    if real_run is not None:

        async def run_checkpoint(*args: Any, **kwargs: Any) -> Any:
            start = tracer.clock()
            tracer.last_pass = (-1.0, -1.0)
            result = await real_run(*args, **kwargs)
            copied, size = tracer.last_pass
            kind = "checkpoint beside" if beside.get() else "checkpoint under lock"
            tracer.record(kind, start, copied, f"{size:.0f}")
            return result

        writer._run_checkpoint = run_checkpoint
    real_first = getattr(writer, "_first_phase", None)
    if real_first is not None:

        async def first_phase(*args: Any, **kwargs: Any) -> Any:
            token = beside.set(True)  # the checkpoint passes in here run beside the batches
            try:
                return await real_first(*args, **kwargs)
            finally:
                beside.reset(token)

        writer._first_phase = first_phase
    _trace_batches(tracer, writer)


def _trace_batches(tracer: _Tracer, writer: Any) -> None:
    """Each batch of the writer's own connection (from its wait for the batch lock to its commit) and each
    wait for the batch lock."""
    import functools

    def timed(kind: str, function: Any, size: bool) -> Any:
        @functools.wraps(function)
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            start = tracer.clock()
            result = await function(*args, **kwargs)
            tracer.record(kind, start, float(len(args[1])) if size else 0.0)
            return result

        return wrapped

    own = getattr(writer, "_OwnConnection", None)
    if own is not None:
        own.write = timed("batch", own.write, True)
    lock = getattr(writer, "_BatchLock", None)
    if lock is not None:
        lock.acquire = timed("lock wait", lock.acquire, False)


def _wal_index(path: str) -> tuple[int, int]:
    """(mxFrame, nBackfill) of the database's WAL index (its ``-shm`` file), or (-1, -1)."""
    with contextlib.suppress(OSError, struct.error), Path(f"{path}-shm").open("rb") as shm:
        head = shm.read(100)
        return int(struct.unpack_from("=I", head, 16)[0]), int(struct.unpack_from("=I", head, 96)[0])
    return -1, -1


TUNING_VARIABLE = "BENCH_WORKER_TUNING"


def tuned_registry_app() -> Any:
    """``passport serve``'s app with the experiment's settings of ``$BENCH_WORKER_TUNING`` (JSON, from
    ``--gc-threshold``, ``--switch-interval``, ``--freeze-after``; decision 0049 tried them) applied in
    each worker after the app's own start-up: a collector threshold, the interpreter's thread switch
    interval, and one more ``gc.collect(); gc.freeze()`` after that many requests of the worker."""
    import gc

    from service.app import create_app_from_env

    tuning = json.loads(os.environ.get(TUNING_VARIABLE) or "{}")
    app = create_app_from_env()
    if "gc_threshold" in tuning:
        gc.set_threshold(*tuning["gc_threshold"])
    if "switch_interval" in tuning:
        sys.setswitchinterval(tuning["switch_interval"])
    freeze_after = int(tuning.get("freeze_after", 0))
    if not freeze_after:
        return app
    served = 0

    async def freezing(scope: Any, receive: Any, send: Any) -> None:
        nonlocal served
        await app(scope, receive, send)
        if scope["type"] == "http":
            served += 1
            if served == freeze_after:
                gc.collect()
                gc.freeze()

    return freezing


def traced_registry_app() -> Any:
    """``passport serve``'s app (``create_app_from_env``), each worker recording its garbage collections
    (``gc.callbacks``, with their CPU time), the verification writer's batches, waits for the batch lock
    and WAL checkpoint passes (beside the batches or under the batch lock, with the frames each copied
    back), each event-loop callback longer than :data:`SLOW_CALLBACK_SECONDS`, and each request's time
    in the app; written to ``$BENCH_TRACE_DIR/trace-<pid>.json`` when the app shuts down."""
    import gc

    tracer = _Tracer(Path(os.environ[TRACE_DIR_VARIABLE]))
    gc.callbacks.append(tracer.on_gc)
    _trace_loop_callbacks(tracer)
    _trace_writer(tracer)
    app = tuned_registry_app()

    watching: list[asyncio.Task[None]] = []

    async def traced(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # uvicorn ends a worker by its signal again: no atexit
            if not isinstance(asyncio.get_running_loop(), asyncio.BaseEventLoop):  # uvloop
                watching.append(asyncio.create_task(_watch_stalls(tracer)))

            async def send_after_dump(message: Any) -> None:
                if message["type"] == "lifespan.shutdown.complete":
                    tracer.dump()
                await send(message)

            await app(scope, receive, send_after_dump)
            return
        start = tracer.clock()
        try:
            await app(scope, receive, send)
        finally:
            tracer.record("request", start)

    return traced


def _quantiles(values: list[float], unit: float = 1000, digits: int = 2) -> str:
    """``n, p50 / p90 / p99 / max`` of ``values`` (seconds: shown in milliseconds)."""
    if not values:
        return "none"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * unit

    return (
        f"{len(ordered):,}, p50 {at(0.5):.{digits}f} / p90 {at(0.9):.{digits}f} / p99 {at(0.99):.{digits}f} "
        f"/ max {ordered[-1] * unit:.{digits}f}"
    )


LATENCY_BUCKETS_MS = (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 25, 30, 35, 40, 50, 60, 80, 100, 150, 200)
CAUSES: dict[str, float] = {
    "checkpoint under lock": 0.0,
    "checkpoint beside": 0.0,
    "gc2": 0.002,
    "gc1": 0.002,
    "gc0": 0.002,
    "slow callback": 0.005,
    "lock wait": 0.005,
    "batch": 0.010,
}
"""The pauses whose overlap with slow requests the report counts, each from this duration (seconds)."""


def _histogram(latencies: list[float]) -> None:
    import bisect

    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for latency in latencies:
        counts[bisect.bisect_left(LATENCY_BUCKETS_MS, latency * 1000)] += 1
    print("  latency histogram (ms: requests, cumulative share):")
    cumulative = 0
    for index, count in enumerate(counts):
        cumulative += count
        low = LATENCY_BUCKETS_MS[index - 1] if index else 0
        high = f"{LATENCY_BUCKETS_MS[index]}" if index < len(LATENCY_BUCKETS_MS) else "..."
        if count:
            print(f"    {low:>4} - {high:<4} {count:>7,}  {cumulative / len(latencies):7.2%}")


def _pauses(kinds: dict[str, list[Event]]) -> None:
    print("  in the measured windows, each kind: count, wall ms p50 / p90 / p99 / max; and its value")
    for kind in sorted(kinds):
        found = kinds[kind]
        values = [value for _, _, _, value, _ in found]
        if kind.startswith("checkpoint"):
            extra = "frames copied back " + _quantiles([v for v in values if v >= 0], 1, 0)
        elif kind == "batch":
            extra = "items " + _quantiles(values, 1, 0)
        elif kind.startswith("gc") or kind == "slow callback":
            extra = "CPU ms " + _quantiles(values)
        else:
            extra = ""
        print(f"    {kind:<22} {_quantiles([end - start for _, start, end, _, _ in found])}; {extra}")
    slow = sorted(kinds.get("slow callback", []), key=lambda e: e[2] - e[1], reverse=True)
    names: dict[str, int] = {}
    for *_, note in slow:
        names[note] = names.get(note, 0) + 1
    if names:
        print(
            "  slow callbacks by coroutine: "
            + ", ".join(f"{n} {c}" for n, c in sorted(names.items(), key=lambda x: -x[1])[:8])
        )


def _overlaps(requests: list[tuple[float, float]], spans: list[tuple[float, float]]) -> list[bool]:
    """For each request (sorted by sending), whether one of the spans was under way while it was."""
    import bisect

    starts = [start for start, _ in spans]
    ends = sorted(end for _, end in spans)
    found = []
    for sent, done in requests:  # some span starts before the answer and ends after the sending
        began_before_done = bisect.bisect_left(starts, done)
        ended_before_sent = bisect.bisect_right(ends, sent)
        found.append(began_before_done > ended_before_sent)
    return found


def trace_report(folder: Path, rounds: list[dict[str, Any]], slow_ms: float = GOAL_P99_MS) -> None:
    """What the registry's requests waited for, from the workers' traces and the load generators' request
    times: a latency histogram, the size of each kind of pause, and for the requests slower than
    ``slow_ms`` which pauses overlapped them (against how many of all requests they overlapped)."""
    traces = [json.loads(path.read_text()) for path in sorted(folder.glob("trace-*.json"))]
    if not traces:
        print("trace: no worker wrote its trace")
        return
    requests = sorted((sent, done) for r in rounds for sent, done in r["times"])
    windows = [(r["window"][0], r["window"][1]) for r in rounds]
    kinds: dict[str, list[Event]] = {}
    for events in traces:
        for kind, start, end, value, note in events:
            if any(a <= start <= b for a, b in windows):
                kinds.setdefault(kind, []).append((kind, start, end, value, note))
    print(f"trace: {len(requests):,} registry requests in {len(windows)} round(s), {len(traces)} worker(s)")
    _histogram([done - sent for sent, done in requests])
    _pauses(kinds)
    slow = [done - sent > slow_ms / 1000 for sent, done in requests]
    count = sum(slow)
    if not count:
        print(f"  no request slower than {slow_ms:g} ms")
        return
    print(
        f"  {count:,} requests slower than {slow_ms:g} ms ({count / len(requests):.2%}); the share of them "
        "and of all requests that a pause of each kind (at least as long as shown, any worker) overlapped:"
    )
    for kind, least in CAUSES.items():
        spans = sorted((s, e) for _, s, e, _, _ in kinds.get(kind, []) if e - s >= least)
        hit = _overlaps(requests, spans)
        print(
            f"    {kind:<22} >= {least * 1000:4.1f} ms: {len(spans):>6,} pauses; "
            f"{sum(h for h, s in zip(hit, slow, strict=True) if s) / count:7.1%} of slow, "
            f"{sum(hit) / len(requests):7.1%} of all"
        )


# ---------------------------------------------------------------- load generator (a process each)


def make_bodies(spec: dict[str, Any], count: int) -> list[bytes]:
    from cryptography.hazmat.primitives import serialization

    from service.passport import sdjwt

    held = sdjwt.HeldCredential.parse(spec["credential"])
    holder = serialization.load_pem_private_key(spec["holder_pem"].encode(), password=None)
    chosen = ["core_skills/0/subject", "core_skills/0/level", "core_skills/0/date_to"]
    if len(held.select(chosen)) != 4:
        raise SystemExit("unexpected disclosures")
    chosen.append("holder_id")  # + the record itself: 5 disclosures
    if len(held.select(chosen)) != 5:
        raise SystemExit("the presentation does not have 5 disclosures")
    bodies = []
    now = int(time.time()) + 5
    for _ in range(count):
        nonce = secrets.token_urlsafe(16)
        text = held.present(chosen, holder_key=holder, aud=spec["audience"], nonce=nonce, iat=now)  # type: ignore[arg-type]
        body = {"presentations": [text], "policy": "bench-fire-safety", "nonce": nonce, "purpose": "bench"}
        bodies.append(json.dumps(body).encode())
    return bodies


async def _read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return status, await reader.readexactly(length)


async def _drive(spec: dict[str, Any], bodies: list[bytes]) -> dict[str, Any]:
    latencies: list[float] = []
    times: list[tuple[float, float]] = []  # with --trace: (sent, answered) of each 2xx in the window
    handled = 0  # every answer, warm-up included (for CPU per request)
    statuses: dict[int, int] = {}
    verdicts: dict[str, int] = {}
    start = time.perf_counter() + spec["warmup"]
    deadline = start + spec["seconds"]
    position = 0
    cpu_started = time.process_time()

    # Whole requests made before the clock starts, and only the answer's verdict decoded: the
    # generators share the 2 cores with the servers, so what they spend a request is taken from them.
    head = f"POST {spec['path']} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in spec["headers"].items())
    requests = [head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body for body in bodies]
    verdict_of = msgspec.json.Decoder(_Verdict).decode

    async def connection() -> None:
        nonlocal position, handled
        reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
        try:
            while time.perf_counter() < deadline and position < len(requests):
                request = requests[position]
                position += 1
                sent = time.perf_counter()
                writer.write(request)
                status, payload = await _read(reader)
                done = time.perf_counter()
                handled += 1
                if sent >= start and done <= deadline:
                    statuses[status] = statuses.get(status, 0) + 1
                    if 200 <= status < 300:
                        latencies.append(done - sent)
                        if spec.get("trace"):
                            times.append((sent, done))
                        if spec["check"]:
                            verdict = verdict_of(payload).verdict
                            verdicts[verdict] = verdicts.get(verdict, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(spec["connections"])))
    return {
        "cpu": time.process_time() - cpu_started,
        "latencies": latencies,
        "statuses": statuses,
        "verdicts": verdicts,
        "handled": handled,
        "exhausted": position >= len(requests),
        "times": times,
        "window": (start, deadline),
    }


def _generator_loop() -> Any:
    """The generators' event loop: uvloop's (a dependency of serving) when it imports, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class _Verdict(msgspec.Struct):
    """The one member of a verification's answer the generators read (msgspec skips the rest)."""

    verdict: str = "?"


def worker(raw: str) -> None:
    spec = json.loads(raw)
    bodies = make_bodies(spec, spec["count"])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()  # go
    with asyncio.Runner(loop_factory=_generator_loop()) as runner:
        result = runner.run(_drive(spec, bodies))
    _write_all(sys.stdout.fileno(), (json.dumps(result) + "\n").encode())


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``: after uvloop has run, a write to the pipe can stop at its 64 KB (seen here
    with ``sys.stdout.write``, which then dropped the rest), so each short write is taken up again."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def load(
    spec: dict[str, Any], processes: int, server: "Server | None" = None, wal: "WalWatch | None" = None
) -> dict[str, Any]:
    shares = [
        spec["connections"] // processes + (i < spec["connections"] % processes) for i in range(processes)
    ]
    procs = []
    for share in shares:
        mine = {**spec, "connections": share, "count": spec["count"] // processes}
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(mine)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        procs.append(proc)
    for proc in procs:
        if proc.stdout is None or proc.stdout.readline().strip() != "ready":
            raise SystemExit("a load generator failed to start")
    cpu_before = server.cpu_seconds() if server is not None else 0.0
    split: list[int] = []
    if server is not None:  # the generators connect after "go": look once the warm-up is under way
        looker = threading.Timer(
            min(1.0, spec["warmup"]), lambda: split.extend(server.connections_per_worker())
        )
        looker.start()
    with wal if wal is not None else contextlib.nullcontext():
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.write("go\n")
                proc.stdin.flush()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=spec["seconds"] + spec["warmup"] + 120)
            results.append(json.loads(out.strip().splitlines()[-1]))
    cpu = (server.cpu_seconds() - cpu_before) if server is not None else 0.0
    handled = sum(r["handled"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies"])
    statuses: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    for r in results:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
        for k, v in r["verdicts"].items():
            verdicts[k] = verdicts.get(k, 0) + v

    def pct(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
        )

    return {
        "rate": len(latencies) / spec["seconds"],
        "p50": pct(0.50),
        "p99": pct(0.99),
        "statuses": statuses,
        "verdicts": verdicts,
        "cpu_ms": cpu * 1000 / handled if handled and cpu else float("nan"),
        "load_cpu_ms": sum(r["cpu"] for r in results) * 1000 / handled if handled else float("nan"),
        "exhausted": any(r["exhausted"] for r in results),
        "times": [tuple(t) for r in results for t in r["times"]],
        "window": (min(r["window"][0] for r in results), max(r["window"][1] for r in results)),
        "wal_per_request": wal.bytes_written() / handled if wal is not None and handled else float("nan"),
        "wal_max": wal.max_bytes if wal is not None else 0,
        "split": split,
    }


# ---------------------------------------------------------------- in process (no sockets)


async def _asgi(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> Any:
    """One HTTP request through the app's ASGI interface: (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _in_process(env: dict[str, str], data: dict[str, Any], args: argparse.Namespace) -> None:
    import base64

    os.environ.update(env)
    from service.app import create_app_from_env

    database = Path(env["PASSPORT_DATABASE_URL"].partition("///")[2])
    trace_dir = database.parent / "trace"
    if args.trace:
        trace_dir.mkdir()
        os.environ[TRACE_DIR_VARIABLE] = str(trace_dir)
    app: Any = traced_registry_app() if args.trace else create_app_from_env()  # driven with plain dicts
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    done: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    life = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, startup.get, done.put))
    if (await done.get())["type"] != "lifespan.startup.complete":
        raise SystemExit("the app did not start")
    basic = base64.b64encode(f"{data['client_id']}:{data['client_secret']}".encode())
    form = [(b"content-type", b"application/x-www-form-urlencoded"), (b"authorization", b"Basic " + basic)]
    status, answer = await _asgi(app, "POST", "/oauth/token", form, b"grant_type=client_credentials")
    if status != 200:
        raise SystemExit(f"no token: {status} {answer[:200]!r}")
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer " + json.loads(answer)["access_token"].encode()),
    ]
    spec = {"audience": data["client_id"], "credential": data["credential"], "holder_pem": data["holder_pem"]}
    total = args.in_process * (args.rounds + 1)
    bodies = make_bodies(spec, total)
    shm = os.open(f"{database}-shm", os.O_RDONLY)

    def frames() -> int:
        return int(struct.unpack_from("=I", os.pread(shm, 4, 16))[0])

    position = 0
    traced: list[dict[str, Any]] = []  # with --trace: each round's request times and window

    async def run(count: int) -> tuple[float, float, int, dict[int, int]]:
        nonlocal position
        statuses: dict[int, int] = {}
        appended, last = 0, frames()
        times: list[tuple[float, float]] = []

        async def one() -> None:
            nonlocal position, appended, last
            while count > 0 and position < stop:
                body = bodies[position]
                position += 1
                sent = time.perf_counter()
                status, _ = await _asgi(app, "POST", "/api/v1/verifications", headers, body)
                times.append((sent, time.perf_counter()))
                statuses[status] = statuses.get(status, 0) + 1
                now = frames()
                appended += now - last if now >= last else now  # smaller: the WAL started again
                last = now

        stop = position + count
        began = os.times()
        window = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(args.concurrency)))
        traced.append({"times": times, "window": (window, time.perf_counter())})
        ended = os.times()
        return ended.user - began.user, ended.system - began.system, appended, statuses

    await run(args.in_process)  # warm-up
    print(f"machine: {machine()}")
    print(
        f"in process: {args.in_process} verifications a round through the app's ASGI interface, "
        f"{args.concurrency} at a time, one process (no sockets, no HTTP parsing), SQLite"
    )
    for number in range(args.rounds):
        user, system, appended, statuses = await run(args.in_process)
        print(
            f"round {number + 1}: CPU {(user + system) * 1e6 / args.in_process:,.0f} us per verification "
            f"(user {user * 1e6 / args.in_process:,.0f}, system {system * 1e6 / args.in_process:,.0f}; "
            f"every thread); WAL {appended / args.in_process:,.2f} frames "
            f"({appended * (4096 + 24) / args.in_process / 1024:,.1f} KB) per verification; "
            f"statuses {statuses}"
        )
    os.close(shm)
    await startup.put({"type": "lifespan.shutdown"})
    await life
    if args.trace:
        trace_report(trace_dir, traced[1:])  # not the warm-up
    print("command: " + shlex.join([sys.executable, *sys.argv]))


# ---------------------------------------------------------------- main


H11_NODELAY = "bench.verify_http:NoDelayH11Protocol"


def _h11_nodelay() -> type:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class NoDelay(H11Protocol):
        """What ``passport serve`` runs on without httptools: h11, with TCP_NODELAY (service/serving.py)."""

        def connection_made(self, transport: Any) -> None:
            serving.set_nodelay(transport)
            super().connection_made(transport)

    return NoDelay


def __getattr__(name: str) -> Any:  # uvicorn --http bench.verify_http:NoDelayH11Protocol
    if name == "NoDelayH11Protocol":
        return _h11_nodelay()
    raise AttributeError(name)


def stack_line(http: str, loop: str) -> str:
    """The parser and loop both servers run on, as uvicorn resolves ``--http`` and ``--loop``."""
    parser = {
        serving.HTTP_PROTOCOL: f"{serving.PARSER} (passport serve's protocol, TCP_NODELAY)",
        H11_NODELAY: "h11 (with TCP_NODELAY, as passport serve without httptools)",
        "auto": "httptools" if importlib.util.find_spec("httptools") else "h11",
    }.get(http, http)
    loop_name = {"auto": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"}.get(loop, loop)
    notes = "; ".join(serving.stack_notes())
    return f"HTTP parser {parser}, {loop_name} event loop (uvicorn --http {http} --loop {loop})" + (
        f"; {notes}" if notes else ""
    )


def _tuning(args: argparse.Namespace) -> dict[str, Any]:
    """The experiment's settings for the registry workers (:func:`tuned_registry_app`)."""
    tuning: dict[str, Any] = {}
    if args.gc_threshold:
        tuning["gc_threshold"] = [int(part) for part in args.gc_threshold.split(",")]
    if args.switch_interval:
        tuning["switch_interval"] = args.switch_interval
    if args.freeze_after:
        tuning["freeze_after"] = args.freeze_after
    return tuning


def _registry_command(
    args: argparse.Namespace, port: int, env: dict[str, str], tmp: Path, tuning: dict[str, Any]
) -> tuple[dict[str, str], list[str]]:
    """(environment, command) of the registry server: ``passport serve``, or, with another stack, an
    experiment's settings or ``--trace``, uvicorn with passport serve's settings but those."""
    serve = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    serve += ["--workers", str(args.workers)]
    as_served = (args.http, args.loop) == (serving.HTTP_PROTOCOL, serving.LOOP) and not tuning
    as_served = as_served and not args.shared_socket
    if as_served and not args.trace:
        return env, serve
    factory = "bench.verify_http:tuned_registry_app"
    env = {**env, TUNING_VARIABLE: json.dumps(tuning)}
    if args.trace:  # through the traced factory
        trace_dir = tmp / "trace"
        trace_dir.mkdir()
        env = {**env, TRACE_DIR_VARIABLE: str(trace_dir)}
        factory = "bench.verify_http:traced_registry_app"
    return env, _served_command(factory, port, args)


def _served_command(factory: str, port: int, args: argparse.Namespace) -> list[str]:
    """The command serving the app ``factory`` as ``passport serve`` serves (``service.serving.serve``:
    its settings, a listening socket for each worker), on ``--http`` and ``--loop``: http_throughput.py's
    server entry point, shared by both benches."""
    spec = {
        "app": factory, "factory": True, "port": port, "workers": args.workers, "http": args.http,
        "loop": args.loop, "access_log": False, "reuse_port": not args.shared_socket, "log_level": "warning",
    }  # fmt: skip
    entry = str(Path(__file__).with_name("http_throughput.py"))  # its --serve-spec (SERVE_FLAG) entry
    return [sys.executable, entry, "--serve-spec", json.dumps(spec)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes, both servers")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="sqlite (default): a file in a temporary folder; postgresql: a fresh database on a local server "
        "(found as the test suite finds one: tests/postgres.py), dropped afterwards",
    )
    parser.add_argument(
        "--http",
        default=serving.HTTP_PROTOCOL,
        help="uvicorn --http of both servers (default: passport serve's, on the httptools parser; "
        f"{H11_NODELAY}: h11 with TCP_NODELAY)",
    )
    parser.add_argument(
        "--loop", default=serving.LOOP, help="uvicorn --loop of both servers (default: passport serve's)"
    )
    parser.add_argument(
        "--shared-socket",
        action="store_true",
        help="experiment: both servers' workers accept from one shared socket (uvicorn's own way) instead "
        "of a listening socket each (passport serve's, decision 0049)",
    )
    parser.add_argument(
        "--gc-threshold",
        help="experiment: gc.set_threshold(a, b, c) in each registry worker after start-up ('a,b,c')",
    )
    parser.add_argument(
        "--switch-interval", type=float, help="experiment: sys.setswitchinterval in each registry worker"
    )
    parser.add_argument(
        "--freeze-after",
        type=int,
        default=0,
        metavar="N",
        help="experiment: gc.collect() and gc.freeze() again after a registry worker's N-th request",
    )
    parser.add_argument(
        "--rate-cap",
        type=int,
        default=12000,
        help="presentations made in advance per second of load (a server that answers faster runs out: the"
        " round then warns; 6,000 starved the bare endpoint on an Intel Xeon)",
    )
    parser.add_argument(
        "--in-process",
        type=int,
        default=0,
        metavar="N",
        help="instead: N verifications a round through the app's ASGI interface in this process (SQLite), "
        "reporting CPU time and WAL frames per verification: repeatable on a busy machine",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="with --in-process: requests at a time")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="trace the registry's workers (garbage collections, batches, waits for the batch lock, WAL "
        "checkpoint passes, stalls of the event loop) and report a latency histogram and which pauses the "
        "slow requests overlapped (the registry then runs through uvicorn with passport serve's settings)",
    )
    args = parser.parse_args()
    if args.in_process:
        with tempfile.TemporaryDirectory(prefix="verify-inproc-") as tmp:
            env, data = setup(Path(tmp), "http://127.0.0.1:8000", None)
            asyncio.run(_in_process(env, data, args))
        return
    registry_port, bare_port = free_port(), free_port()
    base = f"http://127.0.0.1:{registry_port}"
    count = int(args.rate_cap * (args.seconds + args.warmup + 1))
    with tempfile.TemporaryDirectory(prefix="verify-http-") as tmp, contextlib.ExitStack() as stack:
        url = None
        if args.database == "postgresql":
            from tests.postgres import Skip, provide_postgres

            found = provide_postgres(Path(tmp) / "pg")
            if isinstance(found, Skip):
                raise SystemExit(f"no PostgreSQL: {found.reason}")
            stack.callback(found.stop)
            url = found.url
        env, data = setup(Path(tmp), base, url)
        tuning = _tuning(args)
        env, serve = _registry_command(args, registry_port, env, Path(tmp), tuning)
        bare = _served_command("bench.verify_http:bare_app", bare_port, args)
        bare_env = {
            **env,
            "BENCH_ISSUER_JWK": json.dumps(data["issuer_jwk"]),
            "BENCH_HOLDER_PEM": data["holder_pem"],
        }
        registry = Server(serve, env, registry_port)
        bare_server = Server(bare, bare_env, bare_port)
        try:
            access = token(registry_port, data)
            common = {
                "seconds": args.seconds,
                "warmup": args.warmup,
                "connections": args.connections,
                "count": count,
                "audience": data["client_id"],
                "credential": data["credential"],
                "holder_pem": data["holder_pem"],
            }
            rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for _ in range(args.rounds):
                watch = WalWatch(Path(tmp) / "bench.db") if url is None else None
                ours = load(
                    {
                        **common,
                        "port": registry_port,
                        "path": "/api/v1/verifications",
                        "check": True,
                        "trace": args.trace,
                        "headers": {"Authorization": f"Bearer {access}"},
                    },
                    args.processes,
                    registry,
                    watch,
                )
                floor = load(
                    {**common, "port": bare_port, "path": "/verify", "check": False, "headers": {}},
                    args.processes,
                    bare_server,
                )
                rounds.append((ours, floor))
        finally:
            registry.stop()
            bare_server.stop()
        if args.trace:
            trace_report(Path(tmp) / "trace", [o for o, _ in rounds])
    print(f"machine: {machine()}")
    print(f"database: {args.database}")
    print(f"stack, both servers: {stack_line(args.http, args.loop)}")
    sockets = serving.sockets_description(args.workers, False if args.shared_socket else None)
    print(f"listening sockets, both servers: {sockets}")
    if tuning:
        print(f"registry workers' experiment settings: {json.dumps(tuning)}")
    print(
        f"servers: {args.workers} worker(s) each; load: {args.connections} keep-alive connections from "
        f"{args.processes} processes on this machine, "
        f"{args.seconds:g} s per measurement after {args.warmup:g} s warm-up, {args.rounds} rounds"
    )
    for name, index in (("registry (every check, status, policy, audit)", 0), ("bare (two signatures)", 1)):
        figures = [r[index] for r in rounds]
        rates = ", ".join(f"{f['rate']:,.0f}" for f in figures)
        print(
            f"{name}: {statistics.median(f['rate'] for f in figures):,.0f}/s (rounds: {rates}); "
            f"p50 {statistics.median(f['p50'] for f in figures):.1f} ms, "
            f"p99 {statistics.median(f['p99'] for f in figures):.1f} ms; "
            f"server CPU {statistics.median(f['cpu_ms'] for f in figures):.2f} ms/request, "
            f"load generators' {statistics.median(f['load_cpu_ms'] for f in figures):.2f}; "
            f"statuses {figures[-1]['statuses']}"
            + (f"; verdicts {figures[-1]['verdicts']}" if index == 0 else "")
        )
        splits = ", ".join("/".join(str(n) for n in f["split"]) or "?" for f in figures)
        print(
            f"  connections held by each worker, by round: {splits}; p99 by round: "
            + ", ".join(f"{f['p99']:.1f}" for f in figures)
            + " ms"
        )
        if any(f["exhausted"] for f in figures):
            print(f"  WARNING: {name} used every prepared presentation: raise --rate-cap")
    if args.database == "sqlite":
        per = ", ".join(f"{o['wal_per_request'] / 1024:,.1f}" for o, _ in rounds)
        largest = max(o["wal_max"] for o, _ in rounds)
        print(
            f"registry WAL: {statistics.median(o['wal_per_request'] for o, _ in rounds) / 1024:,.1f} KB "
            f"appended per verification (rounds: {per}); the WAL file at most {largest / 2**20:,.1f} MB"
        )
    ratio = statistics.median(o["rate"] / b["rate"] for o, b in rounds)
    rate = statistics.median(o["rate"] for o, _ in rounds)
    p99 = statistics.median(o["p99"] for o, _ in rounds)
    print(
        f"registry / bare = {ratio:.0%} (goal >= {GOAL_BARE:.0%}); "
        f"registry {rate:,.0f}/s (goal >= {GOAL_RATE:,}), "
        f"p99 {p99:.1f} ms (goal < {GOAL_P99_MS:g} ms)"
    )
    cpu_ratio = statistics.median(b["cpu_ms"] / o["cpu_ms"] for o, b in rounds)
    bound = 1000 * (os.cpu_count() or 1) / statistics.median(o["cpu_ms"] for o, _ in rounds)
    print(
        f"CPU per request: bare / registry = {cpu_ratio:.0%} (the throughput ratio if CPU were the only "
        f"limit); the registry's CPU alone bounds it at {bound:,.0f}/s on {os.cpu_count()} idle cores "
        "with no load generator"
    )
    print("command: " + shlex.join([sys.executable, *sys.argv]))
    if ratio < GOAL_BARE or rate < GOAL_RATE or p99 >= GOAL_P99_MS:
        print("GOAL NOT MET")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        main()
