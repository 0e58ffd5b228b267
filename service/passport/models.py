"""Tables of the passport domain: source records, their change log, the CSTF periods, policies.

Records of all four kinds share one table (single-table inheritance, ``kind`` tells them apart): the
lifecycle queries (what changed, what lapses) run over one index, and each kind's columns are checked by
its own constraint. Occupational health outcomes are only ever stored sealed (``oh_sealed``, AES-GCM under
the data key ``oh_key_id``; see :mod:`service.passport.encryption`).
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base

KINDS_SQL = "'core_skills', 'occupational_health', 'training_placement', 'identity_link'"
STATES_SQL = "'current', 'replaced', 'corrected', 'withdrawn'"


class Record(Base):
    """A source record: what an issuer stated about a person, with its assurance. Never deleted; a
    correction, replacement or withdrawal changes only ``state`` and the links between versions."""

    __tablename__ = "passport_records"
    __table_args__ = (
        CheckConstraint(f"kind IN ({KINDS_SQL})", name="kind"),
        CheckConstraint(f"state IN ({STATES_SQL})", name="state"),
        CheckConstraint(
            "kind != 'core_skills' OR (subject IS NOT NULL AND level BETWEEN 1 AND 3 AND date_awarded "
            "IS NOT NULL AND date_to > date_awarded AND renewal_months > 0 AND learning_provider IS NOT"
            " NULL AND learning_method IS NOT NULL)",
            name="core_skills",
        ),
        CheckConstraint(
            "kind != 'occupational_health' OR (oh_key_id IS NOT NULL AND oh_sealed IS NOT NULL)",
            name="occupational_health",
        ),
        CheckConstraint(
            "kind != 'training_placement' OR (programme IS NOT NULL AND specialty IS NOT NULL AND grade"
            " IS NOT NULL AND employing_body_code IS NOT NULL AND site_code IS NOT NULL AND start_date "
            "IS NOT NULL AND end_date >= start_date)",
            name="training_placement",
        ),
        CheckConstraint(
            "kind != 'identity_link' OR (given_names IS NOT NULL AND family_name IS NOT NULL AND "
            "birth_date IS NOT NULL)",
            name="identity_link",
        ),
        Index("ix_passport_records_person_id_kind_state", "person_id", "kind", "state"),
        Index("ix_passport_records_state_lapses_on_id", "state", "lapses_on", "id"),
        Index("ix_passport_records_origin_submitted_at_id", "origin_organisation_code", "submitted_at", "id"),
    )
    __mapper_args__: Any = {"polymorphic_on": "kind"}  # noqa: RUF012

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(12))
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("passport_records.id"))
    superseded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("passport_records.id"))
    change_reason: Mapped[str | None] = mapped_column(String(500))
    record_key: Mapped[str | None] = mapped_column(String(120))
    """What makes two records of a person "the same thing" (subject and level; site and start; the
    identity), so a newer one replaces the older. None for occupational health: its item is sealed."""
    effective_on: Mapped[dt.date | None] = mapped_column(Date)
    """The date that orders records of the same thing (date awarded, placement start); None if sealed."""
    lapses_on: Mapped[dt.date | None] = mapped_column(Date)
    """First day the record no longer holds: date to, review date, the day after a placement ends."""
    origin_organisation_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    assurance_policy: Mapped[str] = mapped_column(String(200))
    assurance_outcome: Mapped[str] = mapped_column(String(30))
    verification_method: Mapped[str] = mapped_column(String(30))
    last_refreshed_at: Mapped[dt.datetime]
    submitted_at: Mapped[dt.datetime]
    submitted_by: Mapped[str] = mapped_column(String(200))


class CoreSkillRecord(Record):
    __mapper_args__: Any = {"polymorphic_identity": "core_skills", "polymorphic_load": "inline"}  # noqa: RUF012

    subject: Mapped[str] = mapped_column(String(40), nullable=True)
    level: Mapped[int] = mapped_column(SmallInteger, nullable=True)
    date_awarded: Mapped[dt.date] = mapped_column(Date, nullable=True)
    renewal_months: Mapped[int] = mapped_column(SmallInteger, nullable=True)
    date_to: Mapped[dt.date] = mapped_column(Date, nullable=True)
    learning_provider: Mapped[str] = mapped_column(String(200), nullable=True)
    learning_method: Mapped[str] = mapped_column(String(20), nullable=True)


class OccupationalHealthRecord(Record):
    __mapper_args__: Any = {"polymorphic_identity": "occupational_health", "polymorphic_load": "inline"}  # noqa: RUF012

    oh_key_id: Mapped[str] = mapped_column(String(40), nullable=True)
    oh_sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=True)


class TrainingPlacementRecord(Record):
    __mapper_args__: Any = {"polymorphic_identity": "training_placement", "polymorphic_load": "inline"}  # noqa: RUF012

    programme: Mapped[str] = mapped_column(String(200), nullable=True)
    programme_start: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    programme_end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    specialty: Mapped[str] = mapped_column(String(60), nullable=True)
    grade: Mapped[str] = mapped_column(String(10), nullable=True)
    post_number: Mapped[str | None] = mapped_column(String(40), nullable=True)
    employing_body_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT"), nullable=True
    )
    site_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT"), nullable=True
    )
    start_date: Mapped[dt.date] = mapped_column(Date, nullable=True)
    end_date: Mapped[dt.date] = mapped_column(Date, nullable=True)


class IdentityLinkRecord(Record):
    __mapper_args__: Any = {"polymorphic_identity": "identity_link", "polymorphic_load": "inline"}  # noqa: RUF012

    given_names: Mapped[str] = mapped_column(String(100), nullable=True)
    family_name: Mapped[str] = mapped_column(String(100), nullable=True)
    birth_date: Mapped[dt.date] = mapped_column(Date, nullable=True)
    gmc_number: Mapped[str | None] = mapped_column(String(7), nullable=True)


RECORD_MODELS: dict[str, type[Record]] = {
    "core_skills": CoreSkillRecord,
    "occupational_health": OccupationalHealthRecord,
    "training_placement": TrainingPlacementRecord,
    "identity_link": IdentityLinkRecord,
}


class RecordChange(Base):
    """The change feed: one row per record added, corrected or withdrawn, in commit order.

    Writers append under one lock (see ``repository.lock_changes``), so ``seq`` increases in the order
    transactions commit and a reader that has seen ``seq`` n has seen every change up to n.
    """

    __tablename__ = "passport_record_changes"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    person_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(30))
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("passport_records.id"))
    change: Mapped[str] = mapped_column(String(12))
    at: Mapped[dt.datetime]


class CstfRenewalPeriod(Base):
    """The reference table: how long an award of each CSTF subject and level stays in date."""

    __tablename__ = "cstf_renewal_periods"
    __table_args__ = (CheckConstraint("renewal_months BETWEEN 1 AND 120", name="renewal_months"),)

    subject: Mapped[str] = mapped_column(String(40), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    renewal_months: Mapped[int] = mapped_column(SmallInteger)
    updated_at: Mapped[dt.datetime | None]
    updated_by: Mapped[str | None] = mapped_column(String(200))


class CompliancePolicy(Base):
    """One version of a named compliance policy of an organisation. Versions are never changed."""

    __tablename__ = "compliance_policies"
    __table_args__ = (
        UniqueConstraint("organisation_code", "name", "version"),
        CheckConstraint("version >= 1", name="version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organisation_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    name: Mapped[str] = mapped_column(String(80))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(200))
