"""Signed checkpoints, and balances without zero rows.

`checkpoints` keeps every checkpoint the operator signed (`ledger.checkpoints`): the number
of events it covers (`log_size`, its key), the log position of the last of them, the
Merkle root, the balances commitment, when it was issued, the operator's signature and a
witness's co-signature once one is given (base64). Rows are only ever added (a witness's
signature is filled in once).

The balances read model keeps only non-zero balances from now on: which zero rows it held
depended on how the log had been paged when it was folded, so a rebuild could not match it.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

HASH_HEX_LENGTH = 64
TIME_LENGTH = 20  # 2026-11-29T22:40:00Z
SIGNATURE_LENGTH = 88  # 64 bytes in base64


def upgrade() -> None:
    op.create_table(
        "checkpoints",
        sa.Column("log_size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("root", sa.String(HASH_HEX_LENGTH), nullable=False),
        sa.Column("balances_sha256", sa.String(HASH_HEX_LENGTH), nullable=False),
        sa.Column("issued_at", sa.String(TIME_LENGTH), nullable=False),
        sa.Column("signature", sa.String(SIGNATURE_LENGTH), nullable=False),
        sa.Column("witness_signature", sa.String(SIGNATURE_LENGTH), nullable=True),
    )
    op.create_index("checkpoints_position_idx", "checkpoints", ["position"], unique=True)
    op.execute("DELETE FROM balances WHERE balance_cents = 0")


def downgrade() -> None:
    op.drop_index("checkpoints_position_idx", table_name="checkpoints")
    op.drop_table("checkpoints")
