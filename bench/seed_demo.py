"""How long ``passport demo seed`` takes (goal, issue 2: under 30 s at scale 1 on SQLite).

Each round migrates a fresh SQLite database in a temporary folder and times ``service.demo.seed`` plus
the commit, as ``passport demo seed`` runs them (one transaction); then times a second run, which must
change nothing. Prints the figures, the rows per table, the machine and the command that reproduces them.

    python bench/seed_demo.py [--scale 1] [--seed 0] [--rounds 3]
    python bench/seed_demo.py --database-url postgresql+asyncpg://user@host/empty_db   # one round

A ``--database-url`` database must be empty or migrated without demo data: it is migrated and seeded,
and kept (drop it yourself). The real Argon2id parameters hash the demo client secrets.
"""

import argparse
import asyncio
import datetime as dt
import os
import platform
import shlex
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import func, make_url, select

from service import demo
from service.config import Settings
from service.db import Base, Database, import_models, make_engine, upgrade
from service.workforce.synthetic import generate

GOAL_SECONDS = 30.0


class Round(NamedTuple):
    seed_s: float
    rerun_s: float
    rows: dict[str, int]
    summary: str


async def _rows(database: Database) -> dict[str, int]:
    import_models()
    async with database.session() as session:
        return {
            table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


async def _one_round(url: str, var_dir: Path, scale: float, seed: int) -> Round:
    settings = Settings(database_url=url, var_dir=var_dir, keys_dir=var_dir / "keys", demo_mode=True)
    database = Database(make_engine(url, pool_size=2))
    try:
        timings = []
        summaries = []
        for _ in range(2):  # the seed, then the rerun that must change nothing
            started = time.perf_counter()
            async with database.session() as session:
                summaries.append(
                    await demo.seed(
                        session, settings=settings, scale=scale, seed=seed, now=dt.datetime.now(dt.UTC)
                    )
                )
                await session.commit()
            timings.append(time.perf_counter() - started)
        if "already present" not in summaries[1]:
            raise SystemExit(f"the second run was not a no-op:\n{summaries[1]}")
        return Round(timings[0], timings[1], await _rows(database), summaries[0])
    finally:
        await database.dispose()


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="fresh SQLite databases to seed (median)")
    parser.add_argument("--database-url", help="seed this database instead (one round), e.g. PostgreSQL")
    args = parser.parse_args()

    started = time.perf_counter()
    world = generate(args.scale, args.seed, dt.datetime.now(dt.UTC).date())
    generate_s = time.perf_counter() - started

    rounds: list[Round] = []
    folder = Path(tempfile.mkdtemp(prefix="passport-seed-bench-"))
    try:
        for number in range(1 if args.database_url else max(1, args.rounds)):
            url = args.database_url or f"sqlite+aiosqlite:///{folder / f'demo-{number}.db'}"
            upgrade(url)
            rounds.append(asyncio.run(_one_round(url, folder / f"var-{number}", args.scale, args.seed)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    backend = "PostgreSQL" if args.database_url and "postgresql" in args.database_url else "SQLite"
    seeds = [r.seed_s for r in rounds]
    median = statistics.median(seeds)
    print(f"passport demo seed --scale {args.scale:g} --seed {args.seed} on {backend}")
    each = ", ".join(f"{s:.2f}" for s in seeds)
    print(f"  seed + commit: median {median:.2f} s over {len(seeds)} round(s): {each}")
    print(f"  second run (nothing to do): median {statistics.median(r.rerun_s for r in rounds):.3f} s")
    print(f"  generating the synthetic world alone: {generate_s:.2f} s ({len(world.people):,} people)")
    if backend == "SQLite" and args.scale == 1:
        verdict = "met" if median < GOAL_SECONDS else "NOT met"
        print(f"  goal: under {GOAL_SECONDS:.0f} s at scale 1 on SQLite: {verdict}")
    print("rows per table:")
    for table, count in rounds[-1].rows.items():
        print(f"  {table:<16} {count:>8,}")
    print(f"machine: {_machine()}")
    print("summary of the last seed:")
    print("  " + rounds[-1].summary.replace("\n", "\n  "))
    command = ["python", "bench/seed_demo.py", "--scale", f"{args.scale:g}", "--seed", str(args.seed)]
    if args.database_url:
        command += ["--database-url", make_url(args.database_url).render_as_string(hide_password=True)]
    else:
        command += ["--rounds", str(args.rounds)]
    print(f"reproduce (from the repository root, in the project's venv): {shlex.join(command)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
