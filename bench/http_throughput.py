"""HTTP throughput of an ASGI app under uvicorn, on loopback, optionally against a hello-world baseline.

    python bench/http_throughput.py                                   # hello world alone
    python bench/http_throughput.py --compare --app service.app:create_app_from_env --factory \\
        --path /health --path /api/passports --header 'Authorization: Bearer ...' --env PASSPORT_X=y

Serves ``<app>`` on 2 uvicorn workers at 127.0.0.1:<free> as ``passport serve`` does
(``service.serving.serve``: its parser and loop, a listening socket for each worker; ``--shared-socket``
for uvicorn's one) in its own process group, waits until it answers, drives each path for
``--duration`` seconds at ``--concurrency`` open keep-alive connections
(``wrk`` if on PATH, else the built-in asyncio generator in separate processes), prints requests/second
(2xx only) and latency p50/p99 per path with the commands that reproduce the figures, then stops the server.
Every wait is bounded: the script always ends by itself.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import itertools
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
HELLO_APP = "bench.hello_app:app"
NODELAY_PROTOCOL = "service.serving:NoDelayHTTPProtocol"  # the protocol ``passport serve`` uses
HOST = "127.0.0.1"
WORKER_FLAG = "--loadgen-worker"
SERVE_FLAG = "--serve-spec"
SECRET_WORDS = ("authorization", "cookie", "token", "secret", "password", "key")
LOG_BASE = 1.01  # latency histogram: buckets 1 % wide
GRACE = 30.0  # seconds added to every subprocess deadline


# ---------------------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True, slots=True)
class ServerSpec:
    app: str
    factory: bool = False
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 2
    http: str = NODELAY_PROTOCOL
    loop: str = "auto"
    access_log: bool = False
    startup_timeout: float = 30.0
    shared_socket: bool = False
    """uvicorn's one listening socket for all workers, instead of ``passport serve``'s one each."""


@dataclass(frozen=True, slots=True)
class LoadSpec:
    port: int
    path: str
    headers: tuple[tuple[str, str], ...]
    duration: int
    warmup: int
    concurrency: int
    timeout: float
    client_threads: int = 1  # wrk threads


@dataclass(frozen=True, slots=True)
class PathResult:
    path: str
    tool: str
    ok: int
    non_2xx: dict[str, int]
    errors: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    command: str
    server_cpu_s: float | None = None  # CPU time of all server processes during the measured seconds

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.server_cpu_s is None or self.ok == 0:
            return None
        return self.server_cpu_s / self.ok * 1e6


@dataclass(frozen=True, slots=True)
class RunResult:
    label: str
    server_command: str
    results: list[PathResult]


# ---------------------------------------------------------------------------------------------------------
# small helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def parse_header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"header must look like 'Name: value', got {value!r}")
    return name.strip(), rest.strip()


def parse_env(value: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"env must look like KEY=VALUE, got {value!r}")
    return key, rest


def parse_path(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError(f"path must start with '/' and contain no spaces, got {value!r}")
    return value


def _secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def display_command(argv: Sequence[str], show_secrets: bool) -> str:
    """shlex-quoted command; header and env values that look like credentials are replaced by <redacted>."""
    shown: list[str] = []
    previous = ""
    for arg in argv:
        if not show_secrets and previous in ("-H", "--header") and _secret(arg.partition(":")[0]):
            arg = arg.partition(":")[0] + ": <redacted>"
        elif not show_secrets and previous == "--env" and _secret(arg.partition("=")[0]):
            arg = arg.partition("=")[0] + "=<redacted>"
        shown.append(arg)
        previous = arg
    return shlex.join(shown)


def machine_description(tool: str) -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load generator: {tool}"
    )


# ---------------------------------------------------------------------------------------------------------
# the server


class Server:
    """uvicorn in its own process group; ``with Server(...)`` waits until it answers and always stops it."""

    def __init__(self, spec: ServerSpec, probe_path: str, probe_headers: Sequence[tuple[str, str]]) -> None:
        self.spec = spec
        self.port = free_port()
        self.probe_path = probe_path
        self.probe_headers = tuple(probe_headers)
        served = {
            "app": spec.app, "factory": spec.factory, "port": self.port, "workers": spec.workers,
            "http": spec.http, "loop": spec.loop, "access_log": spec.access_log,
            "reuse_port": not spec.shared_socket,
        }  # fmt: skip
        # served as passport serve serves (service.serving.serve: a listening socket for each worker)
        self.command = [sys.executable, str(Path(__file__).resolve()), SERVE_FLAG, json.dumps(served)]
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> Server:
        self._log = tempfile.TemporaryFile()  # closed in stop()
        self._proc = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env={**os.environ, **self.spec.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", errors="replace")

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().strip().splitlines()[-lines:])

    def _wait_ready(self) -> None:
        if self._proc is None:
            raise RuntimeError("server not started")
        deadline = time.monotonic() + self.spec.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"server exited with {self._proc.returncode}:\n{self.log_tail()}")
            deaths = len(re.findall(r"Child process \[\d+\] died", self.log_text()))
            if deaths >= 2 * self.spec.workers:  # uvicorn keeps restarting workers that crash
                raise RuntimeError(f"server workers died {deaths} times while starting:\n{self.log_tail()}")
            if http_status(self.port, self.probe_path, self.probe_headers) is not None:
                return
            time.sleep(0.1)
        raise RuntimeError(f"server not answering after {self.spec.startup_timeout:.0f}s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time so far of every process of the server's group (Linux /proc), or None."""
        if self._proc is None:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        try:
            for stat in Path("/proc").glob("[0-9]*/stat"):
                with contextlib.suppress(OSError):
                    fields = stat.read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
                    if int(fields[2]) == self._proc.pid:  # the process group the server leads
                        total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            return None
        return total / ticks

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # uvicorn's supervisor shuts its workers down
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # our own session: stray workers, if any
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None


