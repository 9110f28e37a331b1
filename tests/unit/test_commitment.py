"""The balances commitment written fast (`ledger.commitment`) against its definition
(`ledger.checkpoints.balances_commitment`): the same digest for any balances, names with
characters JSON escapes included, and at every moment of balances that keep moving."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import checkpoints, commitment
from ledger.accounts import Posting
from ledger.commitment import RunningCommitment

# Names as the chart writes them, and names with what JSON must escape or may not write as is.
names = st.one_of(
    st.sampled_from(["funder:etat", "bank:v1", "teacher_available:a", "teacher_held:a"]),
    st.text(alphabet='ab:_-"\\é\x01\x7f ~#[]\u2028', min_size=0, max_size=6),
)
cents = st.one_of(st.just(0), st.integers(min_value=-(10**15), max_value=10**15))


@given(st.dictionaries(names, cents, max_size=60), st.integers(min_value=1, max_value=9))
def test_the_chunked_commitment_is_the_definition(balances, chunk):
    expected = checkpoints.balances_commitment(balances)
    assert commitment.balances_commitment(balances, chunk=chunk) == expected


moves = st.lists(st.tuples(names, names, cents), max_size=40)


@settings(max_examples=150)
@given(st.lists(moves, min_size=1, max_size=8), st.integers(min_value=1, max_value=4))
def test_a_running_commitment_is_the_definition_after_every_batch_of_moves(batches, chunk):
    """Small chunks, so that names are inserted into chunks, chunks split, and balances
    come back to zero between digests."""
    original, commitment.CHUNK = commitment.CHUNK, chunk
    try:
        running, balances = RunningCommitment(), dict[str, int]()
        for batch in batches:
            for source, destination, amount in batch:
                running.move(running, source, destination, amount)
                if amount:
                    balances[source] = balances.get(source, 0) - amount
                    balances[destination] = balances.get(destination, 0) + amount
            assert running.balances == balances
            assert running.digest() == checkpoints.balances_commitment(balances)
    finally:
        commitment.CHUNK = original


def test_postings_move_the_running_balances_and_a_digest_twice_is_the_same():
    running = RunningCommitment()
    assert running.digest() == checkpoints.balances_commitment({})
    running.apply([Posting("funder:etat", "campaign_budget:c", 700), Posting("a", "b", 0)])
    first = running.digest()
    assert first == running.digest() == checkpoints.balances_commitment(running.balances)
    assert running.balances == {"funder:etat": -700, "campaign_budget:c": 700}
    running.apply([Posting("campaign_budget:c", "funder:etat", 700)])  # back to zero
    assert running.digest() == checkpoints.balances_commitment({})


def test_a_balance_that_is_not_integer_cents_is_refused():
    running = RunningCommitment()
    running.move(running, "a", "b", 1.5)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="integer cents"):
        running.digest()
