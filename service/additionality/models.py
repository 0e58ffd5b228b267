"""Tables of the additionality domain: offers and rosters, activity, shortage lists, parameter sets, checks.

Shortage lists and parameter sets are versioned and never changed once written: a new version is a new
row. A check stores the canonical JSON of the inputs it read, their SHA-256, the parameter version and the
shortage list version, so its verdicts can be recomputed later and compared.
"""

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class Offer(Base):
    """Capacity an independent site offers a commissioner: a specialty, sessions a week, for a period."""

    __tablename__ = "additionality_offers"
    __table_args__ = (
        UniqueConstraint("site_code", "reference"),
        CheckConstraint("end_date >= start_date", name="dates"),
        CheckConstraint("sessions_per_week > 0", name="sessions"),
        CheckConstraint("declared_training_placements >= 0", name="placements"),
        Index("ix_additionality_offers_start_date_end_date", "start_date", "end_date"),
        Index("ix_additionality_offers_provider_code", "provider_code"),
        Index("ix_additionality_offers_commissioner_code", "commissioner_code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(60))
    """The provider's own reference for the offer, unique at the site."""
    site_code: Mapped[str] = mapped_column(String(10), ForeignKey("organisations.code", ondelete="RESTRICT"))
    provider_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    """The independent provider running the site (the site's parent when the offer was submitted)."""
    commissioner_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    """The ICB the capacity is offered to."""
    specialty: Mapped[str] = mapped_column(String(60))
    sessions_per_week: Mapped[float]
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    declared_training_placements: Mapped[int] = mapped_column(Integer)
    """Training placements the provider declares it will host at the site during the offer."""
    submitted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]


class RosterEntry(Base):
    """A person rostered on an offer for some sessions a week, for the whole offer or part of it."""

    __tablename__ = "additionality_roster_entries"
    __table_args__ = (
        CheckConstraint("end_date >= start_date", name="dates"),
        CheckConstraint("sessions > 0 AND sessions <= 20", name="sessions"),
        Index("ix_additionality_roster_entries_offer_id", "offer_id"),
        Index("ix_additionality_roster_entries_person_id", "person_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("additionality_offers.id", ondelete="RESTRICT"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"))
    sessions: Mapped[float]
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime]


class Activity(Base):
    """Activity (episodes) of one provider for one commissioner ICB and specialty in one month."""

    __tablename__ = "additionality_activity"
    __table_args__ = (
        UniqueConstraint(
            "provider_code", "commissioner_code", "specialty", "month", name="uq_additionality_activity_key"
        ),
        CheckConstraint("activity >= 0", name="activity"),
        Index(
            "ix_additionality_activity_commissioner_code_specialty_month",
            "commissioner_code",
            "specialty",
            "month",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    provider_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    sector: Mapped[str] = mapped_column(String(12))
    """``nhs`` or ``independent``, from the provider's kind when the row was written."""
    commissioner_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    specialty: Mapped[str] = mapped_column(String(60))
    month: Mapped[dt.date] = mapped_column(Date)
    """The first day of the month."""
    activity: Mapped[int] = mapped_column(Integer)
    submitted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]


class ShortageList(Base):
    """One version of the shortage list of roles, in effect from a date until a later version's date."""

    __tablename__ = "additionality_shortage_lists"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    roles: Mapped[str] = mapped_column(Text)
    """Canonical JSON list of ``{"staff_group", "specialty"}``."""
    note: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]


class ParameterSet(Base):
    """One version of every rule's parameters; the highest version is the one checks use."""

    __tablename__ = "additionality_parameter_sets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    parameters: Mapped[str] = mapped_column(Text)
    """Canonical JSON of :class:`service.additionality.rules.Parameters`."""
    note: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]


class Check(Base):
    """One run of the rules over one offer, with what it read; the latest check of an offer counts."""

    __tablename__ = "additionality_checks"
    __table_args__ = (
        Index("ix_additionality_checks_offer_id", "offer_id"),
        Index("ix_additionality_checks_run_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("additionality_offers.id", ondelete="RESTRICT"))
    run_id: Mapped[uuid.UUID]
    """Checks made together (one offer, or all offers of a year) share a run id."""
    checked_at: Mapped[dt.datetime]
    checked_by: Mapped[str] = mapped_column(String(200))
    parameters_version: Mapped[int] = mapped_column(
        ForeignKey(
            "additionality_parameter_sets.version",
            ondelete="RESTRICT",
            name="fk_additionality_checks_parameters_version",
        )
    )
    shortage_list_version: Mapped[int | None] = mapped_column(
        ForeignKey(
            "additionality_shortage_lists.version",
            ondelete="RESTRICT",
            name="fk_additionality_checks_shortage_list_version",
        )
    )
    rules_version: Mapped[str] = mapped_column(String(20))
    input_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) of ``inputs``."""
    inputs: Mapped[str] = mapped_column(Text)
    """Canonical JSON of :class:`service.additionality.rules.OfferInputs`."""
    verdict: Mapped[str] = mapped_column(String(4))
    """The worst of the rule verdicts."""


class RuleResult(Base):
    """One rule's verdict in a check, with its measures and evidence rows."""

    __tablename__ = "additionality_rule_results"

    check_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("additionality_checks.id", ondelete="RESTRICT"),
        primary_key=True,
    )
    rule: Mapped[str] = mapped_column(String(30), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(4))
    summary: Mapped[str] = mapped_column(Text)
    measures: Mapped[str] = mapped_column(Text)
    """Canonical JSON object of the rule's measures."""
    evidence: Mapped[str] = mapped_column(Text)
    """Canonical JSON list of the rule's evidence rows."""
