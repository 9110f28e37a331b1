"""The values of a device's record: what it is, its stage, its wipe, its works, its pupil.

Events hold plain values only, so a device's description travels as fields (kind, serial
number, make, model) and its specs as a tuple of (name, value) pairs, sorted by name:
`(("ram_gb", "8"), ("storage_gb", "256"))`. What people type is checked and normalised
here, once, before it is recorded: a serial number in upper case without spaces, a
certificate's SHA-256 in lower-case hex. Every list has a limit.

An **erasure certificate** is the document the wiping tool issues for one device: its id
and the SHA-256 of the document, so that the stored document can be proven unaltered. The
method says how the data went: overwritten, erased by destroying the encryption key, or
the storage physically destroyed.

No personal data enters a record: a donor who is a person, a pupil, and whoever received a
device at a school are opaque references (`ledger.ids.check_opaque_id`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import TypeVar
from uuid import UUID, uuid5

from ledger.errors import InvalidAmount, InvalidIdentifier, InvalidInput, InvalidWipeCertificate
from ledger.ids import TIRELIRE_NAMESPACE, check_opaque_id

MAX_SERIAL_LENGTH = 64
MAX_NAME_LENGTH = 100  # a make, a model, a part
MAX_SPECS = 12
MAX_PARTS = 20
MAX_REASON_LENGTH = 500
SHA256_HEX_LENGTH = 64
_SERIAL = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{0,63}$")
_SPEC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

E = TypeVar("E", bound=Enum)
Specs = tuple[tuple[str, str], ...]  # (name, value), sorted by name
Parts = tuple[str, ...]


class DeviceKind(Enum):
    LAPTOP = "laptop"
    DESKTOP = "desktop"
    TABLET = "tablet"


class DeviceStage(Enum):
    PLEDGED = "pledged"
    COLLECTED = "collected"
    RECEIVED = "received"  # by a refurbisher
    DIAGNOSED = "diagnosed"
    WIPED = "wiped"
    REFURBISHED = "refurbished"
    SCRAPPED = "scrapped"
    RECYCLED = "recycled"
    ALLOCATED = "allocated"
    DELIVERED = "delivered"
    RETURNED = "returned"


class DeviceGrade(Enum):
    A = "A"  # as new
    B = "B"  # good, visible wear
    C = "C"  # fair: works, worn
    UNFIT = "unfit"  # beyond refurbishment: scrap it


class WipeMethod(Enum):
    OVERWRITE = "overwrite"
    CRYPTO_ERASE = "crypto_erase"
    PHYSICAL_DESTRUCTION = "physical_destruction"


def device_id(donor: str, serial_number: str) -> UUID:
    """One donor's device of a serial number: its pledge retried is the same device."""
    return uuid5(TIRELIRE_NAMESPACE, f"device:{donor}:{check_serial(serial_number)}")


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    """What a donor pledges: a device as typed; `checked()` answers it as recorded."""

    kind: DeviceKind | str
    serial_number: str
    make: str
    model: str
    specs: Specs = ()

    def checked(self) -> DeviceDescription:
        return replace(
            self,
            kind=check_choice(DeviceKind, self.kind, "device kind"),
            serial_number=check_serial(self.serial_number),
            make=check_text(self.make, "make", MAX_NAME_LENGTH),
            model=check_text(self.model, "model", MAX_NAME_LENGTH),
            specs=check_specs(self.specs),
        )


@dataclass(frozen=True, slots=True)
class WipeCertificate:
    method: WipeMethod
    certificate_id: str
    sha256: str
    refurbisher: str
    wiped_at: datetime


@dataclass(frozen=True, slots=True)
class Work:
    """A refurbishment (the first work) or a repair after a return, and what it cost."""

    is_repair: bool
    parts: Parts
    cost_cents: int
    refurbisher: str
    done_at: datetime


@dataclass(frozen=True, slots=True)
class Allocation:
    pupil_id: str
    school_uai: str
    education_service: str
    allocated_at: datetime

    @property
    def key(self) -> tuple[str, str]:
        return (self.pupil_id, self.school_uai)


def check_serial(text: str) -> str:
    compact = re.sub(r"\s", "", text).upper() if isinstance(text, str) else ""
    if not _SERIAL.match(compact):
        raise InvalidIdentifier(
            f"a serial number has 1 to {MAX_SERIAL_LENGTH} letters, digits and . _ / -",
            field="serial number",
        )
    return compact


def check_specs(specs: Specs) -> Specs:
    try:
        pairs = tuple((name, value.strip()) for name, value in specs)
    except (TypeError, ValueError, AttributeError):
        raise InvalidInput("specs are (name, value) pairs of text", field="specs") from None
    names = [name for name, _ in pairs]
    if len(pairs) > MAX_SPECS or len(set(names)) != len(names):
        raise InvalidInput(f"at most {MAX_SPECS} specs, each named once", field="specs")
    for name, value in pairs:
        if not isinstance(name, str) or not _SPEC_NAME.match(name):
            raise InvalidInput("a spec is named in snake_case (ram_gb)", field="specs")
        check_text(value, "spec value", MAX_NAME_LENGTH)
    return tuple(sorted(pairs))


def check_parts(parts: Parts) -> Parts:
    if isinstance(parts, str) or not isinstance(parts, tuple | list) or len(parts) > MAX_PARTS:
        raise InvalidInput(f"parts are a list of at most {MAX_PARTS} names", field="parts")
    return tuple(check_text(part, "part", MAX_NAME_LENGTH) for part in parts)


def check_cost(cost_cents: int) -> int:
    if type(cost_cents) is not int or cost_cents < 0:
        raise InvalidAmount("a cost is a number of cents, 0 or more", field="cost_cents")
    return cost_cents


def check_wipe(
    method: WipeMethod | str, certificate_id: str, sha256: str
) -> tuple[WipeMethod, str, str]:
    method = check_choice(WipeMethod, method, "wipe method")
    if not isinstance(certificate_id, str) or not check_opaque_certificate(certificate_id):
        raise InvalidWipeCertificate(
            "a certificate id has 1 to 64 letters, digits and _ . : -", field="certificate_id"
        )
    digest = sha256.strip().lower() if isinstance(sha256, str) else ""
    if not _SHA256.match(digest):
        raise InvalidWipeCertificate(
            f"a certificate's SHA-256 is {SHA256_HEX_LENGTH} hexadecimal characters",
            field="certificate_sha256",
        )
    return method, certificate_id, digest


def check_opaque_certificate(certificate_id: str) -> bool:
    try:
        check_opaque_id(certificate_id, "certificate id")
    except InvalidIdentifier:
        return False
    return True


def check_pupil(pupil_id: str) -> str:
    """A pupil as the education services know them: an opaque id, never a name."""
    return check_opaque_id(pupil_id, "pupil id")


def check_receiver_ref(receiver_ref: str) -> str:
    return check_opaque_id(receiver_ref, "receiver reference")


def check_reason(reason: str) -> str:
    return check_text(reason, "reason", MAX_REASON_LENGTH)


def check_text(text: str, what: str, max_length: int) -> str:
    if not isinstance(text, str) or not text.strip() or len(text) > max_length:
        raise InvalidInput(f"a {what} has 1 to {max_length} characters", field=what)
    return text.strip()


def check_choice(choices: type[E], value: E | str, what: str) -> E:
    """An enum member from itself or its value (`"refurbisher"`), as the API sends it."""
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(str(c.value) for c in choices)
        raise InvalidInput(f"a {what} is one of {allowed}", field=what) from None
