"""Identifiers that double as idempotency keys.

Everything a command creates gets an id derived (`uuid5`) from a natural key or from the
client's idempotency key, never from a random source. A retried command therefore tries to
create the very same ids, and the event store's primary key (originator id, version) refuses
the duplicate even when the first attempt's commit outcome was unknown.

A request digest is a short hash of a command's name and payload, recorded beside its key:
a retry with the same key and digest answers as the first did; the same key with another
digest is refused.
"""

from __future__ import annotations

import hashlib
import re
from uuid import UUID, uuid5

from ledger.errors import InvalidIdentifier

# Fixed for the life of the system: changing it changes every derived id.
TIRELIRE_NAMESPACE = UUID("6f0c3a52-9a1e-5b7e-8d43-0f6f2b1c7e10")

MAX_KEY_LENGTH = 128
MAX_OPAQUE_ID_LENGTH = 64
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces
_OPAQUE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def campaign_id(campaign_key: str) -> UUID:
    check_key(campaign_key, "campaign key")
    return uuid5(TIRELIRE_NAMESPACE, f"campaign:{campaign_key}")


def credit_account_id(campaign: UUID, teacher_id: str) -> UUID:
    return checked_credit_account_id(campaign, check_opaque_id(teacher_id, "teacher id"))


def checked_credit_account_id(campaign: UUID, teacher_id: str) -> UUID:
    """For a teacher id already checked (a bulk grant checks its list once)."""
    return uuid5(campaign, f"teacher:{teacher_id}")


def derived_id(parent: UUID, kind: str, key: str) -> UUID:
    """The id of something a keyed command creates inside `parent` (a hold, a top-up)."""
    return uuid5(parent, f"{kind}:{key}")


def request_digest(command: str, *fields: object) -> str:
    """A stable digest of a command and its payload (plain values only)."""
    text = "\x1f".join([command, *(repr(f) for f in fields)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def check_key(key: str, what: str = "idempotency key") -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidIdentifier(
            f"{what} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters", field=what
        )
    return key


def check_opaque_id(value: str, what: str) -> str:
    """Opaque ids (teachers, funders, vendors): pseudonymous tokens, never personal data."""
    if not isinstance(value, str) or not _OPAQUE_ID.match(value):
        raise InvalidIdentifier(
            f"{what} must be 1 to {MAX_OPAQUE_ID_LENGTH} characters of letters, digits "
            "and _ . : - (an opaque id, not a name or an email)",
            field=what,
        )
    return value
