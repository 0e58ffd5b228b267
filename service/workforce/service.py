"""Domain verbs of the workforce: create, read, list and import organisations, people and employments.

Who may see what (the route guards decide who may call at all; see docs/workforce.md):

- organisations are reference data, readable by every role; only an admin writes them;
- an issuer (a trust's HR system) writes people and employments, employments only at its own
  organisation, and reads only people who have (had) an employment there and only those employments;
- a coordinator (a training office) reads doctors in training (grade other than ``other``) and their
  employments;
- a holder reads only their own person record;
- an admin may do everything.

A record outside the caller's view is reported as not found, so its existence is not revealed. Services
never commit: the request owns the transaction, so a refused import writes nothing.
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeVar

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role, same_organisation
from service.db import Database, new_id
from service.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound, RowError, ServiceError
from service.workforce import csv_import, repository
from service.workforce.csv_import import RowProblem
from service.workforce.models import Employment, Organisation, Person
from service.workforce.schemas import (
    EmploymentCreate,
    EmploymentPage,
    EmploymentRead,
    ImportResult,
    Issue,
    OrganisationCreate,
    OrganisationPage,
    OrganisationRead,
    PersonCreate,
    PersonPage,
    PersonRead,
    check_employment,
    check_organisation,
    check_organisation_references,
    check_person,
    normalise_ods,
)

MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 100
R = TypeVar("R", bound=msgspec.Struct)


class ImportRejected(ServiceError):
    """A CSV import refused as a whole; ``rows`` lists every problem (rendered as problem details)."""

    status = 422
    code = "import_rejected"
    title = "Import rejected"

    def __init__(self, entity: str, problems: Iterable[RowProblem], *, status: int = 422) -> None:
        self.rows = [RowError(p.row, p.column, p.reason) for p in csv_import.sort_problems(problems)]
        lines = len({row.row for row in self.rows})
        counts = f"{len(self.rows)} problem(s) in {lines} row(s)"
        super().__init__(f"The {entity} file was not imported: {counts}. Nothing was written.", status=status)
        if status == 403:
            self.code, self.title = "forbidden", "Forbidden"


def _invalid(issues: Sequence[Issue], detail: str = "The request has invalid fields.") -> InvalidInput:
    return InvalidInput(detail, errors=[FieldError(f"body.{i.field}", i.reason) for i in issues])


def _conflict(field: str, reason: str) -> Conflict:
    return Conflict(reason[0].upper() + reason[1:] + ".", errors=[FieldError(f"body.{field}", reason)])


def _read(record: Organisation | Person | Employment, schema: type[R]) -> R:
    return msgspec.convert(record, schema, from_attributes=True)


async def _insert(session: AsyncSession, record: Organisation | Person | Employment) -> None:
    """Add one record; a concurrent write of the same key becomes a 409, never a 500."""
    try:
        await repository.add(session, record)
    except IntegrityError:
        raise Conflict("The record conflicts with one written at the same time; try again.") from None


def _next(offset: int, limit: int, more: bool) -> int | None:
    return offset + limit if more else None


def _is(principal: Principal, *roles: Role) -> bool:
    return principal.role in roles


# ---------------------------------------------------------------- organisations


async def create_organisation(
    session: AsyncSession, data: OrganisationCreate, now: dt.datetime
) -> OrganisationRead:
    data, issues = check_organisation(data)
    if issues:
        raise _invalid(issues)
    codes = {data.code} | {c for c in (data.parent_code, data.icb_code) if c is not None}
    kinds = await repository.organisation_kinds(session, codes)
    if data.code in kinds:
        raise _conflict("code", f"an organisation with the code {data.code} already exists")
    if issues := check_organisation_references(data, kinds.get):
        raise _invalid(issues)
    record = Organisation(**msgspec.structs.asdict(data), created_at=now)
    await _insert(session, record)
    return _read(record, OrganisationRead)


async def get_organisation(session: AsyncSession, code: str) -> OrganisationRead:
    normalised = normalise_ods(code)
    record = await repository.get_organisation(session, normalised) if normalised is not None else None
    if record is None:
        raise NotFound(f"No organisation has the code {code[:20]}.")
    return _read(record, OrganisationRead)


async def read_organisation(database: Database, code: str) -> OrganisationRead:
    """What :func:`get_organisation` returns, read outside a transaction (the API's hot read)."""
    normalised = normalise_ods(code)
    found = await repository.read_organisation(database, normalised) if normalised is not None else None
    if found is None:
        raise NotFound(f"No organisation has the code {code[:20]}.")
    return found


async def list_organisations(
    session: AsyncSession, *, kind: str | None, parent: str | None, limit: int, offset: int
) -> OrganisationPage:
    parent = parent.upper() if parent is not None else None
    rows, more = await repository.list_organisations(
        session, kind=kind, parent=parent, limit=limit, offset=offset
    )
    items = [_read(r, OrganisationRead) for r in rows]
    return OrganisationPage(items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, more))


