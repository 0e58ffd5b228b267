"""The CSTF reference table: renewal periods an admin can change."""

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal
from service.errors import (
    FieldError,
    InvalidInput,
    NotFound,
)
from service.passport import repository
from service.passport.cstf import SUBJECTS
from service.passport.schemas import (
    LevelPeriod,
    SubjectRead,
    SubjectUpdate,
)

# ---------------------------------------------------------------- CSTF reference table


async def list_subjects(session: AsyncSession) -> list[SubjectRead]:
    rows = await repository.renewal_periods(session)
    by_subject: dict[str, list[Any]] = {}
    for row in rows:
        by_subject.setdefault(row.subject, []).append(row)
    out = []
    for subject in SUBJECTS.values():
        stored = {r.level: r for r in by_subject.get(subject.code, [])}
        levels = [
            LevelPeriod(
                level=level, renewal_months=stored[level].renewal_months if level in stored else months
            )
            for level, months in zip(subject.levels, subject.default_renewal_months, strict=True)
        ]
        changed = [r for r in stored.values() if r.updated_at is not None]
        latest = max(changed, key=lambda r: r.updated_at, default=None)
        out.append(
            SubjectRead(
                subject=subject.code,
                name=subject.name,
                levels=levels,
                updated_at=latest.updated_at if latest else None,
                updated_by=latest.updated_by if latest else None,
            )
        )
    return out


async def update_subject(
    session: AsyncSession, principal: Principal, subject: str, data: SubjectUpdate, now: dt.datetime
) -> SubjectRead:
    """Set the renewal period of each level of a subject (for records submitted from now on)."""
    known = SUBJECTS.get(subject)
    if known is None:
        raise NotFound(f"No CSTF subject {subject[:60]}; the subjects are {', '.join(SUBJECTS)}.")
    errors = []
    seen: set[int] = set()
    for index, period in enumerate(data.levels):
        if period.level not in known.levels:
            errors.append(
                FieldError(f"body.levels[{index}].level", f"{known.name} has no level {period.level}")
            )
        elif period.level in seen:
            errors.append(FieldError(f"body.levels[{index}].level", "repeats a level"))
        seen.add(period.level)
    errors += [
        FieldError("body.levels", f"level {level} is missing: give the period of every level")
        for level in known.levels
        if level not in seen
    ]
    if errors:
        raise InvalidInput("The renewal periods are invalid; nothing was changed.", errors=errors)
    for period in data.levels:
        await repository.set_renewal_period(
            session, subject, period.level, period.renewal_months, now, principal.subject
        )
    return next(s for s in await list_subjects(session) if s.subject == subject)
