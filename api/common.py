"""What handlers share: ids from paths, keys scoped to their caller, rendering and parsing
of values, the vendor a path names, pages, log positions, and the sets of roles operations
name."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from api.spec import Call, Caller, Role
from ledger.errors import Forbidden, InvalidIdentifier, InvalidInput, InvalidPeriod
from ledger.ids import MAX_KEY_LENGTH
from projections.catalogue import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

MAX_OFFSET = 100_000  # deeper pages are better served by narrower filters
FOLD_PAGE_SIZE = 1000  # notifications read per query when folding or scanning the log
POSITION = {"type": "integer", "minimum": 0, "description": "A log position (notification id)."}

OPERATOR = frozenset({Role.OPERATOR})
VENDOR = frozenset({Role.VENDOR})
VENDOR_OR_STAFF = frozenset({Role.VENDOR, Role.OPERATOR, Role.AUDITOR})
STAFF = frozenset({Role.AUDITOR, Role.OPERATOR})


def path_uuid(call: Call, name: str) -> UUID:
    raw = call.path[name]
    try:
        value = UUID(raw)
    except ValueError:
        raise InvalidIdentifier(f"{name} must be a UUID, not {raw[:60]!r}", field=name) from None
    if str(value) != raw.lower():
        raise InvalidIdentifier(f"{name} must be a UUID in its usual form", field=name)
    return value


def body_uuid(value: str, name: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidIdentifier(f"{name} must be a UUID", field=name) from None


def own_vendor(call: Call) -> UUID:
    """The vendor named in the path; a vendor may only name itself."""
    if call.caller.role is Role.VENDOR and call.caller.subject != call.path["vendor_id"]:
        raise Forbidden("a vendor acts on its own account only")
    return path_uuid(call, "vendor_id")


def page(call: Call) -> tuple[int, int]:
    """The page asked for, within the deployment's largest page."""
    limit, offset = call.query["limit"], call.query["offset"]
    if limit > call.services.settings.max_page_size:
        raise InvalidInput(
            f"a page has at most {call.services.settings.max_page_size} items", field="/limit"
        )
    return limit, offset


def paging(default: int = DEFAULT_PAGE_SIZE, largest: int = MAX_PAGE_SIZE) -> dict[str, Any]:
    return {
        "limit": {"type": "integer", "minimum": 1, "maximum": largest, "default": default},
        "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    }


def scoped_key(caller: Caller, key: str) -> str:
    """The domain key of a client's Idempotency-Key: scoped to the caller, so one vendor's
    key never meets another's on a teacher's account. Readable when it fits."""
    readable = f"{caller.role.value}:{caller.subject}:{key}"
    if len(readable) <= MAX_KEY_LENGTH:
        return readable
    digest = hashlib.sha256(f"{caller.subject}\x00{key}".encode()).hexdigest()[:40]
    return f"{caller.role.value}:{digest}"


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def parse_moment(text: str, name: str) -> datetime:
    """A timezone-aware moment from ISO 8601 text, in UTC."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidPeriod(
            f"{name} must be a date-time with its offset, like 2028-01-31T23:00:00+00:00",
            field=f"/{name}",
        ) from None


def parse_day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidPeriod(f"{name} must be a date like 2027-09-01", field=name) from None


async def committed(future: Any) -> Any:
    """Await a group committer's future without blocking the event loop."""
    return await asyncio.wrap_future(future)
