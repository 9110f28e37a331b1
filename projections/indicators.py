"""The programme's indicators, as the source paper counts them.

- **teachers who spent**: credit accounts with at least one captured hold. An account is
  one teacher in one campaign, so a teacher who spends in two campaigns counts twice; the
  log holds no more than opaque account ids, which is all this count needs.
- **purchases**: what teachers spent, in cents: captured minus refunded.
- **French EdTechs listed**: vendors with at least one resource that is listed and carries
  the « Français » label (`Label.FRANCAIS`) right now.

The projection keeps the two money counters, the set of accounts that captured, and per
resource its vendor, whether it is listed and whether it is labelled French; the counts
are taken when asked, so a withdrawal or a label withdrawn lowers them at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Engine, distinct, func, insert, select, update

from ledger.catalogue import Resource
from ledger.credits import CreditAccount
from ledger.eligibility import Label
from projections.schema import indicator_counters, indicator_resources, indicator_spenders
from projections.upkeep import add_rows

CAPTURED = "captured_cents"
REFUNDED = "refunded_cents"


class IndicatorsProjection:
    name = "indicators"
    tables = (indicator_counters, indicator_spenders, indicator_resources)

    def __init__(self) -> None:
        self.handlers: dict[type, Callable[[Connection, Counter[str], Any], None]] = {
            CreditAccount.HoldCaptured: self.captured,
            CreditAccount.Refunded: self.refunded,
            Resource.Listed: self.listed,
            Resource.Withdrawn: self.withdrawn,
            Resource.Relisted: self.relisted,
            Resource.LabelGranted: self.label_granted,
            Resource.LabelWithdrawn: self.label_withdrawn,
        }
        self.topics = tuple(get_topic(event_type) for event_type in self.handlers)

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        counters: Counter[str] = Counter()
        self.spenders: set[str] = set()
        for event in events:
            self.handlers[type(event)](conn, counters, event)
        self.add_spenders(conn)
        rows = [{"indicator": name, "value": value} for name, value in counters.items() if value]
        add_rows(conn, indicator_counters, ("indicator",), rows)

    def captured(self, conn: Connection, counters: Counter[str], event: Any) -> None:
        counters[CAPTURED] += event.amount_cents
        self.spenders.add(str(event.originator_id))

    def add_spenders(self, conn: Connection) -> None:
        """The page's spenders not seen before: one query and one insert per page."""
        if not self.spenders:
            return
        table = indicator_spenders
        known = set(
            conn.execute(
                select(table.c.account_id).where(table.c.account_id.in_(sorted(self.spenders)))
            ).scalars()
        )
        new = sorted(self.spenders - known)
        if new:
            conn.execute(insert(table), [{"account_id": account} for account in new])

    def refunded(self, conn: Connection, counters: Counter[str], event: Any) -> None:
        counters[REFUNDED] += event.amount_cents

    def listed(self, conn: Connection, counters: Counter[str], event: Any) -> None:
        conn.execute(
            insert(indicator_resources).values(
                resource_id=str(event.originator_id),
                vendor_id=event.vendor_id,
                is_listed=True,
                is_french=False,
            )
        )

    def withdrawn(self, conn: Connection, counters: Counter[str], event: Any) -> None:
        self.change(conn, event, is_listed=False)

    def relisted(self, conn: Connection, counters: Counter[str], event: Any) -> None:
        self.change(conn, event, is_listed=True)

    def label_granted(self, conn: Connection, counters: Counter[str], event: Any) -> None:
        if event.label is Label.FRANCAIS:
            self.change(conn, event, is_french=True)

    def label_withdrawn(self, conn: Connection, counters: Counter[str], event: Any) -> None:
        if event.label is Label.FRANCAIS:
            self.change(conn, event, is_french=False)

    @staticmethod
    def change(conn: Connection, event: Any, **values: bool) -> None:
        resource = indicator_resources.c.resource_id == str(event.originator_id)
        changed = conn.execute(update(indicator_resources).where(resource).values(**values))
        assert changed.rowcount == 1, f"resource {event.originator_id} was listed first"


@dataclass(frozen=True, slots=True)
class IndicatorValues:
    teachers_who_spent: int
    captured_cents: int
    refunded_cents: int
    french_edtechs_listed: int

    @property
    def purchases_cents(self) -> int:
        return self.captured_cents - self.refunded_cents


class Indicators:
    """Queries on the indicators read model."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def current(self) -> IndicatorValues:
        resources = indicator_resources.c
        french = select(func.count(distinct(resources.vendor_id))).where(
            resources.is_listed.is_(True), resources.is_french.is_(True)
        )
        counters = select(indicator_counters.c.indicator, indicator_counters.c.value)
        with self.engine.connect() as conn:
            spenders = conn.execute(select(func.count()).select_from(indicator_spenders)).scalar()
            values = {name: int(value) for name, value in conn.execute(counters)}
            vendors = conn.execute(french).scalar()
        return IndicatorValues(
            teachers_who_spent=int(spenders or 0),
            captured_cents=values.get(CAPTURED, 0),
            refunded_cents=values.get(REFUNDED, 0),
            french_edtechs_listed=int(vendors or 0),
        )
