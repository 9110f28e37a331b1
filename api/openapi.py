"""The API described for machines and for people, generated from the one Operation table.

Each `Operation` (`api.spec`) already states its method, path, roles, schemas and examples,
so the OpenAPI 3.1 document (`build_document`) and the HTML page for newcomers
(`docs_page`) are derived from the table, never written by hand: they cannot drift from
what the server does. The document shows body schemas as the server enforces them, closed
to unknown fields (`api.validation.close_objects`).

Conventions every operation shares are stated once here:

- Authentication: a bearer credential, either a signed token or an API key, on every
  operation that names roles; operations without roles (health, docs, metrics) need none.
- Idempotency: an operation that moves money requires an `Idempotency-Key` header; a retry
  with the same key answers as the first request did.
- Errors: an RFC 9457 problem body (`PROBLEM_SCHEMA`) with a stable snake_case `code`.

`check_examples` finds what would make the document lie: an example its own schema refuses,
a missing example, an operation id or a route used twice. The routes table's tests call it.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

import fastjsonschema

from api.problems import PROBLEM_MEDIA_TYPE
from api.spec import JSON, Operation
from api.validation import close_objects, compile_schema, describe, query_schema_problems
from ledger.errors import InvalidInput
from ledger.ids import MAX_KEY_LENGTH

OPENAPI_VERSION = "3.1.0"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_PATH_PARAMETER_LENGTH = 128

IDEMPOTENCY_KEY_SCHEMA: JSON = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    # Stricter than the server (`ledger.ids.check_key` takes any printable ASCII): a client
    # that keeps to this set is accepted everywhere.
    "pattern": f"^[A-Za-z0-9._:-]{{1,{MAX_KEY_LENGTH}}}$",
}

PROBLEM_SCHEMA: JSON = {
    "type": "object",
    "description": "RFC 9457 problem details, with the error's stable `code`.",
    "required": ["code"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string", "description": "A short summary of the kind of problem."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong with this request."},
        "instance": {"type": "string", "description": "The path of the request."},
        "code": {"type": "string", "description": "Stable snake_case code; match on it."},
    },
    "additionalProperties": True,
}

BEARER_SCHEME: JSON = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "Ed25519 token (v1.…) or API key (tlk_…)",
    "description": "A signed token for people, or an API key for machines.",
}

# Statuses every operation may answer with a problem, and what each means.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request could not be read: not UTF-8, not JSON, or a key given twice "
    "(code malformed_request).",
    401: "No valid bearer token or API key (codes unauthenticated, invalid_token, token_expired).",
    403: "The caller's role or API key scopes do not allow this operation on this object "
    "(code forbidden).",
    404: "The object named in the path was not found (codes ending in _not_found).",
    409: "The state of the books refuses the request, such as insufficient credit or a hold "
    "no longer pending; the problem's code says which.",
    413: "The request body is larger than the server accepts (code payload_too_large).",
    422: "The request was read but is invalid: a field is unknown, missing, or of the wrong "
    "type or value (code invalid_input or a refinement); the problem's field is a JSON "
    "pointer to it. Also an Idempotency-Key reused for a different request.",
    429: "Too many requests; the problem's retry_after_s says when to retry (code rate_limited).",
    503: "The event store is unavailable; retry later (code store_unavailable).",
}

# `{name}` or aiohttp's `{name:regex}`, whose regex may hold one level of braces (`\d{4}`).
_PATH_PARAMETER = re.compile(r"\{(\w+)(?::((?:[^{}]|\{[^{}]*\})+))?\}")
_BACKQUOTED = re.compile(r"`([^`]+)`")


def build_document(
    operations: Iterable[Operation], *, title: str = "Tirelire API", version: str
) -> JSON:
    """The OpenAPI 3.1 document of `operations`, as a JSON-ready dict."""
    paths: dict[str, dict[str, JSON]] = {}
    tags: dict[str, None] = {}  # in order of first use
    for op in operations:
        item = paths.setdefault(openapi_path(op.path), {})
        method = op.method.lower()
        assert method not in item, f"{op.method} {op.path} is routed twice"
        item[method] = _operation(op)
        tags[op.tag] = None
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": _INTRODUCTION},
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {
            "schemas": {"Problem": PROBLEM_SCHEMA},
            "securitySchemes": {"bearer": BEARER_SCHEME},
        },
    }


def openapi_path(path: str) -> str:
    """An aiohttp path in OpenAPI's form: `/v1/claims/{id:[0-9]+}` → `/v1/claims/{id}`."""
    return _PATH_PARAMETER.sub(lambda m: "{" + m.group(1) + "}", path)


