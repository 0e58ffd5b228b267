"""The August changeover: re-issue every credential of every doctor (4 types each).

Builds a fresh SQLite database (or fills an empty ``--database-url``) with ``--doctors`` doctors (default
80,000), each with about 30 records: the 11 CSTF subjects, 6 occupational health outcomes (sealed), the
current and the next placement, an identity link, and 10 older awards their renewals replaced; and a
registered P-256 holder key. Then it times, through ``service.reissue_all`` (what ``passport credentials
reissue-all`` runs, 1,000 doctors per transaction):

1. the first issuance of every credential;
2. the changeover: every credential re-issued, the previous one revoked, its status list re-signed.

    python bench/changeover.py [--doctors 80000] [--workers 2] [--database-url ...] [--profile FILE]

``--workers``: signing processes (0: sign in the main process). ``--profile`` writes cProfile stats of
the changeover's main process. ``--keep DIR`` keeps the SQLite database and keys in ``DIR``; run again
with the same ``--keep DIR`` to time only another changeover on them (filling 80,000 doctors takes
minutes). Each run prints its CPU time per doctor (main process and workers) beside the wall time.
"""

import argparse
import asyncio
import cProfile
import datetime as dt
import os
import platform
import random
import resource
import shlex
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, insert, make_url, select
from tqdm import tqdm

from service import jws
from service.credentials import bulk, service
from service.credentials.models import Credential, HolderKey
from service.db import Database, make_engine, upgrade
from service.keys import KeyStore
from service.passport import repository
from service.passport import service as passport
from service.passport.cstf import SUBJECTS, add_months
from service.passport.encryption import DataKeyRing, DataKeyStore
from service.workforce.models import Organisation, Person

TODAY = dt.date(2027, 8, 4)
NOW = dt.datetime.combine(TODAY, dt.time(6, 0), tzinfo=dt.UTC)
OH_ITEMS = (
    "hepatitis_b",
    "measles_rubella",
    "varicella",
    "tuberculosis",
    "epp_clearance",
    "fitness_for_work",
)
OUTCOMES = {"epp_clearance": "cleared", "fitness_for_work": "fit", "tuberculosis": "cleared"}
ORGS = (
    ("Y56", "region", None),
    ("QMJ", "icb", "Y56"),
    ("RAP", "nhs_trust", "QMJ"),
    ("NT3", "independent_provider", None),
    ("NT301", "independent_site", "NT3"),
)
PASSPHRASE = "bench-passphrase-not-secret"  # noqa: S105 - a throwaway keys folder


def _base(kind: str, person: uuid.UUID, origin: str, state: str = "current") -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "kind": kind,
        "person_id": person,
        "state": state,
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


def _skill(person: uuid.UUID, subject: str, level: int, awarded: dt.date, state: str) -> dict[str, Any]:
    until = add_months(awarded, 36)
    return {
        **_base("core_skills", person, "RAP", state),
        "record_key": f"{subject}/{level}",
        "effective_on": awarded,
        "lapses_on": until,
        "subject": subject,
        "level": level,
        "date_awarded": awarded,
        "renewal_months": 36,
        "date_to": until,
        "learning_provider": "e-Learning for Healthcare",
        "learning_method": "e_learning",
    }


def _placement(person: uuid.UUID, start: dt.date, site: str) -> dict[str, Any]:
    end = start + dt.timedelta(days=364)
    return {
        **_base("training_placement", person, "Y56"),
        "record_key": f"{site}/{start}",
        "effective_on": start,
        "lapses_on": end + dt.timedelta(days=1),
        "programme": "Core Surgical Training",
        "programme_start": None,
        "programme_end": None,
        "specialty": "general surgery",
        "grade": "CT2",
        "post_number": None,
        "employing_body_code": "RAP",
        "site_code": site,
        "start_date": start,
        "end_date": end,
    }


def _rows(person: uuid.UUID, gmc: str, rng: random.Random, keys: DataKeyRing) -> list[dict[str, Any]]:
    rows = []
    subjects = list(SUBJECTS)[:11]
    for n, subject in enumerate(subjects):
        level = SUBJECTS[subject].levels[-1]
        awarded = TODAY - dt.timedelta(days=rng.randint(10, 700))
        rows.append(_skill(person, subject, level, awarded, "current"))
        if n < 10:
            rows.append(_skill(person, subject, level, awarded - dt.timedelta(days=1095), "replaced"))
    for item in OH_ITEMS:
        row = {
            **_base("occupational_health", person, "RAP"),
            "record_key": None,
            "effective_on": None,
            "lapses_on": None,
        }
        fields = {
            "item": item,
            "outcome": OUTCOMES.get(item, "immune"),
            "assessed_on": TODAY - dt.timedelta(days=400),
            "review_date": None,
        }
        row["oh_key_id"], row["oh_sealed"] = passport.seal_outcome(fields, row["id"], person, keys)
        rows.append(row)
    rows.append(_placement(person, TODAY - dt.timedelta(days=200), "RAP"))
    rows.append(_placement(person, TODAY + dt.timedelta(days=165), "NT301"))
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


