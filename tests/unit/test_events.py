"""Events hold plain values only: no float near money, no mutable list (arrays decode as
tuples), and every money event has postings."""

from __future__ import annotations

import pytest

from ledger import accounts
from ledger.campaigns import Campaign
from ledger.credits import CreditAccount

EVENT_CLASSES = [
    cls
    for aggregate in (Campaign, CreditAccount)
    for cls in vars(aggregate).values()
    if isinstance(cls, type)
    and issubclass(cls, aggregate.Event | aggregate.Created)
    and vars(cls).get("__annotations__")  # our own events, with fields of their own
]


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=lambda c: c.__qualname__)
def test_event_fields_are_plain_immutable_values(event_class: type) -> None:
    # The class's own annotations (text, under `from __future__ import annotations`).
    for field, text in vars(event_class)["__annotations__"].items():
        assert "float" not in text, f"{event_class.__qualname__}.{field} is a float"
        assert "list" not in text and "dict" not in text, (
            f"{event_class.__qualname__}.{field} is mutable: use a tuple"
        )


def test_every_event_that_moves_money_has_postings() -> None:
    moving = {Campaign.Opened, Campaign.Closed} | {
        c for c in EVENT_CLASSES if c.__qualname__.startswith("CreditAccount.")
    }
    assert moving <= set(accounts.MONEY_EVENT_TYPES)
    assert Campaign.CreditsGranted not in accounts.MONEY_EVENT_TYPES  # accounts post grants
