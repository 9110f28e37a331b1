"""Request validation: each operation's JSON schemas, compiled once, checked on every request.

An `Operation` (`api.spec`) states the JSON schema of its body and of its query parameters.
`compile_operation` turns them into plain Python functions with fastjsonschema when the app
starts, so a request pays a few microseconds for its check, not a walk of the schema. Every
refusal is an `InvalidInput` whose `field` is a JSON pointer (RFC 6901) to the value at
fault, such as `/lines/0/amount_cents`, and whose message a person can act on.

Three rules go beyond plain JSON Schema, because the books need them:

- Bodies are closed. Every object schema refuses fields it does not list, unless it states
  `additionalProperties` itself: the schema is transformed when compiled (`close_objects`),
  so a route author cannot forget, and a misspelt optional field is an error, not a silent
  default. Compose objects by listing their properties, not with `allOf` of two objects:
  each closed branch would refuse the other's fields.
- No float near money. `parse_json` reads a number with a fraction or an exponent as a
  `Decimal`, never a float, and a `Decimal` is not an integer: `1.0` is refused where the
  schema says `integer`, though JSON Schema alone would accept it.
- Query parameters arrive as strings. Each is converted to the type its schema property
  states (integer, boolean, string, or an enum of strings), unknown and repeated parameters
  are refused, and then the converted object is validated like a body.

Defaults stated in a schema are filled in (fastjsonschema's `use_default`), so a handler
reads `call.query["limit"]` without a fallback of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import fastjsonschema

from api.spec import JSON, Operation
from ledger.errors import InvalidInput, MalformedRequest

Validator = Callable[[Any], Any]

# A query integer longer than this is refused before conversion: no limit needs more.
MAX_QUERY_INTEGER_DIGITS = 18
QUERY_TYPES = frozenset({"string", "integer", "boolean"})

# Formats fastjsonschema does not know; it ignores unknown formats, so a typo is not checked.
FORMATS = {"uuid": r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z"}

_QUERY_INTEGER = re.compile(rf"-?[0-9]{{1,{MAX_QUERY_INTEGER_DIGITS}}}")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# Keywords whose values are schemas, lists of schemas, or maps of names to schemas.
_SCHEMA_KEYWORDS = ("additionalProperties", "items", "additionalItems", "contains", "not")
_SCHEMA_KEYWORDS += ("propertyNames", "if", "then", "else")
_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "items", "prefixItems")
_MAP_KEYWORDS = ("properties", "patternProperties", "definitions", "$defs", "dependencies")


class CompiledOperation:
    """The validators of one operation's body and query, built by `compile_operation`."""

    __slots__ = ("_body", "_query", "_query_properties", "operation_id", "upload")

    def __init__(
        self,
        operation_id: str,
        body: Validator | None,
        query: Validator | None,
        query_properties: Mapping[str, JSON],
        upload: str | None,
    ) -> None:
        self.operation_id = operation_id
        self.upload = upload
        self._body = body
        self._query = query
        self._query_properties = query_properties

    def validate_body(self, data: Any) -> Any:
        """The body, with schema defaults filled in; InvalidInput if the schema refuses it.

        An operation without a body schema takes no body (`None`), except an upload, whose
        raw bytes are the handler's to read.
        """
        if self._body is None:
            if data is None or self.upload:
                return data
            raise InvalidInput("this operation takes no request body", field="")
        return self._body(data)

    def validate_query(self, params: Mapping[str, str]) -> dict[str, Any]:
        """The query parameters converted to their types and validated.

        `params` may be a multidict (aiohttp's `request.query`): its items show repeats.
        """
        converted: dict[str, Any] = {}
        for name, raw in params.items():
            field = _pointer([name])
            if name in converted:
                raise InvalidInput(f"query parameter '{name}' is repeated", field=field)
            prop = self._query_properties.get(name)
            if prop is None:
                raise InvalidInput(f"unknown query parameter '{name}'", field=field)
            converted[name] = _convert(name, raw, prop)
        if self._query is None:
            return converted
        return self._query(converted)


def compile_operation(op: Operation) -> CompiledOperation:
    """Compile `op`'s body and query schemas; a schema error is a programmer's error."""
    query, query_properties = None, {}
    if op.query is not None:
        problems = query_schema_problems(op.query)
        assert not problems, f"{op.operation_id}: {'; '.join(problems)}"
        query, query_properties = compile_schema(op.query, where="query"), op.query["properties"]
    body = compile_schema(op.body, where="body") if op.body is not None else None
    return CompiledOperation(op.operation_id, body, query, query_properties, op.upload)


