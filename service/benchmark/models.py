"""Tables of the benchmark domain: provider submissions of learners, and published benchmarks."""

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class LearnerSubmissionRecord(Base):
    """A provider's figures for learners the registry does not hold (nurses, AHPs, apprentices,
    students): one row per site, financial year, staff group and route; a new submission replaces it."""

    __tablename__ = "benchmark_learners"
    __table_args__ = (
        UniqueConstraint(
            "site_code", "financial_year", "staff_group", "route", name="uq_benchmark_learners_key"
        ),
        CheckConstraint("learners >= 0 AND placements >= learners AND placement_weeks >= 0", name="counts"),
        CheckConstraint("financial_year BETWEEN 2000 AND 2098", name="year"),
        Index("ix_benchmark_learners_financial_year", "financial_year"),
        Index("ix_benchmark_learners_provider_code", "provider_code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    provider_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("organisations.code", ondelete="RESTRICT")
    )
    site_code: Mapped[str] = mapped_column(String(10), ForeignKey("organisations.code", ondelete="RESTRICT"))
    financial_year: Mapped[int]
    staff_group: Mapped[str] = mapped_column(String(20))
    route: Mapped[str] = mapped_column(String(30))
    learners: Mapped[int]
    placements: Mapped[int]
    placement_weeks: Mapped[float]
    submitted_by: Mapped[str] = mapped_column(String(200))
    submitted_at: Mapped[dt.datetime]


class PublishedBenchmark(Base):
    """A benchmark computed from the registry's data and published, with its input hash."""

    __tablename__ = "benchmarks"
    __table_args__ = (Index("ix_benchmarks_financial_year", "financial_year"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    financial_year: Mapped[int]
    inputs_sha256: Mapped[str] = mapped_column(String(64))
    registry_version: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class BenchmarkFile(Base):
    """One format of a published benchmark and its detached signature."""

    __tablename__ = "benchmark_files"
    __table_args__ = (CheckConstraint("format IN ('json', 'csv', 'xlsx', 'html')", name="format"),)

    benchmark_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("benchmarks.id", ondelete="CASCADE"), primary_key=True
    )
    format: Mapped[str] = mapped_column(String(10), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[str] = mapped_column(Text)
