"""Placement matching at national scale (issue 4): CSV in, result out, through the CLI.

Generates a deterministic synthetic rotation (default: 80,000 trainees, 500 sites, about 20 eligible
sites per trainee; logbooks, preferences for a third of the trainees, some needs and weights), then

1. runs ``passport placements match --data DIR --mode M --output FILE`` in a child process for each mode
   asked, reporting wall time and the child's peak resident memory (goal: optimal < 5 s and < 1.5 GB,
   stable < 10 s);
2. in this process, on the same instance, times the optimal solver step (all lexicographic stages)
   against one plain OR-Tools min-cost flow on the stage-1 graph (value only), in the same run
   (goal: within 2x).

    python bench/placements_match.py [--trainees 80000] [--sites 500] [--modes optimal,stable] [--seed 0]
    python bench/placements_match.py --keep DIR     # write the files to DIR and keep them
"""

import argparse
import os
import platform
import random
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ortools.graph.python import min_cost_flow

from service.placements import csv_import, matching, model

SPECIALTIES = {
    "trauma_and_orthopaedics": (
        "total_knee_replacement",
        "total_hip_replacement",
        "carpal_tunnel_decompression",
        "knee_arthroscopy",
    ),
    "general_surgery": ("cholecystectomy", "inguinal_hernia_repair", "appendicectomy"),
    "ophthalmology": ("cataract",),
    "urology": ("cystoscopy", "turp", "ureteroscopy"),
    "ent": ("tonsillectomy", "septoplasty", "grommets"),
}
INDICATIVE = {
    "cataract": 350,
    "total_knee_replacement": 40,
    "total_hip_replacement": 40,
    "carpal_tunnel_decompression": 30,
    "knee_arthroscopy": 40,
    "cholecystectomy": 50,
    "inguinal_hernia_repair": 50,
    "appendicectomy": 80,
    "cystoscopy": 100,
    "turp": 40,
    "ureteroscopy": 40,
    "tonsillectomy": 40,
    "septoplasty": 30,
    "grommets": 40,
}
GRADES = ("CT1", "CT2", "ST3", "ST4", "ST5", "ST6", "ST7", "ST8")
SUPERVISION = ("O", "A", "S-TS", "S-TU", "P", "T")


def _write(path: Path, header: str, rows: list[str]) -> None:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")


def generate(folder: Path, trainees: int, sites: int, seed: int) -> None:
    """Sites spread over England, two or three specialties each; trainees spread likewise with a travel
    limit giving about 20 eligible sites; slots for about 75% of the trainees."""
    rng = random.Random(seed)
    specialties = list(SPECIALTIES)
    site_rows, vol_rows, cap_rows = [], [], []
    pools = 0
    for i in range(sites):
        code = f"N{i // 100}{chr(65 + (i // 10) % 10)}{i % 10}{rng.choice('ABCDEFGHJK')}"
        code = f"NX{i:04d}"
        lat, lon = 50.6 + rng.random() * 3.9, -3.6 + rng.random() * 5.1
        site_rows.append(f"{code},Synthetic site {i},Q{i % 42:02d},{lat:.5f},{lon:.5f}")
        for spec in rng.sample(specialties, rng.choice((2, 3))):
            pools += 1
            for group in SPECIALTIES[spec]:
                for year in ("2024-25", "2025-26"):
                    vol_rows.append(f"{code},{spec},{group},{year},{round(rng.lognormvariate(5.5, 1.0))}")
            low = rng.choice(("CT1", "ST3"))
            slots = rng.randint(10, 60)
            cap_rows.append(f"{code},{spec},{slots},{rng.randint(5, 40)},{rng.choice((2, 3))},{low},ST8")
    trainee_rows, log_rows, pref_rows, need_rows = [], [], [], []
    site_codes = [r.split(",")[0] for r in site_rows]
    for t in range(trainees):
        gmc = str(4_000_000 + t * 37)
        spec = rng.choice(specialties)
        lat, lon = 50.6 + rng.random() * 3.9, -3.6 + rng.random() * 5.1
        trainee_rows.append(
            f"{gmc},{rng.choice(GRADES)},{spec},{lat:.5f},{lon:.5f},{rng.choice((55, 65, 75))}"
        )
        progress = rng.random()  # share of the curriculum done: needs vary from nothing to everything
        if rng.random() < 2 / 3:  # an e-portfolio export gives the remaining needs...
            for group in SPECIALTIES[spec]:
                need_rows.append(
                    f"{gmc},{group},{round(INDICATIVE[group] * (1 - progress) * rng.random() * 1.2)}"
                )
        else:  # ...otherwise they are derived from the logbook
            for _ in range(rng.randint(5, 25)):
                log_rows.append(
                    f"{gmc},{rng.choice(SPECIALTIES[spec])},2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)},"
                    f"{rng.choice(SUPERVISION)},RRK"
                )
        if rng.random() < 1 / 3:
            for rank, site in enumerate(rng.sample(site_codes, 5), start=1):
                pref_rows.append(f"{gmc},{site},{rank}")
    _write(folder / "sites.csv", "site_code,name,icb_code,latitude,longitude", site_rows)
    _write(
        folder / "volumes.csv",
        "site_code,specialty,procedure_group,financial_year,nhs_funded_count",
        vol_rows,
    )
    _write(
        folder / "capacity.csv",
        "site_code,specialty,slots,recognised_supervisors,trainees_per_supervisor,min_grade,max_grade",
        cap_rows,
    )
    _write(
        folder / "trainees.csv", "trainee_id,grade,specialty,latitude,longitude,max_travel_km", trainee_rows
    )
    _write(
        folder / "curriculum.csv",
        "specialty,procedure_group,indicative_number,min_supervision",
        [f"{s},{g},{INDICATIVE[g]},S-TS" for s, gs in SPECIALTIES.items() for g in gs],
    )
    _write(folder / "logbook.csv", "trainee_id,procedure_group,date,supervision,site_code", log_rows)
    _write(folder / "preferences.csv", "trainee_id,site_code,rank", pref_rows)
    _write(folder / "needs.csv", "trainee_id,procedure_group,remaining", need_rows)
    _write(folder / "weights.csv", "procedure_group,weight", ["total_knee_replacement,1.5", "cataract,0.5"])


