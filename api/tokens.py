"""Bearer tokens: who is calling, signed by us with Ed25519, checked without a database.

A token says "this subject has this role until this second". We sign it with one Ed25519
private key; anyone holding the public key can check it, and nobody without the private key
can make one. A token is three dot-separated parts:

    v1.<base64url(payload)>.<base64url(signature)>

The payload is compact JSON with sorted keys, `{"exp":…,"iat":…,"role":…,"sub":…}` (Unix
seconds for the times); the signature covers `b"tirelire-token-v1."` followed by the payload
bytes, so a signature made for anything else can never pass as a token. Base64url is written
without padding and must be canonical: each token has exactly one spelling, which is what
lets the verifier cache verified tokens by their text.

Tokens cannot be revoked: keep them short-lived (an hour by default, 30 days at most) and
use API keys (`api.keys`) for long-lived, revocable machine access.

The signing key is a PEM file (PKCS8, unencrypted) at `Settings.signing_key_path`. On the
embedded SQLite default a development key is generated on first run beside the database
file; everywhere else the operator provides one, and a missing key is an error rather than a
silently new key (which would quietly invalidate every token in circulation).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import threading
from collections import OrderedDict
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from api.parties import FUND_SUBJECTS, PARTY_ROLES, fund_subject, subject_party
from api.spec import Caller, Role
from ledger.authorities import authority_territory
from ledger.errors import InvalidInput, InvalidSigningKey, InvalidToken, TokenExpired
from ledger.settings import Settings

TOKEN_PREFIX = "v1."
SIGNING_CONTEXT = b"tirelire-token-v1."
MAX_TOKEN_CHARS = 1024
MAX_SUBJECT_CHARS = 128
DEFAULT_TTL_S = 3600
MAX_TTL_S = 30 * 24 * 3600
DEFAULT_CACHE_SIZE = 10_000
SIGNATURE_BYTES = 64
MAX_KEY_FILE_BYTES = 16_384  # an Ed25519 PEM is 119 bytes: anything much larger is not one
KEY_FILE_MODE = 0o600
PAYLOAD_FIELDS = frozenset({"sub", "role", "iat", "exp"})

_SUBJECT = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_ROLES = {role.value: role for role in Role}
_HOW_TO_MAKE_A_KEY = (
    "create one with `openssl genpkey -algorithm ed25519 -out key.pem` or "
    "`tirelire token keygen PATH`, and set TIRELIRE_SIGNING_KEY_FILE to its path"
)


def load_or_create_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The key that signs tokens: read from its file, or made once for the SQLite default.

    Only the embedded default (SQLite, no TIRELIRE_SIGNING_KEY_FILE) gets a generated
    development key, written beside the database file with mode 0600. A configured path that
    does not exist, or PostgreSQL without a configured path, is refused: a server must not
    invent a key that its peers do not share.
    """
    path = settings.signing_key_path
    if path is None:
        raise InvalidSigningKey(f"no signing key is configured: {_HOW_TO_MAKE_A_KEY}")
    if path.exists():
        return read_signing_key(path)
    if settings.signing_key_file or settings.store.kind != "sqlite":
        raise InvalidSigningKey(f"the signing key file {path} does not exist: {_HOW_TO_MAKE_A_KEY}")
    key = Ed25519PrivateKey.generate()
    if _write_new_key_file(path, key):
        return key
    return read_signing_key(path)  # another process wrote one first: use that one


def load_or_create_checkpoint_key(settings: Settings) -> Ed25519PrivateKey:
    """The key that signs checkpoints (`ledger.checkpoints`), on the same terms as the
    tokens' key: generated once only for the embedded default, otherwise configured with
    TIRELIRE_CHECKPOINT_KEY_FILE. It is a key of its own: auditors trust its public half,
    and a leaked token key must not let anyone sign the books."""
    path = settings.checkpoint_key_path
    if path is None:
        raise InvalidSigningKey(
            "no checkpoint key is configured: create one with `tirelire audit keygen PATH` "
            "and set TIRELIRE_CHECKPOINT_KEY_FILE to its path"
        )
    if path.exists():
        return read_signing_key(path)
    if settings.checkpoint_key_file or settings.store.kind != "sqlite":
        raise InvalidSigningKey(
            f"the checkpoint key file {path} does not exist: create it with "
            "`tirelire audit keygen PATH`"
        )
    key = Ed25519PrivateKey.generate()
    if _write_new_key_file(path, key):
        return key
    return read_signing_key(path)


