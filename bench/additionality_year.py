"""How long checking every offer of a financial year takes (goal, issue 5: under 5 s for 500 sites and
20,000 rostered people).

Builds a national year in a fresh database with bulk INSERTs (not timed): 42 ICBs, 200 NHS trusts, 50
independent providers with 500 sites, one offer per site for financial year 2026 with 40 rostered people
each (20,000 people with one or two employments, a tenth of them at trusts in the site's ICB),
40,000 further NHS staff so employers have a workforce, a shortage list and two years of monthly activity
for every offer's commissioner and specialty. Then it times ``service.check_year`` plus the commit, as
``passport additionality check --year 2026`` runs them: gathering the inputs, the five rules over 500
offers, and storing 500 checks with their inputs and 2,500 rule results.

    python bench/additionality_year.py [--rounds 3] [--sites 500] [--people-per-offer 40]
    python bench/additionality_year.py --database-url postgresql+asyncpg://user@host/empty_db

A ``--database-url`` database must be empty: it is migrated, filled and kept (drop it yourself); each
round checks the year again there. SQLite rounds each use a fresh database in a temporary folder.
"""

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import rules, service
from service.additionality.models import Activity, Offer, RosterEntry, ShortageList
from service.auth import Principal, Role
from service.db import Database, make_engine, upgrade
from service.workforce.models import Employment, Organisation, Person

GOAL_SECONDS = 5.0
YEAR = 2026
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
ANALYST = Principal(subject="bench", kind="client", role=Role.ADMIN, organisation=None)
SPECIALTIES = (
    "trauma_and_orthopaedics",
    "ophthalmology",
    "general_surgery",
    "urology",
    "ent",
    "anaesthetics",
)
GROUPS = ("medical", "nursing", "nursing", "allied_health", "other")


def _organisation(code: str, kind: str, parent: str | None, icb: str | None) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"Bench {kind} {code}",
        "kind": kind,
        "parent_code": parent,
        "icb_code": icb,
        "postcode": None,
        "latitude": None,
        "longitude": None,
        "created_at": NOW,
    }


