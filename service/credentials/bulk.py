"""Re-issuing every credential at once (the August changeover) across worker processes.

The main process pages through the holders, draws status list entries for each batch (4 per holder,
one per credential type, from lists this run creates), and hands the batch to a worker. Each worker
(``ProcessPoolExecutor``, opened once with the database URL, the data keys and the signing key) reads
the batch's claims through ``service.passport.service.credentials_claims`` on its own connection, signs
the credentials and seals the occupational health ones, and returns the rows. The main process writes
each batch in one transaction: the new credentials, the old ones revoked (``superseded_by``), their
status lists re-signed, a notification per holder. So reading, building and signing run on every core
while the main process writes.

Lists created by a run are marked full until the run ends (so no other writer draws from them while
this run allocates in memory); then their true allocation is written and they are published. An entry
drawn for a type a holder has nothing to state is left allocated and valid: it is never given out.
"""

import asyncio
import datetime as dt
import gc
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncSession

from service.credentials import issuance, repository, service
from service.credentials.models import StatusListRow
from service.credentials.schemas import KINDS, IssueResult
from service.db import Database, make_engine
from service.passport import service as passport
from service.passport.encryption import DataKeyRing, DataKeyStore
from service.passport.status_list import (
    DEFAULT_BITS,
    IndexAllocator,
    Status,
    StatusList,
    StatusReference,
)

Entries = list[tuple[str, int]]
IN_FLIGHT: Final = 3


# ---------------------------------------------------------------- the worker process

_worker: dict[str, Any] = {}


def _init(
    url: str,
    keys_dir: str,
    passphrase: str | None,
    base_url: str,
    lifetime: int,
    der: bytes,
    kid: str,
    alg: str,
) -> None:
    key = serialization.load_der_private_key(der, password=None)
    loop = asyncio.new_event_loop()
    _worker.update(
        loop=loop,
        database=Database(make_engine(url, pool_size=1)),
        data_keys=DataKeyStore(Path(keys_dir), passphrase).load(),
        base_url=base_url,
        lifetime=lifetime,
        key=key,
        kid=kid,
        alg=alg,
        names={},
    )
    # Everything loaded so far (modules, keys, the engine) lives as long as the process: keep it out of
    # the cyclic collector's full passes (see _task).
    gc.freeze()


Stale = list[tuple[uuid.UUID, uuid.UUID, str, bool]]
"""(credential id, person id, kind, a wallet copy?) of live credentials a batch revokes besides those
its new credentials replace."""
Lifted = list[tuple[uuid.UUID, str]]
"""(person, kind) of revoked types a batch issues again (a new record is stated): their holds go."""
Built = tuple[list[dict[str, Any]], Stale, Lifted, int]
"""A batch built by a worker: its rows, stale credentials, lifted holds, and how many pairs a hold skipped."""


async def _build(people: list[uuid.UUID], entries: Entries, now: dt.datetime) -> Built:
    """The credential rows of a batch; ``entries[n * len(KINDS) + k]`` is the status entry of the ``k``-th
    type of the ``n``-th person. And the live credentials that no longer state the records (decision
    0040): every one of a type with nothing left to state; of those bound to a replaced key (OpenID4VCI
    wallet copies), the ones whose claims differ from the records' (their digest with their own key).
    Issuers' holds (decision 0046): a type its issuer revoked is skipped until a new record is stated
    (then its hold is lifted); a suspended type is issued suspended."""
    database: Database = _worker["database"]
    data_keys: DataKeyRing = _worker["data_keys"]
    base_url: str = _worker["base_url"]
    async with database.session(write=False) as session:
        keys = await repository.current_keys(session, people)
        bound = [p for p in people if p in keys]
        claims = await passport.credentials_claims(
            session,
            bound,
            list(KINDS),
            on=now.date(),
            base_url=base_url,
            keys=data_keys,
            names=_worker["names"],
        )
        stale = await _stale(session, bound, {p: keys[p].id for p in bound}, claims)
        holds = await repository.holds(session, bound)
    rows: list[dict[str, Any]] = []
    lifted: Lifted = []
    held = 0  # (person, type) pairs a revocation's hold skipped: IssueResult.held
    iat = int(now.timestamp())
    position = {person: n for n, person in enumerate(people)}
    for person in bound:
        holder = keys[person]
        base = position[person] * len(KINDS)
        for k, kind in enumerate(KINDS):
            claim_set = claims[person][kind]
            if claim_set is None:
                continue
            hold = holds.get((person, kind)) if holds else None
            if hold is not None and hold.state == "revoked":
                if service.hold_stands(hold, claim_set):
                    held += 1
                    continue  # revoked by its issuer: its entry stays allocated and valid, never given out
                lifted.append((person, kind))
                hold = None
            list_id, index = entries[base + k]
            expires = issuance.expiry(kind, now, claim_set.refresh_on, _worker["lifetime"])
            payload = issuance.payload(
                claim_set.claims,
                iss=base_url.rstrip("/"),
                vct=claim_set.vct,
                iat=iat,
                exp=int(expires.timestamp()),
                status=StatusReference(service.status_uri(base_url, list_id), index),
            )
            job = issuance.SignJob(payload, tuple(claim_set.disclosable), holder.jwk)
            text = issuance.sign_one(job, _worker["key"], _worker["kid"])
            credential_id = uuid.uuid4()
            row = service.credential_row(
                credential_id,
                person,
                kind,
                claim_set,
                alg=_worker["alg"],
                kid=_worker["kid"],
                holder_key_id=holder.id,
                digest=issuance.claims_digest(claim_set.claims, claim_set.vct, holder.thumbprint),
                issued_at=now,
                expires_at=expires,
                status=(list_id, index),
            )
            if hold is not None:
                service.held_row(row, hold, now)
            rows.append(row | service.stored(text, kind, credential_id, person, data_keys))
    return rows, stale, lifted, held


