"""The OpenAPI document and the docs page say what the server does, for any operation table.

Operations here are fakes built for the test; the real routes table is tested elsewhere.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.openapi import (
    IDEMPOTENCY_KEY_HEADER,
    PROBLEM_SCHEMA,
    build_document,
    check_examples,
    docs_page,
    openapi_path,
)
from api.problems import PROBLEM_MEDIA_TYPE, problem_body
from api.spec import Operation, Reply, Role
from api.validation import compile_schema
from ledger.errors import InvalidInput

HOLD = {"type": "object", "required": ["hold_id"], "properties": {"hold_id": {"type": "string"}}}
AMOUNT = {
    "type": "object",
    "required": ["amount_cents"],
    "properties": {"amount_cents": {"type": "integer", "minimum": 1}},
}


async def _handler(call: Any) -> Reply:
    return Reply({})


def operation(operation_id: str, **changes: Any) -> Operation:
    fields: dict[str, Any] = {
        "operation_id": operation_id,
        "method": "GET",
        "path": f"/v1/{operation_id}",
        "summary": f"Do {operation_id}",
        "tag": "teacher",
        "roles": frozenset({Role.TEACHER}),
        "handler": _handler,
        "response": HOLD,
        "example_response": {"hold_id": "h1"},
    }
    return Operation(**{**fields, **changes})


def place_hold(**changes: Any) -> Operation:
    fields: dict[str, Any] = {
        "method": "POST",
        "path": "/v1/accounts/{account_id}/holds",
        "roles": frozenset({Role.VENDOR, Role.TEACHER}),
        "status": 201,
        "body": AMOUNT,
        "example_body": {"amount_cents": 1250},
        "moves_money": True,
        "description": "Reserve credit until the vendor captures or releases it.",
    }
    return operation("place_hold", **{**fields, **changes})


OPERATIONS = [
    place_hold(),
    operation(
        "list_holds",
        path=r"/v1/accounts/{account_id:[0-9a-f-]{36}}/holds",
        query={
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["pending", "captured"]},
                "limit": {"type": "integer", "minimum": 1, "description": "Page size."},
            },
        },
        response={"type": "array", "items": HOLD},
        example_response=[{"hold_id": "h1"}],
    ),
    operation(
        "import_statement",
        method="POST",
        tag="operator",
        roles=frozenset({Role.OPERATOR}),
        upload="application/xml",
        example_body="<Document/>",
    ),
    operation("release_hold", method="DELETE", path="/v1/holds/{hold_id}", status=204),
    operation(
        "health", tag="system", roles=frozenset(), response={"type": "object"}, example_response={}
    ),
    operation(
        "docs",
        tag="system",
        roles=frozenset(),
        response={"type": "string", "contentMediaType": "text/html"},
        example_response="<html></html>",
    ),
]


def document() -> dict[str, Any]:
    return build_document(OPERATIONS, version="1.2.3")


def op_of(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return doc["paths"][path][method]


def test_the_document_is_valid_openapi_3_1_and_plain_json():
    validator = pytest.importorskip("openapi_spec_validator")
    doc = document()
    validator.validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {**doc["info"], "title": "Tirelire API", "version": "1.2.3"}
    assert json.loads(json.dumps(doc)) == doc


def test_each_operation_states_its_id_summary_description_tag_and_sorted_roles():
    op = op_of(document(), "/v1/accounts/{account_id}/holds", "post")
    assert op["operationId"] == "place_hold"
    assert op["summary"] == "Do place_hold"
    assert op["description"].startswith("Reserve credit")
    assert op["tags"] == ["teacher"]
    assert op["x-roles"] == ["teacher", "vendor"]
    assert [t["name"] for t in document()["tags"]] == ["teacher", "operator", "system"]


def test_only_an_operation_that_moves_money_requires_an_idempotency_key():
    doc = document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            headers = [p for p in op.get("parameters", []) if p["in"] == "header"]
            if op["operationId"] == "place_hold":
                (header,) = headers
                assert header["name"] == IDEMPOTENCY_KEY_HEADER and header["required"] is True
                assert header["schema"]["maxLength"] == 128
            else:
                assert headers == [], f"{method} {path}"


def test_an_operation_without_roles_needs_no_credentials_and_others_need_a_bearer():
    doc = document()
    health = op_of(doc, "/v1/health", "get")
    assert health["security"] == []
    assert "401" not in health["responses"] and "403" not in health["responses"]
    hold = op_of(doc, "/v1/accounts/{account_id}/holds", "post")
    assert hold["security"] == [{"bearer": []}]
    assert {"401", "403"} <= set(hold["responses"])
    scheme = doc["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_path_parameters_come_from_the_path_and_an_aiohttp_regex_becomes_a_pattern():
    assert openapi_path(r"/v1/x/{id:\d{4}}/y/{code}") == "/v1/x/{id}/y/{code}"
    listing = op_of(document(), "/v1/accounts/{account_id}/holds", "get")
    (account,) = [p for p in listing["parameters"] if p["in"] == "path"]
    assert account["name"] == "account_id" and account["required"] is True
    assert account["schema"]["pattern"] == "^(?:[0-9a-f-]{36})$"
    assert account["schema"]["maxLength"] == 128


def test_query_parameters_come_from_the_query_schema_with_their_required_flag():
    listing = op_of(document(), "/v1/accounts/{account_id}/holds", "get")
    query = {p["name"]: p for p in listing["parameters"] if p["in"] == "query"}
    assert query["status"]["required"] is True
    assert query["limit"]["required"] is False
    assert query["limit"]["description"] == "Page size."
    assert query["status"]["schema"]["enum"] == ["pending", "captured"]


def test_a_json_body_is_shown_closed_as_the_server_enforces_it_with_its_example():
    body = op_of(document(), "/v1/accounts/{account_id}/holds", "post")["requestBody"]
    media = body["content"]["application/json"]
    assert body["required"] is True
    assert media["schema"]["additionalProperties"] is False
    assert media["example"] == {"amount_cents": 1250}
    assert "additionalProperties" not in AMOUNT


def test_an_upload_is_a_binary_body_of_its_media_type():
    body = op_of(document(), "/v1/import_statement", "post")["requestBody"]
    assert body["content"] == {
        "application/xml": {
            "schema": {"type": "string", "format": "binary"},
            "example": "<Document/>",
        }
    }


def test_the_success_response_has_its_status_schema_and_example():
    responses = op_of(document(), "/v1/accounts/{account_id}/holds", "post")["responses"]
    assert responses["201"]["content"]["application/json"] == {
        "schema": HOLD,
        "example": {"hold_id": "h1"},
    }
    assert "content" not in op_of(document(), "/v1/holds/{hold_id}", "delete")["responses"]["204"]
    docs = op_of(document(), "/v1/docs", "get")["responses"]["200"]["content"]
    assert list(docs) == ["text/html"]


def test_errors_are_problems_with_the_shared_schema_and_a_description():
    doc = document()
    assert doc["components"]["schemas"]["Problem"] == PROBLEM_SCHEMA
    hold = op_of(doc, "/v1/accounts/{account_id}/holds", "post")["responses"]
    errors = {status: r for status, r in hold.items() if status >= "400"}
    assert set(errors) == {"400", "401", "403", "404", "409", "413", "422", "429", "503"}
    for response in errors.values():
        assert response["description"]
        assert response["content"] == {
            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    assert "413" not in op_of(doc, "/v1/health", "get")["responses"]


def test_the_problem_schema_accepts_what_the_server_renders_and_requires_a_code():
    check = compile_schema(PROBLEM_SCHEMA, where="response", closed=False)
    body = problem_body(
        status=422,
        code="invalid_input",
        title="Invalid input",
        detail="unknown field 'foo'",
        instance="/v1/holds",
        field="/foo",
    )
    assert check(body) == body
    with pytest.raises(InvalidInput, match="code"):
        check({"title": "no code"})


# The docs page.


def test_the_docs_page_lists_every_operation_by_tag_with_roles_key_and_examples():
    page = docs_page(document())
    for op in OPERATIONS:
        assert f'id="op-{op.operation_id}"' in page
    teacher, operator = page.index('id="tag-teacher"'), page.index('id="tag-operator"')
    assert teacher < page.index('id="op-place_hold"') < operator
    hold = page[page.index('id="op-place_hold"') : page.index('id="op-list_holds"')]
    assert "teacher, vendor" in hold
    assert "<dt>Idempotency-Key</dt><dd>required</dd>" in hold
    assert "&quot;amount_cents&quot;: 1250" in hold
    assert "&quot;hold_id&quot;: &quot;h1&quot;" in hold
    assert "anyone, without a token" in page
    assert "<code>Idempotency-Key</code>" in page.split("</header>")[0]


def test_the_docs_page_escapes_html_and_loads_nothing_from_elsewhere():
    hostile = operation("hostile", summary='<script>alert("x")</script>', tag="<b>tag</b>")
    page = docs_page(build_document([hostile], version="<v>"))
    assert "<script" not in page and "<b>" not in page and "<v>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "src=" not in page and "<link" not in page and "@import" not in page


# Checking the table.


def test_a_sound_table_has_no_problems():
    assert check_examples(OPERATIONS) == []


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (place_hold(example_body={"amount_cents": 0}), "example_body is refused"),
        (place_hold(example_body={"amount_cents": 1, "extra": 1}), "unknown field 'extra'"),
        (place_hold(example_body=None), "the body schema has no example_body"),
        (place_hold(example_response={"hold": 1}), "example_response is refused"),
        (place_hold(example_response=None), "the response schema has no example_response"),
        (place_hold(body=None), "example_body is given but there is no body schema"),
        (place_hold(body={"type": "bogus"}), "the body schema does not compile"),
        (
            place_hold(query={"type": "object", "properties": {"ids": {"type": "array"}}}),
            "query parameter 'ids'",
        ),
    ],
)
def test_a_broken_example_or_schema_is_found(broken, problem):
    (found,) = check_examples([broken])
    assert found.startswith("place_hold: ")
    assert problem in found


def test_an_operation_id_used_twice_is_found():
    found = check_examples([operation("a"), operation("a", path="/v1/b")])
    assert found == ["operation id 'a' is used 2 times"]


def test_the_same_method_and_path_twice_is_found_whatever_the_parameter_names():
    first = operation("a", path="/v1/holds/{hold_id}")
    second = operation("b", method="get", path=r"/v1/holds/{code:\w+}")
    assert check_examples([first, second]) == ["GET /v1/holds/{} is routed twice: a, b"]
    assert check_examples([first, operation("c", method="POST", path=first.path)]) == []
