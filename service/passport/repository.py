"""Every SQL query of the passport domain (SQLite and PostgreSQL alike)."""

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import BindParameter, Row, Select, and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.passport.models import (
    CompliancePolicy,
    CstfRenewalPeriod,
    OccupationalHealthRecord,
    Record,
    RecordChange,
)

CHUNK: Final = 1000
"""Values per ``IN (...)`` list."""
BATCH: Final = 2000
"""Rows per INSERT statement."""
_CHANGES_LOCK: Final = 0x5041_5243  # "PARC": serialises writers of the change feed on PostgreSQL

V = TypeVar("V")
M = TypeVar("M")


def _literal(values: list[Any]) -> BindParameter[Any]:
    """An ``IN`` list rendered as literals, so PostgreSQL plans each lookup for the table as it is (see
    ``service/workforce/repository.py``). Only UUIDs, codes and kinds we produced are passed here."""
    return bindparam("values", values, expanding=True, literal_execute=True)


def _chunks(values: Iterable[V], size: int = CHUNK) -> Iterator[list[V]]:
    batch: list[V] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _page(session: AsyncSession, stmt: Select[Any], limit: int, offset: int) -> tuple[list[Any], bool]:
    rows = list((await session.scalars(stmt.limit(limit + 1).offset(offset))).all())
    return rows[:limit], len(rows) > limit


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def lock_changes(session: AsyncSession) -> None:
    """Serialise writers of records until the transaction ends (PostgreSQL; SQLite has one writer).

    Held from before a writer reads the current records until it commits, it makes the change feed's
    ``seq`` follow commit order (a reader never skips a change committed late) and keeps two writers from
    both replacing the same current record.
    """
    if _is_postgres(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHANGES_LOCK})


# ---------------------------------------------------------------- renewal periods


async def renewal_periods(session: AsyncSession) -> list[CstfRenewalPeriod]:
    stmt = select(CstfRenewalPeriod).order_by(CstfRenewalPeriod.subject, CstfRenewalPeriod.level)
    return list((await session.scalars(stmt)).all())


async def set_renewal_period(
    session: AsyncSession, subject: str, level: int, months: int, now: dt.datetime, by: str
) -> None:
    row = await session.get(CstfRenewalPeriod, (subject, level))
    if row is None:
        session.add(
            CstfRenewalPeriod(
                subject=subject, level=level, renewal_months=months, updated_at=now, updated_by=by
            )
        )
    else:
        row.renewal_months, row.updated_at, row.updated_by = months, now, by
    await session.flush()


# ---------------------------------------------------------------- records


_FRESH: Final = {"populate_existing": True}
"""Records are changed by bulk UPDATEs that bypass the session: every read refreshes what it loads."""


async def get_record(session: AsyncSession, record_id: uuid.UUID) -> Record | None:
    return await session.get(Record, record_id, populate_existing=True)


async def records_by_ids(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Record]:
    found: list[Record] = []
    for batch in _chunks(set(ids)):
        stmt = select(Record).where(Record.id.in_(_literal(batch))).execution_options(**_FRESH)
        found.extend((await session.scalars(stmt)).all())
    return found


async def current_records(
    session: AsyncSession, person_ids: Iterable[uuid.UUID], kinds: Iterable[str]
) -> list[Record]:
    """The current records of these people, of these kinds."""
    kinds = sorted(set(kinds))
    found: list[Record] = []
    for batch in _chunks(set(person_ids)):
        stmt = (
            select(Record)
            .where(
                Record.person_id.in_(_literal(batch)),
                Record.kind.in_(bindparam("kinds", kinds, expanding=True, literal_execute=True)),
                Record.state == "current",
            )
            .execution_options(**_FRESH)
        )
        found.extend((await session.scalars(stmt)).all())
    return found


async def current_rows(
    session: AsyncSession, person_ids: Iterable[uuid.UUID], kinds: Iterable[str]
) -> list[Row[Any]]:
    """As :func:`current_records`, as Core rows: no ORM objects, for reading many records at once."""
    table = Record.metadata.tables[Record.__tablename__]
    kinds = sorted(set(kinds))
    found: list[Row[Any]] = []
    for batch in _chunks(set(person_ids)):
        stmt = select(*table.c).where(
            table.c.person_id.in_(_literal(batch)),
            table.c.kind.in_(bindparam("kinds", kinds, expanding=True, literal_execute=True)),
            table.c.state == "current",
        )
        found.extend((await session.execute(stmt)).all())
    return found