async def import_organisations(session: AsyncSession, payload: bytes, now: dt.datetime) -> ImportResult:
    parsed, declared = csv_import.parse_organisations(payload)
    existing = await repository.organisation_kinds(
        session, {*declared, *csv_import.referenced_codes(parsed.rows)}
    )
    problems = [*parsed.problems, *csv_import.organisation_problems(parsed.rows, declared, existing)]
    if problems:
        raise ImportRejected("organisations", problems)
    ordered = csv_import.insertion_order(parsed.rows)
    await _insert_all(
        session, Organisation, [{**msgspec.structs.asdict(o), "created_at": now} for o in ordered]
    )
    return ImportResult(entity="organisations", created=len(ordered), ids=[o.code for _, o in parsed.rows])


async def _insert_all(
    session: AsyncSession, model: type[Organisation | Person | Employment], rows: list[dict[str, Any]]
) -> None:
    try:
        await repository.insert_many(session, model, rows)
    except IntegrityError:
        raise Conflict(
            "The file conflicts with records written at the same time; nothing was written."
        ) from None


# ---------------------------------------------------------------- people


async def _visible_person(session: AsyncSession, principal: Principal, person_id: uuid.UUID) -> Person:
    """The person if the caller may see them; otherwise :class:`NotFound`, as if there were none."""
    person = await repository.get_person(session, person_id)
    visible = person is not None and (
        _is(principal, Role.ADMIN)
        or (_is(principal, Role.COORDINATOR) and person.grade != "other")
        or (_is(principal, Role.HOLDER) and (principal.person_id or "").lower() == str(person_id))
        or (
            _is(principal, Role.ISSUER)
            and principal.organisation is not None
            and await repository.has_employment_at(session, person_id, principal.organisation)
        )
    )
    if person is None or not visible:
        raise NotFound(f"No person {person_id}.")
    return person


async def create_person(session: AsyncSession, data: PersonCreate, now: dt.datetime) -> PersonRead:
    data, issues = check_person(data)
    if issues:
        raise _invalid(issues)
    if data.gmc_number is not None and await repository.people_by_gmc(session, [data.gmc_number]):
        raise _conflict("gmc_number", f"a person with the GMC number {data.gmc_number} already exists")
    record = Person(id=new_id(), **msgspec.structs.asdict(data), created_at=now)
    await _insert(session, record)
    return _read(record, PersonRead)


async def get_person(session: AsyncSession, principal: Principal, person_id: uuid.UUID) -> PersonRead:
    return _read(await _visible_person(session, principal, person_id), PersonRead)


def _organisation_scope(principal: Principal, requested: str | None) -> list[str]:
    """Organisations a listing is limited to: the requested one and, for an issuer, its own."""
    scope = [requested.upper()] if requested is not None else []
    if _is(principal, Role.ISSUER):
        if requested is not None:
            same_organisation(principal, scope[0])
        elif principal.organisation is None:
            raise Forbidden("You may act only for your own organisation.")
        else:
            scope = [principal.organisation]
    return scope


async def list_people(
    session: AsyncSession,
    principal: Principal,
    *,
    gmc_number: str | None,
    organisation: str | None,
    grade: str | None,
    specialty: str | None,
    limit: int,
    offset: int,
    name: str | None = None,
) -> PersonPage:
    """People the caller may see; ``name``: words that must each occur in the given or family name."""
    rows, more = await repository.list_people(
        session,
        gmc_number=gmc_number,
        employed_at=_organisation_scope(principal, organisation),
        grade=grade,
        specialty=specialty,
        training_only=_is(principal, Role.COORDINATOR),
        limit=limit,
        offset=offset,
        name_words=(name or "").split()[:5],
    )
    items = [_read(r, PersonRead) for r in rows]
    return PersonPage(items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, more))


