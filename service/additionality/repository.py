"""Every SQL query of the additionality domain (SQLite and PostgreSQL alike).

Lists of keys are looked up in batches of 1,000 rendered as literals, as in the workforce domain (a
generic plan made while a table was empty must not be kept by PostgreSQL). Only validated codes, dates
and UUIDs are ever passed to :func:`_literal`.
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import BindParameter, Select, bindparam, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.functions import count
from sqlalchemy.sql.functions import max as sql_max
from sqlalchemy.sql.functions import sum as sql_sum

from service.additionality.models import (
    Activity,
    Check,
    Offer,
    ParameterSet,
    RosterEntry,
    RuleResult,
    ShortageList,
)

CHUNK: Final = 1000
V = TypeVar("V")
Model = type[Offer | RosterEntry | Activity | ShortageList | ParameterSet | Check | RuleResult]


def _literal(values: list[Any]) -> BindParameter[Any]:
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


async def add(session: AsyncSession, record: Any) -> None:
    session.add(record)
    await session.flush()


async def insert_many(session: AsyncSession, model: Model, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` in batches; ``render_nulls`` keeps each batch one statement."""
    statement = insert(model).execution_options(render_nulls=True)
    for start in range(0, len(rows), 2000):
        await session.execute(statement, list(rows[start : start + 2000]))


# ---------------------------------------------------------------- offers and rosters


async def get_offer(session: AsyncSession, offer_id: uuid.UUID) -> Offer | None:
    return await session.get(Offer, offer_id)


async def offers_by_reference(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Offer]:
    """``{(site code, reference): offer}`` of those of ``keys`` that are recorded."""
    keys = set(keys)
    found: dict[tuple[str, str], Offer] = {}
    for batch in _chunks(sorted({site for site, _ in keys})):
        rows = await session.scalars(select(Offer).where(Offer.site_code.in_(_literal(batch))))
        found.update({(o.site_code, o.reference): o for o in rows if (o.site_code, o.reference) in keys})
    return found


async def roster(session: AsyncSession, offer_ids: Iterable[uuid.UUID]) -> list[Any]:
    """Rows ``(id, offer_id, person_id, sessions, start_date, end_date)`` of these offers' rosters."""
    rows: list[Any] = []
    columns = (
        RosterEntry.id,
        RosterEntry.offer_id,
        RosterEntry.person_id,
        RosterEntry.sessions,
        RosterEntry.start_date,
        RosterEntry.end_date,
    )
    for batch in _chunks(sorted(set(offer_ids))):
        stmt = select(*columns).where(RosterEntry.offer_id.in_(_literal(batch)))
        rows.extend(
            await session.execute(stmt.order_by(RosterEntry.offer_id, RosterEntry.start_date, RosterEntry.id))
        )
    return rows


def _overlapping(stmt: Select[Any], start: dt.date | None, end: dt.date | None) -> Select[Any]:
    if end is not None:
        stmt = stmt.where(Offer.start_date <= end)
    if start is not None:
        stmt = stmt.where(Offer.end_date >= start)
    return stmt


async def offers_overlapping(session: AsyncSession, start: dt.date, end: dt.date) -> list[Offer]:
    stmt = _overlapping(select(Offer), start, end).order_by(Offer.site_code, Offer.reference)
    return list((await session.scalars(stmt)).all())


async def list_offers(
    session: AsyncSession,
    *,
    start: dt.date | None,
    end: dt.date | None,
    site: str | None,
    provider: str | None,
    commissioner: str | None,
    organisation: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Offer], bool]:
    """Offers matching every filter; ``organisation``: only those of that site or provider."""
    stmt = _overlapping(select(Offer), start, end).order_by(
        Offer.start_date, Offer.site_code, Offer.reference
    )
    if site is not None:
        stmt = stmt.where(Offer.site_code == site)
    if provider is not None:
        stmt = stmt.where(Offer.provider_code == provider)
    if commissioner is not None:
        stmt = stmt.where(Offer.commissioner_code == commissioner)
    if organisation is not None:
        stmt = stmt.where(or_(Offer.site_code == organisation, Offer.provider_code == organisation))
    rows = list((await session.scalars(stmt.limit(limit + 1).offset(offset))).all())
    return rows[:limit], len(rows) > limit


