"""The HTTP server: `create_app(settings)` builds it from the one table of operations.

Every request to an operation goes through the same steps, in `endpoint`:

1. authenticate: an Ed25519 bearer token, or a vendor's API key (`api.tokens`, `api.keys`);
2. authorize: the caller's role is one the operation allows, and an API key's scopes name
   it; ownership of the objects named is checked by the handler, which knows them;
3. rate-limit the caller (`api.limits`);
4. for a money-moving operation, require an `Idempotency-Key` and refuse a second request
   with the same key while the first is in flight (409);
5. read and validate the body and the query against the operation's schemas (unknown
   fields refused);
6. call the handler with a `Call` (the time of the request is taken here, once, and passed
   into the commands), and render its `Reply`.

Domain errors become RFC 9457 problems (`api.problems`); anything else is logged and
answered with a bare 500.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from api import problems
from api.openapi import build_document, docs_page
from api.routes import ROUTES
from api.services import FOLLOW_PROJECTIONS, SERVICES, SETTINGS, Services, services_context
from api.spec import Call, Caller, Operation, Reply
from api.validation import compile_operation, parse_json
from ledger.errors import (
    DomainError,
    Forbidden,
    MalformedRequest,
    PayloadTooLarge,
    RequestInFlight,
    Unauthenticated,
)
from ledger.settings import Settings

log = logging.getLogger("tirelire.api")
API_VERSION = "1.0.0"
METRICS = web.AppKey("metrics", dict)
CLOCK = web.AppKey("clock", Callable[[], datetime])
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The redemption path: it changes accounts only, never what holds read besides them.
HOT_OPERATIONS = frozenset(
    {
        "place_hold",
        "cancel_my_hold",
        "capture_redemption",
        "release_redemption",
        "refund_redemption",
    }
)
JSON_TYPES = ("application/json", "application/problem+json")


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
    follow_projections: bool = True,
) -> web.Application:
    """The server for these settings. Nothing is opened until the app starts. The clock
    gives each request its time, passed into the commands (tests pass their own). With
    `follow_projections`, the app keeps the read models caught up itself; `tirelire serve`
    leaves that to a projector process of its own."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[problem_middleware])
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[FOLLOW_PROJECTIONS] = follow_projections
    app[METRICS] = new_metrics()
    app.cleanup_ctx.append(services_context)
    document = build_document(ROUTES, version=API_VERSION)
    document_bytes = json.dumps(document, ensure_ascii=False, indent=1).encode()
    page = docs_page(document)
    for op in ROUTES:
        app.router.add_route(op.method, op.path, endpoint(op), name=op.operation_id)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)

    async def openapi(_: web.Request) -> web.Response:
        return web.Response(body=document_bytes, content_type="application/json")

    async def docs(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/docs", docs)
    return app


def new_metrics() -> dict[str, Any]:
    registry = CollectorRegistry()
    return {
        "registry": registry,
        "requests": Counter(
            "tirelire_requests",
            "Requests answered, by operation and status",
            ["operation", "status"],
            registry=registry,
        ),
        "latency": Histogram(
            "tirelire_request_seconds",
            "Time to answer, by operation",
            ["operation"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
        ),
    }


@web.middleware
async def problem_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as error:
        headers = {}
        retry = error.details.get("retry_after_s")
        if retry is not None:
            headers["Retry-After"] = str(retry)
        return problems.problem_response(request, error, headers)
    except web.HTTPRequestEntityTooLarge:
        too_large = PayloadTooLarge(
            f"a request body is at most {request.app[SETTINGS].max_body_bytes} bytes"
        )
        return problems.problem_response(request, too_large)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return problems.http_problem(request, error)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problems.internal_problem(request)


def endpoint(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    compiled = compile_operation(op)

    async def handle(request: web.Request) -> web.StreamResponse:
        services: Services = request.app[SERVICES]
        metrics, clock = request.app[METRICS], request.app[CLOCK]
        started = time.perf_counter()
        status = 500
        try:
            caller = await authenticate(request, services, op)
            services.limiter.take(caller.name, time.monotonic())
            key = idempotency_key(request, op)
            query = compiled.validate_query(request.query)
            body = await read_body(request, op, compiled)
            flight = (caller.name, key) if key else None
            if flight in services.in_flight:
                raise RequestInFlight(
                    "a request with this Idempotency-Key is still being processed", key=key
                )
            if flight:
                services.in_flight.add(flight)
            try:
                reply = await op.handler(
                    Call(
                        caller=caller,
                        path=request.match_info,
                        query=query,
                        body=body,
                        idempotency_key=key,
                        services=services,
                        now=clock(),
                    )
                )
            finally:
                if flight:
                    services.in_flight.discard(flight)
            if op.method != "GET" and op.operation_id not in HOT_OPERATIONS:
                # Vendors, resources and campaigns may have changed: this process's holds
                # read them afresh at once (other processes within REFERENCE_MAX_AGE_MS).
                services.redemptions.references.clear()
            response = render(reply)
            status = response.status
            return response
        except DomainError as error:
            status = problems.status_of(error)
            raise
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            metrics["requests"].labels(op.operation_id, str(status)).inc()
            metrics["latency"].labels(op.operation_id).observe(time.perf_counter() - started)

    return handle


async def authenticate(request: web.Request, services: Services, op: Operation) -> Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("send `Authorization: Bearer <token or API key>`")
    credential = credential.strip()
    if credential.startswith("tlk_"):
        caller = await services.run(services.api_keys.verify, credential)
        if caller.scopes and op.operation_id not in caller.scopes:
            raise Forbidden(f"this API key may not call {op.operation_id}")
    else:
        caller = services.tokens.verify(credential, int(time.time()))
    if caller.role not in op.roles:
        raise Forbidden(
            f"a {caller.role.value} may not call {op.operation_id}", role=caller.role.value
        )
    return caller


def idempotency_key(request: web.Request, op: Operation) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        if op.moves_money:
            raise MalformedRequest(
                "this operation moves money: send an Idempotency-Key header",
                field="Idempotency-Key",
            )
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise MalformedRequest(
            "an Idempotency-Key is 1 to 128 letters, digits and . _ : -",
            field="Idempotency-Key",
        )
    return key


async def read_body(request: web.Request, op: Operation, compiled: Any) -> Any:
    if op.upload is not None:
        raw = await request.read()
        if not raw:
            raise MalformedRequest(f"send the file as the body ({op.upload})")
        return raw
    if op.body is None:
        if request.can_read_body and await request.read():
            raise MalformedRequest("this operation takes no body")
        return None
    if request.content_type not in JSON_TYPES:
        raise MalformedRequest("send the body as application/json")
    return compiled.validate_body(parse_json(await request.read()))


def render(reply: Reply) -> web.Response:
    if reply.media_type == "application/json":
        body = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode()
    else:
        body = reply.body
    return web.Response(
        status=reply.status, body=body, content_type=reply.media_type, headers=reply.headers
    )


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app.get(SERVICES)
    if services is None or not services.started:
        return web.json_response({"status": "starting"}, status=503)
    try:
        await services.run(services.vouchers.recorder.max_notification_id)
    except Exception:
        log.exception("readiness check failed")
        return web.json_response({"status": "store unavailable"}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS]["registry"])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