def compile_schema(schema: JSON, *, where: str = "body", closed: bool = True) -> Validator:
    """A function that returns its argument if `schema` accepts it, else raises InvalidInput.

    `where` names the root in messages ("body", "query", "response"); `closed` applies
    `close_objects` first. Raises fastjsonschema.JsonSchemaDefinitionException for a
    schema that cannot be compiled.
    """
    check = fastjsonschema.compile(close_objects(schema) if closed else schema, formats=FORMATS)

    def validate(data: Any) -> Any:
        try:
            return check(data)
        except fastjsonschema.JsonSchemaValueException as error:
            raise _invalid(error, where) from None

    return validate


def close_objects(schema: Any) -> Any:
    """A copy of `schema` where every object schema without `additionalProperties` refuses
    unknown fields. Nested schemas are reached through every keyword that holds schemas."""
    if not isinstance(schema, dict):
        return schema
    closed = dict(schema)
    for key in _SCHEMA_KEYWORDS:
        if isinstance(closed.get(key), dict):
            closed[key] = close_objects(closed[key])
    for key in _LIST_KEYWORDS:
        if isinstance(closed.get(key), list):
            closed[key] = [close_objects(s) for s in closed[key]]
    for key in _MAP_KEYWORDS:
        if isinstance(closed.get(key), dict):
            closed[key] = {name: close_objects(s) for name, s in closed[key].items()}
    if _is_object_schema(schema) and "additionalProperties" not in schema:
        closed["additionalProperties"] = False
    return closed


def query_schema_problems(schema: JSON) -> list[str]:
    """What keeps `schema` from describing query parameters: each must be a flat string,
    integer or boolean (or an enum of strings), since that is all a URL can carry."""
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return ["the query schema must be an object with properties"]
    problems = []
    for name, prop in schema["properties"].items():
        kind = prop.get("type", "string")
        if not isinstance(kind, str) or kind not in QUERY_TYPES:
            problems.append(
                f"query parameter '{name}' has type {kind!r}; a URL carries only "
                + ", ".join(sorted(QUERY_TYPES))
            )
        elif "type" not in prop and not all(isinstance(v, str) for v in prop.get("enum", [""])):
            problems.append(f"query parameter '{name}' needs a type for a non-string enum")
    return problems


