"""Compliance policies: named, versioned, per organisation and role."""

import datetime as dt
import uuid
from collections.abc import Sequence

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal
from service.db import new_id
from service.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
)
from service.passport import repository
from service.passport.models import (
    CompliancePolicy,
)
from service.passport.policy import check_rules
from service.passport.schemas import (
    PolicyCreate,
    PolicyPage,
    PolicyRead,
    Rule,
)
from service.passport.service.reading import next_offset
from service.workforce import service as workforce

# ---------------------------------------------------------------- compliance policies


def _policy_read(policy: CompliancePolicy, latest: int) -> PolicyRead:
    return PolicyRead(
        id=policy.id,
        organisation_code=policy.organisation_code,
        name=policy.name,
        version=policy.version,
        title=policy.title,
        role=policy.role,
        description=policy.description,
        rules=msgspec.convert(policy.rules, list[Rule]),
        created_at=policy.created_at,
        created_by=policy.created_by,
        latest=policy.version == latest,
    )


async def create_policy(
    session: AsyncSession, principal: Principal, data: PolicyCreate, now: dt.datetime
) -> PolicyRead:
    """Store a new version of the organisation's policy ``name`` (version 1 when new)."""
    organisation = data.organisation_code.upper()
    site_codes = [r.site_code.upper() for r in data.rules if getattr(r, "site_code", None)]  # type: ignore[union-attr]
    known = await workforce.find_organisations(session, [organisation, *site_codes])
    errors = [
        FieldError(f"body.{i.field}", i.reason) for i in check_rules(data.rules, known_sites=set(known))
    ]
    if organisation not in known:
        errors.insert(0, FieldError("body.organisation_code", f"no organisation has the code {organisation}"))
    if errors:
        raise InvalidInput("The policy is invalid; nothing was stored.", errors=errors)
    version = await repository.latest_version(session, organisation, data.name) + 1
    policy = CompliancePolicy(
        id=new_id(),
        organisation_code=organisation,
        name=data.name,
        version=version,
        title=data.title,
        role=data.role,
        description=data.description,
        rules=msgspec.to_builtins(data.rules),
        created_at=now,
        created_by=principal.subject,
    )
    try:
        await repository.add_policy(session, policy)
    except IntegrityError:
        raise Conflict("Another version of this policy was stored at the same time; try again.") from None
    return _policy_read(policy, version)


async def _reads(session: AsyncSession, policies: Sequence[CompliancePolicy]) -> list[PolicyRead]:
    latest = await repository.latest_versions(session, {(p.organisation_code, p.name) for p in policies})
    return [_policy_read(p, latest.get((p.organisation_code, p.name), p.version)) for p in policies]


async def get_policy(session: AsyncSession, policy_id: uuid.UUID) -> PolicyRead:
    policy = await repository.get_policy(session, policy_id)
    if policy is None:
        raise NotFound(f"No policy {policy_id}.")
    return (await _reads(session, [policy]))[0]


async def list_policies(
    session: AsyncSession,
    *,
    organisation: str | None,
    name: str | None,
    all_versions: bool,
    limit: int,
    offset: int,
) -> PolicyPage:
    rows, more = await repository.list_policies(
        session,
        organisation=organisation.upper() if organisation else None,
        name=name,
        all_versions=all_versions,
        limit=limit,
        offset=offset,
    )
    items = await _reads(session, rows)
    return PolicyPage(items=items, limit=limit, offset=offset, next_offset=next_offset(offset, limit, more))


async def latest_policy(session: AsyncSession, organisation: str, name: str) -> PolicyRead:
    """The newest version of a policy by organisation and name (for presentation requests)."""
    page = await list_policies(
        session, organisation=organisation, name=name, all_versions=False, limit=1, offset=0
    )
    if not page.items:
        raise NotFound(f"{organisation.upper()} has no policy named {name[:80]}.")
    return page.items[0]
