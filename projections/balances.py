"""Balances: every account's balance in cents, and the trial balance.

The projection folds `ledger.accounts.postings` of every money event. A page of events is
first summed in memory per account, then written as one upsert per touched account: a bulk
grant of 800,000 teachers touches the campaign budget once per page, not once per teacher.

The trial balance, the sum of all balances, is zero after every page: every posting takes
from one account exactly what it gives to another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledger.accounts import MONEY_EVENT_TYPES, account_kind, apply_postings, postings
from projections.schema import balances

MAX_ACCOUNTS_LISTED = 10_000
DELETE_CHUNK = 500  # accounts per statement when dropping balances that reached zero


class BalancesProjection:
    name = "balances"
    topics = tuple(get_topic(t) for t in MONEY_EVENT_TYPES)
    tables = (balances,)

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        deltas: dict[str, int] = {}
        for event in events:
            apply_postings(deltas, postings(event))
        rows = [
            {"account": a, "kind": account_kind(a), "balance_cents": d}
            for a, d in deltas.items()
            if d
        ]
        if not rows:
            return
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        statement = insert(balances)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[balances.c.account],
                set_={"balance_cents": balances.c.balance_cents + statement.excluded.balance_cents},
            ),
            rows,
        )
        # Only non-zero balances are kept: which zero rows remained would otherwise depend
        # on how the log was paged, and a rebuild would not find the same table.
        touched = [row["account"] for row in rows]
        for start in range(0, len(touched), DELETE_CHUNK):
            conn.execute(
                balances.delete().where(
                    balances.c.account.in_(touched[start : start + DELETE_CHUNK]),
                    balances.c.balance_cents == 0,
                )
            )


@dataclass(frozen=True, slots=True)
class KindTotal:
    kind: str
    accounts: int
    balance_cents: int


class Balances:
    """Queries on the balances read model."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def balance(self, account: str) -> int:
        with self.engine.connect() as conn:
            query = select(balances.c.balance_cents).where(balances.c.account == account)
            return conn.execute(query).scalar() or 0

    def by_kind(self) -> list[KindTotal]:
        query = (
            select(
                balances.c.kind, func.count(), func.coalesce(func.sum(balances.c.balance_cents), 0)
            )
            .group_by(balances.c.kind)
            .order_by(balances.c.kind)
        )
        with self.engine.connect() as conn:
            return [KindTotal(k, n, int(s)) for k, n, s in conn.execute(query)]

    def trial_balance(self) -> int:
        with self.engine.connect() as conn:
            total = conn.execute(select(func.sum(balances.c.balance_cents))).scalar()
            return int(total or 0)

    def all(self, limit: int = MAX_ACCOUNTS_LISTED) -> dict[str, int]:
        """Every account with a non-zero balance (tests, audits); at most `limit` rows."""
        query = (
            select(balances.c.account, balances.c.balance_cents)
            .where(balances.c.balance_cents != 0)
            .order_by(balances.c.account)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return {a: int(b) for a, b in conn.execute(query)}