def build_request(path: str, port: int, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http_status(port: int, path: str, headers: Sequence[tuple[str, str]], timeout: float = 1.0) -> int | None:
    """Status code of one blocking GET, or None if nothing answers yet."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(build_request(path, port, [*headers, ("Connection", "close")]))
            head = sock.recv(64)
    except OSError:
        return None
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------------------------------------------------
# load with wrk

_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}  # to milliseconds


def wrk_command(wrk: str, spec: LoadSpec, seconds: int) -> list[str]:
    command = [wrk, f"-t{spec.client_threads}", f"-c{spec.concurrency}", f"-d{seconds}s", "--latency"]
    command.append(f"--timeout={math.ceil(spec.timeout)}s")
    for name, value in spec.headers:
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://{HOST}:{spec.port}{spec.path}")
    return command


def wrk_threads(args: argparse.Namespace) -> int:
    """--wrk-threads, or the CPUs the server workers leave free (at least 1, at most 4)."""
    requested: int = args.wrk_threads
    workers: int = args.workers
    concurrency: int = args.concurrency
    if requested > 0:
        return requested
    return max(1, min(4, (os.cpu_count() or 1) - workers, concurrency))


def parse_wrk(output: str) -> tuple[int, float, int, int, dict[str, float]]:
    """(requests, seconds, non-2xx/3xx, socket errors, {percentile: ms}) from ``wrk --latency`` output."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", output)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    requests = int(total.group(1))
    seconds = float(total.group(2)) * _WRK_UNITS[total.group(3)] / 1e3
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    percentiles = {
        m.group(1): float(m.group(2)) * _WRK_UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    }
    return requests, seconds, int(bad.group(1)) if bad else 0, errors, percentiles


