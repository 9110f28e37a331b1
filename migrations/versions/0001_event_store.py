"""The event store: one log, `ledger_events`, in the eventsourcing library's schema.

SQLite: the notification id is the table's rowid, so the table keeps its rowid.
PostgreSQL: a bigserial notification id with a unique index, and the composite type
`stored_event_uuid` that the library's recorder inserts through.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SQLITE = """
CREATE TABLE ledger_events (
    originator_id TEXT,
    originator_version INTEGER,
    topic TEXT,
    state BLOB,
    PRIMARY KEY (originator_id, originator_version)
)
"""

POSTGRES = [
    """
    CREATE TABLE ledger_events (
        originator_id uuid NOT NULL,
        originator_version bigint NOT NULL,
        topic text,
        state bytea,
        notification_id bigserial,
        PRIMARY KEY (originator_id, originator_version)
    ) WITH (
        autovacuum_enabled = true,
        autovacuum_vacuum_threshold = 100000000,
        autovacuum_vacuum_scale_factor = 0.5,
        autovacuum_analyze_threshold = 1000,
        autovacuum_analyze_scale_factor = 0.01
    )
    """,
    "CREATE UNIQUE INDEX ledger_events_notification_id_idx ON ledger_events (notification_id ASC)",
    """
    DO $$ BEGIN
        CREATE TYPE stored_event_uuid AS (
            originator_id uuid, originator_version bigint, topic text, state bytea
        );
    EXCEPTION WHEN duplicate_object THEN NULL;
    END $$
    """,
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES:
            op.execute(statement)
    else:
        op.execute(SQLITE)


def downgrade() -> None:
    op.execute("DROP TABLE ledger_events")
