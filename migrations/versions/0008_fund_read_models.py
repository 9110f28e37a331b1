"""The internet fund's read models (`projections.fund` explains each).

`fund_movements` holds one row per movement of the fund, keyed by the fund's version, with
the balance after it: its index on `at` answers the balance at a moment, its index on
`month` the money in and out per month. `fund_levies` holds one row per operator and
period; its indexes answer a period's levies, an operator's, and the late ones (by due
date). `fund_subsidies` counts subsidies per territory and period, the territory read from
`fund_device_territories` (device → territory, from the pledges). `fund_cofinancings` and
`fund_cofinancing_funders` hold each territory's co-financing and its funders.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID_LENGTH = 36
SIREN_LENGTH = 9
PERIOD_LENGTH = 7
OPAQUE_ID_LENGTH = 64
KEY_LENGTH = 128
INDEXES = (
    ("fund_movements_at_idx", "fund_movements", ["at"]),
    ("fund_movements_month_idx", "fund_movements", ["month"]),
    ("fund_levies_period_idx", "fund_levies", ["period", "siren"]),
    ("fund_levies_siren_idx", "fund_levies", ["siren", "period"]),
    ("fund_levies_due_on_idx", "fund_levies", ["due_on"]),
    ("fund_subsidies_period_idx", "fund_subsidies", ["period"]),
    ("fund_cofinancings_territory_idx", "fund_cofinancings", ["territory_code"]),
)


def cents(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger, nullable=False)


def upgrade() -> None:
    op.create_table(
        "fund_movements",
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("month", sa.String(PERIOD_LENGTH), nullable=False),
        cents("paid_in_cents"),
        cents("paid_out_cents"),
        cents("balance_cents"),
        sa.Column("levy_id", sa.String(ID_LENGTH), nullable=True),
        sa.Column("payment_ref", sa.String(KEY_LENGTH), nullable=True),
        sa.Column("subsidy_period", sa.String(PERIOD_LENGTH), nullable=True),
    )
    op.create_table(
        "fund_levies",
        sa.Column("levy_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("siren", sa.String(SIREN_LENGTH), nullable=False),
        sa.Column("period", sa.String(PERIOD_LENGTH), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        cents("revenue_cents"),
        cents("declared_cents"),
        cents("due_cents"),
        sa.Column("corrections", sa.Integer, nullable=False),
        cents("paid_cents"),
        sa.Column("payments", sa.Integer, nullable=False),
        cents("paid_late_cents"),
        sa.Column("late_payments", sa.Integer, nullable=False),
        sa.Column("last_paid_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "fund_device_territories",
        sa.Column("device_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("territory_id", sa.String(ID_LENGTH), nullable=False),
    )
    op.create_table(
        "fund_subsidies",
        sa.Column("territory_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("period", sa.String(PERIOD_LENGTH), primary_key=True),
        sa.Column("subsidies", sa.Integer, nullable=False),
        cents("amount_cents"),
    )
    op.create_table(
        "fund_cofinancings",
        sa.Column("cofinancing_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("territory_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("territory_code", sa.String(OPAQUE_ID_LENGTH), nullable=False),
        sa.Column("weight_operator", sa.Integer, nullable=False),
        sa.Column("weight_local_authority", sa.Integer, nullable=False),
        sa.Column("weight_company", sa.Integer, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_closed", sa.Boolean, nullable=False),
        sa.Column("spends", sa.Integer, nullable=False),
        cents("spent_devices_cents"),
        cents("spent_subsidies_cents"),
    )
    op.create_table(
        "fund_cofinancing_funders",
        sa.Column("cofinancing_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("funder_id", sa.String(OPAQUE_ID_LENGTH), primary_key=True),
        sa.Column("funder_kind", sa.String(32), nullable=False),
        cents("pledged_cents"),
        cents("paid_cents"),
        cents("spent_cents"),
        cents("returned_cents"),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table)
    for table in (
        "fund_cofinancing_funders",
        "fund_cofinancings",
        "fund_subsidies",
        "fund_device_territories",
        "fund_levies",
        "fund_movements",
    ):
        op.drop_table(table)