async def import_people(session: AsyncSession, payload: bytes, now: dt.datetime) -> ImportResult:
    parsed = csv_import.parse_people(payload)
    taken = await repository.people_by_gmc(session, (p.gmc_number for _, p in parsed.rows if p.gmc_number))
    problems = [*parsed.problems, *csv_import.taken_gmc_problems(parsed.rows, set(taken))]
    if problems:
        raise ImportRejected("people", problems)
    rows = [{"id": new_id(), **msgspec.structs.asdict(p), "created_at": now} for _, p in parsed.rows]
    await _insert_all(session, Person, rows)
    return ImportResult(entity="people", created=len(rows), ids=[str(r["id"]) for r in rows])


# ---------------------------------------------------------------- employments


async def _person_of(session: AsyncSession, data: EmploymentCreate) -> uuid.UUID:
    if data.person_id is not None:
        if await repository.get_person(session, data.person_id) is None:
            raise _invalid([Issue("person_id", f"no registered person has the id {data.person_id}")])
        return data.person_id
    found = await repository.people_by_gmc(session, [data.gmc_number or ""])
    if not found:
        raise _invalid([Issue("gmc_number", f"no registered person has the GMC number {data.gmc_number}")])
    return next(iter(found.values()))


def _employment_row(data: EmploymentCreate, person_id: uuid.UUID, now: dt.datetime) -> dict[str, Any]:
    fields = msgspec.structs.asdict(data)
    del fields["gmc_number"]
    return {**fields, "id": new_id(), "person_id": person_id, "created_at": now}


async def create_employment(
    session: AsyncSession, principal: Principal, data: EmploymentCreate, now: dt.datetime
) -> EmploymentRead:
    data, issues = check_employment(data)
    if issues:
        raise _invalid(issues)
    same_organisation(principal, data.organisation_code)
    if not await repository.organisation_kinds(session, [data.organisation_code]):
        raise _invalid([Issue("organisation_code", f"no organisation has the code {data.organisation_code}")])
    person_id = await _person_of(session, data)
    key = csv_import.employment_key(person_id, data.organisation_code, data.role, data.start_date)
    if key in await repository.employment_keys(session, [person_id]):
        raise _conflict("start_date", "this person already has this role at this organisation from this date")
    record = Employment(**_employment_row(data, person_id, now))
    await _insert(session, record)
    return _read(record, EmploymentRead)


async def get_employment(
    session: AsyncSession, principal: Principal, employment_id: uuid.UUID
) -> EmploymentRead:
    record = await repository.get_employment(session, employment_id)
    visible = record is not None and (
        _is(principal, Role.ADMIN)
        or (_is(principal, Role.ISSUER) and record.organisation_code == principal.organisation)
        or (_is(principal, Role.COORDINATOR) and await _in_training(session, record.person_id))
    )
    if record is None or not visible:
        raise NotFound(f"No employment {employment_id}.")
    return _read(record, EmploymentRead)


async def _in_training(session: AsyncSession, person_id: uuid.UUID) -> bool:
    person = await repository.get_person(session, person_id)
    return person is not None and person.grade != "other"


async def list_employments(
    session: AsyncSession,
    principal: Principal,
    *,
    organisation: str | None,
    person_id: uuid.UUID | None,
    current_on: dt.date | None,
    limit: int,
    offset: int,
) -> EmploymentPage:
    rows, more = await repository.list_employments(
        session,
        organisations=_organisation_scope(principal, organisation),
        person_id=person_id,
        current_on=current_on,
        training_only=_is(principal, Role.COORDINATOR),
        limit=limit,
        offset=offset,
    )
    items = [_read(r, EmploymentRead) for r in rows]
    return EmploymentPage(items=items, limit=limit, offset=offset, next_offset=_next(offset, limit, more))


