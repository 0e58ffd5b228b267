"""The lifecycle's reads at August-changeover size: change feed, lapsing records, claims of every holder.

Builds a fresh database with ``--doctors`` doctors (default 80,000), each with CSTF subjects, occupational
health outcomes (sealed), a placement that ends the day before the changeover and an identity link; then
submits the new placement of every doctor through ``service.submit`` (as the training office would, in
batches of 5,000) and times what the credential lifecycle does next:

1. ``changes_since`` over the whole feed (every record ever added) and over the changeover's changes;
2. ``lapsing`` on the changeover day (every old placement ends);
3. ``credentials_claims`` of every doctor for all four credential types, in batches of 1,000 doctors.

    python bench/records_feed.py [--doctors 80000] [--database-url postgresql+asyncpg://...]

A ``--database-url`` database must be empty: it is migrated and filled, and kept (drop it yourself).
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
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from sqlalchemy import insert, make_url

from service.auth import Principal, Role
from service.db import Database, make_engine, upgrade
from service.passport import repository, service
from service.passport.cstf import SUBJECTS, add_months
from service.passport.encryption import DataKeyRing, DataKeyStore
from service.passport.schemas import RecordCreate, RecordKind
from service.workforce.models import Organisation, Person

T = TypeVar("T")
CHANGEOVER = dt.date(2027, 8, 4)
TODAY = CHANGEOVER - dt.timedelta(days=1)
NOW = dt.datetime.combine(TODAY, dt.time(18, 0), tzinfo=dt.UTC)
SUBJECT_SET = ("fire_safety", "information_governance", "resuscitation", "infection_prevention_control")
OH_ITEMS = ("hepatitis_b", "measles_rubella")
KINDS: tuple[RecordKind, ...] = ("core_skills", "occupational_health", "training_placement", "identity_link")
ORGS = (
    ("Y56", "region", None),
    ("QMJ", "icb", "Y56"),
    ("RAP", "nhs_trust", "QMJ"),
    ("NT3", "independent_provider", None),
    ("NT301", "independent_site", "NT3"),
)


def _base(kind: str, person: uuid.UUID, origin: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "kind": kind,
        "person_id": person,
        "state": "current",
        "supersedes_id": None,
        "superseded_by_id": None,
        "change_reason": None,
        "origin_organisation_code": origin,
        "assurance_policy": "NHS Employment Check Standards",
        "assurance_outcome": "verified",
        "verification_method": "source_system",
        "last_refreshed_at": NOW,
        "submitted_at": NOW,
        "submitted_by": "bench",
    }


def _rows(person: uuid.UUID, gmc: str, rng: random.Random, keys: DataKeyRing) -> list[dict[str, Any]]:
    rows = []
    for subject in SUBJECT_SET:
        level = SUBJECTS[subject].levels[-1] if subject != "resuscitation" else 2
        awarded = TODAY - dt.timedelta(days=rng.randint(10, 300))
        until = add_months(awarded, 24)
        rows.append(
            {
                **_base("core_skills", person, "RAP"),
                "record_key": f"{subject}/{level}",
                "effective_on": awarded,
                "lapses_on": until,
                "subject": subject,
                "level": level,
                "date_awarded": awarded,
                "renewal_months": 24,
                "date_to": until,
                "learning_provider": "ELfH",
                "learning_method": "e_learning",
            }
        )
    for item in OH_ITEMS:
        row = {
            **_base("occupational_health", person, "RAP"),
            "record_key": None,
            "effective_on": None,
            "lapses_on": None,
        }
        fields = {
            "item": item,
            "outcome": "immune",
            "assessed_on": TODAY - dt.timedelta(days=400),
            "review_date": None,
        }
        row["oh_key_id"], row["oh_sealed"] = service.seal_outcome(fields, row["id"], person, keys)
        rows.append(row)
    start = CHANGEOVER - dt.timedelta(days=364)
    rows.append(
        {
            **_base("training_placement", person, "Y56"),
            "record_key": f"RAP/{start}",
            "effective_on": start,
            "lapses_on": CHANGEOVER,
            "programme": "Core Surgical Training",
            "programme_start": None,
            "programme_end": None,
            "specialty": "general surgery",
            "grade": "CT1",
            "post_number": None,
            "employing_body_code": "RAP",
            "site_code": "RAP",
            "start_date": start,
            "end_date": CHANGEOVER - dt.timedelta(days=1),
        }
    )
    rows.append(
        {
            **_base("identity_link", person, "RAP"),
            "record_key": "identity",
            "effective_on": None,
            "lapses_on": None,
            "given_names": "Ada",
            "family_name": "Okafor",
            "birth_date": dt.date(1995, 1, 1),
            "gmc_number": gmc,
        }
    )
    return rows


async def _timed(label: str, work: Callable[[], Awaitable[T]], lines: list[str]) -> T:
    started = time.perf_counter()
    result = await work()
    lines.append(f"  {label}: {time.perf_counter() - started:.2f} s")
    return result


async def _fill(database: Database, doctors: int, keys: DataKeyRing) -> list[tuple[uuid.UUID, str]]:
    rng = random.Random(0)
    people = [(uuid.uuid4(), f"{4_000_000 + n:07d}") for n in range(doctors)]
    async with database.session() as session:
        for code, kind, parent in ORGS:
            await session.execute(
                insert(Organisation),
                [
                    {
                        "code": code,
                        "name": code,
                        "kind": kind,
                        "parent_code": parent,
                        "icb_code": None,
                        "postcode": None,
                        "latitude": None,
                        "longitude": None,
                        "created_at": NOW,
                    }
                ],
            )
        for start in range(0, doctors, 5000):
            await session.execute(
                insert(Person),
                [
                    {
                        "id": p,
                        "given_name": "Ada",
                        "family_name": "Okafor",
                        "gmc_number": g,
                        "staff_group": "medical",
                        "grade": "CT2",
                        "specialty": "general surgery",
                        "created_at": NOW,
                    }
                    for p, g in people[start : start + 5000]
                ],
            )
        await session.commit()
    for start in range(0, doctors, 5000):
        rows = [r for p, g in people[start : start + 5000] for r in _rows(p, g, rng, keys)]
        async with database.session() as session:
            await repository.insert_records(session, rows)
            await repository.append_changes(
                session,
                [
                    {
                        "person_id": r["person_id"],
                        "kind": r["kind"],
                        "record_id": r["id"],
                        "change": "added",
                        "at": NOW,
                    }
                    for r in rows
                ],
            )
            await session.commit()
    return people


async def _changeover(database: Database, people: list[tuple[uuid.UUID, str]], keys: DataKeyRing) -> None:
    office = Principal(subject="bench-training-office", kind="client", role=Role.ISSUER, organisation="Y56")
    end = add_months(CHANGEOVER, 12) - dt.timedelta(days=1)
    for start in range(0, len(people), 5000):
        bodies = [
            {
                "kind": "training_placement",
                "person_id": str(p),
                "programme": "Core Surgical Training",
                "specialty": "general surgery",
                "grade": "CT2",
                "employing_body_code": "RAP",
                "site_code": "NT301",
                "start_date": CHANGEOVER.isoformat(),
                "end_date": end.isoformat(),
                "assurance_policy": "Training programme records",
                "assurance_outcome": "verified",
                "verification_method": "source_system",
            }
            for p, _ in people[start : start + 5000]
        ]
        async with database.session() as session:
            await service.submit(
                session, office, msgspec.convert(bodies, list[RecordCreate]), now=NOW, keys=keys
            )
            await session.commit()


async def _whole_feed(database: Database, after: int) -> tuple[int, int]:
    pairs, batches, cursor = 0, 0, after
    async with database.session() as session:
        while True:
            batch = await service.changes_since(session, cursor, limit=50_000)
            pairs, batches, cursor = pairs + len(batch.affected), batches + 1, batch.cursor
            if not batch.more:
                return pairs, batches


async def _lapsing(database: Database) -> int:
    found, start = 0, None
    async with database.session() as session:
        while True:
            batch = await service.lapsing(session, after=TODAY, through=CHANGEOVER, start=start, limit=20_000)
            found += len(batch.items)
            if batch.next is None:
                return found
            start = batch.next


async def _claims(database: Database, people: list[tuple[uuid.UUID, str]], keys: DataKeyRing) -> int:
    built, names = 0, dict[str, str]()
    async with database.session() as session:
        for start in range(0, len(people), 1000):
            ids = [p for p, _ in people[start : start + 1000]]
            claims = await service.credentials_claims(
                session, ids, KINDS, on=CHANGEOVER, base_url="https://r.example", keys=keys, names=names
            )
            built += sum(1 for by_kind in claims.values() for c in by_kind.values() if c is not None)
    return built


async def run(url: str, doctors: int, keys: DataKeyRing) -> list[str]:
    database = Database(make_engine(url, pool_size=2))
    lines: list[str] = []
    try:
        people = await _timed(
            f"fill {doctors:,} doctors x 9 records (+ sealing)", lambda: _fill(database, doctors, keys), lines
        )
        async with database.session() as session:
            before = await service.feed_position(session)
        await _timed(
            f"submit {doctors:,} new placements through service.submit (batches of 5,000)",
            lambda: _changeover(database, people, keys),
            lines,
        )
        pairs, batches = await _timed("changes_since(0), whole feed", lambda: _whole_feed(database, 0), lines)
        lines[-1] += f" -> {pairs:,} (person, type) pairs in {batches} batches"
        moved, _ = await _timed(
            "changes_since(before the changeover)", lambda: _whole_feed(database, before), lines
        )
        lines[-1] += f" -> {moved:,} pairs"
        lapsed = await _timed("lapsing(changeover day)", lambda: _lapsing(database), lines)
        lines[-1] += f" -> {lapsed:,} records"
        built = await _timed(
            "credentials_claims, every doctor x 4 types (batches of 1,000)",
            lambda: _claims(database, people, keys),
            lines,
        )
        lines[-1] += f" -> {built:,} claim sets"
    finally:
        await database.dispose()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--doctors", type=int, default=80_000)
    parser.add_argument("--database-url", help="fill this (empty) database instead of a fresh SQLite file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="passport-feed-bench-"))
    try:
        store = DataKeyStore(folder / "keys", "bench-passphrase-not-secret")
        store.init(NOW)
        url = args.database_url or f"sqlite+aiosqlite:///{folder / 'feed.db'}"
        upgrade(url)
        lines = asyncio.run(run(url, args.doctors, store.load()))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"records feed bench, {args.doctors:,} doctors, {backend}")
    print("\n".join(lines))
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    command = ["python", "bench/records_feed.py", "--doctors", str(args.doctors)]
    if args.database_url:
        command += ["--database-url", make_url(args.database_url).render_as_string(hide_password=True)]
    print(f"reproduce (from the repository root, in the project's venv): {shlex.join(command)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
