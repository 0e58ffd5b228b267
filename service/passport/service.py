"""Domain verbs of the passport's source records: submit, import, correct, withdraw, read; the change
feed and the claims of the credential lifecycle; the CSTF reference table; compliance policies.

Who may see what:

- an issuer submits records only as its own organisation (the origin of every record it submits) and
  reads, corrects and withdraws only the records its organisation submitted;
- an admin (operator) reads every record, but never an occupational health outcome: those are shown only
  to the organisation that stated them (and, as credentials, to the holder);
- a record outside the caller's view is reported as not found.

Services never commit: the request owns the transaction, so a refused batch or file writes nothing.
Writers take :func:`repository.lock_changes` before reading the current records, so concurrent writers
neither race for the same current record nor make the change feed skip a change.
"""

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
    NotFound,
    RowError,
    ServiceError,
    Unavailable,
)
from service.keys import KeyProblem
from service.passport import csv_import, repository
from service.passport.checks import Issue, record_rules
from service.passport.claims import ClaimSet, build_claims
from service.passport.cstf import SUBJECTS, add_months, subject_name
from service.passport.encryption import DataKeyRing, DecryptionFailed
from service.passport.models import (
    CompliancePolicy,
    CoreSkillRecord,
    IdentityLinkRecord,
    OccupationalHealthRecord,
    Record,
    TrainingPlacementRecord,
)
from service.passport.policy import check_rules
from service.passport.schemas import (
    MAX_BATCH,
    AffectedCredential,
    AssuranceRead,
    ChangeBatch,
    CoreSkillCreate,
    CoreSkillRead,
    IdentityLinkCreate,
    IdentityLinkRead,
    LapseBatch,
    LapsedRecord,
    LevelPeriod,
    OccupationalHealthCreate,
    OccupationalHealthRead,
    PolicyCreate,
    PolicyPage,
    PolicyRead,
    RecordCorrection,
    RecordCreate,
    RecordImportResult,
    RecordKind,
    RecordPage,
    RecordRead,
    RecordWithdrawal,
    Rule,
    SubjectRead,
    SubjectUpdate,
    TrainingPlacementCreate,
    TrainingPlacementRead,
    kind_of,
)
from service.passport.supersession import Version, key_of, resolve
from service.workforce import service as workforce
from service.workforce.schemas import OrganisationRead, PersonRead

MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 100
SITE_KINDS: Final = frozenset({"nhs_trust", "independent_site"})
EMPLOYER_KINDS: Final = frozenset({"nhs_trust", "independent_provider", "independent_site"})
MAX_HISTORY: Final = 200


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


class _OhFields(msgspec.Struct, frozen=True, kw_only=True):
    """What is sealed of an occupational health record."""

    item: str
    outcome: str
    assessed_on: dt.date
    review_date: dt.date | None


class Prepared(NamedTuple):
    """A checked record with what the database told about it."""

    position: int
    data: RecordCreate
    person: PersonRead
    origin: str
    renewal_months: int | None


def _is(principal: Principal, *roles: Role) -> bool:
    return principal.role in roles


def _next(offset: int, limit: int, more: bool) -> int | None:
    return offset + limit if more else None


def _context(record_id: uuid.UUID, person_id: uuid.UUID) -> bytes:
    """Associated data of a sealed outcome: its row."""
    return b"passport_records " + record_id.bytes + person_id.bytes


# ---------------------------------------------------------------- sealing


def _seal(
    fields: _OhFields, record_id: uuid.UUID, person_id: uuid.UUID, keys: DataKeyRing
) -> tuple[str, bytes]:
    try:
        sealed = keys.seal(msgspec.json.encode(fields), _context(record_id, person_id))
    except KeyProblem:
        raise Unavailable(
            "Occupational health records cannot be stored: the registry has no data key (operator: run "
            "`passport keys init`).",
            code="data_key_unavailable",
        ) from None
    return sealed.kid, sealed.blob


