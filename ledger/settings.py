"""Settings: one frozen object built from the environment in one place.

Nothing in Tirelire reads `os.environ` at import time; entry points call
`Settings.from_env()` once and pass the object down.

| variable                      | default                 | meaning                        |
|-------------------------------|-------------------------|--------------------------------|
| `TIRELIRE_DATABASE_URL`       | `sqlite:///tirelire.db` | sqlite, postgresql or memory   |
| `TIRELIRE_BATCH_MAX_COMMANDS` | 256                     | commands per group commit      |
| `TIRELIRE_GRANT_CHUNK_SIZE`   | 2000                    | teachers per grant transaction |
| `TIRELIRE_POLL_INTERVAL_MS`   | 200                     | projection polling interval    |
| `TIRELIRE_SIGNING_KEY_FILE`   | next to the SQLite file | Ed25519 private key (PEM) that |
|                               |                         | signs tokens; generated on the |
|                               |                         | first run of the SQLite default|
| `TIRELIRE_MAX_BODY_BYTES`     | 1048576                 | largest request body accepted  |
| `TIRELIRE_MAX_PAGE_SIZE`      | 500                     | largest page a client may ask  |
| `TIRELIRE_RATE_PER_MINUTE`    | 6000                    | requests per caller per minute |
| `TIRELIRE_CODE_GUESSES_PER_MINUTE` | 20                 | unknown redemption codes per   |
|                               |                         | caller per minute              |
| `TIRELIRE_DEBTOR_NAME`        | Tirelire Credit Education | the programme's account name |
|                               |                         | in SEPA transfer files         |
| `TIRELIRE_DEBTOR_IBAN`        | FR7630004000010001234560167 | the account vendors are    |
|                               |                         | paid from                      |
| `TIRELIRE_HOUSEHOLD_KEY_FILE` | next to the SQLite file | the secret (64 hex characters) |
|                               |                         | of households' fingerprints    |
|                               |                         | (`ledger.households`);         |
|                               |                         | generated on the first run of  |
|                               |                         | the SQLite default; never      |
|                               |                         | logged                         |
| `TIRELIRE_CHECKPOINT_KEY_FILE` | next to the SQLite file | Ed25519 private key (PEM) that |
|                               |                         | signs checkpoints of the log   |
|                               |                         | (`ledger.checkpoints`)         |
| `TIRELIRE_CHECKPOINT_EVERY_EVENTS` | 10000              | a checkpoint after this many   |
|                               |                         | new events…                    |
| `TIRELIRE_CHECKPOINT_EVERY_MINUTES` | 60                | …or this many minutes with new |
|                               |                         | events, whichever comes first  |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ledger.errors import InvalidInput
from ledger.identifiers import check_iban

DEFAULT_DATABASE_URL = "sqlite:///tirelire.db"
MAX_BATCH_COMMANDS = 4096
# Larger chunks hung in psycopg's pipeline mode on PostgreSQL (seen at 18,000 teachers),
# holding the event table's lock: stay well below.
MAX_GRANT_CHUNK_SIZE = 10_000
DEFAULT_DEBTOR_NAME = "Tirelire Credit Education"
DEFAULT_DEBTOR_IBAN = "FR7630004000010001234560167"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where events and read models live, in the terms of each library that needs it."""

    kind: str  # "sqlite", "postgresql" or "memory"
    sqlite_path: Path | None = None
    pg_host: str = ""
    pg_port: int = 5432
    pg_user: str = ""
    pg_password: str = ""
    pg_dbname: str = ""

    @classmethod
    def from_url(cls, url: str) -> StoreConfig:
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme == "memory":
            return cls(kind="memory")
        if scheme == "sqlite":
            path = unquote(url.split("://", 1)[1])
            path = path[1:] if path.startswith("/") else path
            if not path or ":memory:" in path:
                raise InvalidInput("a SQLite database needs a file path: sqlite:///tirelire.db")
            return cls(kind="sqlite", sqlite_path=Path(path))
        if scheme in ("postgresql", "postgres"):
            return cls(
                kind="postgresql",
                pg_host=parts.hostname or "127.0.0.1",
                pg_port=parts.port or 5432,
                pg_user=unquote(parts.username or "postgres"),
                pg_password=unquote(parts.password or ""),
                pg_dbname=parts.path.lstrip("/") or "postgres",
            )
        raise InvalidInput(
            f"unsupported database URL {url!r}: use sqlite:///path or postgresql://host/db"
        )

    def sqlalchemy_url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        if self.kind == "postgresql":
            auth = self.pg_user + (f":{self.pg_password}" if self.pg_password else "")
            return f"postgresql+psycopg://{auth}@{self.pg_host}:{self.pg_port}/{self.pg_dbname}"
        raise InvalidInput("the in-memory store has no SQL database for read models")

    def eventsourcing_env(self) -> dict[str, str]:
        """The library's own settings for this store. Tables come from migrations only."""
        if self.kind == "memory":
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if self.kind == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "30",
                "APPLICATION_RECORDER_TOPIC": "ledger.store:LedgerSQLiteRecorder",
                "CREATE_TABLE": "n",
            }
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_HOST": self.pg_host,
            "POSTGRES_PORT": str(self.pg_port),
            "POSTGRES_USER": self.pg_user,
            "POSTGRES_PASSWORD": self.pg_password,
            "POSTGRES_DBNAME": self.pg_dbname,
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": "ledger.store:LedgerPostgresRecorder",
            "CREATE_TABLE": "n",
        }


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    batch_max_commands: int = 256
    grant_chunk_size: int = 2000
    poll_interval_ms: int = 200
    signing_key_file: str = ""  # empty: `<sqlite file>.signing-key.pem`, SQLite only
    max_body_bytes: int = 1_048_576
    max_page_size: int = 500
    rate_per_minute: int = 6000
    code_guesses_per_minute: int = 20
    debtor_name: str = DEFAULT_DEBTOR_NAME
    debtor_iban: str = DEFAULT_DEBTOR_IBAN
    household_key_file: str = ""  # empty: `<sqlite file>.household-key`, SQLite only
    checkpoint_key_file: str = ""  # empty: `<sqlite file>.checkpoint-key.pem`, SQLite only
    checkpoint_every_events: int = 10_000
    checkpoint_every_minutes: int = 60

    def __post_init__(self) -> None:
        StoreConfig.from_url(self.database_url)  # refuse a bad URL at once
        if not 1 <= self.batch_max_commands <= MAX_BATCH_COMMANDS:
            raise InvalidInput(f"batch size must be 1 to {MAX_BATCH_COMMANDS}")
        if not 1 <= self.grant_chunk_size <= MAX_GRANT_CHUNK_SIZE:
            raise InvalidInput(f"grant chunk size must be 1 to {MAX_GRANT_CHUNK_SIZE}")
        if not 1 <= self.poll_interval_ms <= 60_000:
            raise InvalidInput("poll interval must be 1 to 60000 ms")
        if not 1024 <= self.max_body_bytes <= 64 * 1_048_576:
            raise InvalidInput("the largest body must be 1 KiB to 64 MiB")
        if not 1 <= self.max_page_size <= 10_000:
            raise InvalidInput("the largest page must be 1 to 10000 items")
        if self.rate_per_minute < 1 or self.code_guesses_per_minute < 1:
            raise InvalidInput("rate limits are at least 1 per minute")
        if not 1 <= self.checkpoint_every_events <= 10_000_000:
            raise InvalidInput("checkpoints come every 1 to 10000000 events")
        if not 1 <= self.checkpoint_every_minutes <= 7 * 24 * 60:
            raise InvalidInput("checkpoints come every 1 to 10080 minutes (a week)")
        check_iban(self.debtor_iban)
        if not 0 < len(self.debtor_name) <= 70:
            raise InvalidInput("the debtor's name has 1 to 70 characters")

    @property
    def signing_key_path(self) -> Path | None:
        """The Ed25519 key file: configured, or next to the SQLite file; None otherwise."""
        if self.signing_key_file:
            return Path(self.signing_key_file)
        store = self.store
        if store.kind == "sqlite" and store.sqlite_path is not None:
            return store.sqlite_path.with_name(store.sqlite_path.name + ".signing-key.pem")
        return None

    @property
    def household_key_path(self) -> Path | None:
        """The key file of households' fingerprints: configured, or next to the SQLite file."""
        if self.household_key_file:
            return Path(self.household_key_file)
        store = self.store
        if store.kind == "sqlite" and store.sqlite_path is not None:
            return store.sqlite_path.with_name(store.sqlite_path.name + ".household-key")
        return None

    @property
    def checkpoint_key_path(self) -> Path | None:
        """The key that signs checkpoints: configured, or next to the SQLite file."""
        if self.checkpoint_key_file:
            return Path(self.checkpoint_key_file)
        store = self.store
        if store.kind == "sqlite" and store.sqlite_path is not None:
            return store.sqlite_path.with_name(store.sqlite_path.name + ".checkpoint-key.pem")
        return None

    @property
    def store(self) -> StoreConfig:
        return StoreConfig.from_url(self.database_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("TIRELIRE_DATABASE_URL") or DEFAULT_DATABASE_URL,
            batch_max_commands=_int(env, "TIRELIRE_BATCH_MAX_COMMANDS", 256),
            grant_chunk_size=_int(env, "TIRELIRE_GRANT_CHUNK_SIZE", 2000),
            poll_interval_ms=_int(env, "TIRELIRE_POLL_INTERVAL_MS", 200),
            signing_key_file=env.get("TIRELIRE_SIGNING_KEY_FILE", ""),
            max_body_bytes=_int(env, "TIRELIRE_MAX_BODY_BYTES", 1_048_576),
            max_page_size=_int(env, "TIRELIRE_MAX_PAGE_SIZE", 500),
            rate_per_minute=_int(env, "TIRELIRE_RATE_PER_MINUTE", 6000),
            code_guesses_per_minute=_int(env, "TIRELIRE_CODE_GUESSES_PER_MINUTE", 20),
            debtor_name=env.get("TIRELIRE_DEBTOR_NAME") or DEFAULT_DEBTOR_NAME,
            debtor_iban=env.get("TIRELIRE_DEBTOR_IBAN") or DEFAULT_DEBTOR_IBAN,
            household_key_file=env.get("TIRELIRE_HOUSEHOLD_KEY_FILE", ""),
            checkpoint_key_file=env.get("TIRELIRE_CHECKPOINT_KEY_FILE", ""),
            checkpoint_every_events=_int(env, "TIRELIRE_CHECKPOINT_EVERY_EVENTS", 10_000),
            checkpoint_every_minutes=_int(env, "TIRELIRE_CHECKPOINT_EVERY_MINUTES", 60),
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {raw!r}") from None
