"""Redemption codes and rate limits, without I/O."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.codes import CODE_LENGTH, RedemptionCodes, derive_code_secret
from api.limits import RateLimiter
from ledger.errors import HoldNotFound, RateLimited

CODES = RedemptionCodes(derive_code_secret(b"k" * 32))
ACCOUNT, HOLD = UUID(int=7), UUID(int=8)


def test_a_code_names_its_account_and_hold_and_is_the_same_each_time():
    code = CODES.encode(ACCOUNT, HOLD)
    assert len(code) == CODE_LENGTH and code == CODES.encode(ACCOUNT, HOLD)
    assert CODES.decode(code) == (ACCOUNT, HOLD)


def test_a_code_made_under_another_secret_is_unknown():
    other = RedemptionCodes(derive_code_secret(b"x" * 32))
    with pytest.raises(HoldNotFound):
        CODES.decode(other.encode(ACCOUNT, HOLD))


@given(
    position=st.integers(3, CODE_LENGTH - 1),
    letter=st.sampled_from("abcdefghijklmnopqrstuvwxyz234567"),
)
def test_changing_any_letter_of_a_code_makes_it_unknown(position, letter):
    code = CODES.encode(ACCOUNT, HOLD)
    changed = code[:position] + letter + code[position + 1 :]
    if changed == code:
        return
    with pytest.raises(HoldNotFound):
        CODES.decode(changed)


@given(st.text(max_size=100))
def test_any_text_is_a_valid_code_or_an_unknown_hold(text):
    with pytest.raises(HoldNotFound):
        CODES.decode(text)


def test_a_caller_gets_a_minute_s_allowance_then_waits_for_refill():
    limiter = RateLimiter(per_minute=3)
    for _ in range(3):
        limiter.take("a", now=100.0)
    with pytest.raises(RateLimited) as refused:
        limiter.take("a", now=100.0)
    assert refused.value.details["retry_after_s"] == 20
    limiter.take("b", now=100.0)  # another caller has their own bucket
    limiter.take("a", now=120.0)  # 20 s later, one token is back


def test_check_refuses_without_spending_and_buckets_stay_bounded():
    limiter = RateLimiter(per_minute=1, max_buckets=2)
    limiter.check("a", now=0.0)
    limiter.take("a", now=0.0)
    with pytest.raises(RateLimited):
        limiter.check("a", now=0.0)
    limiter.take("b", now=0.0)
    limiter.take("c", now=0.0)  # "a", the oldest, is forgotten
    limiter.take("a", now=0.0)
