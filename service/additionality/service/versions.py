"""Versioned data of the rules: shortage lists (effective-dated) and parameter sets."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import repository, rules
from service.additionality.csv_import import repeats
from service.additionality.models import ParameterSet, ShortageList
from service.additionality.schemas import (
    FIRST_DATE,
    LAST_DATE,
    ParameterSetCreate,
    ParameterSetPage,
    ParameterSetRead,
    ShortageListCreate,
    ShortageListPage,
    ShortageListRead,
    ShortageRole,
    normalise_specialty,
)
from service.additionality.service.common import insert_one, invalid
from service.auth import Principal
from service.errors import InvalidInput, NotFound, ServiceError, field_errors_from_msgspec


def _shortage_read(record: ShortageList) -> ShortageListRead:
    return ShortageListRead(
        version=record.version,
        effective_from=record.effective_from,
        roles=msgspec.json.decode(record.roles, type=list[ShortageRole]),
        note=record.note,
        created_by=record.created_by,
        created_at=record.created_at,
    )


async def create_shortage_list(
    session: AsyncSession, principal: Principal, data: ShortageListCreate, now: dt.datetime
) -> ShortageListRead:
    """A new version of the shortage list; versions are never changed afterwards."""
    problems = []
    if not FIRST_DATE <= data.effective_from <= LAST_DATE:
        problems.append(("body.effective_from", f"must be between {FIRST_DATE} and {LAST_DATE}"))
    roles = [
        ShortageRole(
            staff_group=r.staff_group, specialty=normalise_specialty(r.specialty) if r.specialty else None
        )
        for r in data.roles
    ]
    problems += [
        (f"body.roles[{p.row}].specialty", p.reason)
        for p in repeats(
            enumerate((r.staff_group, r.specialty) for r in roles), "roles", "role", label="roles[{}]"
        )
    ]
    if problems:
        raise invalid(problems)
    ordered = sorted(roles, key=lambda r: (r.staff_group, r.specialty or ""))
    record = ShortageList(
        version=await repository.next_version(session, ShortageList),
        effective_from=data.effective_from,
        roles=rules.canonical(ordered).decode(),
        note=data.note,
        created_by=principal.subject,
        created_at=now,
    )
    await insert_one(session, record)
    return _shortage_read(record)


async def list_shortage_lists(session: AsyncSession) -> ShortageListPage:
    return ShortageListPage(items=[_shortage_read(r) for r in await repository.shortage_lists(session)])


async def get_shortage_list(session: AsyncSession, version: int) -> ShortageListRead:
    record = await repository.get_shortage_list(session, version)
    if record is None:
        raise NotFound(f"No shortage list version {version}.")
    return _shortage_read(record)


def shortage_list_on(lists: Sequence[ShortageList], day: dt.date) -> ShortageList | None:
    """The version in effect on ``day``: the latest ``effective_from`` on or before it; for the same day, the
    higher version (so a correction is published with the same date and replaces the list it corrects)."""
    in_effect = [s for s in lists if s.effective_from <= day]
    return max(in_effect, key=lambda s: (s.effective_from, s.version)) if in_effect else None


def parameters_of(record: ParameterSet) -> rules.Parameters:
    return msgspec.json.decode(record.parameters, type=rules.Parameters)


def _parameter_read(record: ParameterSet, current: int) -> ParameterSetRead:
    return ParameterSetRead(
        version=record.version,
        current=record.version == current,
        parameters=parameters_of(record),
        note=record.note,
        created_by=record.created_by,
        created_at=record.created_at,
    )


async def current_parameters(session: AsyncSession) -> ParameterSet:
    record = await repository.current_parameter_set(session)
    if record is None:  # the migration writes version 1
        raise ServiceError(
            "No parameter set is recorded: run the migrations.", status=503, code="unavailable"
        )
    return record


def _merge(base: Any, changes: Any) -> Any:
    """``changes`` laid over ``base``: objects are merged key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(changes, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in changes.items()}}
    return changes


async def create_parameter_set(
    session: AsyncSession, principal: Principal, data: ParameterSetCreate, now: dt.datetime
) -> ParameterSetRead:
    """A new parameter version: the current one with ``data.parameters`` laid over it."""
    current = await current_parameters(session)
    merged = _merge(msgspec.to_builtins(parameters_of(current)), data.parameters)
    try:
        parameters = msgspec.convert(merged, rules.Parameters)
    except msgspec.ValidationError as exc:
        raise InvalidInput(
            "The parameters are invalid; nothing was written.",
            errors=field_errors_from_msgspec(str(exc), root="body.parameters"),
        ) from None
    if issues := rules.parameter_issues(parameters):
        raise invalid([(f"body.parameters.{field}", reason) for field, reason in issues])
    if rules.canonical(parameters) == current.parameters.encode():
        raise invalid([("body.parameters", f"changes nothing: version {current.version} has these values")])
    record = ParameterSet(
        version=current.version + 1,
        parameters=rules.canonical(parameters).decode(),
        note=data.note,
        created_by=principal.subject,
        created_at=now,
    )
    await insert_one(session, record)
    return _parameter_read(record, record.version)


async def list_parameter_sets(session: AsyncSession) -> ParameterSetPage:
    records = await repository.parameter_sets(session)
    current = max((r.version for r in records), default=0)
    return ParameterSetPage(items=[_parameter_read(r, current) for r in reversed(records)])


async def get_parameter_set(session: AsyncSession, version: int) -> ParameterSetRead:
    record = await repository.get_parameter_set(session, version)
    if record is None:
        raise NotFound(f"No parameter version {version}.")
    current = await current_parameters(session)
    return _parameter_read(record, current.version)
