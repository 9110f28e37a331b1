"""Request validation refuses what the books must not see, and says where, in words.

Operations here are fakes built for the test; the real routes table is tested elsewhere.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict

from api.spec import Operation, Reply, Role
from api.validation import (
    close_objects,
    compile_operation,
    compile_schema,
    parse_json,
    query_schema_problems,
)
from ledger.errors import InvalidInput, MalformedRequest

LINE = {
    "type": "object",
    "required": ["amount_cents"],
    "properties": {
        "amount_cents": {"type": "integer", "minimum": 1},
        "label": {"type": "string", "minLength": 1, "maxLength": 80},
        "kind": {"enum": ["book", "software"]},
    },
}
BODY = {
    "type": "object",
    "required": ["lines"],
    "properties": {
        "lines": {"type": "array", "minItems": 1, "maxItems": 50, "items": LINE},
        "payer": {
            "type": "object",
            "properties": {
                "address": {"type": "object", "properties": {"city": {"type": "string"}}}
            },
        },
        "note": {"type": ["string", "null"], "default": None},
        "metadata": {"type": "object", "additionalProperties": True},
        "tags": {"type": "array", "uniqueItems": True, "items": {"pattern": "^[a-z]+$"}},
        "on": {"type": "string", "format": "date"},
        "ref": {"oneOf": [{"type": "string", "format": "uuid"}, {"type": "integer"}]},
    },
}
QUERY = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
        "open": {"type": "boolean"},
        "status": {"type": "string", "enum": ["pending", "captured"]},
        "after": {"type": "string", "maxLength": 64},
    },
}


async def _handler(call: Any) -> Reply:
    return Reply({})


def operation(**changes: Any) -> Operation:
    fields: dict[str, Any] = {
        "operation_id": "place_hold",
        "method": "POST",
        "path": "/v1/holds",
        "summary": "Place a hold",
        "tag": "teacher",
        "roles": frozenset({Role.TEACHER}),
        "handler": _handler,
        "response": {"type": "object"},
        "body": BODY,
        "query": QUERY,
    }
    return Operation(**{**fields, **changes})


def refusal(check: Any, data: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check(data)
    return caught.value


# Bodies.


def test_a_valid_body_is_returned_with_its_defaults_filled_in():
    body = compile_operation(operation()).validate_body({"lines": [{"amount_cents": 5}]})
    assert body == {"lines": [{"amount_cents": 5}], "note": None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": [{"amount_cents": 1}], "foo": 1}, "/foo"),
        ({"lines": [{"amount_cents": 1}, {"amount_cents": 2, "foo": 1}]}, "/lines/1/foo"),
        (
            {"lines": [{"amount_cents": 1}], "payer": {"address": {"zip": "75001"}}},
            "/payer/address/zip",
        ),
    ],
)
def test_an_unknown_field_is_refused_at_any_depth_with_its_json_pointer(body, field):
    error = refusal(compile_operation(operation()).validate_body, body)
    assert error.message == f"unknown field '{field.rsplit('/', 1)[1]}'"
    assert error.details == {"field": field}


def test_an_object_that_states_additional_properties_keeps_its_extra_fields():
    body = {"lines": [{"amount_cents": 1}], "metadata": {"anything": [1, 2]}}
    assert compile_operation(operation()).validate_body(body)["metadata"] == {"anything": [1, 2]}


def test_a_missing_field_is_named_with_its_pointer():
    error = refusal(compile_operation(operation()).validate_body, {"lines": [{}]})
    assert (error.message, error.details) == (
        "missing field 'amount_cents'",
        {"field": "/lines/0/amount_cents"},
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"amount_cents": "12"}, "amount_cents must be an integer ≥ 1"),
        ({"amount_cents": 0}, "amount_cents must be an integer ≥ 1"),
        ({"amount_cents": True}, "amount_cents must be an integer ≥ 1"),
        ({"amount_cents": 1, "label": ""}, "label must be a string of 1 to 80 characters"),
        ({"amount_cents": 1, "kind": "toy"}, "kind must be one of 'book', 'software'"),
    ],
)
def test_a_value_of_the_wrong_type_or_range_is_refused_in_words(line, message):
    error = refusal(compile_operation(operation()).validate_body, {"lines": [line]})
    assert error.message == message
    assert error.details["field"].startswith("/lines/0/")


def test_a_number_with_a_fraction_is_not_an_integer_even_when_it_is_whole():
    body = parse_json(b'{"lines": [{"amount_cents": 1.0}]}')
    error = refusal(compile_operation(operation()).validate_body, body)
    assert error.details == {"field": "/lines/0/amount_cents"}


def test_a_body_that_is_not_an_object_is_refused_at_the_root():
    error = refusal(compile_operation(operation()).validate_body, [])
    assert (error.message, error.details) == ("the body must be an object", {"field": ""})
    assert refusal(compile_operation(operation()).validate_body, {"lines": []}).details == {
        "field": "/lines"
    }


def test_an_operation_without_a_body_schema_refuses_a_body_but_passes_an_upload_through():
    assert compile_operation(operation(body=None)).validate_body(None) is None
    assert refusal(compile_operation(operation(body=None)).validate_body, {}).details == {
        "field": ""
    }
    upload = compile_operation(operation(body=None, upload="text/csv"))
    assert upload.validate_body(b"a,b\n") == b"a,b\n"


def test_closing_objects_reaches_every_nested_schema_and_leaves_the_original_alone():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "object"}},
        "$defs": {"d": {"properties": {}}},
        "oneOf": [{"type": "object"}],
        "additionalProperties": {"type": "object"},
        "patternProperties": {"^x": {"type": "object"}},
    }
    closed = close_objects(schema)
    assert closed["properties"]["a"]["additionalProperties"] is False
    assert closed["$defs"]["d"]["additionalProperties"] is False
    assert closed["oneOf"][0]["additionalProperties"] is False
    assert closed["additionalProperties"]["additionalProperties"] is False
    assert closed["patternProperties"]["^x"]["additionalProperties"] is False
    assert "additionalProperties" not in schema["properties"]["a"]


def test_a_response_schema_can_be_checked_open():
    check = compile_schema({"type": "object", "properties": {}}, where="response", closed=False)
    assert check({"extra": 1}) == {"extra": 1}


# Query parameters.


def test_query_parameters_are_converted_to_their_types_and_defaults_filled_in():
    check = compile_operation(operation()).validate_query
    assert check({}) == {"limit": 50}
    assert check({"limit": "7", "open": "false", "status": "captured", "after": "12"}) == {
        "limit": 7,
        "open": False,
        "status": "captured",
        "after": "12",
    }
    assert check(MultiDict([("open", "true")])) == {"open": True, "limit": 50}


@pytest.mark.parametrize("raw", ["x", "+5", " 5", "1_0", "٣", "1" * 19, "0", "501", "5.0", ""])
def test_a_query_integer_must_be_plain_decimal_digits_in_range(raw):
    error = refusal(compile_operation(operation()).validate_query, {"limit": raw})
    assert error.message == "query parameter 'limit' must be an integer from 1 to 500"
    assert error.details == {"field": "/limit"}


@pytest.mark.parametrize("raw", ["True", "1", "yes", ""])
def test_a_query_boolean_is_true_or_false_in_lower_case(raw):
    error = refusal(compile_operation(operation()).validate_query, {"open": raw})
    assert error.message == "query parameter 'open' must be true or false"


def test_a_query_enum_and_a_query_string_length_are_checked():
    check = compile_operation(operation()).validate_query
    assert refusal(check, {"status": "gone"}).details == {"field": "/status"}
    assert refusal(check, {"after": "x" * 65}).message == (
        "query parameter 'after' must be a string of at most 64 characters"
    )


def test_an_unknown_or_repeated_query_parameter_is_refused():
    check = compile_operation(operation()).validate_query
    assert refusal(check, {"limt": "5"}).message == "unknown query parameter 'limt'"
    repeated = refusal(check, MultiDict([("limit", "5"), ("limit", "6")]))
    assert (repeated.message, repeated.details) == (
        "query parameter 'limit' is repeated",
        {"field": "/limit"},
    )


def test_a_required_query_parameter_is_named_when_missing():
    query = {**QUERY, "required": ["status"]}
    error = refusal(compile_operation(operation(query=query)).validate_query, {})
    assert (error.message, error.details) == (
        "missing query parameter 'status'",
        {"field": "/status"},
    )


def test_an_operation_without_a_query_schema_takes_no_parameters():
    check = compile_operation(operation(query=None)).validate_query
    assert check({}) == {}
    assert refusal(check, {"limit": "5"}).message == "unknown query parameter 'limit'"


def test_a_query_schema_a_url_cannot_carry_is_a_programmer_error():
    query = {"type": "object", "properties": {"ids": {"type": "array"}}}
    assert query_schema_problems(query)
    with pytest.raises(AssertionError):
        compile_operation(operation(query=query))


# Reading JSON.


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff{}",
        b"{",
        b"",
        b"1",
        b'"text"',
        b"null",
        b"[NaN]",
        b'{"a": Infinity}',
        b"[-Infinity]",
        b'{"a": 1, "a": 2}',
        b'[{"b": {"a": 1, "a": 1}}]',
        b'["\\ud800"]',
        b'{"\\udc00": 1}',
        b"\xef\xbb\xbf{}",
        b"[" * 100_000,
        b"[" + b"9" * 5000 + b"]",
    ],
)
def test_a_body_that_is_not_a_json_object_or_array_is_malformed(raw):
    with pytest.raises(MalformedRequest):
        parse_json(raw)


def test_a_duplicate_key_is_named():
    with pytest.raises(MalformedRequest, match="'a' twice"):
        parse_json(b'{"a": 1, "b": 2, "a": 3}')


def test_json_is_read_with_decimals_for_fractions_and_whole_surrogate_pairs():
    assert parse_json(b'{"a": [1, 1.5, 2e2, "\\ud83d\\ude00", "\xc3\xa9"]}') == {
        "a": [1, Decimal("1.5"), Decimal("2E+2"), "😀", "é"]
    }
    assert isinstance(parse_json(b"[1.5]")[0], Decimal)


# Properties.

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | st.sampled_from(["book", "software", "lines", "amount_cents"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from([*BODY["properties"], *LINE["properties"], "address", "city", "x"])
            | st.text(max_size=5),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
MANY = max(settings.default.max_examples, 200)


@settings(max_examples=MANY)
@given(JSON_VALUES)
def test_validating_any_json_value_either_passes_or_raises_invalid_input_with_a_pointer(value):
    try:
        compile_operation(operation()).validate_body(value)
    except InvalidInput as error:
        field = error.details["field"]
        assert field == "" or field.startswith("/")
        assert error.message


@settings(max_examples=MANY)
@given(st.dictionaries(st.sampled_from([*QUERY["properties"], "x"]), st.text(max_size=8)))
def test_any_query_either_passes_or_raises_invalid_input(params):
    try:
        compile_operation(operation()).validate_query(params)
    except InvalidInput as error:
        assert error.details["field"].startswith("/")


@settings(max_examples=MANY)
@given(st.binary(max_size=40) | JSON_VALUES.map(lambda v: json.dumps(v, default=str).encode()))
def test_reading_any_bytes_either_gives_an_object_or_array_or_is_malformed(raw):
    try:
        value = parse_json(raw)
    except MalformedRequest:
        return
    assert isinstance(value, dict | list)
