"""The read-model tables, as SQLAlchemy Core objects (created by `migrations/`): projection
positions and balances (0002); the catalogue, vendor statements and indicators (0003); the
device banks' pipeline (0007); the internet fund (0008); signed checkpoints (0009)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

projection_positions = Table(
    "projection_positions",
    metadata,
    Column("projection", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("events_applied", BigInteger, nullable=False),
)

balances = Table(
    "balances",
    metadata,
    Column("account", String(200), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("balance_cents", BigInteger, nullable=False),
)

ID_LENGTH = 36  # a UUID in its canonical text form
VENDOR_ID_LENGTH = 64  # an opaque id: `ledger.ids.MAX_OPAQUE_ID_LENGTH`


def _cents(name: str) -> Column:
    return Column(name, BigInteger, nullable=False)


catalogue_resources = Table(
    "catalogue_resources",
    metadata,
    Column("resource_id", String(ID_LENGTH), primary_key=True),
    Column("vendor_id", String(VENDOR_ID_LENGTH), nullable=False),
    Column("reference", String(128), nullable=False),
    Column("title", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("levels", String(200), nullable=False),  # school levels' values, comma-separated
    _cents("price_cents"),
    Column("revision", Integer, nullable=False),
    Column("is_listed", Boolean, nullable=False),
    Column("labels", String(200), nullable=False),  # labels' values, comma-separated
)

catalogue_labels = Table(
    "catalogue_labels",
    metadata,
    Column("resource_id", String(ID_LENGTH), primary_key=True),
    Column("label", String(64), primary_key=True),
)

vendor_statement_days = Table(
    "vendor_statement_days",
    metadata,
    Column("vendor_id", String(VENDOR_ID_LENGTH), primary_key=True),
    Column("day", Date, primary_key=True),
    _cents("captured_count"),
    _cents("captured_cents"),
    _cents("refunded_count"),
    _cents("refunded_cents"),
    _cents("claims_submitted_count"),
    _cents("claims_submitted_cents"),
    _cents("claims_approved_cents"),
    _cents("claims_rejected_cents"),
    _cents("paid_cents"),
    _cents("withheld_cents"),  # migration 0004
    _cents("debit_notes_count"),  # migration 0005
    _cents("debit_notes_cents"),  # migration 0005
    _cents("debited_cents"),  # migration 0005
)

vendor_statement_claim_lines = Table(
    "vendor_statement_claim_lines",
    metadata,
    Column("claim_id", String(ID_LENGTH), primary_key=True),
    Column("hold_id", String(ID_LENGTH), primary_key=True),
    Column("vendor_id", String(VENDOR_ID_LENGTH), nullable=False),
    _cents("reimbursed_cents"),
)

vendor_statement_batches = Table(
    "vendor_statement_batches",
    metadata,
    Column("batch_id", String(ID_LENGTH), primary_key=True),
    Column("vendor_id", String(VENDOR_ID_LENGTH), primary_key=True),
    _cents("amount_cents"),
)

indicator_counters = Table(
    "indicator_counters",
    metadata,
    Column("indicator", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

indicator_spenders = Table(
    "indicator_spenders",
    metadata,
    Column("account_id", String(ID_LENGTH), primary_key=True),
)

indicator_resources = Table(
    "indicator_resources",
    metadata,
    Column("resource_id", String(ID_LENGTH), primary_key=True),
    Column("vendor_id", String(VENDOR_ID_LENGTH), nullable=False),
    Column("is_listed", Boolean, nullable=False),
    Column("is_french", Boolean, nullable=False),
)

# Device banks (migration 0007): one row per device, and one per stay of a device in a stage.
PARTY_LENGTH = 80  # `individual:` and an opaque reference of at most 64 characters
STAGE_LENGTH = 16

device_pipeline = Table(
    "device_pipeline",
    metadata,
    Column("device_id", String(ID_LENGTH), primary_key=True),
    Column("territory_id", String(ID_LENGTH), nullable=False),
    Column("donor", String(PARTY_LENGTH), nullable=False),
    Column("kind", String(STAGE_LENGTH), nullable=False),
    Column("serial_number", String(64), nullable=False),
    Column("make", String(100), nullable=False),
    Column("model", String(100), nullable=False),
    Column("pledged_at", DateTime(timezone=True), nullable=False),
    Column("refurbisher", String(PARTY_LENGTH), nullable=True),  # none before it is received
    Column("stage", String(STAGE_LENGTH), nullable=False),
    Column("stage_entered_at", DateTime(timezone=True), nullable=False),
    Column("stay", Integer, nullable=False),  # its current stay's number among all its stays
    Column("certificate_id", String(64), nullable=True),  # its erasure certificate, once wiped
    _cents("charged_cents"),  # refurbishment and repairs charged to the programme
    Column("times_delivered", Integer, nullable=False),
)

device_stage_stays = Table(
    "device_stage_stays",
    metadata,
    Column("device_id", String(ID_LENGTH), primary_key=True),
    Column("stay", Integer, primary_key=True),
    Column("stage", String(STAGE_LENGTH), nullable=False),
    Column("territory_id", String(ID_LENGTH), nullable=False),
    Column("refurbisher", String(PARTY_LENGTH), nullable=True),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("left_at", DateTime(timezone=True), nullable=True),  # none while in the stage
    Column("lead_time_s", BigInteger, nullable=True),
)

# The internet fund (migration 0008): the fund's movements, levies, subsidies, co-financing.
SIREN_LENGTH = 9
PERIOD_LENGTH = 7  # `2027`, `2027-S1`, `2027-T3` or `2027-09`
OPAQUE_ID_LENGTH = 64  # `ledger.ids.MAX_OPAQUE_ID_LENGTH`: funder ids, territory codes
KEY_LENGTH = 128  # `ledger.ids.MAX_KEY_LENGTH`: a bank's reference of a payment

fund_movements = Table(
    "fund_movements",
    metadata,
    Column("version", BigInteger, primary_key=True),  # the fund aggregate's event version
    Column("at", DateTime(timezone=True), nullable=False),
    Column("month", String(PERIOD_LENGTH), nullable=False),  # `2027-09`, in UTC
    _cents("paid_in_cents"),
    _cents("paid_out_cents"),
    _cents("balance_cents"),  # after this movement
    Column("levy_id", String(ID_LENGTH), nullable=True),
    Column("payment_ref", String(KEY_LENGTH), nullable=True),
    Column("subsidy_period", String(PERIOD_LENGTH), nullable=True),
)

fund_levies = Table(
    "fund_levies",
    metadata,
    Column("levy_id", String(ID_LENGTH), primary_key=True),
    Column("siren", String(SIREN_LENGTH), nullable=False),
    Column("period", String(PERIOD_LENGTH), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("declared_at", DateTime(timezone=True), nullable=False),
    _cents("revenue_cents"),
    _cents("declared_cents"),
    _cents("due_cents"),
    Column("corrections", Integer, nullable=False),
    _cents("paid_cents"),
    Column("payments", Integer, nullable=False),
    _cents("paid_late_cents"),
    Column("late_payments", Integer, nullable=False),
    Column("last_paid_at", DateTime(timezone=True), nullable=True),
)

fund_device_territories = Table(
    "fund_device_territories",
    metadata,
    Column("device_id", String(ID_LENGTH), primary_key=True),
    Column("territory_id", String(ID_LENGTH), nullable=False),
)

fund_subsidies = Table(
    "fund_subsidies",
    metadata,
    Column("territory_id", String(ID_LENGTH), primary_key=True),
    Column("period", String(PERIOD_LENGTH), primary_key=True),
    Column("subsidies", Integer, nullable=False),
    _cents("amount_cents"),
)

fund_cofinancings = Table(
    "fund_cofinancings",
    metadata,
    Column("cofinancing_id", String(ID_LENGTH), primary_key=True),
    Column("territory_id", String(ID_LENGTH), nullable=False),
    Column("territory_code", String(OPAQUE_ID_LENGTH), nullable=False),
    Column("weight_operator", Integer, nullable=False),
    Column("weight_local_authority", Integer, nullable=False),
    Column("weight_company", Integer, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("is_closed", Boolean, nullable=False),
    Column("spends", Integer, nullable=False),
    _cents("spent_devices_cents"),
    _cents("spent_subsidies_cents"),
)

fund_cofinancing_funders = Table(
    "fund_cofinancing_funders",
    metadata,
    Column("cofinancing_id", String(ID_LENGTH), primary_key=True),
    Column("funder_id", String(OPAQUE_ID_LENGTH), primary_key=True),
    Column("funder_kind", String(32), nullable=False),
    _cents("pledged_cents"),
    _cents("paid_cents"),
    _cents("spent_cents"),
    _cents("returned_cents"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("log_size", BigInteger, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False, unique=True),
    Column("root", String(64), nullable=False),
    Column("balances_sha256", String(64), nullable=False),
    Column("issued_at", String(20), nullable=False),
    Column("signature", String(88), nullable=False),
    Column("witness_signature", String(88), nullable=True),
)
