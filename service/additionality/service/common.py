"""Helpers shared by the additionality verbs: errors, who may see an offer, inserts that never 500."""

import uuid
from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import repository
from service.additionality.models import Offer
from service.auth import Principal, Role
from service.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from service.workforce.schemas import Issue

MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 100
READ_ALL: Final = frozenset({Role.ADMIN, Role.ANALYST, Role.COORDINATOR})
"""Roles that see every offer and result."""


def invalid(
    issues: Iterable[tuple[str, str]], detail: str = "The request has invalid fields."
) -> InvalidInput:
    return InvalidInput(detail, errors=[FieldError(field, reason) for field, reason in issues])


def body_errors(prefix: str, issues: Iterable[Issue]) -> list[tuple[str, str]]:
    return [(f"body.{prefix}{i.field}", i.reason) for i in issues]


def next_offset(offset: int, limit: int, more: bool) -> int | None:
    return offset + limit if more else None


def issuer_organisation(principal: Principal) -> str | None:
    """The organisation an issuer is limited to (None for the roles that are not limited)."""
    if principal.role is not Role.ISSUER:
        return None
    if principal.organisation is None:
        raise Forbidden("You may act only for your own organisation.")
    return principal.organisation


def may_see(principal: Principal, offer: Offer) -> bool:
    if principal.role in READ_ALL:
        return True
    return principal.role is Role.ISSUER and principal.organisation in (offer.site_code, offer.provider_code)


async def visible_offer(session: AsyncSession, principal: Principal, offer_id: uuid.UUID) -> Offer:
    offer = await repository.get_offer(session, offer_id)
    if offer is None or not may_see(principal, offer):
        raise NotFound(f"No offer {offer_id}.")
    return offer


async def insert_one(session: AsyncSession, record: Any) -> None:
    try:
        await repository.add(session, record)
    except IntegrityError:
        raise Conflict("The record conflicts with one written at the same time; try again.") from None


async def insert_all(session: AsyncSession, model: repository.Model, rows: list[dict[str, Any]]) -> None:
    try:
        await repository.insert_many(session, model, rows)
    except IntegrityError:
        raise Conflict(
            "The data conflicts with records written at the same time; nothing was written."
        ) from None
