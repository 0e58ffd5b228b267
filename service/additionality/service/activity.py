"""Monthly activity by provider, commissioner and specialty: record (JSON or CSV), revise with replace."""

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from service.additionality import csv_import, repository
from service.additionality.csv_import import repeats
from service.additionality.models import Activity
from service.additionality.schemas import (
    ActivityBatch,
    ActivityRow,
    ImportResult,
    check_activity,
    month_issues,
    parse_month,
)
from service.additionality.service.common import body_errors, insert_all, invalid, issuer_organisation
from service.auth import Principal
from service.db import new_id
from service.errors import FieldError, Forbidden
from service.workforce import service as workforce
from service.workforce.csv_import import RowProblem
from service.workforce.schemas import Issue
from service.workforce.service import ImportRejected


async def _activity_problems(
    session: AsyncSession, principal: Principal, rows: Sequence[tuple[int, ActivityRow]], replace: bool
) -> tuple[
    list[tuple[int, Issue]], list[tuple[int, Issue]], list[tuple[int, ActivityRow, str]], list[uuid.UUID]
]:
    """``(problems, refused for the caller's organisation, rows with their sector, ids to replace)``."""
    codes = {c for _, r in rows for c in (r.provider_code, r.commissioner_code)}
    organisations = await workforce.organisations_by_codes(session, codes)
    problems: list[tuple[int, Issue]] = []
    foreign: list[tuple[int, Issue]] = []
    good = []
    own = issuer_organisation(principal)
    for position, row in rows:
        sector, issues = csv_import.activity_provider_issues(row, organisations)
        problems += [(position, i) for i in issues]
        if own is not None and not csv_import.may_record_activity(own, organisations.get(row.provider_code)):
            reason = f"you may record activity only for your own organisation ({own})"
            foreign.append((position, Issue("provider_code", reason)))
        if sector is not None and not issues:
            good.append((position, row, sector))
    existing = await repository.activity_ids(session, (csv_import.activity_key(r) for _, r, _ in good))
    if not replace:
        problems += [
            (
                position,
                Issue(
                    "month",
                    "activity for this provider, commissioner, specialty and month is already recorded; "
                    "send it with replace to revise it",
                ),
            )
            for position, row, _ in good
            if csv_import.activity_key(row) in existing
        ]
    return problems, foreign, good, list(existing.values())


async def _store_activity(
    session: AsyncSession,
    principal: Principal,
    good: list[tuple[int, ActivityRow, str]],
    replaced: list[uuid.UUID],
    now: dt.datetime,
) -> ImportResult:
    await repository.delete_activity(session, replaced)
    records = [
        {
            "id": new_id(),
            "provider_code": row.provider_code,
            "sector": sector,
            "commissioner_code": row.commissioner_code,
            "specialty": row.specialty,
            "month": parse_month(row.month),
            "activity": row.activity,
            "submitted_by": principal.subject,
            "created_at": now,
        }
        for _, row, sector in good
    ]
    await insert_all(session, Activity, records)
    return ImportResult(
        entity="activity", created=len(records) - len(replaced), replaced=len(replaced), ids=[]
    )


async def record_activity(
    session: AsyncSession, principal: Principal, batch: ActivityBatch, now: dt.datetime
) -> ImportResult:
    """Record activity rows sent as JSON, all or nothing."""
    rows, problems = [], []
    for index, raw in enumerate(batch.rows):
        row, _ = check_activity(raw)
        issues = month_issues(row.month, now.date())
        problems += body_errors(f"rows[{index}].", issues)
        if not issues:
            rows.append((index, row))
    keys = ((i, csv_import.activity_key(r)) for i, r in rows)
    problems += [
        (f"body.rows[{p.row}].{p.column}", p.reason)
        for p in repeats(keys, "month", "provider, commissioner, specialty and month", label="rows[{}]")
    ]
    if problems:
        raise invalid(problems, "The activity has invalid rows; nothing was written.")
    found, foreign, good, replaced = await _activity_problems(session, principal, rows, batch.replace)
    if foreign:
        raise Forbidden(
            "You may record activity only for your own organisation.",
            errors=[FieldError(f"body.rows[{p}].{i.field}", i.reason) for p, i in foreign],
        )
    if found:
        raise invalid(
            [(f"body.rows[{p}].{i.field}", i.reason) for p, i in found],
            "The activity has invalid rows; nothing was written.",
        )
    return await _store_activity(session, principal, good, replaced, now)


async def import_activity(
    session: AsyncSession, principal: Principal, payload: bytes, *, replace: bool, now: dt.datetime
) -> ImportResult:
    parsed = csv_import.parse_activity(payload, now.date())
    found, foreign, good, replaced = await _activity_problems(session, principal, parsed.rows, replace)
    if foreign:
        raise ImportRejected("activity", [RowProblem(p, i.field, i.reason) for p, i in foreign], status=403)
    problems = [*parsed.problems, *(RowProblem(p, i.field, i.reason) for p, i in found)]
    if problems:
        raise ImportRejected("activity", problems)
    return await _store_activity(session, principal, good, replaced, now)
