"""Households: who a subsidy is for, known only by a keyed hash of what identifies them.

A household's name and address are personal data (RGPD). The fund must still refuse to
subsidise one household twice in a period, even when its identifiers are typed a little
differently each time. So they are **normalised** (`normalise`: accents stripped through
Unicode NFKD, case folded, punctuation and runs of whitespace collapsed to one space) and
hashed with a secret key (HMAC-SHA-256, `HouseholdKey.fingerprint`). Only that hex HMAC,
the household's **fingerprint**, ever enters an event, a log line or a read model; the
identifiers themselves are forgotten as soon as the fingerprint is made.

Why a key: a plain hash of a name and an address can be reversed by hashing every address
of a town. Without the key, the fingerprints say nothing; with another key they all
differ. Destroying the key anonymises every fingerprint recorded under it, without
touching the books.

**The key** is 32 random bytes, kept as 64 hexadecimal characters in a file
(`Settings.household_key_path`, `TIRELIRE_HOUSEHOLD_KEY_FILE`). On the embedded SQLite
default a development key is generated on first run beside the database file (mode 0600);
everywhere else the operator provides one, and a missing file is an error rather than a
new key (which would let every household be subsidised a second time). The in-memory
store, which keeps nothing, gets a key of its own that lives as long as the process. The
key is never logged: `HouseholdKey` has no readable repr.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ledger.errors import InvalidHouseholdKey, InvalidInput
from ledger.settings import Settings

KEY_BYTES = 32
KEY_FILE_MODE = 0o600
MAX_KEY_FILE_BYTES = 1024  # 64 hex characters and a newline: anything larger is not a key
MAX_IDENTIFIER_LENGTH = 500  # characters of a name or an address, as typed
_NOT_WORD = re.compile(r"[\W_]+")  # punctuation, symbols and whitespace
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_HOW_TO_MAKE_A_KEY = (
    "create one with `python -c 'import secrets; print(secrets.token_hex(32))' > key` "
    "(mode 0600) and set TIRELIRE_HOUSEHOLD_KEY_FILE to its path"
)


def normalise(text: str) -> str:
    """What identifies, whatever the typing: `  Mme  HÉLÈNE d'Arc-Dupré ` → `mme helene d
    arc dupre`. Letters lose their accents (NFKD, then combining marks dropped), case is
    folded, and every run of punctuation or whitespace becomes one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOT_WORD.sub(" ", bare).split())


@dataclass(frozen=True, slots=True)
class HouseholdIdentity:
    """The identifiers of a household, as a request brings them; never recorded."""

    name: str = field(repr=False)
    address: str = field(repr=False)

    def normalised(self) -> tuple[str, str]:
        return _normalised(self.name, "name"), _normalised(self.address, "address")


@dataclass(frozen=True, slots=True)
class HouseholdKey:
    """The secret of the households' fingerprints. Its repr never shows the secret."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if type(self.secret) is not bytes or len(self.secret) != KEY_BYTES:
            raise InvalidHouseholdKey(f"a household key is {KEY_BYTES} bytes")

    @classmethod
    def generate(cls) -> HouseholdKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_hex(cls, text: str) -> HouseholdKey:
        try:
            return cls(bytes.fromhex(text.strip()))
        except ValueError:
            raise InvalidHouseholdKey(
                f"a household key is {2 * KEY_BYTES} hexadecimal characters"
            ) from None

    def fingerprint(self, household: HouseholdIdentity) -> str:
        """The household's fingerprint: HMAC-SHA-256 of the normalised identifiers, in hex."""
        name, address = household.normalised()
        message = f"name={name}\x1faddress={address}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def check_fingerprint(fingerprint: str) -> str:
    if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
        raise InvalidInput(
            "a household's fingerprint is 64 lower-case hex characters", field="household"
        )
    return fingerprint


def load_household_key(settings: Settings) -> HouseholdKey:
    """The key of the households' fingerprints: read from its file, made once for the SQLite
    default, or made for the life of the process on the in-memory store."""
    path = settings.household_key_path
    if path is None:
        if settings.store.kind == "memory":
            return process_key()
        raise InvalidHouseholdKey(f"no household key is configured: {_HOW_TO_MAKE_A_KEY}")
    if path.exists():
        return read_household_key(path)
    if settings.household_key_file or settings.store.kind != "sqlite":
        raise InvalidHouseholdKey(
            f"the household key file {path} does not exist: {_HOW_TO_MAKE_A_KEY}"
        )
    key = HouseholdKey.generate()
    if _write_new_key_file(path, key):
        return key
    return read_household_key(path)  # another process wrote one first: use that one


@cache
def process_key() -> HouseholdKey:
    """The in-memory store's key: made once, the same for every application of the process,
    gone with it (as is everything the in-memory store holds)."""
    return HouseholdKey.generate()


def read_household_key(path: Path) -> HouseholdKey:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as error:
        raise InvalidHouseholdKey(
            f"cannot read the household key file {path}: {error.strerror}"
        ) from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise InvalidHouseholdKey(f"{path} is too large to be a household key file")
    try:
        return HouseholdKey.from_hex(data.decode("ascii"))
    except UnicodeDecodeError:
        raise InvalidHouseholdKey(f"{path} does not hold a hexadecimal key") from None


def _write_new_key_file(path: Path, key: HouseholdKey) -> bool:
    """Write the key with mode 0600, all at once; False if `path` already exists. Written
    to a temporary file, then linked into place: never half a key, never over another."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        with os.fdopen(descriptor, "w") as file:
            file.write(key.secret.hex() + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
    except OSError as error:
        raise InvalidHouseholdKey(
            f"cannot write the household key file {path}: {error.strerror}"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    return True


def _normalised(text: str, what: str) -> str:
    if not isinstance(text, str) or len(text) > MAX_IDENTIFIER_LENGTH:
        raise InvalidInput(
            f"a household's {what} has at most {MAX_IDENTIFIER_LENGTH} characters", field=what
        )
    normalised = normalise(text)
    if not normalised:
        raise InvalidInput(f"a household's {what} is required", field=what)
    return normalised
