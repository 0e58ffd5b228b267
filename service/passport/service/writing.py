"""Writing records: checking submissions, storing them with what they replace, corrections,
withdrawals and CSV imports."""

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final, NamedTuple

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.db import new_id
from service.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    RowError,
    ServiceError,
)
from service.passport import csv_import, repository
from service.passport.checks import Issue, record_rules
from service.passport.cstf import SUBJECTS, add_months
from service.passport.encryption import DataKeyRing
from service.passport.models import (
    OccupationalHealthRecord,
    Record,
)
from service.passport.schemas import (
    MAX_BATCH,
    CoreSkillCreate,
    IdentityLinkCreate,
    OccupationalHealthCreate,
    RecordCorrection,
    RecordCreate,
    RecordImportResult,
    RecordKind,
    RecordRead,
    RecordWithdrawal,
    TrainingPlacementCreate,
    kind_of,
)
from service.passport.service.reading import (
    OhFields,
    has_role,
    open_sealed,
    reveals,
    seal_fields,
    to_read,
    visible_record,
)
from service.passport.supersession import Version, key_of, resolve
from service.workforce import service as workforce
from service.workforce.schemas import OrganisationRead, PersonRead

SITE_KINDS: Final = frozenset({"nhs_trust", "independent_site"})
EMPLOYER_KINDS: Final = frozenset({"nhs_trust", "independent_provider", "independent_site"})


class ImportRejected(ServiceError):
    """A CSV import refused as a whole; ``rows`` lists every problem (rendered as problem details)."""

    status = 422
    code = "import_rejected"
    title = "Import rejected"

    def __init__(self, kind: str, problems: Iterable[RowError], *, status: int = 422) -> None:
        self.rows = sorted(problems, key=lambda p: (p.row, p.column or "", p.reason))
        lines = len({p.row for p in self.rows})
        counts = f"{len(self.rows)} problem(s) in {lines} row(s)"
        super().__init__(f"The {kind} file was not imported: {counts}. Nothing was written.", status=status)
        if status == 403:
            self.code, self.title = "forbidden", "Forbidden"


class Problem(NamedTuple):
    """A problem of the ``index``-th record of a submission."""

    position: int
    field: str
    reason: str


class Prepared(NamedTuple):
    """A checked record with what the database told about it."""

    position: int
    data: RecordCreate
    person: PersonRead
    origin: str
    renewal_months: int | None


# ---------------------------------------------------------------- checking submissions


def _rule_problems(records: Sequence[RecordCreate], now: dt.datetime) -> list[Problem]:
    today = now.date()
    return [
        Problem(index, issue.field, issue.reason)
        for index, data in enumerate(records)
        for issue in record_rules(kind_of(data), msgspec.structs.asdict(data), today=today, now=now)
    ]


def origin_problems(records: Sequence[RecordCreate], principal: Principal) -> list[Problem]:
    """Records naming another origin than the caller's organisation (only issuers submit)."""
    own = principal.organisation
    return [
        Problem(
            index, "origin_organisation_code", f"you may submit records only for your organisation ({own})"
        )
        for index, data in enumerate(records)
        if data.origin_organisation_code is not None and data.origin_organisation_code.upper() != own
    ]


def _person_of(
    data: RecordCreate, by_id: dict[uuid.UUID, PersonRead], by_gmc: dict[str, PersonRead]
) -> tuple[PersonRead | None, Issue | None]:
    if data.person_id is not None:
        person = by_id.get(data.person_id)
        if person is None:
            return None, Issue("person_id", f"no registered person has the id {data.person_id}")
        return person, None
    person = by_gmc.get(data.gmc_number or "")
    if person is None:
        return None, Issue("gmc_number", f"no registered person has the GMC number {data.gmc_number}")
    return person, None


def _organisation_issues(data: RecordCreate, organisations: dict[str, OrganisationRead]) -> list[Issue]:
    if not isinstance(data, TrainingPlacementCreate):
        return []
    issues = []
    for field, code, kinds, what in (
        (
            "employing_body_code",
            data.employing_body_code,
            EMPLOYER_KINDS,
            "an NHS trust or independent provider",
        ),
        ("site_code", data.site_code, SITE_KINDS, "an NHS trust or independent site"),
    ):
        found = organisations.get(code.upper())
        if found is None:
            issues.append(Issue(field, f"no organisation has the code {code.upper()}"))
        elif found.kind not in kinds:
            issues.append(
                Issue(field, f"must be {what}, but {found.code} is a {found.kind.replace('_', ' ')}")
            )
    return issues


