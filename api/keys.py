"""API keys: long-lived, revocable credentials for vendors' systems.

A vendor's back office calls us without a person at the keyboard, so a short-lived bearer
token does not fit; an API key does. Each key is one row of `api_keys`: who it belongs to
(the vendor id as subject), its role, its scopes (the operation ids it may call; none means
every operation of its role), and when and by whom it was issued and revoked.

The secret is shown once, at issue, as `tlk_<key id>_<43 base64url characters>`: 32 random
bytes. We keep only its SHA-256. A slow password hash (bcrypt, scrypt, Argon2) protects
low-entropy secrets that people choose; against a 256-bit random secret a stolen hash gives
an attacker nothing to guess, so one fast hash is enough and keeps every request cheap.

Verifying a key reads its row by key id and compares hashes in constant time. Positive
answers are cached for at most `cache_ttl_s` seconds (5 by default), per process: a key
revoked here is refused at once by this `ApiKeys`, and by every other process within
`cache_ttl_s`. Refusals are never cached.

The table is created by migration 0006; this module only describes it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Engine, Index, MetaData, String, Table, select

from api.spec import Caller, Role
from api.tokens import check_subject
from ledger.errors import InvalidInput, InvalidToken, NotFound

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("subject", String(128), nullable=False),  # the vendor id
    Column("role", String(32), nullable=False),
    Column("scopes", String(2000), nullable=False, server_default=""),  # operation ids, spaced
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(160), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoked_by", String(160), nullable=True),
)
Index("api_keys_subject_idx", api_keys.c.subject)

SECRET_PREFIX = "tlk_"
KEY_ID_BYTES = 16
SECRET_BYTES = 32
DEFAULT_CACHE_TTL_S = 5.0
MAX_CACHED_KEYS = 10_000
MAX_SCOPES = 100
MAX_SCOPES_CHARS = 2000
MAX_BY_CHARS = 160
MAX_KEYS_LISTED = 1000

_PRESENTED = re.compile(r"tlk_([0-9a-f]{32})_[A-Za-z0-9_-]{43}")
_KEY_ID = re.compile(r"[0-9a-f]{32}")
_OPERATION_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")  # `Operation.operation_id`: snake_case


@dataclass(frozen=True, slots=True)
class _Verified:
    secret_sha256: str
    caller: Caller
    checked_at: float  # time.monotonic() of the database read


class ApiKeys:
    """Issue, verify, revoke and list API keys in the `api_keys` table of `engine`."""

    def __init__(self, engine: Engine, cache_ttl_s: float = DEFAULT_CACHE_TTL_S):
        assert cache_ttl_s >= 0, cache_ttl_s
        self._engine = engine
        self._cache_ttl_s = cache_ttl_s
        self._cache: OrderedDict[str, _Verified] = OrderedDict()
        self._revocations = 0  # a verify that read before a revocation here caches nothing
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        subject: str,
        role: Role = Role.VENDOR,
        scopes: Iterable[str] = (),
        by: str,
        now: datetime,
    ) -> tuple[str, str]:
        """A new key for `subject`: (key id, secret). Only the secret's hash is stored, so
        the secret returned here is the only copy; give it to the vendor and forget it."""
        assert isinstance(role, Role), role
        assert now.tzinfo is not None, "times are aware datetimes, in UTC"
        check_subject(subject)
        scope_text = " ".join(_checked_scopes(scopes))
        _check_by(by)
        key_id = secrets.token_hex(KEY_ID_BYTES)
        secret = f"{SECRET_PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
        with self._engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    subject=subject,
                    role=role.value,
                    scopes=scope_text,
                    secret_sha256=_sha256(secret),
                    created_at=now.astimezone(UTC),
                    created_by=by,
                )
            )
        return key_id, secret

    def verify(self, presented: str, now_monotonic: float | None = None) -> Caller:
        """The caller a presented secret stands for, or InvalidToken.

        `now_monotonic` is `time.monotonic()` unless given (tests pass it to move time).
        """
        match = _PRESENTED.fullmatch(presented) if isinstance(presented, str) else None
        if match is None:
            raise InvalidToken("not a Tirelire API key (tlk_<key id>_<secret>)")
        key_id, digest = match.group(1), _sha256(presented)
        now = time.monotonic() if now_monotonic is None else now_monotonic
        cached = self._cached(key_id, now)
        if cached is not None and hmac.compare_digest(cached.secret_sha256, digest):
            return cached.caller
        revocations = self._revocations
        with self._engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        # The same answer for an unknown key and a wrong secret: nothing to probe key ids with.
        if row is None or not hmac.compare_digest(row.secret_sha256, digest):
            raise InvalidToken("the API key is not valid")
        if row.revoked_at is not None:
            raise InvalidToken("the API key was revoked: ask the operator for a new one")
        caller = Caller(
            subject=row.subject,
            role=Role(row.role),
            expires_at=0,
            scopes=frozenset(row.scopes.split()),
            key_id=key_id,
        )
        self._remember(key_id, _Verified(row.secret_sha256, caller, now), revocations)
        return caller

    def revoke(self, key_id: str, *, by: str, now: datetime) -> bool:
        """Revoke a key for good: True if this call revoked it, False if it already was."""
        assert now.tzinfo is not None, "times are aware datetimes, in UTC"
        _check_by(by)
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise NotFound(f"no API key has the id {key_id!r}: ids are 32 hex digits")
        with self._engine.begin() as conn:
            revoked = conn.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now.astimezone(UTC), revoked_by=by)
            ).rowcount
            exists = select(api_keys.c.key_id).where(api_keys.c.key_id == key_id)
            found = revoked > 0 or conn.execute(exists).first() is not None
        with self._lock:
            self._revocations += 1
            self._cache.pop(key_id, None)
        if not found:
            raise NotFound(f"no API key has the id {key_id!r}", key_id=key_id)
        return bool(revoked)

    def list_for(self, subject: str) -> list[dict[str, Any]]:
        """The keys of `subject`, oldest first (at most MAX_KEYS_LISTED): never a secret or
        its hash."""
        query = (
            select(api_keys)
            .where(api_keys.c.subject == subject)
            .order_by(api_keys.c.created_at, api_keys.c.key_id)
            .limit(MAX_KEYS_LISTED)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "key_id": row.key_id,
                "subject": row.subject,
                "role": row.role,
                "scopes": row.scopes.split(),
                "created_at": _utc(row.created_at),
                "created_by": row.created_by,
                "revoked_at": _utc(row.revoked_at),
                "revoked_by": row.revoked_by,
            }
            for row in rows
        ]

    def _cached(self, key_id: str, now: float) -> _Verified | None:
        with self._lock:
            entry = self._cache.get(key_id)
            if entry is None:
                return None
            if not 0 <= now - entry.checked_at < self._cache_ttl_s:
                del self._cache[key_id]
                return None
            self._cache.move_to_end(key_id)
            return entry

    def _remember(self, key_id: str, entry: _Verified, revocations: int) -> None:
        if self._cache_ttl_s == 0:
            return
        with self._lock:
            if revocations != self._revocations:
                return  # revoked here while we read: the row we read may be stale
            self._cache[key_id] = entry
            self._cache.move_to_end(key_id)
            while len(self._cache) > MAX_CACHED_KEYS:
                self._cache.popitem(last=False)


def _checked_scopes(scopes: Iterable[str]) -> list[str]:
    assert not isinstance(scopes, str), "scopes are a collection of operation ids"
    given = set(scopes)
    for scope in given:
        if not isinstance(scope, str) or not _OPERATION_ID.fullmatch(scope):
            raise InvalidInput(
                f"a scope is an operation id in snake_case, not {scope!r}", field="scopes"
            )
    if len(given) > MAX_SCOPES or len(" ".join(given)) > MAX_SCOPES_CHARS:
        raise InvalidInput(f"an API key has at most {MAX_SCOPES} scopes", field="scopes")
    return sorted(given)


def _check_by(by: str) -> None:
    if not isinstance(by, str) or not 1 <= len(by) <= MAX_BY_CHARS:
        raise InvalidInput(f"who acts is named in 1 to {MAX_BY_CHARS} characters", field="by")


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; we only ever store UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
