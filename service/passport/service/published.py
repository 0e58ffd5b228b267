"""Training placement records from a published placement match run (the placements domain's publish).

One function, used by ``service.placements.service.publish`` in the same transaction as the placement
records it writes: all or nothing with the publish.
"""

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal
from service.errors import FieldError, InvalidInput
from service.passport import repository
from service.passport.encryption import DataKeyRing
from service.passport.schemas import MAX_BATCH, TrainingPlacementCreate
from service.passport.service.writing import _store, prepare

NO_KEYS = DataKeyRing({}, None)
"""Training placement records seal nothing and replace only training placement records."""


async def submit_published_placements(
    session: AsyncSession,
    office: Principal,
    records: Sequence[TrainingPlacementCreate],
    *,
    now: dt.datetime,
) -> list[uuid.UUID]:
    """Store ``records`` as source records of the passport with ``office``'s organisation (the training
    office that published the run) as their origin, checked like any submission, in the caller's
    transaction and without reading them back; each is appended to the change feed, so the credential
    lifecycle re-issues the trainees' training placement credentials. Refuses the whole lot
    (:class:`InvalidInput`, every problem named) if any record is refused. Returns the record ids."""
    if not records:
        return []
    if office.organisation is None:
        raise InvalidInput(
            "Placement records need an origin organisation: the training office that owns the run.",
            errors=[FieldError("origin_organisation_code", "the run's dataset belongs to no organisation")],
        )
    await repository.lock_changes(session)
    ids: list[uuid.UUID] = []
    for first in range(0, len(records), MAX_BATCH):
        batch = records[first : first + MAX_BATCH]
        prepared, problems = await prepare(session, office, batch, now)
        if problems:
            raise InvalidInput(
                "The published placements cannot become passport records; nothing was published.",
                errors=[
                    FieldError(f"placements[{first + p.position}].{p.field}", p.reason)
                    for p in problems[:1000]
                ],
            )
        ids += await _store(session, office, prepared, now=now, keys=NO_KEYS)
    return ids
