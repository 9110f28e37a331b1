"""The msgpack transcoder: every value an event may hold comes back exactly as it went in."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.credits import HoldStatus, TopUpKind
from ledger.money import MAX_AMOUNT_CENTS, Money
from ledger.transcoding import MsgpackTranscoder, UnknownEnumError

# A fixed offset lies strictly between -24 h and +24 h, to the microsecond.
LARGEST_OFFSET = timedelta(hours=24) - timedelta(microseconds=1)
fixed_offsets = st.builds(
    timezone, st.timedeltas(min_value=-LARGEST_OFFSET, max_value=LARGEST_OFFSET)
)

plain_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.text(max_size=20),
    st.binary(max_size=20),
)
event_values = st.one_of(
    plain_values,
    st.integers(min_value=-MAX_AMOUNT_CENTS, max_value=MAX_AMOUNT_CENTS).map(Money),
    st.uuids(),
    st.dates(),
    st.datetimes(),  # naive
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(timezones=fixed_offsets),
    st.sampled_from([*TopUpKind, *HoldStatus]),
)
nested_tuples = st.recursive(
    event_values, lambda inner: st.lists(inner, max_size=4).map(tuple), max_leaves=12
)


class Colour(Enum):
    RED = "red"


def transcoder() -> MsgpackTranscoder:
    return MsgpackTranscoder((TopUpKind, HoldStatus))


def assert_identical(decoded: Any, original: Any) -> None:
    """Equal, of the same type all the way down, and with the same time zone."""
    assert type(decoded) is type(original)
    assert decoded == original
    if isinstance(original, tuple):
        for d, o in zip(decoded, original, strict=True):
            assert_identical(d, o)
    if isinstance(original, datetime):
        assert decoded.tzinfo == original.tzinfo
        assert decoded.utcoffset() == original.utcoffset()


@given(nested_tuples)
def test_every_value_an_event_may_hold_round_trips_exactly(value):
    codec = transcoder()
    assert_identical(codec.decode(codec.encode(value)), value)


@given(st.dictionaries(st.text(max_size=10), nested_tuples, max_size=6))
def test_an_event_state_dict_round_trips_exactly(state):
    codec = transcoder()
    decoded = codec.decode(codec.encode(state))
    assert decoded.keys() == state.keys()
    for name, value in state.items():
        assert_identical(decoded[name], value)


def test_a_utc_datetime_and_a_zero_offset_datetime_both_come_back_in_utc():
    codec = transcoder()
    moment = datetime(2027, 9, 1, 8, 30, 0, 123456, tzinfo=UTC)
    for value in (moment, moment.replace(tzinfo=timezone(timedelta(0)))):
        decoded = codec.decode(codec.encode(value))
        assert decoded == moment
        assert decoded.tzinfo == UTC


def test_datetimes_keep_their_offset_not_just_their_instant():
    codec = transcoder()
    paris_summer = timezone(timedelta(hours=2))
    value = datetime(2028, 6, 30, 23, 59, tzinfo=paris_summer)
    decoded = codec.decode(codec.encode(value))
    assert decoded.utcoffset() == timedelta(hours=2)
    assert decoded.hour == 23


def test_arrays_decode_as_tuples_because_events_hold_tuples_never_lists():
    codec = transcoder()
    assert codec.decode(codec.encode([1, [2, 3]])) == (1, (2, 3))


def test_an_unregistered_enum_is_refused_on_encode():
    with pytest.raises(UnknownEnumError):
        transcoder().encode(Colour.RED)
    assert issubclass(UnknownEnumError, TypeError)


def test_a_stored_enum_unknown_to_the_reader_is_refused_on_decode():
    data = transcoder().encode(TopUpKind.REGION)
    with pytest.raises(UnknownEnumError):
        MsgpackTranscoder().decode(data)


class Cents(float):
    pass


Pair = namedtuple("Pair", "a b")


@pytest.mark.parametrize(
    "value",
    [
        {1, 2},
        frozenset({1}),
        Cents(12.5),
        Decimal("12.50"),
        Pair(1, 2),  # a tuple subclass would come back as a plain tuple
        2**64,  # beyond msgpack's integers
        (1, (2, {3})),  # refused however deep it sits
    ],
    ids=["set", "frozenset", "float-subclass", "decimal", "namedtuple", "big-int", "nested-set"],
)
def test_a_type_events_may_not_hold_is_refused(value):
    with pytest.raises(TypeError):
        transcoder().encode(value)


def test_an_unknown_extension_code_is_refused_on_decode():
    data = msgpack.packb(msgpack.ExtType(42, b"\x00"))
    with pytest.raises(TypeError, match="42"):
        transcoder().decode(data)