def seal_outcome(
    fields: dict[str, Any], record_id: uuid.UUID, person_id: uuid.UUID, keys: DataKeyRing
) -> tuple[str, bytes]:
    """Seal occupational health fields (item, outcome, assessed_on, review_date) as a record's row would be:
    ``(data key id, sealed bytes)``. For writers that build rows themselves (the demo seed)."""
    return _seal(msgspec.convert(fields, _OhFields), record_id, person_id, keys)


def _open(record: OccupationalHealthRecord, keys: DataKeyRing) -> _OhFields:
    try:
        plain = keys.open(record.oh_key_id, record.oh_sealed, _context(record.id, record.person_id))
        return msgspec.json.decode(plain, type=_OhFields)
    except (DecryptionFailed, msgspec.DecodeError, msgspec.ValidationError):
        raise Unavailable(
            f"The occupational health record {record.id} cannot be decrypted with the registry's data keys "
            "(operator: check the keys folder).",
            code="data_key_unavailable",
        ) from None


# ---------------------------------------------------------------- reading


def to_read(record: Record, keys: DataKeyRing, *, reveal: bool) -> RecordRead:
    """The wire form of a record; an occupational health outcome only when ``reveal``."""
    common: dict[str, Any] = {
        "id": record.id,
        "person_id": record.person_id,
        "state": record.state,
        "supersedes_id": record.supersedes_id,
        "superseded_by_id": record.superseded_by_id,
        "change_reason": record.change_reason,
        "lapses_on": record.lapses_on,
        "assurance": AssuranceRead(
            origin_organisation_code=record.origin_organisation_code,
            policy=record.assurance_policy,
            outcome=record.assurance_outcome,
            verification_method=record.verification_method,
            last_refreshed_at=record.last_refreshed_at,
        ),
        "submitted_at": record.submitted_at,
        "submitted_by": record.submitted_by,
    }
    if isinstance(record, CoreSkillRecord):
        return CoreSkillRead(
            **common,
            subject=record.subject,
            subject_name=subject_name(record.subject),
            level=record.level,
            date_awarded=record.date_awarded,
            renewal_months=record.renewal_months,
            date_to=record.date_to,
            learning_provider=record.learning_provider,
            learning_method=record.learning_method,
        )
    if isinstance(record, OccupationalHealthRecord):
        if not reveal:
            return OccupationalHealthRead(
                **common, redacted=True, item=None, outcome=None, assessed_on=None, review_date=None
            )
        fields = _open(record, keys)
        return OccupationalHealthRead(
            **common,
            redacted=False,
            item=fields.item,
            outcome=fields.outcome,
            assessed_on=fields.assessed_on,
            review_date=fields.review_date,
        )
    if isinstance(record, TrainingPlacementRecord):
        return TrainingPlacementRead(
            **common,
            programme=record.programme,
            programme_start=record.programme_start,
            programme_end=record.programme_end,
            specialty=record.specialty,
            grade=record.grade,
            post_number=record.post_number,
            employing_body_code=record.employing_body_code,
            site_code=record.site_code,
            start_date=record.start_date,
            end_date=record.end_date,
        )
    if isinstance(record, IdentityLinkRecord):
        return IdentityLinkRead(
            **common,
            given_names=record.given_names,
            family_name=record.family_name,
            birth_date=record.birth_date,
            gmc_number=record.gmc_number,
        )
    raise TypeError(f"unknown record kind {record.kind}")  # pragma: no cover - the table's check constraint


def _may_see(principal: Principal, record: Record) -> bool:
    if _is(principal, Role.ADMIN):
        return True
    return _is(principal, Role.ISSUER) and record.origin_organisation_code == principal.organisation


def _reveals(principal: Principal, record: Record) -> bool:
    """Occupational health outcomes: only to the organisation that stated them."""
    return _is(principal, Role.ISSUER) and record.origin_organisation_code == principal.organisation


async def _visible(session: AsyncSession, principal: Principal, record_id: uuid.UUID) -> Record:
    record = await repository.get_record(session, record_id)
    if record is None or not _may_see(principal, record):
        raise NotFound(f"No record {record_id}.")
    return record