def run_wrk(
    wrk: str, spec: LoadSpec, show_secrets: bool, cpu: Callable[[], float | None] = lambda: None
) -> PathResult:
    if spec.warmup > 0:
        subprocess.run(wrk_command(wrk, spec, spec.warmup), capture_output=True, timeout=spec.warmup + GRACE)
    command = wrk_command(wrk, spec, spec.duration)
    cpu_before = cpu()
    done = subprocess.run(command, capture_output=True, text=True, timeout=spec.duration + GRACE, check=True)
    cpu_after = cpu()
    requests, seconds, bad, errors, percentiles = parse_wrk(done.stdout)
    return PathResult(
        path=spec.path,
        tool="wrk",
        ok=requests - bad,
        non_2xx={"non-2xx/3xx": bad} if bad else {},
        errors=errors,
        seconds=seconds,
        p50_ms=percentiles.get("50"),
        p99_ms=percentiles.get("99"),
        command=display_command(command, show_secrets),
        server_cpu_s=None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
    )


# ---------------------------------------------------------------------------------------------------------
# load with the built-in generator: raw HTTP/1.1 keep-alive over asyncio streams, in worker processes


@dataclass(slots=True)
class _Stats:
    statuses: Counter[int] = field(default_factory=Counter)
    histogram: Counter[int] = field(default_factory=Counter)  # log-bucketed latency in microseconds
    errors: int = 0

    def record(self, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        self.histogram[int(math.log(max(seconds * 1e6, 1.0)) / math.log(LOG_BASE))] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "histogram": {str(k): v for k, v in self.histogram.items()},
            "errors": self.errors,
        }