def run_cli(folder: Path, mode: str, output: Path, workers: int = 1) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds of the child and its workers, peak MiB of the child, its summary line).

    On a shared machine the CPU seconds are the steadier figure: with --workers 1 they are what the wall
    time would be on an idle core."""
    command = [
        sys.executable,
        "-m",
        "service.cli",
        "placements",
        "match",
        "--data",
        str(folder),
        "--mode",
        mode,
        "--output",
        str(output),
        "--workers",
        str(workers),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the CLI failed: {done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, max(after.ru_maxrss, before.ru_maxrss) / 1024, done.stdout.strip()


def plain_min_cost_flow(instance: model.Instance) -> float:
    """One OR-Tools min-cost flow on the stage-1 graph (max value), as a baseline: seconds to solve."""
    t, p = instance.arc_trainee, instance.arc_pool
    n_t, n_p = instance.n_trainees, instance.n_pools
    sink = n_t + n_p
    started = time.perf_counter()
    flow = min_cost_flow.SimpleMinCostFlow()
    tails = np.concatenate([t, np.arange(n_t), n_t + np.arange(n_p)])
    heads = np.concatenate([n_t + p, np.full(n_t, sink), np.full(n_p, sink)])
    caps = np.concatenate([np.ones(len(t) + n_t, dtype=np.int64), instance.pool_slots])
    costs = np.concatenate([-instance.arc_value, np.zeros(n_t + n_p, dtype=np.int64)])
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n_t] = 1
    supplies[sink] = -n_t
    flow.set_nodes_supplies(np.arange(sink + 1), supplies)
    if flow.solve() != flow.OPTIMAL:
        raise SystemExit("baseline min-cost flow failed")
    flow.flows(np.arange(len(t)))
    return time.perf_counter() - started


def compare_solver(folder: Path) -> None:
    """The CLI's steps in this process (cycle collector paused, as ``engine.run`` does), timed apart."""
    import gc

    from service.placements import engine, explain

    files = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    gc.disable()
    started = time.perf_counter()
    inputs = csv_import.parse_files(files)
    parsed = time.perf_counter()
    instance = model.build(inputs, model.Parameters())
    built = time.perf_counter()
    per_trainee = len(instance.arc_trainee) / instance.n_trainees
    print(
        f"steps: parse {parsed - started:.2f} s, model {built - parsed:.2f} s; "
        f"{len(instance.arc_trainee):,} eligible pairs ({per_trainee:.1f} per trainee), "
        f"{instance.n_pools} site-specialty pools, {int(instance.pool_slots.sum()):,} slots"
    )
    baseline = plain_min_cost_flow(instance)
    started = time.perf_counter()
    chosen = matching.match_optimal(instance)
    staged = time.perf_counter() - started
    print(
        f"solver: optimal (all lexicographic stages, per component) {staged:.2f} s vs one OR-Tools min-cost "
        f"flow of the value stage on the whole graph {baseline:.2f} s: ratio {staged / baseline:.2f} "
        "(goal <= 2)"
    )
    started = time.perf_counter()
    result = explain.assemble(instance, "optimal", chosen, solver_seconds=staged, input_sha256="", inputs={})
    assembled = time.perf_counter()
    engine.to_json(result)
    encoded = time.perf_counter() - assembled
    print(f"steps: result rows and explanations {assembled - started:.2f} s, JSON {encoded:.2f} s")
    started = time.perf_counter()
    matching.match_stable(instance)
    print(f"solver: stable (deferred acceptance) {time.perf_counter() - started:.2f} s")
    gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trainees", type=int, default=80_000)
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", default="optimal,stable")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.system()} (shared: other work may run alongside; "
        f"load average {os.getloadavg()[0]:.1f} at the start)"
    )
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        generate(folder, args.trainees, args.sites, args.seed)
        size = sum(p.stat().st_size for p in folder.glob("*.csv")) / 2**20
        print(f"data: {args.trainees:,} trainees, {args.sites} sites, {size:.0f} MiB of CSV in {folder}")
        for mode in args.modes.split(","):
            for workers in (1, 2) if mode == "optimal" else (1,):
                output = Path(temporary) / f"result-{mode}.json"
                seconds, cpu, peak, line = run_cli(folder, mode, output, workers)
                print(
                    f"CLI --mode {mode} --workers {workers}: {seconds:.2f} s end to end, {cpu:.2f} CPU-s, "
                    f"peak {peak:.0f} MiB (largest child so far) | {line}"
                )
        compare_solver(folder)
    print("command: " + shlex.join([sys.executable, *sys.argv]))


if __name__ == "__main__":
    main()
