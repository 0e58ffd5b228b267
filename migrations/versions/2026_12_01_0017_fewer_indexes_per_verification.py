"""verification and audit: no index of verifications by verifier, no unique index of audit hashes

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 18:00:00.000000+00:00

Two indexes that no query reads and every verification wrote into (decision 0043):
- ``ix_verifications_verifier_created``: a verifier's history is read through its presentation requests
  (``ix_presentation_requests_organisation_created``), a holder's through ``holder_id`` and
  ``holder_jkt``; nothing reads verifications by verifier.
- ``uq_audit_events_hash``: an event's hash is computed from its fields and ``prev_hash``, which is
  unique (two events can never follow the same one: decision 0003), and ``passport audit verify``
  recomputes every hash; nothing looks an event up by its hash (the tail is read by ``id``). Its key is
  random, so each event changed a page of its own: on SQLite one 4 KB page of the WAL a verification.
  On SQLite a table's UNIQUE constraint goes only with a rebuild of the table: the events are copied
  as they are (same ids, same order) and the append-only triggers of 0002 are made again.
``downgrade`` builds both again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_MESSAGE = "audit_events is append-only"


def _sqlite_triggers(create: bool) -> None:
    """The append-only triggers of migration 0002 on SQLite (they go with the table it rebuilds)."""
    for verb in ("UPDATE", "DELETE"):
        if create:
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )
        else:
            op.execute(f"DROP TRIGGER audit_events_no_{verb.lower()}")


def upgrade() -> None:
    op.drop_index("ix_verifications_verifier_created", table_name="verifications")  # no table rebuild
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("uq_audit_events_hash", "audit_events", type_="unique")
        return
    _sqlite_triggers(create=False)
    with op.batch_alter_table("audit_events", recreate="always") as batch_op:
        batch_op.drop_constraint("uq_audit_events_hash", type_="unique")
    _sqlite_triggers(create=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_unique_constraint("uq_audit_events_hash", "audit_events", ["hash"])
    else:
        _sqlite_triggers(create=False)
        with op.batch_alter_table("audit_events", recreate="always") as batch_op:
            batch_op.create_unique_constraint("uq_audit_events_hash", ["hash"])
        _sqlite_triggers(create=True)
    op.create_index("ix_verifications_verifier_created", "verifications", ["verifier", "created_at"])
