"""Queries of the OpenID4VCI tables (offers, access tokens, c_nonces, issuances)."""

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.oid4vc.models import AccessTokenRow, CredentialOfferRow, IssuanceRow, IssuerNonce


async def offer(session: AsyncSession, offer_id: str, *, lock: bool = False) -> CredentialOfferRow | None:
    query = select(CredentialOfferRow).where(CredentialOfferRow.id == offer_id)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def offer_by_code(session: AsyncSession, code_hash: str) -> CredentialOfferRow | None:
    query = select(CredentialOfferRow).where(CredentialOfferRow.code_hash == code_hash).with_for_update()
    return (await session.scalars(query)).first()


async def access_token(session: AsyncSession, token_hash: str) -> AccessTokenRow | None:
    return await session.get(AccessTokenRow, token_hash)


async def nonces(session: AsyncSession, values: Sequence[str]) -> list[IssuerNonce]:
    query = select(IssuerNonce).where(IssuerNonce.nonce.in_(list(values))).with_for_update()
    return list((await session.scalars(query)).all())


async def use_nonces(session: AsyncSession, values: Sequence[str], now: dt.datetime) -> int:
    """Mark the nonces used; how many were still unused (a concurrent request may have taken one)."""
    result = await session.execute(
        update(IssuerNonce)
        .where(IssuerNonce.nonce.in_(list(values)), IssuerNonce.used_at.is_(None))
        .values(used_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def issued(session: AsyncSession, token_hash: str, configuration_id: str) -> IssuanceRow | None:
    query = select(IssuanceRow).where(
        IssuanceRow.token_hash == token_hash, IssuanceRow.configuration_id == configuration_id
    )
    return (await session.scalars(query)).first()


async def issuance(session: AsyncSession, notification_id: str) -> IssuanceRow | None:
    return await session.get(IssuanceRow, notification_id)


async def issuances_of(session: AsyncSession, person_id: uuid.UUID, limit: int = 500) -> list[IssuanceRow]:
    query = (
        select(IssuanceRow)
        .where(IssuanceRow.person_id == person_id)
        .order_by(IssuanceRow.issued_at.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
