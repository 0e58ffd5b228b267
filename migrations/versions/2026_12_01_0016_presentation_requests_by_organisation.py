"""verification: presentation requests by organisation, newest first

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-01 12:45:00.000000+00:00

The provider HR history (``GET /api/v1/presentation-requests``, ``/verify/history``) lists an
organisation's requests newest first: an index on ``(organisation_code, created_at)`` keeps that a range
read of one organisation instead of a scan and sort of every organisation's requests.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("presentation_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_presentation_requests_organisation_created", ["organisation_code", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("presentation_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_presentation_requests_organisation_created")