CLAIM_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "core_skills": (
        "subject",
        "level",
        "date_awarded",
        "renewal_months",
        "date_to",
        "learning_provider",
        "learning_method",
    ),
    "occupational_health": ("oh_key_id", "oh_sealed"),
    "training_placement": (
        "programme",
        "programme_start",
        "programme_end",
        "specialty",
        "grade",
        "post_number",
        "employing_body_code",
        "site_code",
        "start_date",
        "end_date",
    ),
    "identity_link": ("submitted_at", "given_names", "family_name", "birth_date", "gmc_number"),
}
"""The columns of each kind a credential states, after :data:`CLAIM_COMMON` (see :func:`claim_rows`)."""
CLAIM_COMMON: Final = (
    "id",
    "person_id",
    "lapses_on",
    "origin_organisation_code",
    "assurance_policy",
    "assurance_outcome",
    "verification_method",
    "last_refreshed_at",
)


async def claim_rows(
    session: AsyncSession, person_ids: Iterable[uuid.UUID], kind: str, on: dt.date
) -> list[Row[Any]]:
    """The records of ``kind`` of these people that a credential states on ``on`` (current, not lapsed:
    ``lapses_on`` empty or after ``on``), as Core rows of :data:`CLAIM_COMMON` then
    :data:`CLAIM_COLUMNS` ``[kind]``: only the columns the claims need, so no time goes into converting
    the others (one query per kind and chunk of people, on the index ``(person_id, kind, state)``)."""
    table = Record.metadata.tables[Record.__tablename__]
    columns = [table.c[name] for name in (*CLAIM_COMMON, *CLAIM_COLUMNS[kind])]
    found: list[Row[Any]] = []
    for batch in _chunks(set(person_ids)):
        stmt = select(*columns).where(
            table.c.person_id.in_(_literal(batch)),
            table.c.kind == kind,
            table.c.state == "current",
            or_(table.c.lapses_on.is_(None), table.c.lapses_on > on),
        )
        found.extend((await session.execute(stmt)).all())
    return found


async def insert_records(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT records (dicts of column values with ``kind``), one executemany per kind and batch.

    A Core INSERT on the table: the ORM's bulk path costs more than the database at demo sizes."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    table = Record.metadata.tables[Record.__tablename__]
    for group in by_kind.values():
        for start in range(0, len(group), BATCH):
            await session.execute(insert(table), group[start : start + BATCH])


async def update_records(
    session: AsyncSession, changes: Sequence[dict[str, Any]], model: type[Record] = Record
) -> None:
    """UPDATE records by id (each dict has ``id`` and the columns to set; all dicts the same columns).

    ``model`` must map every column set (a kind's own columns are mapped on its subclass only)."""
    for start in range(0, len(changes), BATCH):
        await session.execute(
            update(model).execution_options(synchronize_session=False), list(changes[start : start + BATCH])
        )


async def append_changes(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    table = RecordChange.metadata.tables[RecordChange.__tablename__]
    for start in range(0, len(rows), BATCH):
        await session.execute(insert(table), list(rows[start : start + BATCH]))


async def list_records(
    session: AsyncSession,
    *,
    origin: str | None,
    person_id: uuid.UUID | None,
    kind: str | None,
    state: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Record], bool]:
    stmt = select(Record).order_by(Record.submitted_at, Record.id).execution_options(**_FRESH)
    if origin is not None:
        stmt = stmt.where(Record.origin_organisation_code == origin)
    if person_id is not None:
        stmt = stmt.where(Record.person_id == person_id)
    if kind is not None:
        stmt = stmt.where(Record.kind == kind)
    if state is not None:
        stmt = stmt.where(Record.state == state)
    return await _page(session, stmt, limit, offset)


async def linked_records(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Record]:
    """Records that supersede, or are superseded by, any of ``ids``."""
    found: list[Record] = []
    for batch in _chunks(set(ids)):
        values = _literal(batch)
        stmt = select(Record).where(
            or_(Record.supersedes_id.in_(values), Record.superseded_by_id.in_(values))
        )
        found.extend((await session.scalars(stmt)).all())
    return found


async def replaced_by(session: AsyncSession, record_id: uuid.UUID) -> list[Record]:
    stmt = (
        select(Record)
        .where(Record.superseded_by_id == record_id, Record.state == "replaced")
        .execution_options(**_FRESH)
    )
    return list((await session.scalars(stmt)).all())


# ---------------------------------------------------------------- the change feed


async def last_change(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(RecordChange.seq))) or 0)


async def change_window(session: AsyncSession, after: int, limit: int) -> int | None:
    """The ``seq`` of the ``limit``-th change after ``after`` (or the last one), None when there are none."""
    upper = select(RecordChange.seq).where(RecordChange.seq > after).order_by(RecordChange.seq).limit(limit)
    found = await session.scalar(select(func.max(upper.subquery().c.seq)))
    return int(found) if found is not None else None