async def _fill(database: Database, doctors: int, keys: DataKeyRing) -> int:
    rng = random.Random(0)
    people = [(uuid.uuid4(), f"{4_000_000 + n:07d}") for n in range(doctors)]
    async with database.session() as session:
        await session.execute(
            insert(Organisation),
            [
                {
                    "code": c,
                    "name": c,
                    "kind": k,
                    "parent_code": p,
                    "icb_code": None,
                    "postcode": None,
                    "latitude": None,
                    "longitude": None,
                    "created_at": NOW,
                }
                for c, k, p in ORGS
            ],
        )
        await session.commit()
    records = 0
    for start in tqdm(range(0, doctors, 2000), desc="fill", unit="batch", leave=False):
        chunk = people[start : start + 2000]
        rows = [r for p, g in chunk for r in _rows(p, g, rng, keys)]
        records += len(rows)
        async with database.session() as session:
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
                    for p, g in chunk
                ],
            )
            await repository.insert_records(session, rows)
            holder_keys = []
            for p, _ in chunk:
                jwk = jws.public_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())
                holder_keys.append(
                    {
                        "id": uuid.uuid4(),
                        "person_id": p,
                        "jwk": jwk,
                        "thumbprint": jws.jwk_thumbprint(jwk),
                        "alg": "ES256",
                        "registered_at": NOW,
                        "replaced_at": None,
                    }
                )
            await session.execute(insert(HolderKey), holder_keys)
            await session.commit()
    return records


async def _reissue(
    database: Database,
    issuer: service.Issuer,
    doctors: int,
    label: str,
    now: dt.datetime,
    bulk_args: dict[str, Any],
) -> tuple[float, Any, str]:
    bar = tqdm(total=doctors, desc=label, unit="doctor")
    started, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    if bulk_args["workers"] > 0:
        result = await bulk.reissue_all(database, issuer, now=now, progress=bar.update, **bulk_args)
    else:
        result = await service.reissue_all(database.session, issuer, now=now, progress=bar.update)
    bar.close()
    seconds = time.perf_counter() - started
    main_cpu, worker_cpu = time.process_time() - cpu, _children_cpu() - children
    per_doctor = 1000 * (main_cpu + worker_cpu) / doctors
    load = os.getloadavg()[0]
    cpu_line = (
        f"    CPU: main process {main_cpu:.1f} s, workers {worker_cpu:.1f} s: {per_doctor:.2f} ms per "
        f"doctor; load average {load:.1f} at the end"
    )
    return seconds, result, cpu_line


def _children_cpu() -> float:
    """User + system CPU seconds of the finished worker processes (each run's pool is shut down)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run(
    url: str, doctors: int, workers: int, keys_dir: Path, profile: Path | None, reuse: bool
) -> tuple[list[str], int]:
    store = DataKeyStore(keys_dir, PASSPHRASE)
    if not reuse:
        store.init(NOW)
        KeyStore(keys_dir, PASSPHRASE).init(NOW)
    data_keys = store.load()
    keyring = KeyStore(keys_dir, PASSPHRASE).load(NOW)
    database = Database(make_engine(url, pool_size=2))
    lines: list[str] = []
    issuer = service.Issuer(keyring=keyring, data_keys=data_keys, base_url="https://passport.example.nhs.uk")
    bulk_args = {"workers": workers, "keys_dir": keys_dir, "passphrase": PASSPHRASE, "database_url": url}
    try:
        if reuse:
            async with database.session() as session:
                doctors = await session.scalar(select(func.count()).select_from(HolderKey)) or 0
                issued = await session.scalar(select(func.max(Credential.issued_at)))
            lines.append(f"  reusing the kept database: {doctors:,} doctors")
            later = (issued or NOW) + dt.timedelta(hours=1)
        else:
            started = time.perf_counter()
            records = await _fill(database, doctors, keys=data_keys)
            took = time.perf_counter() - started
            lines.append(f"  fill: {doctors:,} doctors, {records:,} records, a holder key each: {took:.1f} s")
            seconds, first, cpu = await _reissue(database, issuer, doctors, "first issuance", NOW, bulk_args)
            rate = first.issued / seconds
            lines.append(f"  first issuance: {first.issued:,} credentials in {seconds:.1f} s ({rate:,.0f}/s)")
            lines.append(cpu)
            later = NOW + dt.timedelta(hours=1)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        seconds, again, cpu = await _reissue(database, issuer, doctors, "changeover", later, bulk_args)
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(profile))
        lines.append(
            f"  changeover (reissue-all): {again.issued:,} issued, {again.revoked:,} revoked, status lists "
            f"re-signed, in {seconds:.1f} s ({again.issued / seconds:,.0f}/s); target: under 180 s"
        )
        lines.append(cpu)
        async with database.session() as session:
            total = await session.scalar(select(func.count()).select_from(Credential))
        lines.append(f"  credentials stored: {total:,}")
    finally:
        await database.dispose()
    return lines, doctors


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--doctors", type=int, default=80_000)
    parser.add_argument("--workers", type=int, default=2, help="signing processes (0: in the main process)")
    parser.add_argument("--database-url", help="fill this (empty) database instead of a fresh SQLite file")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the changeover here")
    parser.add_argument(
        "--keep", type=Path, help="keep the SQLite database here; if one is there, time a changeover on it"
    )
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="passport-changeover-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    reuse = args.keep is not None and (folder / "changeover.db").exists() and not args.database_url
    try:
        url = args.database_url or f"sqlite+aiosqlite:///{folder / 'changeover.db'}"
        if not reuse:
            upgrade(url)
        lines, doctors = asyncio.run(
            run(url, args.doctors, args.workers, folder / "keys", args.profile, reuse)
        )
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"changeover bench, {doctors:,} doctors x 4 credential types, {backend}, "
        f"{args.workers} worker processes"
    )
    print("\n".join(lines))
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    command = [
        "python",
        "bench/changeover.py",
        "--doctors",
        str(doctors),
        "--workers",
        str(args.workers),
    ]
    if args.database_url:
        command += ["--database-url", make_url(args.database_url).render_as_string(hide_password=True)]
    print(f"reproduce (from the repository root, in the project's venv): {shlex.join(command)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
