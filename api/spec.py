"""What an endpoint is: one `Operation` per route, in one table (`api.routes.ROUTES`).

An operation states everything the server, the OpenAPI document and the tests need: its
method and path, the roles that may call it, the JSON schemas of its body, query and answer,
whether it moves money (then an `Idempotency-Key` header is required), and an example. The
server validates requests against these schemas; `api.openapi` renders them; the
authorization matrix test walks them. Nothing about an endpoint is written twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Role(Enum):
    TEACHER = "teacher"
    VENDOR = "vendor"
    OPERATOR = "operator"
    COMMITTEE = "committee"  # the labelling committee
    AUTHORITY = "authority"  # a local authority
    AUDITOR = "auditor"
    # The device banks (`api.parties` maps their subjects to the domain's parties).
    DONOR = "donor"  # a company or a person that gives devices
    COLLECTOR = "collector"
    REFURBISHER = "refurbisher"
    EDUCATION_SERVICE = "education_service"  # rectorat, académie: allocates to pupils
    SCHOOL = "school"
    # The internet fund (`api.fund_api`, `api.subsidies_api`, `api.cofinancing_api`); the
    # operator manages the fund, and `api.parties` spells these roles' subjects.
    TELECOM_OPERATOR = "telecom_operator"  # pays the levy: `telecom:{SIREN}`
    REGULATOR = "regulator"  # ARCEP: decides the contribution rate
    COMPANY = "company"  # co-finances a territory: `company:{SIRET}`


ALL_ROLES = frozenset(Role)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: from a verified bearer token or API key."""

    subject: str  # teacher id, vendor id, authority id, a party, or a staff member's id
    role: Role
    expires_at: int = 0  # Unix seconds; 0 for API keys (revocable instead)
    scopes: frozenset[str] = frozenset()  # API keys: the operations they may call; empty = all
    key_id: str = ""  # the API key's id, when the caller used one

    @property
    def name(self) -> str:
        """Who did it, as recorded in events (`by`)."""
        return f"{self.role.value}:{self.subject}"


JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """One authorized, validated request, as a handler receives it."""

    caller: Caller
    path: Mapping[str, str]  # path parameters, as strings
    query: JSON  # validated query parameters
    body: Any  # validated JSON body (None without one), or raw bytes for uploads
    idempotency_key: str | None
    services: Any  # api.services.Services
    now: Any  # datetime of the request, UTC: time is passed into commands


@dataclass(frozen=True, slots=True)
class Reply:
    """What a handler answers: a status and a JSON body, or raw bytes with a media type."""

    body: Any
    status: int = 200
    media_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str  # stable, camelCase-free: snake_case verb phrase
    method: str  # GET, POST, PUT, DELETE
    path: str  # aiohttp style: /v1/holds/{code}
    summary: str
    tag: str  # a role (teacher, vendor, operator, donor, refurbisher, …) or system
    roles: frozenset[Role]
    handler: Handler
    response: JSON  # JSON schema of the success body
    status: int = 200
    body: JSON | None = None  # JSON schema of the request body (objects refuse extra keys)
    query: JSON | None = None  # JSON schema of the query parameters, an object of strings
    upload: str | None = None  # media type of a raw body (a CSV, an XML statement)
    moves_money: bool = False  # requires an Idempotency-Key header
    example_body: Any = None
    example_response: Any = None
    description: str = ""
    # Whose object the operation acts on, for the authorization matrix: "self" (the path
    # names an object only its owner may reach: checked with another owner's), "token"
    # (the caller's own by construction: the token names it, not the path), "territory"
    # (a local authority's: a teacher whose school lies in the territory its id names),
    # "any" (staff reading or acting on anyone's), or "" (no owned object).
    ownership: str = ""
