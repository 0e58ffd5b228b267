"""audit: one successor per event by id + 1 and an INSERT trigger, not a unique index of ``prev_hash``

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 04:30:00.000000+00:00

``uq_audit_events_prev_hash`` let no two events follow the same hash (no fork), but its key is random,
so every event wrote into a random page of it: on SQLite about one more 4 KB WAL page a verification
(decision 0052). The guarantee now rests on the primary key, whose keys are appended: every appender
writes the event's ``id`` as the tail's id + 1, and the trigger ``audit_events_at_the_tail`` refuses an
event unless its id is the largest id + 1 and its ``prev_hash`` is that event's hash (id 1 and the
genesis hash on an empty table). Two appenders extending one tail both write the same id, and one is
refused. Rows already stored are left as they are (PostgreSQL's may have id gaps, from the sequence
skipping on rollbacks); only new events follow the rule, and ``passport audit verify`` walks by id as
before.

- SQLite: a table's UNIQUE constraint goes only with a rebuild of the table: the events are copied as
  they are (same ids, same order) and the append-only triggers of 0002 are made again (as in 0017).
- PostgreSQL: the constraint is dropped, and so are the ``id`` column's default and its sequence: the ids
  come from the appenders, and a sequence left behind would hand out ids the chain has already used.
  The refusals raise SQLSTATE 23000 (integrity constraint violation), reported as an IntegrityError, as
  SQLite's ``RAISE(ABORT)`` is: the appenders' retry of a lost place takes both.

``downgrade`` drops the trigger and builds the unique constraint again (the events form one chain, so
their ``prev_hash`` values are distinct); on PostgreSQL the sequence comes back, set past the largest id.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
_APPEND_ONLY = "audit_events is append-only"
_AT_THE_TAIL = "audit_events grows at its tail: an event takes the next id and the last event hash"
_SEQUENCE = "audit_events_id_seq"


def _sqlite_triggers(create: bool) -> None:
    """On SQLite, the append-only triggers of migration 0002 (they go with the table a rebuild drops)."""
    for verb in ("UPDATE", "DELETE"):
        if create:
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )
        else:
            op.execute(f"DROP TRIGGER audit_events_no_{verb.lower()}")


# An id not given on SQLite reads as -1 in a BEFORE trigger (the rowid is chosen later), so it is refused.
_SQLITE_AT_THE_TAIL = f"""
CREATE TRIGGER audit_events_at_the_tail BEFORE INSERT ON audit_events
WHEN NOT EXISTS (
    SELECT 1 FROM (SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1) AS tail
    WHERE NEW.id = tail.id + 1 AND NEW.prev_hash = tail.hash
) AND (EXISTS (SELECT 1 FROM audit_events) OR NEW.id IS NOT 1 OR NEW.prev_hash IS NOT '{GENESIS}')
BEGIN SELECT RAISE(ABORT, '{_AT_THE_TAIL}'); END
"""  # noqa: S608 - our own constants, no input

_POSTGRES_AT_THE_TAIL = f"""
CREATE FUNCTION audit_events_at_the_tail() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tail_id bigint;
    tail_hash varchar;
BEGIN
    SELECT id, hash INTO tail_id, tail_hash FROM audit_events ORDER BY id DESC LIMIT 1;
    IF NOT FOUND THEN
        tail_id := 0;
        tail_hash := '{GENESIS}';
    END IF;
    IF NEW.id IS DISTINCT FROM tail_id + 1 OR NEW.prev_hash IS DISTINCT FROM tail_hash THEN
        RAISE EXCEPTION '{_AT_THE_TAIL}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$
"""  # noqa: S608 - our own constants, no input


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("uq_audit_events_prev_hash", "audit_events", type_="unique")
        op.execute("ALTER TABLE audit_events ALTER COLUMN id DROP DEFAULT")
        op.execute(f"DROP SEQUENCE IF EXISTS {_SEQUENCE}")
        op.execute(_POSTGRES_AT_THE_TAIL)
        op.execute(
            "CREATE TRIGGER audit_events_at_the_tail BEFORE INSERT ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_at_the_tail()"
        )
        return
    _sqlite_triggers(create=False)
    with op.batch_alter_table("audit_events", recreate="always") as batch_op:
        batch_op.drop_constraint("uq_audit_events_prev_hash", type_="unique")
    _sqlite_triggers(create=True)
    op.execute(_SQLITE_AT_THE_TAIL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_at_the_tail ON audit_events")
        op.execute("DROP FUNCTION audit_events_at_the_tail()")
        op.execute(f"CREATE SEQUENCE {_SEQUENCE} OWNED BY audit_events.id")
        op.execute(
            "SELECT setval('audit_events_id_seq', (SELECT coalesce(max(id), 0) + 1 FROM audit_events), false)"
        )
        op.execute(f"ALTER TABLE audit_events ALTER COLUMN id SET DEFAULT nextval('{_SEQUENCE}')")
        op.create_unique_constraint("uq_audit_events_prev_hash", "audit_events", ["prev_hash"])
        return
    op.execute("DROP TRIGGER audit_events_at_the_tail")
    _sqlite_triggers(create=False)
    with op.batch_alter_table("audit_events", recreate="always") as batch_op:
        batch_op.create_unique_constraint("uq_audit_events_prev_hash", ["prev_hash"])
    _sqlite_triggers(create=True)
