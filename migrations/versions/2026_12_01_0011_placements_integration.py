"""placements integration: logbook counts kept on write; the dates and gates of a match run

Revision ID: 0011
Revises: 0005
Create Date: 2026-12-01 18:00:00.000000+00:00

``logbook_year_counts`` is filled from the logbook entries already stored (the same ``GROUP BY`` that
``service.placements.repository.rebuild_logbook_counts`` runs), so an existing registry's benchmark
counts them at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _backfill() -> None:
    logbook = sa.table(
        "placement_logbook",
        sa.column("person_id", sa.Uuid()),
        sa.column("gmc_number", sa.String()),
        sa.column("procedure_group", sa.String()),
        sa.column("date", sa.Date()),
        sa.column("supervision", sa.String()),
        sa.column("site_code", sa.String()),
    )
    counts = sa.table(
        "logbook_year_counts",
        sa.column("financial_year", sa.Integer()),
        sa.column("site_code", sa.String()),
        sa.column("procedure_group", sa.String()),
        sa.column("supervision", sa.String()),
        sa.column("person_id", sa.Uuid()),
        sa.column("gmc_number", sa.String()),
        sa.column("entries", sa.Integer()),
    )
    day = logbook.c.date
    year = sa.cast(sa.extract("year", day), sa.Integer) - sa.case(
        (sa.cast(sa.extract("month", day), sa.Integer) < 4, 1), else_=0
    )
    keys = (logbook.c.site_code, logbook.c.procedure_group, logbook.c.supervision, logbook.c.person_id)
    select = sa.select(year, *keys, sa.func.min(logbook.c.gmc_number), sa.func.count()).group_by(year, *keys)
    op.execute(
        counts.insert().from_select(
            [
                "financial_year",
                "site_code",
                "procedure_group",
                "supervision",
                "person_id",
                "gmc_number",
                "entries",
            ],
            select,
        )
    )


def upgrade() -> None:
    op.create_table(
        "logbook_year_counts",
        sa.Column("financial_year", sa.Integer(), nullable=False),
        sa.Column("site_code", sa.String(length=10), nullable=False),
        sa.Column("procedure_group", sa.String(length=60), nullable=False),
        sa.Column("supervision", sa.String(length=4), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("gmc_number", sa.String(length=7), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_logbook_year_counts_person_id_people"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "financial_year",
            "site_code",
            "procedure_group",
            "supervision",
            "person_id",
            name=op.f("pk_logbook_year_counts"),
        ),
    )
    with op.batch_alter_table("logbook_year_counts", schema=None) as batch_op:
        batch_op.create_index("ix_logbook_year_counts_person_id", ["person_id"], unique=False)
    with op.batch_alter_table("placement_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("start_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("end_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("gates", sa.Text(), nullable=True))
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("placement_runs", schema=None) as batch_op:
        batch_op.drop_column("gates")
        batch_op.drop_column("end_date")
        batch_op.drop_column("start_date")
    with op.batch_alter_table("logbook_year_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_logbook_year_counts_person_id")
    op.drop_table("logbook_year_counts")
