"""verification: presentation requests, verifications, used nonces

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 09:22:42.305458+00:00

Presentation requests of verifiers, verifications (their full result sealed with the data key) and the
nonces key-binding JWTs have used (a second use is a replay).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "used_nonces",
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("used_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_used_nonces")),
    )
    with op.batch_alter_table("used_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_used_nonces_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "presentation_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_code", sa.String(length=10), nullable=False),
        sa.Column("verifier", sa.String(length=200), nullable=False),
        sa.Column("audience", sa.String(length=200), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("subject_hint", sa.String(length=7), nullable=True),
        sa.Column("evaluate_on", sa.Date(), nullable=True),
        sa.Column("created_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("answered_at", service.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'answered')", name=op.f("ck_presentation_requests_state")),
        sa.ForeignKeyConstraint(
            ["organisation_code"],
            ["organisations.code"],
            name=op.f("fk_presentation_requests_organisation_code_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["compliance_policies.id"],
            name=op.f("fk_presentation_requests_policy_id_compliance_policies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presentation_requests")),
        sa.UniqueConstraint("nonce", name=op.f("uq_presentation_requests_nonce")),
    )
    with op.batch_alter_table("presentation_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_presentation_requests_verifier_created", ["verifier", "created_at"], unique=False
        )

    op.create_table(
        "verifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("organisation_code", sa.String(length=10), nullable=False),
        sa.Column("verifier", sa.String(length=200), nullable=False),
        sa.Column("submitted_by", sa.String(length=20), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("holder_id", sa.String(length=80), nullable=True),
        sa.Column("holder_jkt", sa.String(length=64), nullable=True),
        sa.Column("disclosed", sa.JSON(), nullable=False),
        sa.Column("result_key_id", sa.String(length=40), nullable=False),
        sa.Column("result_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", service.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "submitted_by IN ('holder', 'verifier')", name=op.f("ck_verifications_submitted_by")
        ),
        sa.CheckConstraint(
            "verdict IN ('valid', 'invalid', 'not_compliant')", name=op.f("ck_verifications_verdict")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_code"],
            ["organisations.code"],
            name=op.f("fk_verifications_organisation_code_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["compliance_policies.id"],
            name=op.f("fk_verifications_policy_id_compliance_policies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["presentation_requests.id"],
            name=op.f("fk_verifications_request_id_presentation_requests"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifications")),
        sa.UniqueConstraint("request_id", name=op.f("uq_verifications_request_id")),
    )
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.create_index("ix_verifications_holder_id", ["holder_id", "created_at"], unique=False)
        batch_op.create_index("ix_verifications_holder_jkt", ["holder_jkt", "created_at"], unique=False)
        batch_op.create_index("ix_verifications_verifier_created", ["verifier", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.drop_index("ix_verifications_verifier_created")
        batch_op.drop_index("ix_verifications_holder_jkt")
        batch_op.drop_index("ix_verifications_holder_id")

    op.drop_table("verifications")
    with op.batch_alter_table("presentation_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_presentation_requests_verifier_created")

    op.drop_table("presentation_requests")
    with op.batch_alter_table("used_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_nonces_expires_at"))

    op.drop_table("used_nonces")
