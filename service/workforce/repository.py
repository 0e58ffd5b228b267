"""Every SQL query of the workforce domain (SQLite and PostgreSQL alike)."""

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.functions import count

from service.db import Database
from service.workforce.models import Employment, Organisation, Person
from service.workforce.schemas import OrganisationRead

CHUNK: Final = 1000
"""Values per ``IN (...)`` list: far below SQLite's and asyncpg's limits on bound parameters."""

V = TypeVar("V")
M = TypeVar("M")


def _literal(values: list[Any]) -> BindParameter[Any]:
    """An ``IN`` list rendered as literals: PostgreSQL plans each lookup with the table as it is now.

    With bound parameters, asyncpg's prepared statements let PostgreSQL keep a generic plan made while
    the table was empty (a sequential scan); after a large import that plan made lookups 100x slower.
    Only validated codes, GMC numbers and UUIDs are ever passed here.
    """
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


async def _page(session: AsyncSession, stmt: Select[M], limit: int, offset: int) -> tuple[list[M], bool]:
    """Up to ``limit`` rows from ``offset`` and whether more follow."""
    rows = list((await session.scalars(stmt.limit(limit + 1).offset(offset))).all())
    return rows[:limit], len(rows) > limit


# ---------------------------------------------------------------- organisations


async def get_organisation(session: AsyncSession, code: str) -> Organisation | None:
    return await session.get(Organisation, code)


_ORGANISATIONS = Organisation.__table__.c
_ORGANISATION_FIELDS: Final = OrganisationRead.__struct_fields__
_ORGANISATION_BY_CODE: Final = select(*(_ORGANISATIONS[name] for name in _ORGANISATION_FIELDS)).where(
    _ORGANISATIONS.code == bindparam("code")
)
"""Built once: compiled once (SQLAlchemy's cache; on SQLite, ``Database.read``'s own), not per call."""


async def read_organisation(database: Database, code: str) -> OrganisationRead | None:
    """One organisation read alone, outside a transaction (``Database.read``, decision 0036)."""
    rows = await database.read(_ORGANISATION_BY_CODE, {"code": code})
    if not rows:
        return None
    return OrganisationRead(**dict(zip(_ORGANISATION_FIELDS, rows[0], strict=True)))


async def organisation_kinds(session: AsyncSession, codes: Iterable[str]) -> dict[str, str]:
    """``{code: kind}`` of those of ``codes`` that exist."""
    kinds: dict[str, str] = {}
    for batch in _chunks(sorted(set(codes))):
        result = await session.execute(
            select(Organisation.code, Organisation.kind).where(Organisation.code.in_(_literal(batch)))
        )
        kinds.update({code: kind for code, kind in result})
    return kinds


async def list_organisations(
    session: AsyncSession, *, kind: str | None, parent: str | None, limit: int, offset: int
) -> tuple[list[Organisation], bool]:
    stmt = select(Organisation).order_by(Organisation.code)
    if kind is not None:
        stmt = stmt.where(Organisation.kind == kind)
    if parent is not None:
        stmt = stmt.where(Organisation.parent_code == parent)
    return await _page(session, stmt, limit, offset)


async def add(session: AsyncSession, record: Organisation | Person | Employment) -> None:
    session.add(record)
    await session.flush()


async def insert_many(
    session: AsyncSession, model: type[Organisation | Person | Employment], rows: Sequence[dict[str, Any]]
) -> None:
    """One executemany-style INSERT for all ``rows`` (dicts of column values)."""
    if rows:
        await session.execute(insert(model), list(rows))


# ---------------------------------------------------------------- people


async def get_person(session: AsyncSession, person_id: uuid.UUID) -> Person | None:
    return await session.get(Person, person_id)


