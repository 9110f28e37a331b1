"""The device banks' pipeline: one row per device, one per stay of a device in a stage.

`device_pipeline` holds each device's stage now, where it is (territory, refurbisher), when
it entered that stage, what its work was charged and how often it reached a pupil; its
indexes answer the counts per stage, the stuck devices and a donor's receipt.
`device_stage_stays` holds each stay of a device in a stage, from the event that entered it
to the one that left it: its index on (stage, lead time) finds the median and the 90th
percentile of a stage's lead times by rank (`projections.devices` explains the method).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID_LENGTH = 36
PARTY_LENGTH = 80
STAGE_LENGTH = 16
INDEXES = (
    ("device_pipeline_territory_idx", "device_pipeline", ["territory_id", "stage"]),
    ("device_pipeline_refurbisher_idx", "device_pipeline", ["refurbisher", "stage"]),
    ("device_pipeline_stage_idx", "device_pipeline", ["stage", "stage_entered_at"]),
    ("device_pipeline_donor_idx", "device_pipeline", ["donor", "serial_number"]),
    ("device_stage_stays_lead_time_idx", "device_stage_stays", ["stage", "lead_time_s"]),
)


def upgrade() -> None:
    op.create_table(
        "device_pipeline",
        sa.Column("device_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("territory_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("donor", sa.String(PARTY_LENGTH), nullable=False),
        sa.Column("kind", sa.String(STAGE_LENGTH), nullable=False),
        sa.Column("serial_number", sa.String(64), nullable=False),
        sa.Column("make", sa.String(100), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("pledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refurbisher", sa.String(PARTY_LENGTH), nullable=True),
        sa.Column("stage", sa.String(STAGE_LENGTH), nullable=False),
        sa.Column("stage_entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stay", sa.Integer, nullable=False),
        sa.Column("certificate_id", sa.String(64), nullable=True),
        sa.Column("charged_cents", sa.BigInteger, nullable=False),
        sa.Column("times_delivered", sa.Integer, nullable=False),
    )
    op.create_table(
        "device_stage_stays",
        sa.Column("device_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("stay", sa.Integer, primary_key=True),
        sa.Column("stage", sa.String(STAGE_LENGTH), nullable=False),
        sa.Column("territory_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("refurbisher", sa.String(PARTY_LENGTH), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lead_time_s", sa.BigInteger, nullable=True),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table)
    op.drop_table("device_stage_stays")
    op.drop_table("device_pipeline")
