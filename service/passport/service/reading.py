"""Reading records: sealing and opening occupational health, the wire form, who may see what."""

import datetime as dt
import uuid
from typing import Any, Final

import msgspec
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal, Role
from service.errors import (
    Forbidden,
    NotFound,
    Unavailable,
)
from service.keys import KeyProblem
from service.passport import repository
from service.passport.cstf import subject_name
from service.passport.encryption import DataKeyRing, DecryptionFailed
from service.passport.models import (
    OccupationalHealthRecord,
    Record,
)
from service.passport.schemas import (
    AssuranceRead,
    CoreSkillRead,
    IdentityLinkRead,
    OccupationalHealthRead,
    RecordKind,
    RecordPage,
    RecordRead,
    TrainingPlacementRead,
)
from service.workforce import service as workforce

MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 100
MAX_HISTORY: Final = 200


class OhFields(msgspec.Struct, frozen=True, kw_only=True):
    """What is sealed of an occupational health record."""

    item: str
    outcome: str
    assessed_on: dt.date
    review_date: dt.date | None


def has_role(principal: Principal, *roles: Role) -> bool:
    return principal.role in roles


def next_offset(offset: int, limit: int, more: bool) -> int | None:
    return offset + limit if more else None


def _context(record_id: uuid.UUID, person_id: uuid.UUID) -> bytes:
    """Associated data of a sealed outcome: its row."""
    return b"passport_records " + record_id.bytes + person_id.bytes


# ---------------------------------------------------------------- sealing


def seal_fields(
    fields: OhFields, record_id: uuid.UUID, person_id: uuid.UUID, keys: DataKeyRing
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
    return seal_fields(msgspec.convert(fields, OhFields), record_id, person_id, keys)


def open_sealed(record: OccupationalHealthRecord | Row[Any], keys: DataKeyRing) -> OhFields:
    try:
        plain = keys.open(record.oh_key_id, record.oh_sealed, _context(record.id, record.person_id))
        return msgspec.json.decode(plain, type=OhFields)
    except (DecryptionFailed, msgspec.DecodeError, msgspec.ValidationError):
        raise Unavailable(
            f"The occupational health record {record.id} cannot be decrypted with the registry's data keys "
            "(operator: check the keys folder).",
            code="data_key_unavailable",
        ) from None


# ---------------------------------------------------------------- reading


RecordLike = Any
"""A :class:`Record` (ORM object, any kind) or a Core row of the records table: same attribute names."""


def to_read(record: RecordLike, keys: DataKeyRing, *, reveal: bool) -> RecordRead:
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
    kind = record.kind
    if kind == "core_skills":
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
    if kind == "occupational_health":
        if not reveal:
            return OccupationalHealthRead(
                **common, redacted=True, item=None, outcome=None, assessed_on=None, review_date=None
            )
        fields = open_sealed(record, keys)
        return OccupationalHealthRead(
            **common,
            redacted=False,
            item=fields.item,
            outcome=fields.outcome,
            assessed_on=fields.assessed_on,
            review_date=fields.review_date,
        )
    if kind == "training_placement":
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
    if kind == "identity_link":
        return IdentityLinkRead(
            **common,
            given_names=record.given_names,
            family_name=record.family_name,
            birth_date=record.birth_date,
            gmc_number=record.gmc_number,
        )
    raise TypeError(f"unknown record kind {record.kind}")  # pragma: no cover - the table's check constraint


def may_see(principal: Principal, record: Record) -> bool:
    if has_role(principal, Role.ADMIN):
        return True
    return has_role(principal, Role.ISSUER) and record.origin_organisation_code == principal.organisation


def reveals(principal: Principal, record: Record) -> bool:
    """Occupational health outcomes: only to the organisation that stated them."""
    return has_role(principal, Role.ISSUER) and record.origin_organisation_code == principal.organisation


async def visible_record(session: AsyncSession, principal: Principal, record_id: uuid.UUID) -> Record:
    record = await repository.get_record(session, record_id)
    if record is None or not may_see(principal, record):
        raise NotFound(f"No record {record_id}.")
    return record


async def get_record(
    session: AsyncSession, principal: Principal, record_id: uuid.UUID, keys: DataKeyRing
) -> RecordRead:
    record = await visible_record(session, principal, record_id)
    return to_read(record, keys, reveal=reveals(principal, record))


async def record_history(
    session: AsyncSession, principal: Principal, record_id: uuid.UUID, keys: DataKeyRing
) -> list[RecordRead]:
    """Every version linked to the record (what it corrected or replaced, what corrected or replaced it),
    oldest submission first, as far as the caller may see them."""
    start = await visible_record(session, principal, record_id)
    found: dict[uuid.UUID, Record] = {start.id: start}
    frontier = {start.id}
    while frontier and len(found) < MAX_HISTORY:
        linked = await repository.linked_records(session, frontier)
        new = {r.id: r for r in linked if r.id not in found}
        found.update(new)
        frontier = set(new)
    versions = sorted(found.values(), key=lambda r: (r.submitted_at, str(r.id)))
    return [to_read(r, keys, reveal=reveals(principal, r)) for r in versions if may_see(principal, r)]


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
    if has_role(principal, Role.ISSUER):
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
    items = [to_read(r, keys, reveal=reveals(principal, r)) for r in rows]
    return RecordPage(items=items, limit=limit, offset=offset, next_offset=next_offset(offset, limit, more))
