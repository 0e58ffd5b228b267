"""Every SQL query of the verification domain (SQLite and PostgreSQL)."""

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from typing import Any, Final, cast

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from service.verification.models import PresentationRequest, UsedNonce, Verification


async def add_request(session: AsyncSession, request: PresentationRequest) -> None:
    session.add(request)
    await session.flush()


async def get_request(session: AsyncSession, request_id: uuid.UUID) -> PresentationRequest | None:
    return await session.get(PresentationRequest, request_id)


VERIFICATIONS = cast(Table, Verification.__table__)
PRESENTATION_REQUESTS = cast(Table, PresentationRequest.__table__)


def claim_statement(ids: Collection[uuid.UUID], now: dt.datetime) -> Any:
    """Mark pending, unexpired requests answered, returning their ids (a request is answered once)."""
    return (
        update(PresentationRequest)
        .where(
            PresentationRequest.id.in_(list(ids)),
            PresentationRequest.state == "pending",
            PresentationRequest.expires_at > now,
        )
        .values(state="answered", answered_at=now)
        .returning(PresentationRequest.id)
    )


USED_NONCES = cast(Table, UsedNonce.__table__)
NONCE_INSERT: Final = {
    name: make(USED_NONCES).on_conflict_do_nothing().returning(USED_NONCES.c.nonce)
    for name, make in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
"""Per dialect: record nonces as used, returning those not used before. A Core statement built once,
executed with one parameter set per nonce (SQLAlchemy sends them as one multi-row INSERT and caches
its compiled form, where a ``values([...])`` statement was compiled afresh for every batch)."""


def nonce_rows(nonces: Sequence[tuple[str, dt.datetime]], now: dt.datetime) -> list[dict[str, Any]]:
    """The parameter sets of :data:`NONCE_INSERT` for ``nonces`` (each with its expiry)."""
    return [{"nonce": nonce, "used_at": now, "expires_at": until} for nonce, until in nonces]


def request_state_statement(request_id: uuid.UUID) -> Any:
    return select(PresentationRequest.state).where(PresentationRequest.id == request_id)


def prune_statement(now: dt.datetime) -> Any:
    """Forget nonces whose presentations would be refused as stale anyway."""
    return delete(UsedNonce).where(UsedNonce.expires_at < now)


async def verification_of_request(session: AsyncSession, request_id: uuid.UUID) -> Verification | None:
    return await session.scalar(select(Verification).where(Verification.request_id == request_id))


async def get_verification(session: AsyncSession, verification_id: uuid.UUID) -> Verification | None:
    return await session.get(Verification, verification_id)


async def holder_verifications(
    session: AsyncSession, holder_id: str, holder_keys: Collection[str], *, limit: int, offset: int
) -> tuple[Sequence[Verification], bool]:
    """Verifications naming the holder (by holder id or holder key), newest first; and whether more."""
    condition = Verification.holder_id == holder_id
    if holder_keys:
        condition = or_(condition, Verification.holder_jkt.in_(list(holder_keys)))
    rows = (
        await session.scalars(
            select(Verification)
            .where(condition)
            .order_by(Verification.created_at.desc(), Verification.id)
            .limit(limit + 1)
            .offset(offset)
        )
    ).all()
    return rows[:limit], len(rows) > limit


async def organisation_requests(
    session: AsyncSession,
    organisation: str,
    *,
    created_from: dt.datetime | None,
    created_before: dt.datetime | None,
    verdict: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[tuple[PresentationRequest, Verification | None]], bool]:
    """The organisation's requests, newest first, each with its verification (if answered); and whether
    there are more. ``created_from`` inclusive, ``created_before`` exclusive; ``verdict`` filters answered
    requests by their verdict."""
    stmt = (
        select(PresentationRequest, Verification)
        .outerjoin(Verification, Verification.request_id == PresentationRequest.id)
        .where(PresentationRequest.organisation_code == organisation)
    )
    if created_from is not None:
        stmt = stmt.where(PresentationRequest.created_at >= created_from)
    if created_before is not None:
        stmt = stmt.where(PresentationRequest.created_at < created_before)
    if verdict is not None:
        stmt = stmt.where(Verification.verdict == verdict)
    stmt = (
        stmt.order_by(PresentationRequest.created_at.desc(), PresentationRequest.id)
        .limit(limit + 1)
        .offset(offset)
    )
    rows = [(row[0], row[1]) for row in (await session.execute(stmt)).all()]
    return rows[:limit], len(rows) > limit
