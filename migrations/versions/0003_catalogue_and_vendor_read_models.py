"""Read models of the catalogue, the vendors' statements and the programme's indicators.

Each projection owns its tables: it may be rebuilt (its rows deleted, its position reset)
without touching another's. Some tables are a projection's working memory rather than
answers (the amounts of claim lines, the vendors of a payment batch): the events that
follow name only ids, and a projection never loads an aggregate to learn the rest.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(36)  # a UUID in its canonical text form
VENDOR = sa.String(64)  # an opaque id (`ledger.ids.MAX_OPAQUE_ID_LENGTH`)
CENTS = sa.BigInteger


def cents(name: str) -> sa.Column:
    return sa.Column(name, CENTS, nullable=False)


def upgrade() -> None:
    create_catalogue_tables()
    create_vendor_statement_tables()
    create_indicator_tables()


def create_catalogue_tables() -> None:
    op.create_table(
        "catalogue_resources",
        sa.Column("resource_id", ID, primary_key=True),
        sa.Column("vendor_id", VENDOR, nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("levels", sa.String(200), nullable=False),
        cents("price_cents"),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("is_listed", sa.Boolean, nullable=False),
        sa.Column("labels", sa.String(200), nullable=False),
    )
    op.create_index("catalogue_resources_kind_idx", "catalogue_resources", ["kind", "title"])
    op.create_index("catalogue_resources_vendor_idx", "catalogue_resources", ["vendor_id"])
    op.create_table(
        "catalogue_labels",
        sa.Column("resource_id", ID, primary_key=True),
        sa.Column("label", sa.String(64), primary_key=True),
    )
    op.create_index("catalogue_labels_label_idx", "catalogue_labels", ["label"])


def create_vendor_statement_tables() -> None:
    op.create_table(
        "vendor_statement_days",
        sa.Column("vendor_id", VENDOR, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        cents("captured_count"),
        cents("captured_cents"),
        cents("refunded_count"),
        cents("refunded_cents"),
        cents("claims_submitted_count"),
        cents("claims_submitted_cents"),
        cents("claims_approved_cents"),
        cents("claims_rejected_cents"),
        cents("paid_cents"),
    )
    op.create_table(
        "vendor_statement_claim_lines",
        sa.Column("claim_id", ID, primary_key=True),
        sa.Column("hold_id", ID, primary_key=True),
        sa.Column("vendor_id", VENDOR, nullable=False),
        cents("reimbursed_cents"),
    )
    op.create_table(
        "vendor_statement_batches",
        sa.Column("batch_id", ID, primary_key=True),
        sa.Column("vendor_id", VENDOR, primary_key=True),
        cents("amount_cents"),
    )


def create_indicator_tables() -> None:
    op.create_table(
        "indicator_counters",
        sa.Column("indicator", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "indicator_spenders",
        sa.Column("account_id", ID, primary_key=True),
    )
    op.create_table(
        "indicator_resources",
        sa.Column("resource_id", ID, primary_key=True),
        sa.Column("vendor_id", VENDOR, nullable=False),
        sa.Column("is_listed", sa.Boolean, nullable=False),
        sa.Column("is_french", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "indicator_resources",
        "indicator_spenders",
        "indicator_counters",
        "vendor_statement_batches",
        "vendor_statement_claim_lines",
        "vendor_statement_days",
    ):
        op.drop_table(table)
    op.drop_index("catalogue_labels_label_idx", "catalogue_labels")
    op.drop_table("catalogue_labels")
    op.drop_index("catalogue_resources_vendor_idx", "catalogue_resources")
    op.drop_index("catalogue_resources_kind_idx", "catalogue_resources")
    op.drop_table("catalogue_resources")