_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ValueError,
)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return (status, keep-alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    keep_alive = head.startswith(b"HTTP/1.1") and b"\r\nconnection: close" not in lowered
    found = re.search(rb"\r\ncontent-length:\s*(\d+)", lowered)
    if found is not None:
        await reader.readexactly(int(found.group(1)))
    elif b"\r\ntransfer-encoding: chunked" in lowered:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
    elif status >= 200 and status not in (204, 304):
        await reader.read()  # body delimited by close
        keep_alive = False
    return status, keep_alive


async def _connection(
    spec: LoadSpec, request: bytes, stats: _Stats, record_from: float, deadline: float
) -> None:
    clock = time.perf_counter  # uvloop's loop.time() only ticks in milliseconds
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    try:
        while clock() < deadline:
            try:
                if writer is None or reader is None:
                    async with asyncio.timeout(spec.timeout):
                        reader, writer = await asyncio.open_connection(HOST, spec.port)
                sent = clock()
                writer.write(request)
                async with asyncio.timeout(spec.timeout):
                    status, keep_alive = await _read_response(reader)
                finished = clock()
                if sent >= record_from and finished <= deadline:
                    stats.record(status, finished - sent)
            except _CONNECTION_ERRORS:
                if clock() >= record_from:
                    stats.errors += 1
                keep_alive = False
                await asyncio.sleep(0.01)
            if not keep_alive and writer is not None:
                writer.close()
                writer = reader = None
    finally:
        if writer is not None:
            writer.close()


async def _loadgen(spec: LoadSpec) -> dict[str, Any]:
    request = build_request(spec.path, spec.port, spec.headers)
    stats = _Stats()
    record_from = time.perf_counter() + spec.warmup
    record_from_epoch = time.time() + spec.warmup  # for the server's CPU time over the same seconds
    deadline = record_from + spec.duration
    tasks = [
        asyncio.create_task(_connection(spec, request, stats, record_from, deadline))
        for _ in range(spec.concurrency)
    ]
    _, pending = await asyncio.wait(tasks, timeout=spec.warmup + spec.duration + spec.timeout + 1)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return {**stats.to_json(), "seconds": float(spec.duration), "record_from_epoch": record_from_epoch}


def _loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None, "asyncio"
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory, "uvloop"


def loadgen_worker(raw: str) -> None:
    """Entry point of one generator process: LoadSpec as JSON on stdin, stats as JSON on stdout."""
    spec_fields = json.loads(raw)
    spec_fields["headers"] = tuple(tuple(h) for h in spec_fields["headers"])
    spec = LoadSpec(**spec_fields)
    factory, loop_name = _loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(_loadgen(spec))
    print(json.dumps({**result, "loop": loop_name}))


def _percentile_ms(histogram: Counter[int], fraction: float) -> float | None:
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = fraction * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return float(LOG_BASE ** (bucket + 0.5) / 1e3)
    return None  # pragma: no cover - unreachable


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _worker_input(spec: LoadSpec, concurrency: int) -> str:
    """The spec of one generator process, sent on its stdin (headers may hold credentials: not in argv)."""
    fields = {
        "port": spec.port, "path": spec.path, "headers": spec.headers, "duration": spec.duration,
        "warmup": spec.warmup, "concurrency": concurrency, "timeout": spec.timeout,
    }  # fmt: skip
    return json.dumps(fields)


def _collect(procs: list[subprocess.Popen[str]], limit: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + limit
    outputs: list[dict[str, Any]] = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=5)
            raise RuntimeError("built-in load generator did not finish in time") from None
        if proc.returncode != 0:
            raise RuntimeError(f"built-in load generator failed:\n{err.strip()}")
        outputs.append(json.loads(out))
    return outputs


class _CpuSampler:
    """The server's CPU time sampled every 0.1 s in a thread, to read it between two moments later."""

    def __init__(self, cpu: Callable[[], float | None]) -> None:
        self._cpu = cpu
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if (value := self._cpu()) is not None:
                self.samples.append((time.time(), value))
            self._stop.wait(0.1)

    def __enter__(self) -> _CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if (value := self._cpu()) is not None:  # the generators have exited: after the measured seconds
            self.samples.append((time.time(), value))

    def at(self, moment: float) -> float | None:
        """The CPU time at ``moment`` (epoch seconds), interpolated between the samples around it."""
        for (t0, c0), (t1, c1) in itertools.pairwise(self.samples):
            if t0 <= moment <= t1:
                return c0 + (c1 - c0) * ((moment - t0) / (t1 - t0) if t1 > t0 else 0.0)
        return None

    def between(self, start: float, seconds: float) -> float | None:
        before, after = self.at(start), self.at(start + seconds)
        return None if before is None or after is None else after - before


def run_builtin(
    spec: LoadSpec, processes: int, show_secrets: bool, cpu: Callable[[], float | None] = lambda: None
) -> PathResult:
    """The built-in generator; the server's CPU time is counted over the measured seconds only."""
    processes = max(1, min(processes, spec.concurrency))
    shares = _split(spec.concurrency, processes)
    command = [sys.executable, str(Path(__file__).resolve()), WORKER_FLAG]
    procs = [
        subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in shares
    ]
    try:
        for proc, share in zip(procs, shares, strict=True):
            if proc.stdin is not None:  # start them all before waiting on any
                proc.stdin.write(_worker_input(spec, share))
                proc.stdin.close()
                proc.stdin = None  # so that communicate() does not flush the closed pipe
        with _CpuSampler(cpu) as sampler:
            outputs = _collect(procs, spec.warmup + spec.duration + spec.timeout + GRACE)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
    statuses: Counter[int] = Counter()
    histogram: Counter[int] = Counter()
    for out in outputs:
        statuses.update({int(k): v for k, v in out["statuses"].items()})
        histogram.update({int(k): v for k, v in out["histogram"].items()})
    headers = " ".join(display_command(["-H", f"{k}: {v}"], show_secrets) for k, v in spec.headers)
    shown = (
        f"{processes} x {display_command(command, show_secrets)} (stdin: spec as JSON): "
        f"{'+'.join(map(str, shares))} connections, GET http://{HOST}:{spec.port}{spec.path} {headers}"
    ).rstrip()
    return PathResult(
        path=spec.path,
        tool=f"built-in ({processes} proc, {outputs[0]['loop']})",
        ok=sum(v for k, v in statuses.items() if 200 <= k < 300),
        non_2xx={str(k): v for k, v in sorted(statuses.items()) if not 200 <= k < 300},
        errors=sum(int(out["errors"]) for out in outputs),
        seconds=float(spec.duration),
        p50_ms=_percentile_ms(histogram, 0.50),
        p99_ms=_percentile_ms(histogram, 0.99),
        command=shown,
        server_cpu_s=sampler.between(
            statistics.fmean(out["record_from_epoch"] for out in outputs), float(spec.duration)
        ),
    )


# ---------------------------------------------------------------------------------------------------------
# orchestration and report


@dataclass(frozen=True, slots=True)
class Plan:
    label: str
    server: ServerSpec
    paths: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]


