"""Revoking 10,000 credentials at once and republishing the status lists they sit in.

Builds a fresh SQLite database (or fills an empty ``--database-url``) with ``--credentials``
credentials (default 320,000: 80,000 holders x 4 types, so 3 lists) whose entries were drawn at random
from status lists of 131,072 entries as issuance draws them, then times ``service.revoke_many`` of
``--revoke`` of them (default 10,000) and the commit: their state, their bits in every affected list,
every affected list re-compressed and re-signed. The credentials' documents are
placeholders: revocation never reads them.

    python bench/revoke.py [--credentials 320000] [--revoke 10000] [--database-url ...]
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
from pathlib import Path

from sqlalchemy import insert, make_url, select

from service import jws
from service.credentials import repository, service
from service.credentials.models import Credential, HolderKey, StatusListRow
from service.db import Database, make_engine, upgrade
from service.keys import KeyStore
from service.passport.encryption import DataKeyStore
from service.passport.status_list import CredentialStatus, StatusList, verify_token
from service.workforce.models import Person

NOW = dt.datetime(2027, 8, 4, 6, 0, tzinfo=dt.UTC)
PASSPHRASE = "bench-passphrase-not-secret"  # noqa: S105 - a throwaway keys folder
BASE = "https://passport.example.nhs.uk"


async def _fill(database: Database, issuer: service.Issuer, count: int) -> list[uuid.UUID]:
    holders = -(-count // 4)
    people = [uuid.uuid4() for _ in range(holders)]
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }
    async with database.session() as session:
        lists = service.TransactionLists(session, issuer, NOW)
        entries = await lists.allocate(count)
        await lists.publish()
        await session.execute(
            insert(Person),
            [
                {
                    "id": p,
                    "given_name": "Ada",
                    "family_name": "Okafor",
                    "gmc_number": None,
                    "staff_group": "medical",
                    "grade": "CT2",
                    "specialty": None,
                    "created_at": NOW,
                }
                for p in people
            ],
        )
        keys = [
            {
                "id": uuid.uuid4(),
                "person_id": p,
                "jwk": jwk,
                "thumbprint": jws.jwk_thumbprint(jwk) + str(n),
                "alg": "ES256",
                "registered_at": NOW,
                "replaced_at": None,
            }
            for n, p in enumerate(people)
        ]
        await session.execute(insert(HolderKey), keys)
        kinds = ("core_skills", "occupational_health", "training_placement", "identity_link")
        rows = []
        for n, (list_id, index) in enumerate(entries):
            person = n // 4
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "person_id": people[person],
                    "kind": kinds[n % 4],
                    "vct": f"{BASE}/vct/x/v1",
                    "alg": "ES256",
                    "kid": "bench",
                    "holder_key_id": keys[person]["id"],
                    "status_list_id": list_id,
                    "status_idx": index,
                    "issued_at": NOW,
                    "expires_at": NOW + dt.timedelta(days=365),
                    "refresh_on": None,
                    "state": "valid",
                    "state_reason": None,
                    "state_changed_at": None,
                    "superseded_by_id": None,
                    "origins": ["RAP"],
                    "claims_digest": "0" * 64,
                    "sd_jwt": "placeholder~",
                    "sealed": None,
                    "sealed_key_id": None,
                }
            )
        for start in range(0, len(rows), 5000):
            await repository.insert_credentials(session, rows[start : start + 5000])
        await session.commit()
    return [uuid.UUID(str(r["id"])) for r in rows]


async def run(url: str, count: int, revoke: int, keys_dir: Path) -> list[str]:
    KeyStore(keys_dir, PASSPHRASE).init(NOW)
    DataKeyStore(keys_dir, PASSPHRASE).init(NOW)
    keyring = KeyStore(keys_dir, PASSPHRASE).load(NOW)
    issuer = service.Issuer(
        keyring=keyring, data_keys=DataKeyStore(keys_dir, PASSPHRASE).load(), base_url=BASE
    )
    database = Database(make_engine(url, pool_size=2))
    lines: list[str] = []
    try:
        ids = await _fill(database, issuer, count)
        chosen = random.Random(0).sample(ids, revoke)
        started = time.perf_counter()
        async with database.session() as session:
            republished = await service.revoke_many(
                session, issuer, chosen, "bench", now=NOW + dt.timedelta(minutes=1)
            )
            await session.commit()
        seconds = time.perf_counter() - started
        lines.append(
            f"  revoke {revoke:,} of {count:,} credentials and republish {republished} status lists "
            f"(131,072 entries each): {seconds:.2f} s; target: under 5 s"
        )
        async with database.session() as session:
            row = (
                await session.execute(
                    select(Credential.status_list_id, Credential.status_idx).where(Credential.id == chosen[0])
                )
            ).one()
            listed = await session.get(StatusListRow, row.status_list_id)
            if listed is None:
                raise SystemExit("the revoked credential's list is missing")
            public: dict[str | None, jws.VerificationKey] = {
                k.kid: jws.VerificationKey(k.alg, k.private_key.public_key(), k.kid)
                for k in keyring.published
            }
            token = verify_token(
                listed.token,
                lambda h: public.get(h.get("kid")),
                uri=service.status_uri(BASE, listed.id),
                now=int(NOW.timestamp()) + 120,
            )
            stored = StatusList(listed.size, listed.bits, listed.statuses).status_of(row.status_idx)
            if token.status_list.status_of(row.status_idx) is not CredentialStatus.INVALID or (
                stored is not CredentialStatus.INVALID
            ):
                raise SystemExit("a revoked credential does not read 'invalid' in its list")
        lines.append("  checked: a revoked credential reads 'invalid' in its list's newly signed token")
    finally:
        await database.dispose()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--credentials", type=int, default=320_000)
    parser.add_argument("--revoke", type=int, default=10_000)
    parser.add_argument("--database-url", help="fill this (empty) database instead of a fresh SQLite file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="passport-revoke-bench-"))
    try:
        url = args.database_url or f"sqlite+aiosqlite:///{folder / 'revoke.db'}"
        upgrade(url)
        lines = asyncio.run(run(url, args.credentials, args.revoke, folder / "keys"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"revocation bench, {backend}")
    print("\n".join(lines))
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    command = [
        "python",
        "bench/revoke.py",
        "--credentials",
        str(args.credentials),
        "--revoke",
        str(args.revoke),
    ]
    if args.database_url:
        command += ["--database-url", make_url(args.database_url).render_as_string(hide_password=True)]
    print(f"reproduce (from the repository root, in the project's venv): {shlex.join(command)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