async def changed_pairs(session: AsyncSession, after: int, upto: int) -> list[tuple[uuid.UUID, str]]:
    """Distinct ``(person, kind)`` of the changes with ``after < seq <= upto``."""
    stmt = (
        select(RecordChange.person_id, RecordChange.kind)
        .where(RecordChange.seq > after, RecordChange.seq <= upto)
        .group_by(RecordChange.person_id, RecordChange.kind)
        .order_by(func.min(RecordChange.seq))
    )
    return [(person, kind) for person, kind in await session.execute(stmt)]


async def lapsing(
    session: AsyncSession,
    after: dt.date,
    through: dt.date,
    start: tuple[dt.date, uuid.UUID] | None,
    limit: int,
) -> list[tuple[uuid.UUID, uuid.UUID, str, dt.date]]:
    """Current records with ``after < lapses_on <= through``, ordered by (lapses_on, id), from ``start``
    (exclusive): ``(record id, person id, kind, lapses_on)``."""
    stmt = select(Record.id, Record.person_id, Record.kind, Record.lapses_on).where(
        Record.state == "current", Record.lapses_on > after, Record.lapses_on <= through
    )
    if start is not None:
        day, last_id = start
        stmt = stmt.where(or_(Record.lapses_on > day, and_(Record.lapses_on == day, Record.id > last_id)))
    stmt = stmt.order_by(Record.lapses_on, Record.id).limit(limit)
    return [(rid, pid, kind, day) for rid, pid, kind, day in await session.execute(stmt) if day is not None]


# ---------------------------------------------------------------- sealed values


async def sealed_not_under(session: AsyncSession, kid: str, limit: int) -> list[OccupationalHealthRecord]:
    """Up to ``limit`` occupational health records sealed under another key than ``kid``."""
    stmt = (
        select(OccupationalHealthRecord)
        .where(OccupationalHealthRecord.oh_key_id != kid)
        .order_by(OccupationalHealthRecord.id)
        .limit(limit)
        .execution_options(**_FRESH)
    )
    return list((await session.scalars(stmt)).all())


async def count_sealed_by_key(session: AsyncSession) -> dict[str, int]:
    stmt = select(OccupationalHealthRecord.oh_key_id, func.count()).group_by(
        OccupationalHealthRecord.oh_key_id
    )
    return {kid: int(n) for kid, n in await session.execute(stmt) if kid is not None}


# ---------------------------------------------------------------- compliance policies


async def latest_version(session: AsyncSession, organisation: str, name: str) -> int:
    stmt = select(func.max(CompliancePolicy.version)).where(
        CompliancePolicy.organisation_code == organisation, CompliancePolicy.name == name
    )
    return int(await session.scalar(stmt) or 0)


async def add_policy(session: AsyncSession, policy: CompliancePolicy) -> None:
    session.add(policy)
    await session.flush()


async def get_policy(session: AsyncSession, policy_id: uuid.UUID) -> CompliancePolicy | None:
    return await session.get(CompliancePolicy, policy_id)


async def latest_versions(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """The newest version number of each ``(organisation, name)``."""
    wanted = set(keys)
    if not wanted:
        return {}
    organisations = sorted({o for o, _ in wanted})
    stmt = (
        select(CompliancePolicy.organisation_code, CompliancePolicy.name, func.max(CompliancePolicy.version))
        .where(CompliancePolicy.organisation_code.in_(_literal(organisations)))
        .group_by(CompliancePolicy.organisation_code, CompliancePolicy.name)
    )
    return {(o, n): int(v) for o, n, v in await session.execute(stmt) if (o, n) in wanted}


async def list_policies(
    session: AsyncSession,
    *,
    organisation: str | None,
    name: str | None,
    all_versions: bool,
    limit: int,
    offset: int,
) -> tuple[list[CompliancePolicy], bool]:
    stmt = select(CompliancePolicy).order_by(
        CompliancePolicy.organisation_code, CompliancePolicy.name, CompliancePolicy.version.desc()
    )
    if organisation is not None:
        stmt = stmt.where(CompliancePolicy.organisation_code == organisation)
    if name is not None:
        stmt = stmt.where(CompliancePolicy.name == name)
    if not all_versions:
        newest = (
            select(
                CompliancePolicy.organisation_code.label("org"),
                CompliancePolicy.name.label("name"),
                func.max(CompliancePolicy.version).label("version"),
            )
            .group_by(CompliancePolicy.organisation_code, CompliancePolicy.name)
            .subquery()
        )
        stmt = stmt.join(
            newest,
            and_(
                CompliancePolicy.organisation_code == newest.c.org,
                CompliancePolicy.name == newest.c.name,
                CompliancePolicy.version == newest.c.version,
            ),
        )
    return await _page(session, stmt, limit, offset)
