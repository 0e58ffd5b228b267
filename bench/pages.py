"""Server response time of every web page, with the demo data, as each role sees them.

Seeds a demo registry (``passport demo seed --scale 1`` by default) in a throwaway folder, serves it with
``passport serve`` on a free loopback port, signs in on the demo sign-in page as each role (real HTTP),
makes the pages that show a result have one (a placement run, a published benchmark), then requests
each page ``--requests`` times one after another and prints p50, p95 and max per page.

Goal (issue 6): each page's server response under 100 ms at p95. The time is measured by the client on
loopback, from sending the request to the last byte, so it includes the server's whole work. Usage::

    .venv/bin/python bench/pages.py [--scale 1] [--requests 50] [--database-url postgresql+asyncpg://...]
"""

import argparse
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from service.wallet.present import build
from service.wallet.store import Wallet

ROLE_LABELS = {
    "issuer": "Issuer (HR, occupational health, training)",
    "coordinator": "Placement coordinator",
    "analyst": "Analyst",
    "holder": "Doctor (passport holder)",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _passport(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"passport {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


@contextlib.contextmanager
def _server(tmp: Path, scale: str, database_url: str | None) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")},
        "PASSPORT_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
        "PASSPORT_KEYS_DIR": str(tmp / "keys"),
        "PASSPORT_VAR_DIR": str(tmp / "var"),
        "PASSPORT_PUBLIC_BASE_URL": base,
        "PASSPORT_DEMO_MODE": "true",
        "PASSPORT_LOG_LEVEL": "WARNING",
    }
    _passport(env, "db", "upgrade")
    _passport(env, "keys", "init")
    started = time.perf_counter()
    _passport(env, "demo", "seed", "--scale", scale)
    print(f"demo seeded at scale {scale} in {time.perf_counter() - started:.1f} s")
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if found is None:
        raise SystemExit("no CSRF token on the page")
    return found.group(1)


def _sign_in(base: str, role: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120, headers={"Origin": base})
    page = client.get("/signin").text
    label = re.escape(ROLE_LABELS[role])
    section = re.search(rf"<h3>{label}</h3>(.*?)</ul>", page, re.S)
    user = re.search(r'name="user_id" value="([^"]+)"', section.group(1) if section else "")
    if user is None:
        raise SystemExit(f"no demo {role} on the sign-in page")
    response = client.post("/signin/demo", data={"csrf_token": _csrf(page), "user_id": user.group(1)})
    if response.status_code != 303:
        raise SystemExit(f"demo sign-in as {role}: {response.status_code}")
    return client


def _share_page(base: str, var_dir: Path) -> str | None:
    """``/wallet/share?...`` of a presentation request the demo verifier client makes (through the API)."""
    clients = json.loads((var_dir / "demo-clients.json").read_text())["clients"]
    verifier = clients.get("verifier")
    if verifier is None:
        return None
    token = httpx.post(
        base + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(verifier["client_id"], verifier["client_secret"]),
        timeout=30,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    body = {"policy": "theatre-surgical-trainee", "purpose": "Benchmark of the share page"}
    made = httpx.post(base + "/api/v1/presentation-requests", json=body, headers=headers, timeout=30)
    if made.status_code != 201:
        return None
    links = httpx.get(f"{base}/api/v1/presentation-requests/{made.json()['id']}/openid4vp", headers=headers)
    link: str = links.json()["deep_link"]
    return "/wallet/share?" + link.split("?", 1)[1]


def _pages(base: str, var_dir: Path) -> list[tuple[str, httpx.Client, str]]:
    """(role, signed-in client, path) of every page, after giving the result pages a result."""
    issuer, coordinator, analyst, holder = (_sign_in(base, r) for r in ROLE_LABELS)
    found: list[tuple[str, httpx.Client, str]] = [("holder", holder, "/")]
    found += [("holder", holder, p) for p in ("/wallet", "/wallet/changes", "/wallet/share")]
    share = _share_page(base, var_dir)
    if share is not None:
        found.append(("holder", holder, share))
    found += [("holder", holder, p) for p in ("/passport", "/passport/credentials", "/passport/add")]
    found.append(("holder", holder, "/passport/checks"))
    found += [("issuer", issuer, p) for p in ("/", "/records")]
    search = issuer.get("/records/people", params={"q": "an"})
    found.append(("issuer", issuer, "/records/people?q=an"))
    person = re.search(r'href="(/records/people/[0-9a-f-]{36})"', search.text)
    if person is not None:
        found.append(("issuer", issuer, person.group(1)))
    index = coordinator.get("/placements").text
    dataset = re.search(r'action="(/placements/datasets/[0-9a-f-]{36}/runs)"', index)
    if dataset is not None:
        started = time.perf_counter()
        run = coordinator.post(dataset.group(1), data={"csrf_token": _csrf(index), "mode": "optimal"})
        print(f"placement run (not a page view): {time.perf_counter() - started:.2f} s")
        found += [
            ("coordinator", coordinator, "/placements"),
            ("coordinator", coordinator, run.headers["location"]),
        ]
    index = analyst.get("/benchmarks").text
    started = time.perf_counter()
    published = analyst.post("/benchmarks", data={"csrf_token": _csrf(index), "financial_year": "2025"})
    print(f"benchmark publication (not a page view): {time.perf_counter() - started:.2f} s")
    found += [("analyst", analyst, "/benchmarks"), ("analyst", analyst, published.headers["location"])]
    found += [("analyst", analyst, "/additionality"), ("coordinator", coordinator, "/additionality")]
    report = re.search(r'href="(/additionality/\d{4}/report\.html)"', analyst.get("/additionality").text)
    if report is not None:
        found.append(("analyst", analyst, report.group(1)))
    return found


def _verifications(base: str, var_dir: Path, count: int) -> None:
    """``count`` verifications of the demo doctor's credentials by the demo provider's HR system, as its
    wallet would answer (what the policy needs), so "Who checked my passport" has a full page to show."""
    found = json.loads((var_dir / "demo-clients.json").read_text())["clients"]["verifier"]
    token = httpx.post(
        base + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(found["client_id"], found["client_secret"]),
        timeout=30,
    ).json()["access_token"]
    wallet = Wallet(var_dir / "demo-wallet")
    verdicts: dict[str, int] = {}
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as verifier:
        for n in range(count):
            body = {"policy": "theatre-surgical-trainee", "purpose": f"Theatre list, bench check {n + 1}"}
            view = verifier.post("/api/v1/presentation-requests", json=body).json()
            presentations, _ = build(wallet, view, extra={}, now=int(time.time()))
            answer = {"presentations": presentations, "request_id": view["id"]}
            done = verifier.post("/api/v1/verifications", json=answer)
            done.raise_for_status()
            verdicts[done.json()["verdict"]] = verdicts.get(done.json()["verdict"], 0) + 1
    took = time.perf_counter() - started
    print(f"{count} verifications of the demo doctor (not page views): {took:.1f} s, verdicts {verdicts}")


def _time_offers(base: str, requests: int) -> float:
    """``POST /passport/add`` (a wallet offer, the page rendered at once): p50, p95, max; the p95."""
    holder = _sign_in(base, "holder")
    csrf = _csrf(holder.get("/passport/add").text)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = holder.post("/passport/add", data={"csrf_token": csrf, "types": ["core_skills"]})
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    times.sort()
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    shown = "POST /passport/add (a wallet offer)"
    print(f"{'holder':<12} {shown:<58} {statistics.median(times):7.1f} {p95:7.1f} {times[-1]:7.1f}")
    return p95


def _hr_pages(base: str, folder: Path, database_url: str | None) -> list[tuple[str, httpx.Client, str]]:
    """Provider HR: the form, a pending request (two QR codes), its status, an answered one (the demo
    doctor's wallet answers over OpenID4VP, outside the timing), the history and its CSV export."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.browser.harness import DemoServer
    from tests.browser.hr import doctor_wallet

    env = {
        "PASSPORT_VAR_DIR": str(folder / "var"),
        "PASSPORT_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{folder / 'bench.db'}",
    }
    ROLE_LABELS.setdefault("verifier", "Provider HR (verifier)")
    hr = _sign_in(base, "verifier")
    form = hr.get("/verify").text
    policy = re.search(r'<option value="(theatre-surgical-trainee:\d+)"', form)
    if policy is None:
        raise SystemExit("no theatre-list policy on the verifier's form")
    made = []
    for purpose in ("Bench: answered", "Bench: pending"):
        body = {"csrf_token": _csrf(form), "policy": policy.group(1), "purpose": purpose}
        created = hr.post("/verify/requests", data=body)
        made.append(created.headers["location"])
    link = re.search(r'href="(openid4vp://[^"]+)"', hr.get(made[0]).text)
    if link is None:
        raise SystemExit("no OpenID4VP link on the request page")
    server = DemoServer(base_url=base, backend="bench", env=env)
    doctor_wallet(server).answer(link.group(1).replace("&amp;", "&"))
    return [
        ("verifier", hr, "/verify"),
        ("hr-pending", hr, made[1]),
        ("hr-pending", hr, made[1] + "/status"),
        ("hr-answered", hr, made[0]),
        ("hr-answered", hr, made[0] + "/status"),
        ("verifier", hr, "/verify/history"),
        ("verifier", hr, "/verify/history.csv"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="1")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        _server(Path(folder), args.scale, args.database_url) as base,
    ):
        _verifications(base, Path(folder) / "var", 60)
        pages = _pages(base, Path(folder) / "var") + _hr_pages(base, Path(folder), args.database_url)
        print(f"\n{'role':<12} {'page':<58} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
        worst = 0.0
        for role, client, path in pages:
            client.get(path).raise_for_status()  # warm
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            times.sort()
            p95 = times[max(0, int(len(times) * 0.95) - 1)]
            worst = max(worst, p95)
            shown = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", path)
            shown = re.sub(r"^/wallet/share\?.+", "/wallet/share?client_id=...&request_uri=...", shown)
            print(f"{role:<12} {shown:<58} {statistics.median(times):7.1f} {p95:7.1f} {times[-1]:7.1f}")
        worst = max(worst, _time_offers(base, args.requests))
        print(f"\nworst p95: {worst:.1f} ms (goal: under 100 ms)")
        print("command: .venv/bin/python bench/pages.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