async def _renewal_table(session: AsyncSession) -> dict[tuple[str, int], int]:
    table = {
        (s.code, level): months
        for s in SUBJECTS.values()
        for level, months in zip(s.levels, s.default_renewal_months, strict=True)
    }
    table.update({(p.subject, p.level): p.renewal_months for p in await repository.renewal_periods(session)})
    return table


async def prepare(
    session: AsyncSession,
    principal: Principal,
    records: Sequence[RecordCreate],
    now: dt.datetime,
    *,
    rules_checked: bool = False,
) -> tuple[list[Prepared], list[Problem]]:
    """Check every record against every rule (unless ``rules_checked``) and reference; the records that
    pass and every problem."""
    problems = [] if rules_checked else _rule_problems(records, now)
    by_id, by_gmc = await workforce.find_people(
        session,
        ids=[r.person_id for r in records if r.person_id is not None],
        gmc_numbers=[r.gmc_number for r in records if r.gmc_number is not None and r.person_id is None],
    )
    codes = [
        c
        for r in records
        if isinstance(r, TrainingPlacementCreate)
        for c in (r.employing_body_code, r.site_code)
    ]
    organisations = await workforce.find_organisations(session, codes)
    periods = await _renewal_table(session)
    prepared: list[Prepared] = []
    bad = {p.position for p in problems}
    for index, data in enumerate(records):
        person, person_issue = _person_of(data, by_id, by_gmc)
        issues = ([person_issue] if person_issue else []) + _organisation_issues(data, organisations)
        problems += [Problem(index, i.field, i.reason) for i in issues]
        if issues or index in bad or person is None:
            continue
        months = periods.get((data.subject, data.level)) if isinstance(data, CoreSkillCreate) else None
        prepared.append(Prepared(index, data, person, principal.organisation or "", months))
    return prepared, sorted(problems)


# ---------------------------------------------------------------- storing


def _columns(p: Prepared) -> tuple[dict[str, Any], OhFields | None]:
    """The kind's own columns of a prepared record (occupational health: the fields to seal)."""
    d = p.data
    if isinstance(d, CoreSkillCreate):
        months = p.renewal_months or 12
        return {
            "subject": d.subject,
            "level": d.level,
            "date_awarded": d.date_awarded,
            "renewal_months": months,
            "date_to": d.date_to or add_months(d.date_awarded, months),
            "learning_provider": d.learning_provider,
            "learning_method": d.learning_method,
        }, None
    if isinstance(d, OccupationalHealthCreate):
        return {}, OhFields(
            item=d.item, outcome=d.outcome, assessed_on=d.assessed_on, review_date=d.review_date
        )
    if isinstance(d, TrainingPlacementCreate):
        return {
            "programme": d.programme,
            "programme_start": d.programme_start,
            "programme_end": d.programme_end,
            "specialty": d.specialty,
            "grade": d.grade,
            "post_number": d.post_number.upper() if d.post_number else None,
            "employing_body_code": d.employing_body_code.upper(),
            "site_code": d.site_code.upper(),
            "start_date": d.start_date,
            "end_date": d.end_date,
        }, None
    if not isinstance(d, IdentityLinkCreate):  # pragma: no cover - the union has four members
        raise TypeError(type(d).__name__)
    return {
        "given_names": d.given_names,
        "family_name": d.family_name,
        "birth_date": d.birth_date,
        "gmc_number": p.person.gmc_number,
    }, None


def _lapses_on(kind: str, columns: dict[str, Any], sealed: OhFields | None) -> dt.date | None:
    if kind == "core_skills":
        lapse: dt.date = columns["date_to"]
        return lapse
    if kind == "occupational_health":
        return sealed.review_date if sealed is not None else None
    if kind == "training_placement":
        end: dt.date = columns["end_date"]
        return end + dt.timedelta(days=1)
    return None


def _version(record: Record, keys: DataKeyRing) -> Version:
    if isinstance(record, OccupationalHealthRecord):
        fields = open_sealed(record, keys)
        return Version(record.id, record.person_id, record.kind, fields.item, fields.assessed_on)
    return Version(record.id, record.person_id, record.kind, record.record_key, record.effective_on)


class _Row(NamedTuple):
    values: dict[str, Any]
    version: Version


