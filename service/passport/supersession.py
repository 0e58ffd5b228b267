"""Which record of a person is current, when several state the same thing (pure).

Two records of a person are "the same thing" when they have the same kind and key: the same CSTF subject
and level, the same occupational health item, the same placement (site and start), the identity. Of those,
one is current: the one with the latest effective date (date awarded, date assessed, placement start),
a later submission winning a tie. The others are ``replaced`` and point at the record that took their
place. Nothing is deleted: a replaced record stays in the history.

A record without a key is never replaced by another (it can still be corrected or withdrawn).
"""

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import NamedTuple


class Version(NamedTuple):
    id: uuid.UUID
    person_id: uuid.UUID
    kind: str
    key: str | None
    effective_on: dt.date | None


class Placed(NamedTuple):
    """What becomes of one incoming record."""

    state: str
    """``current`` or ``replaced``."""
    supersedes_id: uuid.UUID | None
    superseded_by_id: uuid.UUID | None


class Resolution(NamedTuple):
    incoming: dict[uuid.UUID, Placed]
    replaced: dict[uuid.UUID, uuid.UUID]
    """Existing current records that are now replaced, and by which incoming record."""


def _newer(candidate: Version, incumbent: Version) -> bool:
    """Whether ``candidate`` (submitted later) takes the place of ``incumbent``."""
    if candidate.effective_on is None or incumbent.effective_on is None:
        return True
    return candidate.effective_on >= incumbent.effective_on


def resolve(existing: Sequence[Version], incoming: Sequence[Version]) -> Resolution:
    """Place ``incoming`` records (in submission order) among a person's ``existing`` current records."""
    current: dict[tuple[uuid.UUID, str, str], Version] = {}
    for version in existing:
        if version.key is not None:
            current[(version.person_id, version.kind, version.key)] = version
    placed: dict[uuid.UUID, Placed] = {}
    replaced: dict[uuid.UUID, uuid.UUID] = {}
    existing_ids = {v.id for v in existing}
    for version in incoming:
        if version.key is None:
            placed[version.id] = Placed("current", None, None)
            continue
        slot = (version.person_id, version.kind, version.key)
        incumbent = current.get(slot)
        if incumbent is None:
            placed[version.id] = Placed("current", None, None)
            current[slot] = version
        elif _newer(version, incumbent):
            placed[version.id] = Placed("current", incumbent.id, None)
            if incumbent.id in existing_ids:
                replaced[incumbent.id] = version.id
            else:
                previous = placed[incumbent.id]
                placed[incumbent.id] = Placed("replaced", previous.supersedes_id, version.id)
            current[slot] = version
        else:
            placed[version.id] = Placed("replaced", None, incumbent.id)
    return Resolution(placed, replaced)


def key_of(kind: str, values: dict[str, object]) -> tuple[str | None, dt.date | None]:
    """The key and effective date of a record of ``kind`` from its field values."""
    if kind == "core_skills":
        effective = values.get("date_awarded")
        return f"{values.get('subject')}/{values.get('level')}", effective if isinstance(
            effective, dt.date
        ) else None
    if kind == "occupational_health":
        assessed = values.get("assessed_on")
        return str(values.get("item")), assessed if isinstance(assessed, dt.date) else None
    if kind == "training_placement":
        start = values.get("start_date")
        start_text = start.isoformat() if isinstance(start, dt.date) else ""
        return f"{values.get('site_code')}/{start_text}", start if isinstance(start, dt.date) else None
    if kind == "identity_link":
        return "identity", None
    return None, None
