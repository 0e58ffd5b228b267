"""credentials: the outbox's claim in a column of its own (``claimed_at``), not in ``last_error``

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 21:45:00.000000+00:00

A sender claims a notification before it mails it, so two senders do not both send it; the claim was
written into ``last_error`` as ``sending since <ISO time>``. It is now the nullable ``claimed_at``, and
``last_error`` holds only errors. A row being sent when this runs keeps its claim: its time moves to
``claimed_at`` and its ``last_error`` is emptied (an unreadable time, which no sender honoured, is simply
dropped). Downgrading writes a claim back as ``sending since <time>`` (as the old sender did, over the
previous error) and drops the column.
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENDING = "sending since "

notifications = sa.table(
    "credential_notifications",
    sa.column("id", sa.Uuid()),
    sa.column("last_error", sa.String(length=300)),
    sa.column("claimed_at", service.db.UTCDateTime(timezone=True)),
)


def _since(text: str) -> dt.datetime | None:
    try:
        since = dt.datetime.fromisoformat(text.removeprefix(SENDING))
    except ValueError:
        return None
    return since if since.tzinfo is not None else since.replace(tzinfo=dt.UTC)


def upgrade() -> None:
    with op.batch_alter_table("credential_notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", service.db.UTCDateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    claims = bind.execute(
        sa.select(notifications.c.id, notifications.c.last_error).where(
            notifications.c.last_error.like(f"{SENDING}%")
        )
    ).all()
    if claims:
        bind.execute(
            notifications.update()
            .where(notifications.c.id == sa.bindparam("note_id"))
            .values(claimed_at=sa.bindparam("since"), last_error=None),
            [{"note_id": note_id, "since": _since(text)} for note_id, text in claims],
        )


def downgrade() -> None:
    bind = op.get_bind()
    claims = bind.execute(
        sa.select(notifications.c.id, notifications.c.claimed_at).where(
            notifications.c.claimed_at.is_not(None)
        )
    ).all()
    if claims:
        bind.execute(
            notifications.update()
            .where(notifications.c.id == sa.bindparam("note_id"))
            .values(last_error=sa.bindparam("claim")),
            [{"note_id": note_id, "claim": f"{SENDING}{since.isoformat()}"} for note_id, since in claims],
        )
    with op.batch_alter_table("credential_notifications", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
