"""What the credential lifecycle reads: the change feed, lapsing records, holders' claims; re-encryption."""

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.errors import (
    Unavailable,
)
from service.passport import repository
from service.passport.claims import ClaimSet, claims_from_rows
from service.passport.encryption import DataKeyRing
from service.passport.models import (
    OccupationalHealthRecord,
)
from service.passport.schemas import (
    AffectedCredential,
    ChangeBatch,
    LapseBatch,
    LapsedRecord,
    RecordKind,
    RecordRead,
)
from service.passport.service.reading import open_sealed, seal_fields, to_read
from service.workforce import service as workforce

# ---------------------------------------------------------------- the credential lifecycle


async def feed_position(session: AsyncSession) -> int:
    """The cursor of the newest change: start from here after re-issuing everything."""
    return await repository.last_change(session)


async def changes_since(session: AsyncSession, cursor: int = 0, *, limit: int = 10_000) -> ChangeBatch:
    """Which (person, credential type) pairs are affected by records added, corrected or withdrawn
    after ``cursor`` (0: from the beginning), up to ``limit`` changes at a time.

    Pass the returned ``cursor`` to the next call; ``more`` says whether changes remain. A pair may come
    again in a later batch (it changed again): re-issuing is idempotent. The feed never skips a change,
    because writers append to it in commit order (:func:`repository.lock_changes`).
    """
    upto = await repository.change_window(session, cursor, limit)
    if upto is None:
        return ChangeBatch(affected=[], cursor=cursor, more=False)
    pairs = await repository.changed_pairs(session, cursor, upto)
    more = await repository.change_window(session, upto, 1) is not None
    affected = [AffectedCredential(person_id=person, kind=kind) for person, kind in pairs]  # type: ignore[arg-type]
    return ChangeBatch(affected=affected, cursor=upto, more=more)


async def lapsing(
    session: AsyncSession,
    *,
    after: dt.date,
    through: dt.date,
    start: tuple[dt.date, uuid.UUID] | None = None,
    limit: int = 10_000,
) -> LapseBatch:
    """Current records that stop holding on a day in ``after < day <= through`` (date to reached, review
    date reached, placement ended the day before), with the (person, credential type) pairs they affect.

    Run it daily with ``after`` = the last day handled. Results come in (day, record id) order, ``limit``
    at a time; pass ``next`` back as ``start`` for the rest.
    """
    rows = await repository.lapsing(session, after, through, start, limit)
    items = [LapsedRecord(record_id=r, person_id=p, kind=k, lapses_on=d) for r, p, k, d in rows]  # type: ignore[arg-type]
    pairs = dict.fromkeys((i.person_id, i.kind) for i in items)
    affected = [AffectedCredential(person_id=p, kind=k) for p, k in pairs]
    following = (rows[-1][3], rows[-1][0]) if len(rows) == limit else None
    return LapseBatch(items=items, affected=affected, next=following)


async def holder_records(
    session: AsyncSession, person_ids: Iterable[uuid.UUID], kinds: Iterable[RecordKind], keys: DataKeyRing
) -> dict[uuid.UUID, list[RecordRead]]:
    """The current records of each person (occupational health opened), for their credentials."""
    found: dict[uuid.UUID, list[RecordRead]] = {}
    for record in await repository.current_rows(session, set(person_ids), set(kinds)):
        found.setdefault(record.person_id, []).append(to_read(record, keys, reveal=True))
    return found


async def credentials_claims(
    session: AsyncSession,
    person_ids: Sequence[uuid.UUID],
    kinds: Sequence[RecordKind],
    *,
    on: dt.date,
    base_url: str,
    keys: DataKeyRing,
    names: dict[str, str] | None = None,
) -> dict[uuid.UUID, dict[RecordKind, ClaimSet | None]]:
    """The claims of each of the ``kinds`` credentials of each person as of ``on`` (None: nothing to
    state, so no credential of that kind), reading their records once.

    For re-issuing in batches (e.g. 1,000 people at a time); ``names`` caches organisation names across
    calls: pass the same dict to each batch. Records are read as Core rows of only the columns a claim
    needs, already filtered to those holding on ``on``, and turned into claims directly
    (:func:`service.passport.claims.claims_from_rows`: the same claims as ``build_claims`` over
    :func:`holder_records`)."""
    names = {} if names is None else names
    wanted = list(dict.fromkeys(kinds))
    rows = {kind: await repository.claim_rows(session, person_ids, kind, on) for kind in wanted}
    missing = {r.origin_organisation_code for rs in rows.values() for r in rs}
    for row in rows.get("training_placement", ()):
        missing.update((row.employing_body_code, row.site_code))
    missing -= set(names)
    if missing:
        names.update({c: o.name for c, o in (await workforce.find_organisations(session, missing)).items()})
    out: dict[uuid.UUID, dict[RecordKind, ClaimSet | None]] = {
        person: dict.fromkeys(kinds) for person in person_ids
    }
    memo: dict[dt.datetime, str] = {}
    for kind in wanted:
        by_person: dict[uuid.UUID, list[Any]] = {}
        for row in rows[kind]:
            by_person.setdefault(row.person_id, []).append(row)
        for person, group in by_person.items():
            target = out.get(person)
            if target is None:
                continue
            opened = [open_sealed(r, keys) for r in group] if kind == "occupational_health" else None
            target[kind] = claims_from_rows(
                kind,
                person,
                group,
                base_url=base_url,
                organisation_names=names,
                opened=opened,
                refresh_memo=memo,
            )
    return out


async def credential_claims(
    session: AsyncSession,
    person_ids: Sequence[uuid.UUID],
    kind: RecordKind,
    *,
    on: dt.date,
    base_url: str,
    keys: DataKeyRing,
    names: dict[str, str] | None = None,
) -> dict[uuid.UUID, ClaimSet | None]:
    """The claims of the ``kind`` credential of each person as of ``on`` (None: nothing to state)."""
    many = await credentials_claims(
        session, person_ids, [kind], on=on, base_url=base_url, keys=keys, names=names
    )
    return {person: claims[kind] for person, claims in many.items()}


async def reencrypt(session: AsyncSession, keys: DataKeyRing, *, batch: int = 1000) -> int:
    """Re-seal up to ``batch`` occupational health records under the active data key; how many were."""
    active = keys.active_kid
    if active is None:
        raise Unavailable(
            "There is no active data key: run `passport keys init`.", code="data_key_unavailable"
        )
    records = await repository.sealed_not_under(session, active, batch)
    updates = []
    for record in records:
        kid, blob = seal_fields(open_sealed(record, keys), record.id, record.person_id, keys)
        updates.append({"id": record.id, "oh_key_id": kid, "oh_sealed": blob})
    await repository.update_records(session, updates, OccupationalHealthRecord)
    return len(updates)


async def sealed_by_key(session: AsyncSession) -> dict[str, int]:
    """How many occupational health records each data key seals."""
    return await repository.count_sealed_by_key(session)
