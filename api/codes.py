"""Redemption codes: what a teacher hands the vendor so it can capture or release a hold.

A code names the hold and its credit account, and carries a MAC under a server secret, so
that it cannot be guessed or forged: knowing one code tells nothing of another, and a vendor
can only act on holds placed at it (checked on use). The code is derived, not stored: a
retried hold answers the same code, and no lookup table is written on the hot path.

    code = "rc1" + base32(account id ‖ hold id ‖ HMAC-SHA256(secret, account id ‖ hold id)[:10])

The secret derives from the token signing key (HKDF), so there is one secret to keep. An
unknown or altered code is refused like an unknown hold, and each refusal counts against a
strict per-caller limit (`api.limits`): guessing is slow as well as hopeless (80-bit MAC).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger.errors import HoldNotFound

PREFIX = "rc1"
MAC_BYTES = 10
CODE_LENGTH = len(PREFIX) + 68  # base32 of 42 bytes, padding removed


def derive_code_secret(signing_key_bytes: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"tirelire redemption codes"
    ).derive(signing_key_bytes)


class RedemptionCodes:
    def __init__(self, secret: bytes) -> None:
        assert len(secret) >= 32
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:MAC_BYTES]

    def encode(self, account_id: UUID, hold_id: UUID) -> str:
        payload = account_id.bytes + hold_id.bytes
        text = base64.b32encode(payload + self._mac(payload)).decode().rstrip("=").lower()
        return PREFIX + text

    def decode(self, code: str) -> tuple[UUID, UUID]:
        """The (account, hold) a code names; HoldNotFound for anything else."""
        unknown = HoldNotFound("no hold has this redemption code")
        if not isinstance(code, str) or len(code) != CODE_LENGTH or not code.startswith(PREFIX):
            raise unknown
        body = code[len(PREFIX) :].upper()
        try:
            raw = base64.b32decode(body + "=" * (-len(body) % 8))
        except (binascii.Error, ValueError):
            raise unknown from None
        payload, mac = raw[:32], raw[32:]
        if len(raw) != 32 + MAC_BYTES or not hmac.compare_digest(mac, self._mac(payload)):
            raise unknown
        account_id, hold_id = UUID(bytes=payload[:16]), UUID(bytes=payload[16:])
        if self.encode(account_id, hold_id) != code:
            raise unknown  # one spelling per code: the last letter's spare bits are zero
        return account_id, hold_id
