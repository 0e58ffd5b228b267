"""Tables of the workforce domain: organisations, people, employments."""

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base

ORGANISATION_KINDS = ("region", "icb", "nhs_trust", "independent_provider", "independent_site")


class Organisation(Base):
    """A region, ICB, NHS trust, independent provider or independent site, keyed by its ODS code."""

    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('region', 'icb', 'nhs_trust', 'independent_provider', 'independent_site')", name="kind"
        ),
        Index("ix_organisations_kind", "kind"),
        Index("ix_organisations_parent_code", "parent_code"),
        Index("ix_organisations_icb_code", "icb_code"),
    )

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    parent_code: Mapped[str | None] = mapped_column(String(10), ForeignKey("organisations.code"))
    """Organisational parent: region of an ICB, ICB of a trust, provider of an independent site."""
    icb_code: Mapped[str | None] = mapped_column(String(10), ForeignKey("organisations.code"))
    """The ICB whose area the organisation is in (trusts and sites); used by additionality checks."""
    postcode: Mapped[str | None] = mapped_column(String(8))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    created_at: Mapped[dt.datetime]


class Person(Base):
    """A member of staff; doctors carry their 7-digit GMC reference number."""

    __tablename__ = "people"
    __table_args__ = (Index("ix_people_family_name", "family_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    gmc_number: Mapped[str | None] = mapped_column(String(7), unique=True)
    staff_group: Mapped[str] = mapped_column(String(30))
    grade: Mapped[str] = mapped_column(String(10))
    specialty: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[dt.datetime]


class Employment(Base):
    """Who works where, when, in which role, for how many sessions a week."""

    __tablename__ = "employments"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        CheckConstraint("contracted_sessions > 0 AND contracted_sessions <= 20", name="sessions"),
        Index("ix_employments_person_id", "person_id"),
        Index("ix_employments_organisation_code_start_date", "organisation_code", "start_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"))
    organisation_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    role: Mapped[str] = mapped_column(String(100))
    staff_group: Mapped[str] = mapped_column(String(30))
    specialty: Mapped[str | None] = mapped_column(String(60))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    contracted_sessions: Mapped[float]
    """Programmed activities (sessions) a week, 0.5 to 20."""
    created_at: Mapped[dt.datetime]
