"""JSON schema fragments the operations share, and small helpers to write them."""

from __future__ import annotations

from typing import Any

UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
MAX_CENTS = 100_000_000_000  # one billion euros: far above any amount the books hold

UUID = {
    "type": "string",
    "pattern": UUID_PATTERN,
    "examples": ["6f1c2b9e-2d4a-4c1e-9a53-0d6a3f0b7c11"],
}
CENTS = {"type": "integer", "minimum": 1, "maximum": MAX_CENTS, "description": "euro cents"}
CENTS_OR_ZERO = {"type": "integer", "minimum": 0, "maximum": MAX_CENTS}
SIGNED_CENTS = {"type": "integer", "minimum": -MAX_CENTS, "maximum": MAX_CENTS}
COUNT = {"type": "integer", "minimum": 0}
TEXT = {"type": "string", "minLength": 1, "maxLength": 500}
SHORT_TEXT = {"type": "string", "minLength": 1, "maxLength": 140}
TITLE = {"type": "string", "minLength": 1, "maxLength": 200}  # a title, or a legal name
OPAQUE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}
DATE = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
DATETIME = {"type": "string", "format": "date-time"}
BOOLEAN = {"type": "boolean"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object schema: these properties required, those optional, nothing else."""
    properties = {**required, **(optional or {})}
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(required),
        "additionalProperties": False,
    }


def array(items: dict[str, Any], max_items: int = 500, min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": min_items, "maxItems": max_items}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


REASON = obj({"reason": TEXT})  # the body of a move that only needs saying why