async def roster_sizes(session: AsyncSession, offer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    sizes: dict[uuid.UUID, int] = {}
    for batch in _chunks(sorted(set(offer_ids))):
        stmt = (
            select(RosterEntry.offer_id, count())
            .where(RosterEntry.offer_id.in_(_literal(batch)))
            .group_by(RosterEntry.offer_id)
        )
        sizes.update({offer_id: int(n) for offer_id, n in await session.execute(stmt)})
    return sizes


# ---------------------------------------------------------------- activity


async def activity_ids(
    session: AsyncSession, keys: Iterable[tuple[str, str, str, dt.date]]
) -> dict[tuple[str, str, str, dt.date], uuid.UUID]:
    """``{(provider, commissioner, specialty, month): id}`` of those of ``keys`` already recorded."""
    keys = set(keys)
    if not keys:
        return {}
    first, last = min(k[3] for k in keys), max(k[3] for k in keys)
    found: dict[tuple[str, str, str, dt.date], uuid.UUID] = {}
    columns = (
        Activity.provider_code,
        Activity.commissioner_code,
        Activity.specialty,
        Activity.month,
        Activity.id,
    )
    for batch in _chunks(sorted({k[0] for k in keys})):
        stmt = select(*columns).where(
            Activity.provider_code.in_(_literal(batch)), Activity.month >= first, Activity.month <= last
        )
        for provider, commissioner, specialty, month, row_id in await session.execute(stmt):
            key = (provider, commissioner, specialty, month)
            if key in keys:
                found[key] = row_id
    return found


async def delete_activity(session: AsyncSession, ids: Iterable[uuid.UUID]) -> None:
    for batch in _chunks(sorted(set(ids))):
        await session.execute(delete(Activity).where(Activity.id.in_(_literal(batch))))


async def activity_totals(
    session: AsyncSession, commissioners: Iterable[str], first: dt.date, last: dt.date
) -> list[tuple[str, str, dt.date, str, int]]:
    """``(commissioner, specialty, month, sector, activity)`` summed over providers, months in range."""
    found: list[tuple[str, str, dt.date, str, int]] = []
    keys = (Activity.commissioner_code, Activity.specialty, Activity.month, Activity.sector)
    for batch in _chunks(sorted(set(commissioners))):
        stmt = (
            select(*keys, sql_sum(Activity.activity))
            .where(
                Activity.commissioner_code.in_(_literal(batch)),
                Activity.month >= first,
                Activity.month <= last,
            )
            .group_by(*keys)
        )
        found.extend((c, s, m, sector, int(total)) for c, s, m, sector, total in await session.execute(stmt))
    return found


# ---------------------------------------------------------------- versions


async def next_version(session: AsyncSession, model: type[ShortageList | ParameterSet]) -> int:
    highest = await session.scalar(select(sql_max(model.version)))
    return int(highest or 0) + 1


async def shortage_lists(session: AsyncSession) -> list[ShortageList]:
    return list((await session.scalars(select(ShortageList).order_by(ShortageList.version))).all())


async def get_shortage_list(session: AsyncSession, version: int) -> ShortageList | None:
    return await session.get(ShortageList, version)


async def parameter_sets(session: AsyncSession) -> list[ParameterSet]:
    return list((await session.scalars(select(ParameterSet).order_by(ParameterSet.version))).all())


async def get_parameter_set(session: AsyncSession, version: int) -> ParameterSet | None:
    return await session.get(ParameterSet, version)


async def current_parameter_set(session: AsyncSession) -> ParameterSet | None:
    stmt = select(ParameterSet).order_by(ParameterSet.version.desc()).limit(1)
    return (await session.scalars(stmt)).first()


# ---------------------------------------------------------------- checks


async def insert_checks(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[int]:
    """INSERT the check rows and return their ids, in the order of ``rows``."""
    ids: list[int] = []
    statement = insert(Check).returning(Check.id, sort_by_parameter_order=True)
    for start in range(0, len(rows), 500):
        ids.extend((await session.scalars(statement, list(rows[start : start + 500]))).all())
    return ids


async def get_check(session: AsyncSession, check_id: int) -> Check | None:
    return await session.get(Check, check_id)


async def checks_of_offer(session: AsyncSession, offer_id: uuid.UUID) -> list[Check]:
    stmt = select(Check).where(Check.offer_id == offer_id).order_by(Check.id.desc())
    return list((await session.scalars(stmt)).all())


async def rule_results(session: AsyncSession, check_ids: Iterable[int]) -> dict[int, list[RuleResult]]:
    found: dict[int, list[RuleResult]] = {}
    for batch in _chunks(sorted(set(check_ids))):
        rows = await session.scalars(select(RuleResult).where(RuleResult.check_id.in_(_literal(batch))))
        for row in rows:
            found.setdefault(row.check_id, []).append(row)
    return found


async def latest_checks(session: AsyncSession, offer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Check]:
    """The latest check (highest id) of each of these offers that has been checked."""
    found: dict[uuid.UUID, Check] = {}
    for batch in _chunks(sorted(set(offer_ids))):
        latest = (
            select(sql_max(Check.id)).where(Check.offer_id.in_(_literal(batch))).group_by(Check.offer_id)
        ).scalar_subquery()
        rows = await session.scalars(select(Check).where(Check.id.in_(latest)))
        found.update({c.offer_id: c for c in rows})
    return found


async def latest_verdicts(
    session: AsyncSession, offer_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, str]]:
    """``{offer id: (check id, verdict)}`` of the latest checks, without loading their inputs."""
    found: dict[uuid.UUID, tuple[int, str]] = {}
    for batch in _chunks(sorted(set(offer_ids))):
        latest = (
            select(sql_max(Check.id)).where(Check.offer_id.in_(_literal(batch))).group_by(Check.offer_id)
        ).scalar_subquery()
        rows = await session.execute(
            select(Check.offer_id, Check.id, Check.verdict).where(Check.id.in_(latest))
        )
        found.update({offer_id: (check_id, verdict) for offer_id, check_id, verdict in rows})
    return found
