"""Every SQL query of the credentials domain (SQLAlchemy Core: bulk reads, ``executemany`` writes)."""

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.credentials.models import (
    Credential,
    CredentialDocument,
    CredentialHold,
    DeviceAuthorization,
    HolderKey,
    HolderNonce,
    LifecycleCursor,
    Notification,
    StatusListRow,
)

CREDENTIALS: Table = Credential.__table__  # type: ignore[assignment]
NOTIFICATIONS: Table = Notification.__table__  # type: ignore[assignment]
DOCUMENTS: Table = CredentialDocument.__table__  # type: ignore[assignment]
DOCUMENT_FIELDS = ("sd_jwt", "sealed", "sealed_key_id")
C = CREDENTIALS.c
L = StatusListRow.__table__.c
CHUNK = 500
"""Ids per ``IN (...)`` list (well under SQLite's and asyncpg's parameter limits)."""


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _for_update(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql" if session.bind is not None else False


# ---------------------------------------------------------------- status lists


async def open_list(session: AsyncSession, below: int) -> StatusListRow | None:
    """The oldest list with fewer than ``below`` entries allocated, locked for this transaction."""
    query = (
        select(StatusListRow)
        .where(StatusListRow.allocated_count < below)
        .order_by(StatusListRow.created_at, StatusListRow.id)
        .limit(1)
    )
    if _for_update(session):
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def lists(session: AsyncSession, ids: Iterable[str], *, lock: bool = False) -> list[StatusListRow]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    query = select(StatusListRow).where(StatusListRow.id.in_(wanted)).order_by(StatusListRow.id)
    if lock and _for_update(session):
        query = query.with_for_update()
    return list((await session.scalars(query)).all())


async def list_token(session: AsyncSession, list_id: str) -> Any | None:
    query = select(L.id, L.token, L.etag, L.published_at).where(L.id == list_id)
    return (await session.execute(query)).first()


async def stale_lists(session: AsyncSession, published_before: dt.datetime) -> list[StatusListRow]:
    query = select(StatusListRow).where(StatusListRow.published_at < published_before).limit(100)
    return list((await session.scalars(query)).all())


# ---------------------------------------------------------------- credentials


async def current_credentials(
    session: AsyncSession, person_ids: Sequence[uuid.UUID], kinds: Iterable[str]
) -> list[Any]:
    """Credentials not superseded and not revoked of these people and kinds (every copy: the one bound to
    the registered key, OpenID4VCI batch copies, any bound to a key since replaced)."""
    found: list[Any] = []
    kinds = sorted(set(kinds))
    for chunk in _chunks(person_ids):
        query = select(
            C.id,
            C.person_id,
            C.kind,
            C.status_list_id,
            C.status_idx,
            C.claims_digest,
            C.expires_at,
            C.state,
            C.holder_key_id,
            C.issued_at,
        ).where(C.person_id.in_(chunk), C.kind.in_(kinds), C.superseded_by_id.is_(None), C.state != "revoked")
        found += list((await session.execute(query)).all())
    return found


async def current_entries(
    session: AsyncSession, person_ids: Sequence[uuid.UUID], kinds: Iterable[str]
) -> list[Any]:
    """As :func:`current_credentials`, only ``id``, ``person_id``, ``kind``, ``holder_key_id`` and the
    status entry (``status_list_id``, ``status_idx``): what superseding needs, without converting the rest."""
    found: list[Any] = []
    kinds = sorted(set(kinds))
    for chunk in _chunks(person_ids):
        query = select(C.id, C.person_id, C.kind, C.holder_key_id, C.status_list_id, C.status_idx).where(
            C.person_id.in_(chunk), C.kind.in_(kinds), C.superseded_by_id.is_(None), C.state != "revoked"
        )
        found += list((await session.execute(query)).all())
    return found


async def live_copies(
    session: AsyncSession, person_ids: Sequence[uuid.UUID], registered: dict[uuid.UUID, uuid.UUID]
) -> list[Any]:
    """Live credentials of these people bound to a replaced key (OpenID4VCI wallet keys are stored
    replaced) and not to their registered key (``registered``: person -> key id): ``id``, ``person_id``,
    ``kind``, ``claims_digest`` and the ``thumbprint`` of the key each is bound to. Most people have
    none: the query finds them through the index and returns nothing."""
    t = HolderKey.__table__.c
    found: list[Any] = []
    for chunk in _chunks(person_ids):
        query = (
            select(C.id, C.person_id, C.kind, C.claims_digest, C.holder_key_id, t.thumbprint)
            .join(HolderKey.__table__, t.id == C.holder_key_id)
            .where(
                C.person_id.in_(chunk),
                C.superseded_by_id.is_(None),
                C.state != "revoked",
                t.replaced_at.is_not(None),
            )
        )
        found += [
            row
            for row in (await session.execute(query)).all()
            if registered.get(row.person_id) != row.holder_key_id
        ]
    return found


async def key_thumbprints(session: AsyncSession, key_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    t = HolderKey.__table__.c
    wanted = sorted(set(key_ids))
    found: dict[uuid.UUID, str] = {}
    for chunk in _chunks(wanted):
        for row in (await session.execute(select(t.id, t.thumbprint).where(t.id.in_(chunk)))).all():
            found[row.id] = row.thumbprint
    return found


async def copy_holders(session: AsyncSession, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """People with live credentials and no registered key (only OpenID4VCI wallet copies), by id."""
    t = HolderKey.__table__.c
    registered = select(t.id).where(t.person_id == C.person_id, t.replaced_at.is_(None)).exists()
    query = (
        select(C.person_id)
        .where(C.superseded_by_id.is_(None), C.state != "revoked", ~registered)
        .group_by(C.person_id)
        .order_by(C.person_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(C.person_id > after)
    return [row.person_id for row in (await session.execute(query)).all()]


async def expiring(session: AsyncSession, before: dt.datetime, limit: int) -> list[tuple[uuid.UUID, str]]:
    """(person, type) of current credentials bound to a registered key expiring before ``before`` (a
    wallet's batch copy cannot be renewed: the wallet collects copies only with a new offer)."""
    t = HolderKey.__table__.c
    query = (
        select(C.person_id, C.kind)
        .join(HolderKey.__table__, t.id == C.holder_key_id)
        .where(
            C.superseded_by_id.is_(None), C.state != "revoked", C.expires_at < before, t.replaced_at.is_(None)
        )
        .limit(limit)
    )
    return [(row.person_id, row.kind) for row in (await session.execute(query)).all()]


async def insert_credentials(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert credentials; each row carries its document's ``sd_jwt``, ``sealed``, ``sealed_key_id``."""
    if not rows:
        return
    metadata = [{k: v for k, v in r.items() if k not in DOCUMENT_FIELDS} for r in rows]
    documents = [{"credential_id": r["id"], **{k: r[k] for k in DOCUMENT_FIELDS}} for r in rows]
    await session.execute(insert(CREDENTIALS), metadata)
    await session.execute(insert(DOCUMENTS), documents)


async def supersede(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """``rows``: ``b_id``, ``superseded_by_id``, ``state_reason``, ``state_changed_at`` (revokes each)."""
    if not rows:
        return
    statement = (
        update(CREDENTIALS)
        .where(C.id == bindparam("b_id"))
        .values(
            state="revoked",
            superseded_by_id=bindparam("b_by"),
            state_reason=bindparam("b_reason"),
            state_changed_at=bindparam("b_at"),
        )
    )
    connection = await session.connection()
    await connection.execute(statement, rows)


async def get_credential(
    session: AsyncSession, credential_id: uuid.UUID, *, lock: bool = False
) -> Credential | None:
    query = select(Credential).where(Credential.id == credential_id)
    if lock and _for_update(session):
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def credentials_of(session: AsyncSession, person_id: uuid.UUID) -> list[Credential]:
    query = (
        select(Credential)
        .where(Credential.person_id == person_id)
        .order_by(Credential.issued_at.desc(), Credential.id)
        .limit(500)
    )
    return list((await session.scalars(query)).all())


async def holder_current(session: AsyncSession, person_id: uuid.UUID) -> list[Any]:
    """The holder's current credentials with their documents: (Credential, CredentialDocument) rows, by
    kind, then the oldest first (a kind has several when wallets hold copies), the same order every time."""
    query = (
        select(Credential, CredentialDocument)
        .join(CredentialDocument, CredentialDocument.credential_id == Credential.id)
        .where(
            Credential.person_id == person_id,
            Credential.superseded_by_id.is_(None),
            Credential.state != "revoked",
        )
        .order_by(Credential.kind, Credential.issued_at, Credential.id)
    )
    return list((await session.execute(query)).all())


async def holder_every(session: AsyncSession, person_id: uuid.UUID, limit: int = 500) -> list[Any]:
    """Every credential of the holder, newest first, with its holder key's thumbprint and whether that key
    is still the registered one, and its document: (Credential, thumbprint, replaced_at, document) rows."""
    query = (
        select(Credential, HolderKey.thumbprint, HolderKey.replaced_at, CredentialDocument)
        .join(HolderKey, HolderKey.id == Credential.holder_key_id)
        .join(CredentialDocument, CredentialDocument.credential_id == Credential.id)
        .where(Credential.person_id == person_id)
        .order_by(Credential.issued_at.desc(), Credential.id)
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def holder_withdrawn(session: AsyncSession, person_id: uuid.UUID, limit: int = 500) -> list[Any]:
    """The holder's credentials that are no longer valid, latest change first, without their documents:
    (thumbprint, state, state_changed_at, superseded_by_id) rows."""
    query = (
        select(HolderKey.thumbprint, C.state, C.state_changed_at, C.superseded_by_id)
        .select_from(CREDENTIALS)
        .join(HolderKey, HolderKey.id == C.holder_key_id)
        .where(C.person_id == person_id, C.state != "valid")
        .order_by(func.coalesce(C.state_changed_at, C.issued_at).desc(), C.id)
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def revocable(session: AsyncSession, limit: int) -> list[Any]:
    """Valid current credentials (for the revocation bench)."""
    query = select(C.id).where(C.state == "valid", C.superseded_by_id.is_(None)).limit(limit)
    return list((await session.execute(query)).all())


async def set_states(
    session: AsyncSession, ids: Sequence[uuid.UUID], state: str, reason: str, at: dt.datetime
) -> list[Any]:
    """Set the state of many credentials; their (list, index) pairs come back for the status lists."""
    found: list[Any] = []
    for chunk in _chunks(ids):
        await session.execute(
            update(CREDENTIALS)
            .where(C.id.in_(chunk))
            .values(state=state, state_reason=reason, state_changed_at=at)
        )
        found += list(
            (await session.execute(select(C.status_list_id, C.status_idx).where(C.id.in_(chunk)))).all()
        )
    return found


async def count_credentials(session: AsyncSession) -> int:
    return int((await session.scalar(select(func.count()).select_from(CREDENTIALS))) or 0)


async def live_of(session: AsyncSession, person_id: uuid.UUID, kind: str) -> list[Credential]:
    """Every live credential (valid or suspended, not superseded) of one person and type, locked for this
    transaction: the registered key's and every wallet copy."""
    query = (
        select(Credential)
        .where(
            Credential.person_id == person_id,
            Credential.kind == kind,
            Credential.superseded_by_id.is_(None),
            Credential.state != "revoked",
        )
        .order_by(Credential.issued_at, Credential.id)
    )
    if _for_update(session):
        query = query.with_for_update()
    return list((await session.scalars(query)).all())


# ---------------------------------------------------------------- issuers' holds (decision 0046)

H = CredentialHold.__table__.c


async def holds(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> dict[tuple[uuid.UUID, str], Any]:
    """The holds on these people's credential types, by (person, type): ``state``, ``reason``,
    ``record_ids``. Most people have none: one primary-key range read per chunk that finds nothing."""
    found: dict[tuple[uuid.UUID, str], Any] = {}
    for chunk in _chunks(person_ids):
        query = select(H.person_id, H.kind, H.state, H.reason, H.record_ids).where(H.person_id.in_(chunk))
        for row in (await session.execute(query)).all():
            found[(row.person_id, row.kind)] = row
    return found


async def hold_of(
    session: AsyncSession, person_id: uuid.UUID, kind: str, *, lock: bool = False
) -> CredentialHold | None:
    query = select(CredentialHold).where(CredentialHold.person_id == person_id, CredentialHold.kind == kind)
    if lock and _for_update(session):
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def lift_holds(session: AsyncSession, pairs: Sequence[tuple[uuid.UUID, str]]) -> None:
    """Delete the holds on these (person, type) pairs (the audit keeps what was placed and lifted)."""
    for chunk in _chunks(list(pairs)):
        await session.execute(delete(CredentialHold).where(tuple_(H.person_id, H.kind).in_(chunk)))


# ---------------------------------------------------------------- holder keys and nonces


async def current_keys(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The newest key not replaced of each person: ``id``, ``jwk``, ``thumbprint``."""
    t = HolderKey.__table__.c
    found: dict[uuid.UUID, Any] = {}
    for chunk in _chunks(person_ids):
        query = (
            select(t.id, t.person_id, t.jwk, t.thumbprint)
            .where(t.person_id.in_(chunk), t.replaced_at.is_(None))
            .order_by(t.registered_at)
        )
        for row in (await session.execute(query)).all():
            found[row.person_id] = row
    return found


async def holders(session: AsyncSession, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """People with a current key, by id, after ``after``."""
    t = HolderKey.__table__.c
    query = select(t.person_id).where(t.replaced_at.is_(None)).order_by(t.person_id).limit(limit)
    if after is not None:
        query = query.where(t.person_id > after)
    return [row.person_id for row in (await session.execute(query)).all()]


async def count_holders(session: AsyncSession) -> int:
    t = HolderKey.__table__.c
    query = select(func.count(func.distinct(t.person_id))).where(t.replaced_at.is_(None))
    return int((await session.scalar(query)) or 0)


async def bound_thumbprints(session: AsyncSession, person_id: uuid.UUID) -> list[str]:
    """Thumbprints of every key a credential of the person was ever bound to (the registered key, keys
    since replaced, OpenID4VCI wallet keys), without any key another person holds too."""
    t = HolderKey.__table__.c
    mine = (
        select(t.thumbprint)
        .join(CREDENTIALS, C.holder_key_id == t.id)
        .where(C.person_id == person_id, t.person_id == person_id)
        .distinct()
    )
    shared = select(t.thumbprint).where(t.person_id != person_id, t.thumbprint.in_(mine.scalar_subquery()))
    query = mine.where(t.thumbprint.not_in(shared.scalar_subquery())).order_by(t.thumbprint)
    return [str(row.thumbprint) for row in (await session.execute(query)).all()]


async def key_of(session: AsyncSession, person_id: uuid.UUID, thumbprint: str) -> HolderKey | None:
    query = select(HolderKey).where(HolderKey.person_id == person_id, HolderKey.thumbprint == thumbprint)
    return (await session.scalars(query)).first()


async def replace_keys(
    session: AsyncSession, person_id: uuid.UUID, keep: uuid.UUID, at: dt.datetime
) -> list[uuid.UUID]:
    """Mark every other registered key of the person replaced; their ids."""
    condition = (HolderKey.person_id == person_id, HolderKey.id != keep, HolderKey.replaced_at.is_(None))
    ids = list((await session.scalars(select(HolderKey.id).where(*condition))).all())
    if ids:
        await session.execute(update(HolderKey).where(HolderKey.id.in_(ids)).values(replaced_at=at))
    return ids


async def use_nonce(session: AsyncSession, nonce: str, person_id: uuid.UUID, now: dt.datetime) -> str:
    """Mark the nonce used; ``ok``, ``unknown`` (or another person's), ``used`` or ``expired``."""
    found = await session.get(HolderNonce, nonce)
    if found is None or found.person_id != person_id:
        return "unknown"
    if found.used_at is not None:
        return "used"
    if found.expires_at <= now:
        return "expired"
    result = await session.execute(
        update(HolderNonce)
        .where(HolderNonce.nonce == nonce, HolderNonce.used_at.is_(None))
        .values(used_at=now)
    )
    return "ok" if getattr(result, "rowcount", 1) == 1 else "used"


# ---------------------------------------------------------------- notifications, lifecycle


async def add_notifications(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(NOTIFICATIONS), rows)


async def unsent(session: AsyncSession, limit: int) -> list[Notification]:
    query = (
        select(Notification)
        .where(Notification.sent_at.is_(None), Notification.attempts < 10)
        .order_by(Notification.created_at, Notification.id)
        .limit(limit)
    )
    if _for_update(session):
        query = query.with_for_update(skip_locked=True)
    return list((await session.scalars(query)).all())


async def cursor(session: AsyncSession, name: str) -> LifecycleCursor | None:
    query = select(LifecycleCursor).where(LifecycleCursor.name == name)
    if _for_update(session):
        query = query.with_for_update()
    return (await session.scalars(query)).first()


# ---------------------------------------------------------------- device authorizations


async def device_by_code(session: AsyncSession, code_hash: str) -> DeviceAuthorization | None:
    query = select(DeviceAuthorization).where(DeviceAuthorization.device_code_hash == code_hash)
    if _for_update(session):
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def device_by_user_code(session: AsyncSession, user_code: str) -> DeviceAuthorization | None:
    query = select(DeviceAuthorization).where(DeviceAuthorization.user_code == user_code)
    return (await session.scalars(query)).first()