def _row(p: Prepared, principal: Principal, now: dt.datetime, keys: DataKeyRing) -> _Row:
    kind = kind_of(p.data)
    record_id = new_id()
    columns, sealed = _columns(p)
    if sealed is not None:
        key, effective = key_of(kind, msgspec.structs.asdict(sealed))
        columns["oh_key_id"], columns["oh_sealed"] = seal_fields(sealed, record_id, p.person.id, keys)
        stored_key, stored_effective = None, None
    else:
        key, effective = key_of(kind, columns)
        stored_key, stored_effective = key, effective
    values = {
        "id": record_id,
        "kind": kind,
        "person_id": p.person.id,
        "state": "current",
        "supersedes_id": None,
        "superseded_by_id": None,
        "change_reason": None,
        "record_key": stored_key,
        "effective_on": stored_effective,
        "lapses_on": _lapses_on(kind, columns, sealed),
        "origin_organisation_code": p.origin,
        "assurance_policy": p.data.assurance_policy,
        "assurance_outcome": p.data.assurance_outcome,
        "verification_method": p.data.verification_method,
        "last_refreshed_at": p.data.last_refreshed_at or now,
        "submitted_at": now,
        "submitted_by": principal.subject,
        **columns,
    }
    return _Row(values, Version(record_id, p.person.id, kind, key, effective))


async def _store(
    session: AsyncSession,
    principal: Principal,
    prepared: Sequence[Prepared],
    *,
    now: dt.datetime,
    keys: DataKeyRing,
    corrects: tuple[Record, str] | None = None,
) -> list[uuid.UUID]:
    """Write checked records, replacing what they replace; the caller holds the changes lock."""
    rows = [_row(p, principal, now, keys) for p in prepared]
    people = {r.version.person_id for r in rows}
    kinds = {r.version.kind for r in rows}
    existing = [
        _version(record, keys)
        for record in await repository.current_records(session, people, kinds)
        if corrects is None or record.id != corrects[0].id
    ]
    resolution = resolve(existing, [r.version for r in rows])
    updates: list[dict[str, Any]] = []
    for row in rows:
        placed = resolution.incoming[row.version.id]
        row.values["state"], row.values["supersedes_id"] = placed.state, placed.supersedes_id
        if placed.superseded_by_id is not None:
            updates.append(
                {
                    "id": row.version.id,
                    "state": "replaced",
                    "superseded_by_id": placed.superseded_by_id,
                    "change_reason": None,
                }
            )
    updates += [
        {"id": old, "state": "replaced", "superseded_by_id": new, "change_reason": None}
        for old, new in resolution.replaced.items()
    ]
    if corrects is not None:
        corrected, reason = corrects
        rows[0].values["supersedes_id"] = corrected.id
        updates.append(
            {
                "id": corrected.id,
                "state": "corrected",
                "superseded_by_id": rows[0].version.id,
                "change_reason": reason,
            }
        )
    try:
        await repository.insert_records(session, [r.values for r in rows])
        await repository.update_records(session, updates)
    except IntegrityError:
        raise Conflict(
            "The records conflict with records written at the same time; nothing was written."
        ) from None
    change = "corrected" if corrects is not None else "added"
    await repository.append_changes(
        session,
        [
            {
                "person_id": r.version.person_id,
                "kind": r.version.kind,
                "record_id": r.version.id,
                "change": change,
                "at": now,
            }
            for r in rows
        ],
    )
    return [r.version.id for r in rows]


def _field(prefix: str, problem: Problem, single: bool) -> FieldError:
    where = prefix if single else f"{prefix}[{problem.position}]"
    return FieldError(f"{where}.{problem.field}", problem.reason)


async def _read_back(
    session: AsyncSession, principal: Principal, ids: Sequence[uuid.UUID], keys: DataKeyRing
) -> list[RecordRead]:
    by_id = {r.id: r for r in await repository.records_by_ids(session, ids)}
    return [to_read(by_id[i], keys, reveal=reveals(principal, by_id[i])) for i in ids]


async def submit(
    session: AsyncSession,
    principal: Principal,
    records: Sequence[RecordCreate],
    *,
    now: dt.datetime,
    keys: DataKeyRing,
    single: bool = False,
) -> list[RecordRead]:
    """Store records (all or none) as the caller's organisation; errors name ``body[i].field``."""
    if len(records) > MAX_BATCH:
        raise InvalidInput(
            f"A batch holds at most {MAX_BATCH} records; send more as several batches or as a CSV import.",
            errors=[FieldError("body", f"at most {MAX_BATCH} records")],
        )
    if not records:
        raise InvalidInput("The batch is empty.", errors=[FieldError("body", "give at least one record")])
    if forbidden := origin_problems(records, principal):
        raise Forbidden(
            "You may submit records only for your own organisation.",
            errors=[_field("body", p, single) for p in forbidden],
        )
    await repository.lock_changes(session)
    prepared, problems = await prepare(session, principal, records, now)
    if problems:
        raise InvalidInput(
            "The request has invalid records; nothing was stored.",
            errors=[_field("body", p, single) for p in problems],
        )
    ids = await _store(session, principal, prepared, now=now, keys=keys)
    return await _read_back(session, principal, ids, keys)