async def list_person_employments(
    session: AsyncSession, principal: Principal, person_id: uuid.UUID, *, limit: int, offset: int
) -> EmploymentPage:
    await _visible_person(session, principal, person_id)
    return await list_employments(
        session,
        principal,
        organisation=None,
        person_id=person_id,
        current_on=None,
        limit=limit,
        offset=offset,
    )


async def import_employments(
    session: AsyncSession, principal: Principal, payload: bytes, now: dt.datetime
) -> ImportResult:
    parsed = csv_import.parse_employments(payload)
    if not _is(principal, Role.ADMIN) and (
        foreign := csv_import.foreign_organisation_problems(parsed.rows, principal.organisation)
    ):
        raise ImportRejected("employments", foreign, status=403)
    rows = parsed.rows
    organisations = await repository.organisation_kinds(session, {e.organisation_code for _, e in rows})
    people = await repository.existing_person_ids(session, {e.person_id for _, e in rows if e.person_id})
    by_gmc = await repository.people_by_gmc(session, {e.gmc_number for _, e in rows if e.gmc_number})
    resolved, unresolved = csv_import.resolve_employments(
        rows, organisations=set(organisations), people=people, by_gmc=by_gmc
    )
    existing = await repository.employment_keys(session, {r.person_id for r in resolved})
    problems = [*parsed.problems, *unresolved, *csv_import.duplicate_employment_problems(resolved, existing)]
    if problems:
        raise ImportRejected("employments", problems)
    records = [_employment_row(r.employment, r.person_id, now) for r in resolved]
    await _insert_all(session, Employment, records)
    return ImportResult(entity="employments", created=len(records), ids=[str(r["id"]) for r in records])


# ---------------------------------------------------------------- bulk reads for other domains
# Used by other domains (additionality checks, passport records). They apply no visibility rules:
# the calling domain's routes decide who may see what it derives. Each takes any number of keys and
# queries in batches of 1,000, so checking 20,000 rostered people costs a few dozen queries.


async def people_by_ids(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, PersonRead]:
    """The registered people among ``ids``; an id that is not registered is absent."""
    return {row["id"]: PersonRead(**row) for row in await repository.people_rows(session, ids)}


async def person_ids_by_gmc(session: AsyncSession, numbers: Iterable[str]) -> dict[str, uuid.UUID]:
    """``{GMC number: person id}`` of the registered ones among ``numbers``."""
    return await repository.people_by_gmc(session, numbers)


async def employments_of_people(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[EmploymentRead]:
    """Every employment of these people, by person and start date."""
    rows = await repository.employment_rows_of_people(session, ids)
    return [EmploymentRead(**row) for row in rows]


async def organisations_by_codes(session: AsyncSession, codes: Iterable[str]) -> dict[str, OrganisationRead]:
    """The registered organisations among ``codes`` (codes as stored: upper case)."""
    rows = await repository.organisation_rows(session, codes)
    return {row["code"]: OrganisationRead(**row) for row in rows}


async def headcounts(
    session: AsyncSession, organisation_codes: Iterable[str], on: dt.date
) -> dict[tuple[str, str], int]:
    """``{(organisation code, staff group): people}`` employed there on ``on`` (current employments)."""
    return await repository.headcounts(session, organisation_codes, on)


async def find_people(
    session: AsyncSession, *, ids: Iterable[uuid.UUID] = (), gmc_numbers: Iterable[str] = ()
) -> tuple[dict[uuid.UUID, PersonRead], dict[str, PersonRead]]:
    """The registered people among ``ids`` and ``gmc_numbers``: ``(by id, by GMC number)``.

    For other domains that hold records about people (the passport's source records).
    """
    by_gmc_ids = await repository.people_by_gmc(session, gmc_numbers)
    by_id = await people_by_ids(session, {*ids, *by_gmc_ids.values()})
    return by_id, {number: by_id[person_id] for number, person_id in by_gmc_ids.items() if person_id in by_id}


async def find_organisations(session: AsyncSession, codes: Iterable[str]) -> dict[str, OrganisationRead]:
    """The registered organisations among ``codes`` (ODS codes, any case), by upper-case code."""
    wanted = {code for code in (normalise_ods(c) for c in codes) if code is not None}
    return await organisations_by_codes(session, wanted)