def _operation(op: Operation) -> JSON:
    document: JSON = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "x-roles": sorted(role.value for role in op.roles),
        "security": [{"bearer": []}] if op.roles else [],
    }
    if op.description:
        document["description"] = op.description
    parameters = _parameters(op)
    if parameters:
        document["parameters"] = parameters
    if op.body is not None or op.upload is not None:
        document["requestBody"] = _request_body(op)
    document["responses"] = {str(op.status): _success(op), **_errors(op)}
    return document


def _parameters(op: Operation) -> list[JSON]:
    parameters = []
    for name, regex in _PATH_PARAMETER.findall(op.path):
        schema: JSON = {"type": "string", "minLength": 1, "maxLength": MAX_PATH_PARAMETER_LENGTH}
        if regex:
            schema["pattern"] = f"^(?:{regex})$"
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    query = op.query or {}
    required = set(query.get("required", ()))
    for name, schema in query.get("properties", {}).items():
        parameter = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if "description" in schema:
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    if op.moves_money:
        parameters.append(
            {
                "name": IDEMPOTENCY_KEY_HEADER,
                "in": "header",
                "required": True,
                "description": "Chosen by the client, unique per intended operation: a retry "
                "with the same key answers as the first request did, and moves money once.",
                "schema": IDEMPOTENCY_KEY_SCHEMA,
            }
        )
    return parameters


def _request_body(op: Operation) -> JSON:
    if op.upload is not None:
        media_type, media = op.upload, {"schema": {"type": "string", "format": "binary"}}
        example = op.example_body
        if isinstance(example, bytes):
            example = example.decode("utf-8", errors="replace")
    else:
        media_type, media = "application/json", {"schema": close_objects(op.body)}
        example = op.example_body
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {media_type: media}}


ALTERNATIVE_MEDIA_TYPES = "x-alternative-media-types"


def _success(op: Operation) -> JSON:
    response: JSON = {"description": HTTPStatus(op.status).phrase}
    if op.status == HTTPStatus.NO_CONTENT:
        return response
    # A response that is not JSON (the docs page, metrics) states its media type the JSON
    # Schema way: {"type": "string", "contentMediaType": "text/html"}.
    # An operation that answers in several formats (a report as JSON, CSV or HTML) names
    # the others under ALTERNATIVE_MEDIA_TYPES: media type → schema.
    media_type = op.response.get("contentMediaType", "application/json")
    schema = {k: v for k, v in op.response.items() if k != ALTERNATIVE_MEDIA_TYPES}
    media: JSON = {"schema": schema}
    if op.example_response is not None:
        media["example"] = op.example_response
    others = op.response.get(ALTERNATIVE_MEDIA_TYPES, {})
    response["content"] = {media_type: media, **{t: {"schema": s} for t, s in others.items()}}
    return response


def _errors(op: Operation) -> JSON:
    statuses = set(ERROR_DESCRIPTIONS)
    if not op.roles:
        statuses -= {401, 403}
    if op.body is None and op.upload is None:
        statuses.discard(413)
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {
        str(status): {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: problem},
        }
        for status in sorted(statuses)
    }


