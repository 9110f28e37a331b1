"""Vendor statements show the share of captures a reimbursement rule withheld.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vendor_statement_days") as table:
        table.add_column(
            sa.Column("withheld_cents", sa.BigInteger, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("vendor_statement_days") as table:
        table.drop_column("withheld_cents")