async def existing_person_ids(session: AsyncSession, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for batch in _chunks(set(ids)):
        found.update((await session.scalars(select(Person.id).where(Person.id.in_(_literal(batch))))).all())
    return found


async def people_by_gmc(session: AsyncSession, numbers: Iterable[str]) -> dict[str, uuid.UUID]:
    """``{gmc_number: person id}`` of those of ``numbers`` that are registered."""
    found: dict[str, uuid.UUID] = {}
    for batch in _chunks(sorted(set(numbers))):
        result = await session.execute(
            select(Person.gmc_number, Person.id).where(Person.gmc_number.in_(_literal(batch)))
        )
        found.update({number: person_id for number, person_id in result if number is not None})
    return found


def _employed_at(organisation: str) -> ColumnElement[bool]:
    return exists().where(Employment.person_id == Person.id, Employment.organisation_code == organisation)


async def has_employment_at(session: AsyncSession, person_id: uuid.UUID, organisation: str) -> bool:
    stmt = select(Employment.id).where(
        Employment.person_id == person_id, Employment.organisation_code == organisation
    )
    return await session.scalar(stmt.limit(1)) is not None


async def list_people(
    session: AsyncSession,
    *,
    gmc_number: str | None,
    employed_at: Sequence[str],
    grade: str | None,
    specialty: str | None,
    training_only: bool,
    limit: int,
    offset: int,
    name_words: Sequence[str] = (),
) -> tuple[list[Person], bool]:
    """People matching every filter; ``employed_at``: organisations they must have (had) employment at;
    ``name_words``: each must occur (any case) in the given or family name."""
    stmt = select(Person).order_by(Person.family_name, Person.given_name, Person.id)
    if gmc_number is not None:
        stmt = stmt.where(Person.gmc_number == gmc_number)
    for word in name_words:
        lowered = word.lower()
        stmt = stmt.where(
            or_(
                func.lower(Person.given_name).contains(lowered, autoescape=True),
                func.lower(Person.family_name).contains(lowered, autoescape=True),
            )
        )
    for organisation in employed_at:
        stmt = stmt.where(_employed_at(organisation))
    if grade is not None:
        stmt = stmt.where(Person.grade == grade)
    if specialty is not None:
        stmt = stmt.where(Person.specialty == specialty)
    if training_only:
        stmt = stmt.where(Person.grade != "other")
    return await _page(session, stmt, limit, offset)


# ---------------------------------------------------------------- employments


async def get_employment(session: AsyncSession, employment_id: uuid.UUID) -> Employment | None:
    return await session.get(Employment, employment_id)


async def employment_keys(
    session: AsyncSession, person_ids: Iterable[uuid.UUID]
) -> set[tuple[str, str, str, str]]:
    """``(person id, organisation, role, start date)`` of every employment of these people."""
    keys: set[tuple[str, str, str, str]] = set()
    columns = (Employment.person_id, Employment.organisation_code, Employment.role, Employment.start_date)
    for batch in _chunks(set(person_ids)):
        result = await session.execute(select(*columns).where(Employment.person_id.in_(_literal(batch))))
        keys.update((str(p), o, r, s.isoformat()) for p, o, r, s in result)
    return keys


async def list_employments(
    session: AsyncSession,
    *,
    organisations: Sequence[str],
    person_id: uuid.UUID | None,
    current_on: dt.date | None,
    training_only: bool,
    limit: int,
    offset: int,
) -> tuple[list[Employment], bool]:
    """Employments matching every filter; ``current_on``: those that started and had not ended that day."""
    stmt = select(Employment).order_by(Employment.start_date, Employment.id)
    for organisation in organisations:
        stmt = stmt.where(Employment.organisation_code == organisation)
    if person_id is not None:
        stmt = stmt.where(Employment.person_id == person_id)
    if current_on is not None:
        stmt = stmt.where(
            Employment.start_date <= current_on,
            or_(Employment.end_date.is_(None), Employment.end_date >= current_on),
        )
    if training_only:
        stmt = stmt.where(Employment.person_id.in_(select(Person.id).where(Person.grade != "other")))
    return await _page(session, stmt, limit, offset)


# ---------------------------------------------------------------- bulk reads for other domains


async def _column_rows(session: AsyncSession, stmt: Select[Any]) -> list[dict[str, Any]]:
    """The rows of ``stmt`` as ``{column: value}`` dicts (the column names read once, not per row)."""
    result = await session.execute(stmt)
    names = list(result.keys())
    return [dict(zip(names, row, strict=True)) for row in result]


async def people_rows(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[dict[str, Any]]:
    """Column values (not ORM objects: cheaper in bulk) of the people among ``ids``, in batches."""
    rows: list[dict[str, Any]] = []
    columns = [getattr(Person, c.key) for c in Person.__table__.columns]
    for batch in _chunks(sorted(set(ids))):
        rows += await _column_rows(session, select(*columns).where(Person.id.in_(_literal(batch))))
    return rows


async def employment_rows_of_people(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[dict[str, Any]]:
    """Column values of every employment of the people among ``ids``, by person and start date."""
    rows: list[dict[str, Any]] = []
    columns = [getattr(Employment, c.key) for c in Employment.__table__.columns]
    for batch in _chunks(sorted(set(ids))):
        stmt = select(*columns).where(Employment.person_id.in_(_literal(batch)))
        rows += await _column_rows(session, stmt.order_by(Employment.person_id, Employment.start_date))
    return rows


async def organisation_rows(session: AsyncSession, codes: Iterable[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    columns = [getattr(Organisation, c.key) for c in Organisation.__table__.columns]
    for batch in _chunks(sorted(set(codes))):
        rows += await _column_rows(session, select(*columns).where(Organisation.code.in_(_literal(batch))))
    return rows


async def headcounts(
    session: AsyncSession, organisations: Iterable[str], on: dt.date
) -> dict[tuple[str, str], int]:
    """``{(organisation, staff group): people}`` with an employment there current on ``on``."""
    found: dict[tuple[str, str], int] = {}
    people = count(Employment.person_id.distinct())
    for batch in _chunks(sorted(set(organisations))):
        stmt = (
            select(Employment.organisation_code, Employment.staff_group, people)
            .where(
                Employment.organisation_code.in_(_literal(batch)),
                Employment.start_date <= on,
                or_(Employment.end_date.is_(None), Employment.end_date >= on),
            )
            .group_by(Employment.organisation_code, Employment.staff_group)
        )
        found.update({(code, group): int(n) for code, group, n in await session.execute(stmt)})
    return found