async def _stale(
    session: AsyncSession,
    people: list[uuid.UUID],
    registered: dict[uuid.UUID, uuid.UUID],
    claims: dict[uuid.UUID, dict[Any, Any]],
) -> Stale:
    stale: dict[uuid.UUID, Any] = {}
    for copy in await repository.live_copies(session, people, registered):
        found = claims[copy.person_id][copy.kind]
        digest = None if found is None else issuance.claims_digest(found.claims, found.vct, copy.thumbprint)
        if copy.claims_digest != digest:
            stale[copy.id] = (copy.id, copy.person_id, copy.kind, True)
    empty = [p for p in people if any(claims[p][k] is None for k in KINDS)]
    for entry in await repository.current_entries(session, empty, KINDS) if empty else []:
        if claims[entry.person_id][entry.kind] is None and entry.id not in stale:
            copy = entry.holder_key_id != registered.get(entry.person_id)
            stale[entry.id] = (entry.id, entry.person_id, entry.kind, copy)
    return list(stale.values())


def _task(people: list[uuid.UUID], entries: Entries, now: dt.datetime) -> Built:
    """One batch. The cyclic garbage collector is paused while it runs: a batch makes a few hundred
    thousand short-lived containers without cycles (rows, claims, disclosures), and the collector's
    passes over them took as long as building the claims; what cycles a batch leaves (the session's
    bookkeeping) are collected once at its end."""
    loop: asyncio.AbstractEventLoop = _worker["loop"]
    gc.disable()
    try:
        return loop.run_until_complete(_build(people, entries, now))
    finally:
        gc.enable()
        gc.collect()


# ---------------------------------------------------------------- the main process


