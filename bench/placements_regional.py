"""A regional rotation matched through the API (issue 4 goal: under 1 s), over real HTTP.

Seeds a throwaway demo registry (``passport demo seed --scale S``: its coordinator's region gets a
rotation plan of a few hundred surgical trainees), starts ``passport serve`` on a free loopback port,
signs in as the demo coordinator client (client credentials) and times ``POST
/api/v1/placements/datasets/{id}/runs`` for each mode, ``--rounds`` times each (median reported): with
the additionality gate (on by default), then ``optimal`` with the passport gate too (``--policy``, the
demo's theatre-list policy, evaluated for every trainee at every site of their specialty).

    python bench/placements_regional.py [--scale 1] [--rounds 5]
"""

import argparse
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

GOAL_SECONDS = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _passport(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"passport {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--policy", default="theatre-surgical-trainee", help="the passport gate's policy")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"(shared; load average {os.getloadavg()[0]:.1f} at the start)"
    )
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")},
            "PASSPORT_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'passport.db'}",
            "PASSPORT_VAR_DIR": str(root / "var"),
            "PASSPORT_KEYS_DIR": str(root / "keys"),
            "PASSPORT_DEMO_MODE": "true",
            "PASSPORT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "PASSPORT_LOG_LEVEL": "WARNING",
        }
        _passport(env, "db", "upgrade")
        _passport(env, "keys", "init")
        seeded = _passport(env, "demo", "seed", "--scale", str(args.scale))
        print("\n".join(line for line in seeded.splitlines() if "placements" in line))
        server = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=60) as client:
                for _ in range(100):
                    try:
                        if client.get("/health/live").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                clients = json.loads((root / "var" / "demo-clients.json").read_text())
                coordinator = next(
                    c for c in clients["clients"].values() if c["client_id"].startswith("demo-coordinator")
                )
                token = client.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(coordinator["client_id"], coordinator["client_secret"]),
                ).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                dataset = client.get("/api/v1/placements/datasets", headers=headers).json()["items"][0]
                print(f"dataset {dataset['name']!r}: {dataset['rows']}")
                bodies: list[tuple[str, dict[str, object]]] = [
                    (mode, {"mode": mode}) for mode in ("optimal", "stable", "fair")
                ]
                bodies.append((f"optimal, passport gate {args.policy}", {"passport_policy": args.policy}))
                for mode, body in bodies:
                    times = []
                    for _ in range(args.rounds):
                        started = time.perf_counter()
                        response = client.post(
                            f"/api/v1/placements/datasets/{dataset['id']}/runs", json=body, headers=headers
                        )
                        times.append(time.perf_counter() - started)
                        if response.status_code != 201:
                            raise SystemExit(f"run failed: {response.status_code} {response.text[:500]}")
                    summary = response.json()["summary"]
                    excluded = summary["exclusions"]
                    gated = (
                        f"; excluded: {len(excluded['sites'])} sites, {len(excluded['trainee_sites'])} pairs"
                    )
                    verdict = "meets" if statistics.median(times) < GOAL_SECONDS else "MISSES"
                    print(
                        f"POST runs --mode {mode}: median {statistics.median(times) * 1000:.0f} ms of "
                        f"{args.rounds} (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); "
                        f"{summary['matched']} of "
                        f"{summary['trainees']} placed{gated}; {verdict} the {GOAL_SECONDS:g} s goal"
                    )
        finally:
            server.terminate()
            server.wait(timeout=15)
    print("command: " + shlex.join([sys.executable, *sys.argv]))


if __name__ == "__main__":
    main()