def measure(plan: Plan, server: Server, args: argparse.Namespace, wrk: str | None, turn: int) -> RunResult:
    """One round of load on each of ``plan``'s paths, on its server (already started)."""
    factory = " (factory)" if plan.server.factory else ""
    print(f"\n== {plan.label}: {plan.server.app}{factory} (round {turn + 1}) ==", flush=True)
    server_command = display_command(server.command, args.show_secrets)
    print(f"server: {server_command}", flush=True)
    results = []
    for path in plan.paths:
        spec = LoadSpec(
            port=server.port,
            path=path,
            headers=plan.headers,
            duration=args.duration,
            warmup=args.warmup,
            concurrency=args.concurrency,
            timeout=args.timeout,
            client_threads=wrk_threads(args),
        )
        if wrk is not None:
            result = run_wrk(wrk, spec, args.show_secrets, server.cpu_seconds)
        else:
            result = run_builtin(spec, args.client_procs, args.show_secrets, server.cpu_seconds)
        print_result(result)
        results.append(result)
    if server.log_tail() and args.verbose:
        print(f"server log (tail):\n{server.log_tail()}")
    return RunResult(plan.label, server_command, results)


def _ms(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def print_result(result: PathResult) -> None:
    non = ", ".join(f"{k}: {v}" for k, v in result.non_2xx.items()) or "0"
    print(
        f"  {result.path:<30} {result.rps:>10.1f} req/s (2xx)   p50 {_ms(result.p50_ms):>7} ms   "
        f"p99 {_ms(result.p99_ms):>7} ms   2xx {result.ok}   non-2xx {non}   errors {result.errors}"
        + (f"   server CPU {cpu:.0f} us/request" if (cpu := result.cpu_us_per_request) is not None else "")
    )
    print(f"    load: {result.command}", flush=True)
    if result.non_2xx or result.errors:
        print("    WARNING: non-2xx responses or socket errors; only 2xx are counted in req/s")


def _median_rps(runs: Sequence[RunResult], label: str) -> dict[str, float]:
    by_path: dict[str, list[float]] = {}
    for run in runs:
        if run.label == label:
            for result in run.results:
                by_path.setdefault(result.path, []).append(result.rps)
    return {path: statistics.median(values) for path, values in by_path.items()}


def print_summary(runs: Sequence[RunResult], rounds: int, compare: bool) -> None:
    """Median req/s per path over the rounds and, with --compare, the ratio target / baseline."""
    target = _median_rps(runs, "target")
    how = f"median of {rounds} rounds" if rounds > 1 else "1 round"
    if not compare:
        print(f"\n== summary ({how}) ==")
        for path, rps in target.items():
            print(f"  {path:<30} {rps:>10.1f} req/s")
        return
    base_path, base_rps = next(iter(_median_rps(runs, "baseline").items()))
    print(f"\n== ratio target / baseline ({how}; baseline {base_path}: {base_rps:.1f} req/s) ==")
    per_round = _round_ratios(runs)
    for path, rps in target.items():
        ratio = rps / base_rps if base_rps > 0 else float("nan")
        rounds_text = ", ".join(f"{r:.3f}" for r in per_round.get(path, []))
        print(
            f"  {path:<30} {rps:>10.1f} req/s   ratio of medians {ratio:.3f}   "
            f"median of round ratios {statistics.median(per_round[path]):.3f} ({rounds_text})"
        )


def print_cpu_summary(runs: Sequence[RunResult]) -> None:
    """Median server CPU per request over the measured seconds: less sensitive to other load than req/s."""
    cpu: dict[tuple[str, str], list[float]] = {}
    for run in runs:
        for result in run.results:
            if (value := result.cpu_us_per_request) is not None:
                cpu.setdefault((run.label, result.path), []).append(value)
    if not cpu:
        return
    print("\n== server CPU per request (median over rounds; all worker processes) ==")
    baseline = next((statistics.median(v) for (label, _), v in cpu.items() if label == "baseline"), None)
    for (label, path), values in cpu.items():
        median = statistics.median(values)
        share = f"   baseline / this {baseline / median:.3f}" if baseline and label == "target" else ""
        print(f"  {label:<8} {path:<30} {median:>8.0f} us{share}")


def _round_ratios(runs: Sequence[RunResult]) -> dict[str, list[float]]:
    """Per target path, target req/s over the baseline req/s of the same round."""
    ratios: dict[str, list[float]] = {}
    baseline = 0.0
    for run in runs:
        if run.label == "baseline":
            baseline = run.results[0].rps
            continue
        for result in run.results:
            ratios.setdefault(result.path, []).append(result.rps / baseline if baseline > 0 else float("nan"))
    return ratios


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="HTTP throughput of an ASGI app under uvicorn on loopback.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--app", default=HELLO_APP, help="uvicorn import string of the target app")
    add("--factory", action="store_true", help="--app names a factory (uvicorn --factory)")
    add("--env", type=parse_env, action="append", default=[], metavar="KEY=VALUE",
        help="extra environment for the target server (repeatable)")  # fmt: skip
    add("--path", dest="paths", type=parse_path, action="append", metavar="PATH",
        help="URL path to load, each measured separately (repeatable; default /)")  # fmt: skip
    add("--header", dest="headers", type=parse_header, action="append", default=[], metavar="'Name: value'",
        help="request header for the target paths (repeatable)")  # fmt: skip
    add("--duration", type=int, default=10, help="measured seconds per path")
    add("--warmup", type=int, default=1, help="unmeasured seconds of load before each measurement")
    add("--concurrency", type=int, default=64, help="open keep-alive connections")
    add("--timeout", type=float, default=5.0, help="per-request timeout in seconds")
    add("--workers", type=int, default=2, help="uvicorn worker processes")
    add("--http", default=NODELAY_PROTOCOL,
        help="uvicorn --http for both servers; 'auto' is uvicorn's own, with --workers > 1 keeps"
        " Nagle's algorithm on (+40 ms per keep-alive request on Linux: service/serving.py)")  # fmt: skip
    add("--loop", default=None,
        help="uvicorn --loop, both servers (default: passport serve's: uvloop, if it imports)")  # fmt: skip
    add("--access-log", action="store_true", help="keep uvicorn's access log on (off by default)")
    add("--shared-socket", action="store_true",
        help="uvicorn's one listening socket for all workers (default: one each)")  # fmt: skip
    add("--startup-timeout", type=float, default=30.0, help="seconds to wait for the server to answer")
    add("--compare", action="store_true", help=f"first measure {HELLO_APP} on /, then print target/baseline")
    add("--rounds", type=int, default=1, help="repeat (alternating baseline and target); report medians")
    add("--tool", choices=("auto", "wrk", "builtin"), default="auto", help="auto: wrk if on PATH")
    add("--client-procs", type=int, default=1, help="processes of the built-in load generator")
    add("--wrk-threads", type=int, default=0, help="wrk threads (0: CPUs left by the workers, 1..4)")
    add("--show-secrets", action="store_true", help="print credential-like header/env values")
    add("--verbose", action="store_true", help="print the tail of the server log")
    return parser


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    for name in ("duration", "concurrency", "workers", "client_procs", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0 or args.timeout <= 0 or args.startup_timeout <= 0:
        parser.error("--warmup must be >= 0, --timeout and --startup-timeout > 0")


def choose_tool(choice: str) -> str | None:
    """Path of wrk, or None for the built-in generator."""
    wrk = shutil.which("wrk")
    if choice == "wrk" and wrk is None:
        raise SystemExit("--tool wrk: wrk is not on PATH")
    return wrk if choice in ("auto", "wrk") else None


def plans(args: argparse.Namespace) -> Iterator[Plan]:
    common = {
        "workers": args.workers,
        "http": args.http,
        "loop": args.loop,
        "access_log": args.access_log,
        "startup_timeout": args.startup_timeout,
        "shared_socket": args.shared_socket,
    }
    if args.compare:
        yield Plan("baseline", ServerSpec(HELLO_APP, **common), ("/",), ())
    target = ServerSpec(args.app, args.factory, dict(args.env), **common)
    yield Plan("target", target, tuple(args.paths or ["/"]), tuple(args.headers))


def stack_description(args: argparse.Namespace) -> str:
    """The HTTP parser and event loop the servers run on (``--http``, ``--loop``; passport serve's by
    default: service/serving.py, decision 0049)."""
    from service import serving

    parsers = {NODELAY_PROTOCOL: f"{serving.PARSER} (passport serve's protocol, TCP_NODELAY)"}
    notes = "".join(f"; {note}" for note in serving.stack_notes())
    return (
        f"HTTP parser {parsers.get(args.http, args.http)}, event loop {args.loop} "
        f"(uvicorn --http {args.http} --loop {args.loop}){notes}"
    )


def serve_spec(raw: str) -> None:
    """``--serve-spec SPEC``: one server of a bench (this one's and ``verify_http.py``'s), run by
    :func:`service.serving.serve` with the spec's app, port, workers, parser, loop, sockets and log
    level (the repository on the import path, for ``bench.hello_app``)."""
    from service import serving

    spec = json.loads(raw)
    sys.path.insert(0, str(REPO_ROOT))
    serving.serve(
        spec["app"],
        factory=spec["factory"],
        host=HOST,
        port=spec["port"],
        workers=spec["workers"],
        http=spec["http"],
        loop=spec["loop"],
        reuse_port=spec["reuse_port"] and serving.REUSE_PORT,
        access_log=spec["access_log"],
        log_level=spec.get("log_level", "info"),
    )


def sockets_description(args: argparse.Namespace) -> str:
    from service import serving

    return serving.sockets_description(args.workers, False if args.shared_socket else None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == [WORKER_FLAG]:
        loadgen_worker(sys.stdin.read())
        return 0
    if len(argv) == 2 and argv[0] == SERVE_FLAG:
        serve_spec(argv[1])
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(args, parser)
    if args.loop is None:
        from service import serving

        args.loop = serving.LOOP
    wrk = choose_tool(args.tool)
    tool = "wrk" if wrk else "built-in asyncio (raw HTTP/1.1 keep-alive)"
    print(f"machine: {machine_description(tool)}")
    print(
        f"load: {args.concurrency} connections, {args.warmup}s warm-up + {args.duration}s per path, "
        f"{args.rounds} round(s), uvicorn --workers {args.workers}"
    )
    print(f"stack, every server: {stack_description(args)}")
    print(f"listening sockets, every server: {sockets_description(args)}")
    try:
        # Every server runs for the whole measurement and the rounds take turns on them (baseline, then
        # the target's paths, then the baseline again...): slow changes in the machine's other load
        # then reach both sides alike. Idle workers use no CPU.
        with contextlib.ExitStack() as stack:
            served = [
                (plan, stack.enter_context(Server(plan.server, plan.paths[0], plan.headers)))
                for plan in plans(args)
            ]
            runs = [
                measure(plan, srv, args, wrk, turn) for turn in range(args.rounds) for plan, srv in served
            ]
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_summary(runs, args.rounds, args.compare)
    print_cpu_summary(runs)
    script = os.path.relpath(Path(__file__).resolve(), Path.cwd())
    reproduce = display_command(["python", script, *argv], args.show_secrets)
    print(f"\nreproduce (from {Path.cwd()}): {reproduce}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