class _RunLists:
    """Status lists made for this run; entries drawn in memory, written when the run ends."""

    def __init__(self) -> None:
        self.allocators: dict[str, IndexAllocator] = {}
        self.drawn: dict[str, list[int]] = {}
        self.current: str | None = None

    async def draw(
        self, session_factory: Callable[[], Any], issuer: service.Issuer, count: int, now: dt.datetime
    ) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        while len(found) < count:
            current = self.current
            allocator = self.allocators.get(current) if current else None
            if current is None or allocator is None or allocator.size - allocator.free >= service.FILL_LIMIT:
                current = self.current = await self._create(session_factory, issuer, now)
                allocator = self.allocators[current]
            take = min(count - len(found), service.FILL_LIMIT - (allocator.size - allocator.free))
            indexes = allocator.allocate_many(take)
            self.drawn.setdefault(current, []).extend(indexes)
            found += [(current, i) for i in indexes]
        return found

    async def _create(
        self, session_factory: Callable[[], Any], issuer: service.Issuer, now: dt.datetime
    ) -> str:
        row = StatusListRow(
            id=secrets.token_hex(8),
            bits=DEFAULT_BITS,
            size=service.LIST_SIZE,
            statuses=bytes(service.LIST_SIZE * DEFAULT_BITS // 8),
            allocated=bytes(service.LIST_SIZE // 8),
            allocated_count=service.LIST_SIZE,
            token="",
            etag="",
            published_at=now,
            created_at=now,
        )
        service.sign_list(row, StatusList(row.size, row.bits, row.statuses), issuer, now)
        async with session_factory() as session:
            session.add(row)
            await session.commit()
        self.allocators[row.id] = IndexAllocator(service.LIST_SIZE)
        return row.id

    async def finish(self, session: AsyncSession) -> None:
        """Write each run list's allocation (every entry drawn counts: none is given out again)."""
        for row in await repository.lists(session, list(self.allocators), lock=True):
            bitmap = bytearray(row.allocated)
            for index in self.drawn.get(row.id, ()):
                bitmap[index >> 3] |= 1 << (index & 7)
            row.allocated = bytes(bitmap)
            row.allocated_count = len(self.drawn.get(row.id, ()))


async def _write(
    session: AsyncSession,
    issuer: service.Issuer,
    rows: list[dict[str, Any]],
    stale: Stale,
    now: dt.datetime,
    reason: str,
    lifted: Lifted,
) -> tuple[int, int, int]:
    """One batch in one transaction: the new credentials (those under a suspension set suspended in their
    lists); every live credential of their type bound to the same (registered) key revoked,
    ``superseded_by`` the new one; the batch's ``stale`` credentials revoked (``superseded_by`` the new
    credential of their type, if any); the ``lifted`` holds deleted; lists re-signed; one notification
    each."""
    people = list(dict.fromkeys([*(r["person_id"] for r in rows), *(s[1] for s in stale)]))
    new = {(r["person_id"], r["kind"]): r for r in rows}
    gone = {s[0]: s[3] for s in stale}
    revoked: list[tuple[Any, uuid.UUID | None]] = []
    changed: dict[uuid.UUID, set[str]] = {}
    copies: dict[uuid.UUID, set[str]] = {}
    for entry in await repository.current_entries(session, people, KINDS):
        row = new.get((entry.person_id, entry.kind))
        if row is not None and entry.holder_key_id == row["holder_key_id"]:
            revoked.append((entry, row["id"]))
        elif entry.id in gone:
            revoked.append((entry, row["id"] if row is not None else None))
            (copies if gone[entry.id] else changed).setdefault(entry.person_id, set()).add(entry.kind)
    await repository.insert_credentials(session, rows)
    await repository.supersede(
        session,
        [
            {"b_id": p.id, "b_by": by, "b_reason": service.gone_reason(reason, by), "b_at": now}
            for p, by in revoked
        ],
    )
    lists = service.TransactionLists(session, issuer, now)
    await lists.set_status(((p.status_list_id, p.status_idx) for p, _ in revoked), Status.INVALID)
    suspended = [(r["status_list_id"], r["status_idx"]) for r in rows if r["state"] == "suspended"]
    if suspended:
        await lists.set_status(suspended, Status.SUSPENDED)
    await lists.publish()
    if lifted:
        await repository.lift_holds(session, lifted)
    for row in rows:
        changed.setdefault(row["person_id"], set()).add(row["kind"])
    notified = await service.notify(session, changed, reason, now, copies=copies, base_url=issuer.base)
    return len(rows), len(revoked), notified


async def reissue_all(
    database: Database,
    issuer: service.Issuer,
    *,
    workers: int,
    keys_dir: Path,
    passphrase: str | None,
    database_url: str,
    now: dt.datetime,
    batch: int = service.BATCH,
    reason: str = "the August changeover",
    progress: Callable[[int], None] | None = None,
) -> IssueResult:
    """Re-issue every credential of every holder with ``workers`` processes reading, building and signing."""
    key = issuer.key()
    der = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pool = ProcessPoolExecutor(
        workers,
        initializer=_init,
        initargs=(
            database_url,
            str(keys_dir),
            passphrase,
            issuer.base_url,
            issuer.lifetime_days,
            der,
            key.kid,
            key.alg,
        ),
    )
    loop = asyncio.get_running_loop()
    run_lists = _RunLists()
    issued = revoked = notified = held = 0
    async with database.session(write=True) as session:
        await service.start_over(session, now)
        await session.commit()
    pending: list[tuple[list[uuid.UUID], asyncio.Future[Built]]] = []

    async def drain(until: int) -> None:
        nonlocal issued, revoked, notified, held
        while len(pending) > until:
            people, future = pending.pop(0)
            rows, stale, lifted, skipped = await future
            async with database.session(write=True) as session:
                done = await _write(session, issuer, rows, stale, now, reason, lifted)
                await session.commit()
            issued, revoked, notified = issued + done[0], revoked + done[1], notified + done[2]
            held += skipped
            gc.collect(1)
            if progress is not None:
                progress(len(people))

    collecting = gc.isenabled()
    gc.disable()  # as in the workers (_task): the young generations are collected after each batch
    try:
        after: uuid.UUID | None = None
        while True:
            async with database.session(write=False) as session:
                people = await repository.holders(session, after, batch)
            if not people:
                break
            after = people[-1]
            entries = await run_lists.draw(
                lambda: database.session(write=True), issuer, len(people) * len(KINDS), now
            )
            pending.append((people, loop.run_in_executor(pool, _task, people, entries, now)))
            await drain(IN_FLIGHT - 1)
        await drain(0)
        async with database.session(write=True) as session:
            await run_lists.finish(session)
            await session.commit()
    finally:
        pool.shutdown(cancel_futures=True)
        if collecting:
            gc.enable()
    copies = await service.check_copy_holders(database.session, issuer, now=now, reason=reason)
    return service.add_results(
        IssueResult(issued=issued, revoked=revoked, notified=notified, held=held), copies
    )