def read_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PEM file (PKCS8, unencrypted), or InvalidSigningKey."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as error:
        raise InvalidSigningKey(
            f"cannot read the signing key file {path}: {error.strerror}; {_HOW_TO_MAKE_A_KEY}"
        ) from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise InvalidSigningKey(
            f"{path} is too large to be an Ed25519 key file: {_HOW_TO_MAKE_A_KEY}"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidSigningKey(
            f"{path} is not an unencrypted PEM private key: {_HOW_TO_MAKE_A_KEY}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidSigningKey(f"{path} holds a key that is not Ed25519: {_HOW_TO_MAKE_A_KEY}")
    return key


def generate_key_file(path: str | Path) -> Ed25519PrivateKey:
    """Write a new signing key to `path` (mode 0600). Never overwrites: replacing a key
    invalidates every token it signed, so that must be a deliberate act on the file."""
    path = Path(path)
    key = Ed25519PrivateKey.generate()
    if not _write_new_key_file(path, key):
        raise InvalidInput(f"{path} already exists: a new key is never written over an old one")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The public half as PEM (SubjectPublicKeyInfo): what another service needs to verify."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_subject(subject: str) -> str:
    """Subjects are opaque ids (a teacher id, a vendor id, a staff member's id), or a
    device bank's party (`api.parties`)."""
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise InvalidInput(
            f"a subject must be 1 to {MAX_SUBJECT_CHARS} characters of letters, digits "
            "and . _ : @ -",
            field="subject",
        )
    return subject


def issue_token(
    key: Ed25519PrivateKey, *, subject: str, role: Role, now: int, ttl_s: int = DEFAULT_TTL_S
) -> str:
    """A token for `subject` in `role`, valid from `now` (Unix seconds) for `ttl_s` seconds."""
    assert isinstance(role, Role), role
    assert isinstance(now, int) and not isinstance(now, bool), now
    check_subject(subject)
    if role is Role.AUTHORITY:
        authority_territory(subject)  # an authority acts under the id of its territory
    if role in PARTY_ROLES:
        subject_party(role, subject)  # a device bank's party acts under its own name
    if role in FUND_SUBJECTS:
        fund_subject(role, subject)  # a telecom operator or a co-financing company too
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not 1 <= ttl_s <= MAX_TTL_S:
        raise InvalidInput(f"a token lives 1 to {MAX_TTL_S} seconds (30 days)", field="ttl_s")
    claims = {"sub": subject, "role": role.value, "iat": now, "exp": now + ttl_s}
    payload = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
    signature = key.sign(SIGNING_CONTEXT + payload)
    return f"{TOKEN_PREFIX}{_encode(payload)}.{_encode(signature)}"


class TokenVerifier:
    """Checks tokens against one public key, remembering the ones it has verified.

    The cache maps a token's exact text to its caller and expiry, least recently used first
    out. Only tokens whose signature checked are cached, and tokens have one spelling, so a
    forged or altered token is never a cache hit: it always goes through the full check.
    Expiry is checked on every call, cached or not.
    """

    def __init__(self, public_key: Ed25519PublicKey, cache_size: int = DEFAULT_CACHE_SIZE):
        assert isinstance(public_key, Ed25519PublicKey), public_key
        assert cache_size >= 0, cache_size
        self._public_key = public_key
        self._cache_size = cache_size
        self._cache: OrderedDict[str, Caller] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str, now: int) -> Caller:
        """The caller named by `token` at `now` (Unix seconds).

        Raises InvalidToken for anything not made by our key and TokenExpired once
        `now >= exp`.
        """
        cached = self._cached(token)
        caller = cached if cached is not None else self._check(token)
        if now >= caller.expires_at:
            self._forget(token)
            raise TokenExpired("the bearer token has expired: ask for a new one")
        if cached is None:
            self._remember(token, caller)
        return caller

    def _check(self, token: str) -> Caller:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken(f"a bearer token is a string of at most {MAX_TOKEN_CHARS} chars")
        if not token.startswith(TOKEN_PREFIX):
            raise InvalidToken("not a Tirelire bearer token (expected the prefix v1.)")
        parts = token[len(TOKEN_PREFIX) :].split(".")
        if len(parts) != 2:
            raise InvalidToken("a bearer token has three parts separated by dots")
        payload, signature = _decode(parts[0]), _decode(parts[1])
        if len(signature) != SIGNATURE_BYTES:
            raise InvalidToken("the bearer token's signature has the wrong length")
        try:
            self._public_key.verify(signature, SIGNING_CONTEXT + payload)
        except InvalidSignature:
            raise InvalidToken("the bearer token's signature does not match") from None
        return _caller_from(payload)

    def _cached(self, token: str) -> Caller | None:
        with self._lock:
            caller = self._cache.get(token)
            if caller is not None:
                self._cache.move_to_end(token)
            return caller

    def _remember(self, token: str, caller: Caller) -> None:
        if self._cache_size == 0:
            return
        with self._lock:
            self._cache[token] = caller
            self._cache.move_to_end(token)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _forget(self, token: str) -> None:
        with self._lock:
            self._cache.pop(token, None)


def _caller_from(payload: bytes) -> Caller:
    """The caller in a payload whose signature has been checked; refuses odd shapes anyway."""
    try:
        claims = json.loads(payload)
    except ValueError:  # also UnicodeDecodeError
        raise InvalidToken("the bearer token's payload is not JSON") from None
    if not isinstance(claims, dict) or claims.keys() != PAYLOAD_FIELDS:
        raise InvalidToken("the bearer token's payload must have exactly sub, role, iat, exp")
    subject, role, issued_at, expires_at = (claims[k] for k in ("sub", "role", "iat", "exp"))
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise InvalidToken("the bearer token's subject is not valid")
    if not isinstance(role, str) or role not in _ROLES:
        raise InvalidToken("the bearer token names an unknown role")
    if not all(type(t) is int for t in (issued_at, expires_at)) or not (
        1 <= expires_at - issued_at <= MAX_TTL_S
    ):
        raise InvalidToken("the bearer token's times are not valid")
    return Caller(subject=subject, role=_ROLES[role], expires_at=expires_at)


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    """Strict base64url without padding: the alphabet only, and the one canonical spelling
    (unused trailing bits are zero), so that no two token texts carry the same bytes."""
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise InvalidToken("a part of the bearer token is not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise InvalidToken("a part of the bearer token is not base64url") from None
    if _encode(data) != text:
        raise InvalidToken("a part of the bearer token is not canonical base64url")
    return data


def _write_new_key_file(path: Path, key: Ed25519PrivateKey) -> bool:
    """Write `key` to `path` with mode 0600, all at once; False if `path` already exists.

    The PEM goes to a temporary file in the same directory first, then is linked into place:
    a reader never sees half a key, and unlike a rename the link never replaces a file that
    another process created in the meantime.
    """
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
    except OSError as error:
        raise InvalidSigningKey(
            f"cannot write the signing key file {path}: {error.strerror}; {_HOW_TO_MAKE_A_KEY}"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    return True
