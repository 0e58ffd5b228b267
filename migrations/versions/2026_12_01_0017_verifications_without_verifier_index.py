"""verification: no index of verifications by verifier

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 18:00:00.000000+00:00

No query reads verifications by verifier (a verifier's history is read through its presentation
requests, ``ix_presentation_requests_organisation_created``; a holder's through ``holder_id`` and
``holder_jkt``), yet every verification wrote an entry into ``ix_verifications_verifier_created``: on
SQLite one more page of the WAL for each verifier in a batch (decision 0043). Dropped; ``downgrade``
builds it again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_verifications_verifier_created", table_name="verifications")  # no table rebuild


def downgrade() -> None:
    op.create_index("ix_verifications_verifier_created", "verifications", ["verifier", "created_at"])