def parse_json(raw: bytes) -> Any:
    """A request body as a JSON object or array; MalformedRequest for anything else.

    Refused: bytes that are not UTF-8, text that is not JSON, a top-level scalar, NaN and
    Infinity (not JSON, though Python writes them), a key twice in one object (parsers
    disagree on which wins), and a lone UTF-16 surrogate (it cannot be stored as UTF-8).
    Numbers with a fraction or an exponent are read as Decimal, never float.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("the body is not valid UTF-8") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=Decimal,
        )
    except json.JSONDecodeError as error:
        message = (
            f"the body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        )
        raise MalformedRequest(message) from None
    except RecursionError:
        raise MalformedRequest("the body is nested too deeply") from None
    except ValueError:  # Python refuses integers of more than 4,300 digits.
        raise MalformedRequest("the body holds a number too long to read") from None
    if not isinstance(value, dict | list):
        raise MalformedRequest("the body must be a JSON object or array")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise MalformedRequest("the body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff)")
    return value


def describe(schema: JSON) -> str | None:
    """What a value must be, in words: "an integer ≥ 1", "one of 'open', 'closed'"."""
    if "const" in schema:
        return f"exactly {_show(schema['const'])}"
    if "enum" in schema:
        return "one of " + ", ".join(_show(v) for v in schema["enum"])
    kinds = schema.get("type")
    if kinds is None:
        return None
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return " or ".join(_describe_type(kind, schema) for kind in kinds)


def _describe_type(kind: str, schema: JSON) -> str:
    if kind in ("integer", "number"):
        bounds = []
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            bounds.append(f"from {low} to {high}")
        else:
            bounds += [f"≥ {low}"] if low is not None else []
            bounds += [f"≤ {high}"] if high is not None else []
        bounds += [f"> {schema['exclusiveMinimum']}"] if "exclusiveMinimum" in schema else []
        bounds += [f"< {schema['exclusiveMaximum']}"] if "exclusiveMaximum" in schema else []
        bounds += [f"a multiple of {schema['multipleOf']}"] if "multipleOf" in schema else []
        noun = "an integer" if kind == "integer" else "a number"
        return " ".join([noun, " and ".join(bounds)]).strip()
    if kind == "string":
        words = ["a string", _count(schema, "minLength", "maxLength", "character")]
        words += [f"in {schema['format']} format"] if "format" in schema else []
        words += [f"matching {schema['pattern']}"] if "pattern" in schema else []
        return " ".join(w for w in words if w)
    if kind == "array":
        words = ["an array", _count(schema, "minItems", "maxItems", "item")]
        words += ["of distinct items"] if schema.get("uniqueItems") else []
        return " ".join(w for w in words if w)
    return {"object": "an object", "boolean": "true or false", "null": "null"}.get(kind, kind)


def _count(schema: JSON, least: str, most: str, unit: str) -> str:
    low, high = schema.get(least), schema.get(most)
    if low is not None and high is not None:
        return f"of {low} {unit}s" if low == high else f"of {low} to {high} {unit}s"
    if low is not None:
        return "that is not empty" if low == 1 else f"of at least {low} {unit}s"
    if high is not None:
        return f"of at most {high} {unit}s"
    return ""


_DESCRIBED_RULES = frozenset(
    {"type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
    | {"multipleOf", "minLength", "maxLength", "pattern", "format"}
    | {"minItems", "maxItems", "uniqueItems"}
)
_COMPOSITE_MESSAGES = {
    "anyOf": "matches none of the allowed forms",
    "oneOf": "must match exactly one of the allowed forms",
    "not": "has a form that is not allowed",
}


def _invalid(error: fastjsonschema.JsonSchemaValueException, where: str) -> InvalidInput:
    """fastjsonschema's refusal as an InvalidInput with a message and a JSON pointer."""
    # fastjsonschema reports the path as its dotted name split on "." and "[": a key that
    # holds a dot or a bracket is split too. Our field names are snake_case.
    path = [str(p) for p in (error.path or ["data"])[1:]]
    definition = error.definition or {}
    value = error.value
    noun = "query parameter" if where == "query" else "field"
    if error.rule == "additionalProperties" and isinstance(value, dict):
        unknown = sorted(_unknown_keys(value, definition))
        if unknown:
            return InvalidInput(
                f"unknown {noun} '{unknown[0]}'", field=_pointer([*path, unknown[0]])
            )
    if error.rule == "required" and isinstance(value, dict):
        missing = [name for name in error.rule_definition if name not in value]
        if missing:
            return InvalidInput(
                f"missing {noun} '{missing[0]}'", field=_pointer([*path, missing[0]])
            )
    label = _label(path, where)
    wanted = describe(definition) if error.rule in _DESCRIBED_RULES else None
    if wanted is not None:
        message = f"{label} must be {wanted}"
    elif error.rule in _COMPOSITE_MESSAGES:
        message = f"{label} {_COMPOSITE_MESSAGES[error.rule]}"
    else:
        message = label + error.message[len(error.name or "") :]
    return InvalidInput(message, field=_pointer(path))


def _unknown_keys(value: dict, definition: JSON) -> set[str]:
    known = definition.get("properties", {})
    patterns = [re.compile(p) for p in definition.get("patternProperties", {})]
    return {key for key in value if key not in known and not any(p.search(key) for p in patterns)}


def _label(path: list[str], where: str) -> str:
    if not path:
        return f"the {where}"
    last = path[-1]
    if last.isdigit() and len(path) > 1:
        last = f"{path[-2]}[{last}]"
    return f"query parameter '{last}'" if where == "query" else last


def _pointer(path: list[str]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def _convert(name: str, raw: str, prop: JSON) -> Any:
    """A query string as the type its property states; the schema checks the rest."""
    kind = prop.get("type", "string")
    if kind == "integer" and _QUERY_INTEGER.fullmatch(raw):
        return int(raw)
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    if kind == "string":
        return raw
    wanted = describe(prop)
    raise InvalidInput(f"query parameter '{name}' must be {wanted}", field=_pointer([name]))


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str)


def _is_object_schema(schema: JSON) -> bool:
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    return "object" in kinds or "properties" in schema or "patternProperties" in schema


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise MalformedRequest(f"the body has the key '{twice}' twice in one object")
    return obj


def _refuse_constant(name: str) -> Any:
    raise MalformedRequest(f"the body holds {name}, which is not a JSON number")


def _has_lone_surrogate(value: Any) -> bool:
    # Iterative: the value may nest as deeply as the parser allowed.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
