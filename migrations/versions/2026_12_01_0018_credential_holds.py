"""credentials: issuers' holds (suspensions, revocations) on a holder's credential type

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 18:40:00.000000+00:00

An issuer's suspension or revocation is kept per (person, credential type), so no re-issue (a record
change, a renewal, the August changeover, a new holder key, a wallet's offer) lifts it (decision 0046).
The credentials suspended when this runs become holds (the issuer who suspended them is not known: an
admin or any issuer of their records may reinstate them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credential_holds",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("credential_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_code", sa.String(length=10), nullable=True),
        sa.Column("record_ids", sa.JSON(), nullable=False),
        sa.Column("since", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('suspended', 'revoked')", name=op.f("ck_credential_holds_state")),
        sa.ForeignKeyConstraint(
            ["credential_id"], ["credentials.id"], name=op.f("fk_credential_holds_credential_id_credentials")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_credential_holds_person_id_people"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("person_id", "kind", name=op.f("pk_credential_holds")),
    )
    # credentials suspended before holds existed: one hold per (person, type), on its newest
    op.execute(
        """
        INSERT INTO credential_holds (person_id, kind, state, reason, credential_id, organisation_code,
                                      record_ids, since)
        SELECT c.person_id, c.kind, 'suspended', COALESCE(c.state_reason, 'suspended'), c.id, NULL, '[]',
               COALESCE(c.state_changed_at, c.issued_at)
        FROM credentials c
        WHERE c.state = 'suspended' AND c.superseded_by_id IS NULL
          AND NOT EXISTS (
              SELECT 1 FROM credentials d
              WHERE d.person_id = c.person_id AND d.kind = c.kind AND d.state = 'suspended'
                AND d.superseded_by_id IS NULL
                AND (d.issued_at > c.issued_at OR (d.issued_at = c.issued_at AND d.id > c.id))
          )
        """
    )


def downgrade() -> None:
    op.drop_table("credential_holds")
