"""The read-model tables, as SQLAlchemy Core objects (created by `migrations/`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, String, Table

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
