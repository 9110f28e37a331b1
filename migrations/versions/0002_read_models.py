"""Read models: projection positions and account balances.

`projection_positions` holds, per projection, the last notification id it has applied; each
projection writes its rows and its position in one transaction (exactly-once).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projection_positions",
        sa.Column("projection", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("events_applied", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "balances",
        sa.Column("account", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("balance_cents", sa.BigInteger, nullable=False),
    )
    op.create_index("balances_kind_idx", "balances", ["kind"])


def downgrade() -> None:
    op.drop_index("balances_kind_idx", "balances")
    op.drop_table("balances")
    op.drop_table("projection_positions")
