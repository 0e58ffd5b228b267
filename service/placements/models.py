"""Tables of the placements domain.

Registry-wide facts: NHS-funded procedure volumes per site (``placement_volumes``), curriculum
indicative numbers (``placement_curriculum``), logbook entries per person (``placement_logbook``), their
counts per financial year kept on every logbook write (``logbook_year_counts``, read by the benchmark) and
published placement records (``placement_records``). Per rotation plan (a *dataset*, owned by the
training office that made it): its files (sites, capacity, trainees, needs, preferences, weights, gates)
kept as checked canonical CSV, and its match runs with their inputs' SHA-256, parameters, seed and result.
"""

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class Dataset(Base):
    """A rotation plan: the files a training office loads and matches, e.g. "London, August 2027"."""

    __tablename__ = "placement_datasets"
    __table_args__ = (Index("ix_placement_datasets_organisation_code", "organisation_code"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    organisation_code: Mapped[str | None] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    """The training office (its organisation) that owns the plan; None: made by an admin."""
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class DatasetFile(Base):
    """One file of a dataset, checked and written back in canonical form (rows sorted by key)."""

    __tablename__ = "placement_dataset_files"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("placement_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    rows: Mapped[int]
    loaded_at: Mapped[dt.datetime]
    loaded_by: Mapped[str] = mapped_column(String(200))


class Volume(Base):
    """NHS-funded procedures a year at an independent site, by specialty and procedure group."""

    __tablename__ = "placement_volumes"

    site_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT"), primary_key=True
    )
    specialty: Mapped[str] = mapped_column(String(60), primary_key=True)
    procedure_group: Mapped[str] = mapped_column(String(60), primary_key=True)
    financial_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    nhs_funded_count: Mapped[int]
    loaded_at: Mapped[dt.datetime]


class CurriculumItem(Base):
    """An indicative number of a specialty's curriculum and the supervision level at which it counts."""

    __tablename__ = "placement_curriculum"

    specialty: Mapped[str] = mapped_column(String(60), primary_key=True)
    procedure_group: Mapped[str] = mapped_column(String(60), primary_key=True)
    indicative_number: Mapped[int]
    min_supervision: Mapped[str] = mapped_column(String(4))
    loaded_at: Mapped[dt.datetime]


class LogbookEntry(Base):
    """One procedure in a doctor's surgical logbook."""

    __tablename__ = "placement_logbook"
    __table_args__ = (
        Index("ix_placement_logbook_person_id", "person_id"),
        Index("ix_placement_logbook_date", "date"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"))
    gmc_number: Mapped[str] = mapped_column(String(7))
    """The person's GMC number as the logbook file gave it (the trainee_id)."""
    procedure_group: Mapped[str] = mapped_column(String(60))
    date: Mapped[dt.date] = mapped_column(Date)
    supervision: Mapped[str] = mapped_column(String(4))
    site_code: Mapped[str] = mapped_column(String(10), ForeignKey("organisations.code", ondelete="RESTRICT"))
    loaded_at: Mapped[dt.datetime]


class LogbookYearCount(Base):
    """Logbook entries of one trainee in one financial year (1 April to 31 March) at one site, in one
    procedure group, at one supervision level: kept equal to the ``GROUP BY`` of ``placement_logbook`` by
    every logbook write, in the same transaction (``repository.replace_logbooks``), so the national
    benchmark reads about 50 times fewer rows than there are entries
    (``docs/decisions/0020-logbook-counts-and-specialties.md``)."""

    __tablename__ = "logbook_year_counts"
    __table_args__ = (Index("ix_logbook_year_counts_person_id", "person_id"),)

    financial_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    """The year in which the financial year starts (2025 for 2025-26)."""
    site_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    procedure_group: Mapped[str] = mapped_column(String(60), primary_key=True)
    supervision: Mapped[str] = mapped_column(String(4), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("people.id", ondelete="RESTRICT"), primary_key=True
    )
    gmc_number: Mapped[str] = mapped_column(String(7))
    entries: Mapped[int] = mapped_column(Integer)


class Run(Base):
    """A match run: its parameters, the SHA-256 of its inputs and its result (JSON, as documented)."""

    __tablename__ = "placement_runs"
    __table_args__ = (Index("ix_placement_runs_dataset_id", "dataset_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("placement_datasets.id", ondelete="RESTRICT"))
    mode: Mapped[str] = mapped_column(String(10))
    training_share: Mapped[float]
    rotation_months: Mapped[int]
    financial_year: Mapped[str] = mapped_column(String(7))
    seed: Mapped[int] = mapped_column(BigInteger)
    input_sha256: Mapped[str] = mapped_column(String(64))
    result: Mapped[bytes] = mapped_column(LargeBinary)
    summary: Mapped[str] = mapped_column(Text)
    """The result's summary as JSON, to list runs without decoding results."""
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[dt.datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    """First day of the placements the run is for; its gates were evaluated for these dates (None: a run
    made before runs had dates)."""
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    gates: Mapped[str | None] = mapped_column(Text)
    """The gates the service applied (``RunGates`` as JSON): additionality, passport policies per site."""


class PlacementRecord(Base):
    """A published training placement: who, where, in which specialty and grade, from when to when."""

    __tablename__ = "placement_records"
    __table_args__ = (
        Index("ix_placement_records_person_id", "person_id"),
        Index("ix_placement_records_site_code_start_date", "site_code", "start_date"),
        Index("ix_placement_records_run_id", "run_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"))
    gmc_number: Mapped[str] = mapped_column(String(7))
    site_code: Mapped[str] = mapped_column(String(10), ForeignKey("organisations.code", ondelete="RESTRICT"))
    specialty: Mapped[str] = mapped_column(String(60))
    grade: Mapped[str] = mapped_column(String(10))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("placement_runs.id", ondelete="RESTRICT"))
    published_at: Mapped[dt.datetime]