async def import_records(
    session: AsyncSession,
    principal: Principal,
    kind: RecordKind,
    payload: bytes,
    *,
    now: dt.datetime,
    keys: DataKeyRing,
) -> RecordImportResult:
    """A CSV file of records of one kind, all or nothing, with a report of every problem of every row."""
    parsed = csv_import.parse(payload, kind, now)
    lines = [line for line, _ in parsed.rows]
    records = [record for _, record in parsed.rows]
    if forbidden := origin_problems(records, principal):
        raise ImportRejected(
            kind, [RowError(lines[p.position], p.field, p.reason) for p in forbidden], status=403
        )
    await repository.lock_changes(session)
    prepared, problems = await prepare(session, principal, records, now, rules_checked=True)
    rows = [RowError(p.row, p.column, p.reason) for p in parsed.problems]
    rows += [RowError(lines[p.position], p.field, p.reason) for p in problems]
    if rows:
        raise ImportRejected(kind, rows)
    if not prepared:
        raise ImportRejected(kind, [RowError(csv_import.HEADER_ROW, None, "the file has no records")])
    ids = await _store(session, principal, prepared, now=now, keys=keys)
    return RecordImportResult(kind=kind, created=len(ids), ids=[str(i) for i in ids])


async def _current_for_change(session: AsyncSession, principal: Principal, record_id: uuid.UUID) -> Record:
    record = await visible_record(session, principal, record_id)
    if not has_role(principal, Role.ISSUER):  # pragma: no cover - the route's guard
        raise Forbidden("Only the organisation that submitted a record may change it.")
    if record.state != "current":
        successor = f" (superseded by {record.superseded_by_id})" if record.superseded_by_id else ""
        raise Conflict(f"The record is {record.state}{successor}: only a current record can be changed.")
    return record


async def correct(
    session: AsyncSession,
    principal: Principal,
    record_id: uuid.UUID,
    correction: RecordCorrection,
    *,
    now: dt.datetime,
    keys: DataKeyRing,
) -> RecordRead:
    """Replace a wrong record by its corrected version; the old one stays, marked corrected."""
    await repository.lock_changes(session)
    old = await _current_for_change(session, principal, record_id)
    new = correction.record
    if kind_of(new) != old.kind:
        raise InvalidInput(
            "A correction keeps the kind of record.",
            errors=[FieldError("body.record.kind", f"must be {old.kind}: a correction keeps the kind")],
        )
    if forbidden := origin_problems([new], principal):
        raise Forbidden(
            "You may submit records only for your own organisation.",
            errors=[_field("body.record", p, True) for p in forbidden],
        )
    prepared, problems = await prepare(session, principal, [new], now)
    if not problems and prepared[0].person.id != old.person_id:
        problems = [
            Problem(
                0,
                "person_id",
                "must name the person of the corrected record: a record for "
                "another person is a withdrawal and a new record",
            )
        ]
    if problems:
        raise InvalidInput(
            "The correction is invalid; nothing was changed.",
            errors=[_field("body.record", p, True) for p in problems],
        )
    ids = await _store(session, principal, prepared, now=now, keys=keys, corrects=(old, correction.reason))
    return (await _read_back(session, principal, ids, keys))[0]


async def withdraw(
    session: AsyncSession,
    principal: Principal,
    record_id: uuid.UUID,
    withdrawal: RecordWithdrawal,
    *,
    now: dt.datetime,
    keys: DataKeyRing,
) -> RecordRead:
    """Withdraw a record stated in error; what it had replaced becomes current again."""
    await repository.lock_changes(session)
    record = await _current_for_change(session, principal, record_id)
    predecessors = await repository.replaced_by(session, record.id)
    updates = [
        {"id": record.id, "state": "withdrawn", "superseded_by_id": None, "change_reason": withdrawal.reason}
    ]
    if predecessors:
        versions = sorted(
            ((_version(r, keys), r) for r in predecessors),
            key=lambda item: (item[0].effective_on or dt.date.min, item[1].submitted_at),
        )
        heir = versions[-1][1]
        updates.append({"id": heir.id, "state": "current", "superseded_by_id": None, "change_reason": None})
        updates += [
            {"id": r.id, "state": "replaced", "superseded_by_id": heir.id, "change_reason": None}
            for _, r in versions[:-1]
        ]
    await repository.update_records(session, updates)
    await repository.append_changes(
        session,
        [
            {
                "person_id": record.person_id,
                "kind": record.kind,
                "record_id": record.id,
                "change": "withdrawn",
                "at": now,
            }
        ],
    )
    return (await _read_back(session, principal, [record.id], keys))[0]