def check_examples(operations: Sequence[Operation]) -> list[str]:
    """What would make the document lie, one sentence each; empty when all is well."""
    problems: list[str] = []
    for op in operations:
        problems += [f"{op.operation_id}: {p}" for p in _example_problems(op)]
    ids = Counter(op.operation_id for op in operations)
    problems += [f"operation id '{i}' is used {n} times" for i, n in ids.items() if n > 1]
    routes: dict[tuple[str, str], list[str]] = defaultdict(list)
    for op in operations:
        # `/a/{x}` and `/a/{y:\d+}` are one route to the router: compare without names.
        shape = _PATH_PARAMETER.sub("{}", op.path)
        routes[op.method.upper(), shape].append(op.operation_id)
    problems += [
        f"{method} {shape} is routed twice: {', '.join(names)}"
        for (method, shape), names in routes.items()
        if len(names) > 1
    ]
    return problems


def _example_problems(op: Operation) -> list[str]:
    problems = query_schema_problems(op.query) if op.query is not None else []
    if op.body is not None:
        problems += _refusals("example_body", op.example_body, op.body, where="body")
    elif op.upload is None and op.example_body is not None:
        problems.append("example_body is given but there is no body schema")
    if op.response and op.status != HTTPStatus.NO_CONTENT:
        problems += _refusals(
            "example_response", op.example_response, op.response, where="response"
        )
    return problems


def _refusals(name: str, example: Any, schema: JSON, *, where: str) -> list[str]:
    if example is None:
        return [f"the {where} schema has no {name}"]
    try:
        # Bodies are checked closed, as the server will; responses as they are stated.
        compile_schema(schema, where=where, closed=where == "body")(example)
    except fastjsonschema.JsonSchemaDefinitionException as error:
        return [f"the {where} schema does not compile: {error}"]
    except InvalidInput as error:
        return [f"{name} is refused by its schema: {error.message} (at '{error.details['field']}')"]
    return []


_INTRODUCTION = """\
Tirelire keeps the books of public money for digital education: campaigns credit \
teachers, teachers spend their credit on EdTech resources at vendors, and vendors claim \
reimbursement from the operator.

Authenticate with `Authorization: Bearer <token or API key>`. Each operation lists the \
roles that may call it (`x-roles`).

Operations that move money require an `Idempotency-Key` header: pick a fresh key for each \
intended operation and reuse it on retries; the retry answers as the first request did.

Request bodies are JSON; fields a schema does not list are refused. Every error is an \
RFC 9457 problem (`application/problem+json`) with a stable snake_case `code` to match on \
and, for invalid input, a `field` holding a JSON pointer to the value at fault.
"""


def docs_page(document: JSON) -> str:
    """A self-contained HTML page of `document` for people: no script, no external file."""
    info = document["info"]
    by_tag: dict[str, list[tuple[str, str, JSON]]] = defaultdict(list)
    for path, item in document["paths"].items():
        for method, op in item.items():
            by_tag[op["tags"][0]].append((method.upper(), path, op))
    tags = [t["name"] for t in document.get("tags", [])]
    tags += sorted(set(by_tag) - set(tags))
    title = f"{info['title']} {info['version']}"
    parts = [
        _PAGE_HEAD.format(title=_e(title), style=_STYLE),
        f"<header><h1>{_e(info['title'])} <small>{_e(info['version'])}</small></h1>",
        *(f"<p>{_prose(p)}</p>" for p in info.get("description", "").split("\n\n") if p),
        "</header>",
        _contents(tags, by_tag),
        "<main>",
    ]
    for tag in tags:
        parts.append(f'<section id="tag-{_e(tag)}"><h2>{_e(tag)}</h2>')
        parts += [_operation_html(method, path, op) for method, path, op in by_tag[tag]]
        parts.append("</section>")
    parts += [_errors_html(), "</main></body></html>\n"]
    return "\n".join(parts)


def _contents(tags: list[str], by_tag: dict[str, list[tuple[str, str, JSON]]]) -> str:
    lines = ['<nav><h2>Contents</h2><ul class="contents">']
    for tag in tags:
        lines.append(f'<li><a href="#tag-{_e(tag)}">{_e(tag)}</a><ul>')
        for method, path, op in by_tag[tag]:
            anchor = _e("op-" + op["operationId"])
            lines.append(
                f'<li><a href="#{anchor}"><code>{_e(method)} {_e(path)}</code></a> '
                f"{_e(op.get('summary', ''))}</li>"
            )
        lines.append("</ul></li>")
    lines.append('<li><a href="#errors">Errors</a></li></ul></nav>')
    return "\n".join(lines)


