"""API keys for vendors' systems: stored as a SHA-256 of the secret, scoped, revocable.

One row per key (`api.keys` describes the table and explains why a fast hash is enough);
the index on subject lists a vendor's keys.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("scopes", sa.String(2000), nullable=False, server_default=""),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(160), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(160), nullable=True),
    )
    op.create_index("api_keys_subject_idx", "api_keys", ["subject"])


def downgrade() -> None:
    op.drop_index("api_keys_subject_idx", "api_keys")
    op.drop_table("api_keys")
