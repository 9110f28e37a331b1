"""The arithmetic of co-financing: the ratio of the funder kinds, the matched amount, and
the lineage of a spend (`ledger.cofinancing` records them).

The **ratio** weighs the three funder kinds in their stated order (operator, local
authorities, companies): 1:1:1 is the paper's rule. The **matched** amount is the largest
total T such that each kind has paid its share of T, T × weight ÷ sum of weights; with
1:1:1, three times the smallest kind's payments.

A spend's **lineage** is split in two steps. Between the kinds, by the ratio, the cents
that do not divide going to the kinds furthest below their share of everything spent
after this spend (ties in the stated order): with three kinds each kind's total stays
within one cent of its exact share, hence within what it paid while spending stays within
the matched amount. Within a kind, by what each funder paid and has not yet seen spent,
by largest remainder (`ledger.money`): no funder is ever spent beyond what it paid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum

from ledger.errors import InvalidFunders
from ledger.money import Amounts, allocate_cents

DEFAULT_RATIO = (1, 1, 1)  # 1 € from the operator, 1 € from local authorities, 1 € companies
MAX_RATIO_WEIGHT = 100

Ratio = tuple[int, int, int]  # the weights of the funder kinds, in their stated order


class FunderKind(Enum):
    OPERATOR = "operator"  # Banque des Territoires
    LOCAL_AUTHORITY = "local_authority"  # commune, département, région
    COMPANY = "company"


KINDS = tuple(FunderKind)  # the stated order


def check_ratio(ratio: Sequence[int]) -> Ratio:
    weights = tuple(ratio)
    if len(weights) != len(KINDS) or not all(
        type(w) is int and 1 <= w <= MAX_RATIO_WEIGHT for w in weights
    ):
        raise InvalidFunders(
            f"a ratio is three whole numbers from 1 to {MAX_RATIO_WEIGHT}: operator, local "
            "authorities, companies",
            field="ratio",
        )
    return weights  # type: ignore[return-value]


def matched_cents(paid_by_kind: Sequence[int], ratio: Ratio) -> int:
    """The largest total whose share for each kind, by the ratio, that kind has paid."""
    total_weight = sum(ratio)
    return min(paid * total_weight // w for paid, w in zip(paid_by_kind, ratio, strict=True))


def split_by_kind(amount_cents: int, spent_by_kind: Sequence[int], ratio: Ratio) -> list[int]:
    """A spend's parts for the kinds: by the ratio, the cents that do not divide to the kinds
    furthest below their share of all spending after this one (ties in the stated order).

    With three kinds this keeps each kind's total within one cent of its exact share, so a
    kind is never spent beyond its share rounded up, which it has paid while the total
    stays within the matched amount."""
    total_weight = sum(ratio)
    spent_after = sum(spent_by_kind) + amount_cents
    parts = [amount_cents * w // total_weight for w in ratio]
    # Below its share by (exact share − what it would then have spent), scaled by the weights.
    below = [
        spent_after * w - total_weight * (spent + part)
        for w, spent, part in zip(ratio, spent_by_kind, parts, strict=True)
    ]
    for i in sorted(range(len(parts)), key=lambda i: (-below[i], i))[: amount_cents - sum(parts)]:
        parts[i] += 1
    return parts


def split_in_kind(amount_cents: int, unspent: Mapping[str, int]) -> Amounts:
    """A kind's part of a spend between its funders, by what each has paid and not seen
    spent (largest remainder; funder ids in order)."""
    if amount_cents == 0:
        return ()
    funders = sorted(unspent)
    assert sum(unspent.values()) >= amount_cents, "the matched amount bounds every kind"
    parts = allocate_cents(amount_cents, [unspent[f] for f in funders])
    return tuple((f, c) for f, c in zip(funders, parts, strict=True) if c)
