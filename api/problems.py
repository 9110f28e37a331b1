"""Errors over HTTP: every refusal is an RFC 9457 problem with a stable `code`.

Each family of the one domain error tree (`ledger.errors`) maps to one status; the body
carries the error's stable code, its message and its details (the field at fault, the
status that conflicted, …). A failure we did not foresee is a 500 with no detail: the
trace goes to the log, never to the client.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ledger import errors

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://tirelire.example/problems/"

# Most specific first: the first family an error belongs to gives its status.
STATUS_OF: tuple[tuple[type[errors.DomainError], int], ...] = (
    (errors.PayloadTooLarge, 413),
    (errors.MalformedRequest, 400),
    (errors.IdempotencyKeyReused, 422),
    (errors.InvalidInput, 422),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.AccessDenied, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.RateLimited, 429),
    (errors.StoreUnavailable, 503),
    (errors.DomainError, 400),
)


def status_of(error: errors.DomainError) -> int:
    for family, status in STATUS_OF:
        if isinstance(error, family):
            return status
    raise AssertionError("every domain error is a DomainError")


def problem_body(
    *, status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    return {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        **extra,
    }


def problem_response(
    request: web.Request, error: errors.DomainError, headers: dict[str, str] | None = None
) -> web.Response:
    status = status_of(error)
    body = problem_body(
        status=status,
        code=error.code,
        title=error.title,
        detail=error.message,
        instance=request.path,
        **{_detail_name(k): _plain(v) for k, v in error.details.items()},
    )
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="tirelire"')
    return _respond(status, body, headers)


def http_problem(request: web.Request, error: web.HTTPException) -> web.Response:
    """aiohttp's own refusals (no such route, method not allowed) as problems too."""
    code = {404: "route_not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
        error.status, "http_error"
    )
    body = problem_body(
        status=error.status,
        code=code,
        title=error.reason,
        detail=error.reason,
        instance=request.path,
    )
    headers = {}
    if error.status == 405 and "Allow" in error.headers:
        headers["Allow"] = error.headers["Allow"]
    return _respond(error.status, body, headers)


def internal_problem(request: web.Request) -> web.Response:
    body = problem_body(
        status=500,
        code="internal_error",
        title="Internal error",
        detail="The server failed to answer; the incident was logged.",
        instance=request.path,
    )
    return _respond(500, body, {})


def _respond(status: int, body: dict[str, Any], headers: dict[str, str]) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode(),
        content_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


PROBLEM_FIELDS = frozenset({"type", "title", "status", "detail", "instance", "code"})


def _detail_name(name: str) -> str:
    """A detail named like a field of the problem itself is renamed: a conflicting state's
    `status` becomes `current_status`, never the HTTP status."""
    if name not in PROBLEM_FIELDS:
        return name
    return "current_status" if name == "status" else f"{name}_detail"


def _plain(value: Any) -> Any:
    """Details as JSON values: ids and enums become strings."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)
