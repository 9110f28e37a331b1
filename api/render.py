"""Rendering for people: tables of money in French style."""

from __future__ import annotations

import sys
from typing import TextIO

from api.bootstrap import Services
from ledger.money import Money


def print_balances(services: Services, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    print(f"{'account kind':<20} {'accounts':>9} {'balance':>22}", file=out)
    for row in services.balances.by_kind():
        print(f"{row.kind:<20} {row.accounts:>9} {Money(row.balance_cents)!s:>22}", file=out)
    trial = services.balances.trial_balance()
    print(f"{'trial balance':<20} {'':>9} {Money(trial)!s:>22}", file=out)
