"""Vendor statements show debit notes: raised on refunds after approval, deducted from batches.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ("debit_notes_count", "debit_notes_cents", "debited_cents")


def upgrade() -> None:
    with op.batch_alter_table("vendor_statement_days") as table:
        for name in COLUMNS:
            table.add_column(sa.Column(name, sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("vendor_statement_days") as table:
        for name in reversed(COLUMNS):
            table.drop_column(name)