def _operation_html(method: str, path: str, op: JSON) -> str:
    roles = ", ".join(op.get("x-roles", [])) or "anyone, without a token"
    parameters = op.get("parameters", [])
    idempotent = any(
        p["in"] == "header" and p["name"] == IDEMPOTENCY_KEY_HEADER for p in parameters
    )
    success = next(s for s in op["responses"] if s.startswith("2"))
    errors = ", ".join(s for s in op["responses"] if not s.startswith("2"))
    parts = [
        f'<article id="{_e("op-" + op["operationId"])}">',
        f'<h3><span class="method">{_e(method)}</span> <code>{_e(path)}</code></h3>',
        f'<p class="summary">{_e(op.get("summary", ""))}</p>',
        *([f"<p>{_prose(op['description'])}</p>"] if op.get("description") else []),
        "<dl>",
        f"<dt>Operation id</dt><dd><code>{_e(op['operationId'])}</code></dd>",
        f"<dt>Who may call</dt><dd>{_e(roles)}</dd>",
        f"<dt>Idempotency-Key</dt><dd>{'required' if idempotent else 'not needed'}</dd>",
        f"<dt>Answers</dt><dd>{_e(success)} {_e(op['responses'][success]['description'])}; "
        f'on error <a href="#errors">{_e(errors)}</a></dd>',
        "</dl>",
        _parameters_html(parameters),
        *_examples_html("Request example", op.get("requestBody", {})),
        *_examples_html("Response example", op["responses"][success]),
        "</article>",
    ]
    return "\n".join(p for p in parts if p)


def _parameters_html(parameters: list[JSON]) -> str:
    if not parameters:
        return ""
    rows = [
        "<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Required</th><th>Value</th></tr>"
    ]
    for p in parameters:
        wanted = p.get("description") or describe(p.get("schema", {})) or ""
        rows.append(
            f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
            f"<td>{'yes' if p.get('required') else 'no'}</td><td>{_e(wanted)}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _examples_html(heading: str, holder: JSON) -> list[str]:
    parts = []
    for media_type, media in holder.get("content", {}).items():
        if "example" not in media:
            continue
        example = media["example"]
        if not isinstance(example, str) or media_type == "application/json":
            example = json.dumps(example, indent=2, ensure_ascii=False, default=str)
        parts.append(f"<h4>{_e(heading)} <small>{_e(media_type)}</small></h4>")
        parts.append(f"<pre>{_e(example)}</pre>")
    return parts


def _errors_html() -> str:
    rows = [
        f"<tr><td>{status}</td><td>{_e(text)}</td></tr>"
        for status, text in ERROR_DESCRIPTIONS.items()
    ]
    return (
        '<section id="errors"><h2>Errors</h2><p>Every error answers an '
        f"<code>{_e(PROBLEM_MEDIA_TYPE)}</code> body (RFC 9457) with a stable <code>code</code>."
        "</p><table><tr><th>Status</th><th>Meaning</th></tr>" + "".join(rows) + "</table></section>"
    )


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _prose(text: str) -> str:
    """Escaped text where `code` in backquotes, as OpenAPI descriptions write it, is code."""
    return _BACKQUOTED.sub(r"<code>\1</code>", _e(text.strip()))


_PAGE_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style></head><body>"""

_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 0 auto; padding: 1rem; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f5f5f5; padding: 0.75rem; overflow-x: auto; }
article { border-top: 1px solid #ddd; padding-top: 0.5rem; margin-top: 1.5rem; }
.method { font-weight: bold; padding: 0 0.4rem; background: #e8eefc; }
dt { font-weight: bold; float: left; clear: left; width: 10rem; }
dd { margin-left: 10.5rem; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 0.2rem 0.5rem; }
"""
