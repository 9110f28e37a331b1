"""Rendering for people: tables of money in French style."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from api.bootstrap import Services
from ledger.money import Money
from projections.indicators import IndicatorValues
from projections.vendors import VendorStatement


def print_balances(services: Services, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    # The read model keeps non-zero balances only: "accounts" counts those holding money.
    print(f"{'account kind':<20} {'accounts':>9} {'balance':>22}", file=out)
    for row in services.balances.by_kind():
        print(f"{row.kind:<20} {row.accounts:>9} {Money(row.balance_cents)!s:>22}", file=out)
    trial = services.balances.trial_balance()
    print(f"{'trial balance':<20} {'':>9} {Money(trial)!s:>22}", file=out)


def print_vendor_statements(
    statements: Sequence[VendorStatement], names: Mapping[str, str], out: TextIO
) -> None:
    """One line per vendor: what it sold, claimed, was paid and owes back, and its balance."""
    columns = ("captured", "refunded", "claimed", "paid", "debit notes", "owed")
    print(f"{'vendor':<27} {'sales':>5} " + " ".join(f"{c:>13}" for c in columns), file=out)
    for s in statements:
        amounts = (
            s.captured_cents,
            s.refunded_cents,
            s.claims_submitted_cents,
            s.paid_cents,
            s.debit_notes_cents,
            s.balance_owed_cents,
        )
        name = names.get(s.vendor_id, s.vendor_id)[:27]
        cells = " ".join(f"{Money(cents)!s:>13}" for cents in amounts)
        print(f"{name:<27} {s.captured_count:>5} {cells}", file=out)


def print_indicators(values: IndicatorValues, out: TextIO) -> None:
    print(f"{'teachers who spent':<27} {values.teachers_who_spent:>22}", file=out)
    print(f"{'purchases':<27} {Money(values.purchases_cents)!s:>22}", file=out)
    print(f"{'French EdTechs listed':<27} {values.french_edtechs_listed:>22}", file=out)