async def get_record(
    session: AsyncSession, principal: Principal, record_id: uuid.UUID, keys: DataKeyRing
) -> RecordRead:
    record = await _visible(session, principal, record_id)
    return to_read(record, keys, reveal=_reveals(principal, record))


async def record_history(
    session: AsyncSession, principal: Principal, record_id: uuid.UUID, keys: DataKeyRing
) -> list[RecordRead]:
    """Every version linked to the record (what it corrected or replaced, what corrected or replaced it),
    oldest submission first, as far as the caller may see them."""
    start = await _visible(session, principal, record_id)
    found: dict[uuid.UUID, Record] = {start.id: start}
    frontier = {start.id}
    while frontier and len(found) < MAX_HISTORY:
        linked = await repository.linked_records(session, frontier)
        new = {r.id: r for r in linked if r.id not in found}
        found.update(new)
        frontier = set(new)
    versions = sorted(found.values(), key=lambda r: (r.submitted_at, str(r.id)))
    return [to_read(r, keys, reveal=_reveals(principal, r)) for r in versions if _may_see(principal, r)]


async def list_records(
    session: AsyncSession,
    principal: Principal,
    keys: DataKeyRing,
    *,
    person_id: uuid.UUID | None,
    gmc_number: str | None,
    kind: RecordKind | None,
    state: str | None,
    organisation: str | None,
    limit: int,
    offset: int,
) -> RecordPage:
    """Records the caller may see; ``state`` None means every state."""
    origin = organisation.upper() if organisation is not None else None
    if _is(principal, Role.ISSUER):
        if origin is not None and origin != principal.organisation:
            raise Forbidden("You may list only the records of your own organisation.")
        origin = principal.organisation
    if gmc_number is not None:
        _, by_gmc = await workforce.find_people(session, gmc_numbers=[gmc_number])
        found = by_gmc.get(gmc_number)
        if found is None or (person_id is not None and person_id != found.id):
            return RecordPage(items=[], limit=limit, offset=offset, next_offset=None)
        person_id = found.id
    rows, more = await repository.list_records(
        session, origin=origin, person_id=person_id, kind=kind, state=state, limit=limit, offset=offset
    )
    items = [to_read(r, keys, reveal=_reveals(principal, r)) for r in rows]
    return RecordPage(items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, more))


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