class World:
    """The rows of a national year, deterministic for a seed."""

    def __init__(self, sites: int, per_offer: int, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.organisations = [_organisation(f"Y{r:02d}", "region", None, None) for r in range(7)]
        icbs = [f"Q{i:02d}" for i in range(42)]
        self.organisations += [_organisation(c, "icb", f"Y{i % 7:02d}", None) for i, c in enumerate(icbs)]
        trusts = {icb: [f"R{i:02d}{t}" for t in "ABCDE"[: 4 + i % 2]] for i, icb in enumerate(icbs)}
        self.organisations += [
            _organisation(t, "nhs_trust", icb, icb) for icb, ts in trusts.items() for t in ts
        ]
        providers = [f"N{p:02d}" for p in range(50)]
        self.organisations += [_organisation(p, "independent_provider", None, None) for p in providers]
        site_icb = {f"N{s:04d}": icbs[s % len(icbs)] for s in range(sites)}
        self.organisations += [
            _organisation(code, "independent_site", providers[s % len(providers)], icb)
            for s, (code, icb) in enumerate(site_icb.items())
        ]
        self.people: list[dict[str, Any]] = []
        self.employments: list[dict[str, Any]] = []
        self.offers: list[dict[str, Any]] = []
        self.roster: list[dict[str, Any]] = []
        all_trusts = [t for ts in trusts.values() for t in ts]
        start_year = dt.date(YEAR, 4, 1)
        end_year = dt.date(YEAR + 1, 3, 31)
        for s, (site, icb) in enumerate(site_icb.items()):
            offer_id = uuid.UUID(int=s + 1)
            start = dt.date(YEAR, 4 + s % 6, 1)
            specialty = SPECIALTIES[s % len(SPECIALTIES)]
            self.offers.append(
                {
                    "id": offer_id,
                    "reference": f"BENCH-{s:04d}",
                    "site_code": site,
                    "provider_code": providers[s % len(providers)],
                    "commissioner_code": icb,
                    "specialty": specialty,
                    "sessions_per_week": 20.0,
                    "start_date": start,
                    "end_date": end_year,
                    "declared_training_placements": rng.randint(0, 6),
                    "submitted_by": "bench",
                    "created_at": NOW,
                }
            )
            for _ in range(per_offer):
                person = self._person(rng)
                local = rng.random() < 0.1
                trust = rng.choice(trusts[icb] if local else all_trusts)
                since = dt.date(2018, 1, 1) + dt.timedelta(days=rng.randint(0, 2500))
                nhs = self._employ(person, trust, since, rng)
                if rng.random() < 0.4:
                    joined = start - dt.timedelta(days=rng.randint(0, 300))
                    self._employ(person, site, joined, rng, current=True)
                sessions = rng.choice((1.0, 2.0, 4.0, 6.0, 10.0))
                if (nhs["end_date"] is None or nhs["end_date"] >= start) and rng.random() < 0.97:
                    sessions = max(1.0, min(sessions, 10.0 - nhs["contracted_sessions"]))  # most fit beside
                self.roster.append(
                    {
                        "id": uuid.uuid4(),
                        "offer_id": offer_id,
                        "person_id": person["id"],
                        "sessions": sessions,
                        "start_date": start,
                        "end_date": end_year,
                        "created_at": NOW,
                    }
                )
        for _ in range(40_000):  # the rest of the NHS workforce of those trusts
            self._employ(self._person(rng), rng.choice(all_trusts), dt.date(2015, 1, 1), rng, current=True)
        self.activity: list[dict[str, Any]] = []
        months = rules.months_between(dt.date(2019, 4, 1), dt.date(2020, 3, 1)) + rules.months_between(
            dt.date(2025, 4, 1), dt.date(2026, 8, 1)
        )
        pairs = {(o["commissioner_code"], o["specialty"]) for o in self.offers}
        sites_of = {(o["commissioner_code"], o["specialty"]): o["site_code"] for o in self.offers}
        for icb, specialty in sorted(pairs):
            for provider in [*trusts[icb], sites_of[(icb, specialty)]]:
                for month in months:
                    self.activity.append(
                        {
                            "id": uuid.uuid4(),
                            "provider_code": provider,
                            "sector": "independent" if provider.startswith("N") else "nhs",
                            "commissioner_code": icb,
                            "specialty": specialty,
                            "month": month,
                            "activity": rng.randint(20, 400),
                            "submitted_by": "bench",
                            "created_at": NOW,
                        }
                    )
        self.shortage = {
            "version": 1,
            "effective_from": dt.date(2020, 1, 1),
            "roles": rules.canonical([{"staff_group": "nursing", "specialty": None}]).decode(),
            "note": "bench",
            "created_by": "bench",
            "created_at": NOW,
        }
        self.year = (start_year, end_year)

    def _person(self, rng: random.Random) -> dict[str, Any]:
        person = {
            "id": uuid.uuid4(),
            "given_name": "Bench",
            "family_name": "Person",
            "gmc_number": None,
            "staff_group": rng.choice(GROUPS),
            "grade": "other",
            "specialty": None,
            "created_at": NOW,
        }
        self.people.append(person)
        return person

    def _employ(
        self, person: dict[str, Any], code: str, start: dt.date, rng: random.Random, current: bool = False
    ) -> dict[str, Any]:
        end = None if current or rng.random() < 0.25 else start + dt.timedelta(days=rng.randint(200, 3000))
        employment = {
            "id": uuid.uuid4(),
            "person_id": person["id"],
            "organisation_code": code,
            "role": "Staff",
            "staff_group": person["staff_group"],
            "specialty": None,
            "start_date": start,
            "end_date": end,
            "contracted_sessions": rng.choice((4.0, 6.0, 8.0, 10.0)),
            "created_at": NOW,
        }
        self.employments.append(employment)
        return employment


async def _fill(database: Database, world: World) -> None:
    async with database.session() as session:
        for model, rows in (
            (
                Organisation,
                [o for o in world.organisations if o["kind"] in ("region", "independent_provider")],
            ),
            (Organisation, [o for o in world.organisations if o["kind"] == "icb"]),
            (
                Organisation,
                [o for o in world.organisations if o["kind"] in ("nhs_trust", "independent_site")],
            ),
            (Person, world.people),
            (Employment, world.employments),
            (Offer, world.offers),
            (RosterEntry, world.roster),
            (Activity, world.activity),
            (ShortageList, [world.shortage]),
        ):
            await _insert(session, model, rows)
        await session.commit()


async def _insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    statement = insert(model).execution_options(render_nulls=True)
    for start in range(0, len(rows), 5000):
        await session.execute(statement, rows[start : start + 5000])


class Timing(NamedTuple):
    wall_s: float
    """check_year + commit, wall clock."""
    commit_s: float
    cpu_s: float
    """CPU time of this process meanwhile (a shared machine inflates wall time, much less CPU time)."""
    verdicts: dict[str, int]


async def _check(database: Database) -> Timing:
    started, cpu = time.perf_counter(), time.process_time()
    async with database.session() as session:
        run = await service.check_year(session, ANALYST, YEAR, NOW)
        before_commit = time.perf_counter()
        await session.commit()
    done = time.perf_counter()
    if run.offers == 0:
        raise SystemExit("no offers were checked")
    return Timing(done - started, done - before_commit, time.process_time() - cpu, run.verdicts)


async def _round(url: str, world: World | None) -> Timing:
    database = Database(make_engine(url, pool_size=2))
    try:
        if world is not None:
            await _fill(database, world)
        return await _check(database)
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--people-per-offer", type=int, default=40)
    parser.add_argument("--database-url", help="an empty database to fill and check (PostgreSQL)")
    args = parser.parse_args()
    started = time.perf_counter()
    world = World(args.sites, args.people_per_offer)
    print(
        f"world: {len(world.offers)} offers at {args.sites} sites, {len(world.roster):,} rostered people, "
        f"{len(world.people):,} people, {len(world.employments):,} employments, {len(world.activity):,} "
        f"activity rows (built in {time.perf_counter() - started:.1f} s)"
    )
    timings: list[Timing] = []
    folder = Path(tempfile.mkdtemp(prefix="passport-additionality-bench-"))
    try:
        if args.database_url:
            upgrade(args.database_url)
            for number in range(max(1, args.rounds)):
                timings.append(asyncio.run(_round(args.database_url, world if number == 0 else None)))
        else:
            for number in range(max(1, args.rounds)):
                url = f"sqlite+aiosqlite:///{folder / f'bench-{number}.db'}"
                upgrade(url)
                timings.append(asyncio.run(_round(url, world)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    backend = "PostgreSQL" if args.database_url and "postgresql" in args.database_url else "SQLite"
    totals = [t.wall_s for t in timings]
    median = statistics.median(totals)
    print(f"check every offer of financial year {YEAR} on {backend}: verdicts {timings[0].verdicts}")
    print(
        f"  check_year + commit: median {median:.2f} s over {len(totals)} round(s): "
        + ", ".join(f"{t:.2f}" for t in totals)
        + f" (commit alone: median {statistics.median(t.commit_s for t in timings):.2f} s)"
    )
    print(f"  CPU time of this process: median {statistics.median(t.cpu_s for t in timings):.2f} s")
    if args.sites == 500 and args.people_per_offer == 40:
        verdict = "met" if median < GOAL_SECONDS else "NOT met"
        print(f"  goal: under {GOAL_SECONDS:.0f} s for 500 sites and 20,000 rostered people: {verdict}")
    load = os.getloadavg()
    print(f"  load average at the end (1, 5, 15 min): {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}")
    print(f"machine: {_machine()}")
    print("command: " + shlex.join([Path(sys.executable).name, *sys.argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