def _columns(p: Prepared) -> tuple[dict[str, Any], _OhFields | None]:
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
        return {}, _OhFields(
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


def _lapses_on(kind: str, columns: dict[str, Any], sealed: _OhFields | None) -> dt.date | None:
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
        fields = _open(record, keys)
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
        columns["oh_key_id"], columns["oh_sealed"] = _seal(sealed, record_id, p.person.id, keys)
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
    return [to_read(by_id[i], keys, reveal=_reveals(principal, by_id[i])) for i in ids]


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
    record = await _visible(session, principal, record_id)
    if not _is(principal, Role.ISSUER):  # pragma: no cover - the route's guard
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


# ---------------------------------------------------------------- the credential lifecycle


async def feed_position(session: AsyncSession) -> int:
    """The cursor of the newest change: start from here after re-issuing everything."""
    return await repository.last_change(session)


async def changes_since(session: AsyncSession, cursor: int = 0, *, limit: int = 10_000) -> ChangeBatch:
    """Which (person, credential type) pairs are affected by records added, corrected or withdrawn
    after ``cursor`` (0: from the beginning), up to ``limit`` changes at a time.

    Pass the returned ``cursor`` to the next call; ``more`` says whether changes remain. A pair may come
    again in a later batch (it changed again): re-issuing is idempotent. The feed never skips a change,
    because writers append to it in commit order (:func:`repository.lock_changes`).
    """
    upto = await repository.change_window(session, cursor, limit)
    if upto is None:
        return ChangeBatch(affected=[], cursor=cursor, more=False)
    pairs = await repository.changed_pairs(session, cursor, upto)
    more = await repository.change_window(session, upto, 1) is not None
    affected = [AffectedCredential(person_id=person, kind=kind) for person, kind in pairs]  # type: ignore[arg-type]
    return ChangeBatch(affected=affected, cursor=upto, more=more)


async def lapsing(
    session: AsyncSession,
    *,
    after: dt.date,
    through: dt.date,
    start: tuple[dt.date, uuid.UUID] | None = None,
    limit: int = 10_000,
) -> LapseBatch:
    """Current records that stop holding on a day in ``after < day <= through`` (date to reached, review
    date reached, placement ended the day before), with the (person, credential type) pairs they affect.

    Run it daily with ``after`` = the last day handled. Results come in (day, record id) order, ``limit``
    at a time; pass ``next`` back as ``start`` for the rest.
    """
    rows = await repository.lapsing(session, after, through, start, limit)
    items = [LapsedRecord(record_id=r, person_id=p, kind=k, lapses_on=d) for r, p, k, d in rows]  # type: ignore[arg-type]
    pairs = dict.fromkeys((i.person_id, i.kind) for i in items)
    affected = [AffectedCredential(person_id=p, kind=k) for p, k in pairs]
    following = (rows[-1][3], rows[-1][0]) if len(rows) == limit else None
    return LapseBatch(items=items, affected=affected, next=following)


async def holder_records(
    session: AsyncSession, person_ids: Iterable[uuid.UUID], kinds: Iterable[RecordKind], keys: DataKeyRing
) -> dict[uuid.UUID, list[RecordRead]]:
    """The current records of each person (occupational health opened), for their credentials."""
    found: dict[uuid.UUID, list[RecordRead]] = {}
    for record in await repository.current_records(session, set(person_ids), set(kinds)):
        found.setdefault(record.person_id, []).append(to_read(record, keys, reveal=True))
    return found


def _codes(records: Iterable[RecordRead]) -> set[str]:
    codes = set()
    for r in records:
        codes.add(r.assurance.origin_organisation_code)
        if isinstance(r, TrainingPlacementRead):
            codes.update((r.employing_body_code, r.site_code))
    return codes


async def credential_claims(
    session: AsyncSession,
    person_ids: Sequence[uuid.UUID],
    kind: RecordKind,
    *,
    on: dt.date,
    base_url: str,
    keys: DataKeyRing,
    names: dict[str, str] | None = None,
) -> dict[uuid.UUID, ClaimSet | None]:
    """The claims of the ``kind`` credential of each person as of ``on`` (None: nothing to state).

    ``names`` caches organisation names across calls (pass the same dict to each batch)."""
    records = await holder_records(session, person_ids, [kind], keys)
    names = {} if names is None else names
    missing = _codes(r for rs in records.values() for r in rs) - set(names)
    if missing:
        names.update({c: o.name for c, o in (await workforce.find_organisations(session, missing)).items()})
    return {
        person: build_claims(
            kind, person, records.get(person, []), base_url=base_url, on=on, organisation_names=names
        )
        for person in person_ids
    }


async def reencrypt(session: AsyncSession, keys: DataKeyRing, *, batch: int = 1000) -> int:
    """Re-seal up to ``batch`` occupational health records under the active data key; how many were."""
    active = keys.active_kid
    if active is None:
        raise Unavailable(
            "There is no active data key: run `passport keys init`.", code="data_key_unavailable"
        )
    records = await repository.sealed_not_under(session, active, batch)
    updates = []
    for record in records:
        kid, blob = _seal(_open(record, keys), record.id, record.person_id, keys)
        updates.append({"id": record.id, "oh_key_id": kid, "oh_sealed": blob})
    await repository.update_records(session, updates, OccupationalHealthRecord)
    return len(updates)


async def sealed_by_key(session: AsyncSession) -> dict[str, int]:
    """How many occupational health records each data key seals."""
    return await repository.count_sealed_by_key(session)


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
    return PolicyPage(items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, more))


async def latest_policy(session: AsyncSession, organisation: str, name: str) -> PolicyRead:
    """The newest version of a policy by organisation and name (for presentation requests)."""
    page = await list_policies(
        session, organisation=organisation, name=name, all_versions=False, limit=1, offset=0
    )
    if not page.items:
        raise NotFound(f"{organisation.upper()} has no policy named {name[:80]}.")
    return page.items[0]
