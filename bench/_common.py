"""Shared plumbing for the benchmarks: scratch stores, figures, profiles.

Every run gets its own scratch store, created here and removed at the end:
- PostgreSQL: a database `tirelire_bench_<pid>[_suffix]`, created and dropped with psycopg
  in autocommit on the `postgres` database;
- SQLite: a file in a fresh temporary directory.
Tables come from `migrations.upgrade`, as in production; only the library's own baseline
application (bench/issuance.py, baseline 1) creates its table itself, in a store of its own.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

import migrations
from ledger.settings import Settings

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
STORES = ("sqlite", "postgresql")

# Scratch PostgreSQL databases alive now, as (admin conninfo, name): the watchdog drops them.
_LIVE_DATABASES: set[tuple[str, str]] = set()
_LIVE_DIRS: set[Path] = set()  # scratch SQLite directories


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so scratch stores are removed as on Ctrl-C."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def machine_load() -> str:
    """The load average: the benchmarks share two cores with whatever else runs."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


class StallWatchdog:
    """Abort the run when a phase makes no progress for `seconds`.

    The benchmark must stop by itself. A known hang: psycopg's pipeline mode never sends the
    end of a very large INSERT (about 18,000 grant events in one transaction), the server
    waits for it (ClientRead) while holding the events table's EXCLUSIVE lock, forever.
    On a stall: say so, drop the scratch databases (terminating their sessions), exit 3.
    """

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self._last = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self._thread.start()

    def kick(self, *_: object) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._done.set()

    def __enter__(self) -> StallWatchdog:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _watch(self) -> None:
        while not self._done.wait(1.0):
            if time.monotonic() - self._last > self.seconds:
                print(
                    f"\nABORT: {self.what} made no progress for {self.seconds:.0f} s; "
                    "dropping scratch databases and exiting (status 3).",
                    file=sys.stderr,
                    flush=True,
                )
                for admin, dbname in list(_LIVE_DATABASES):
                    with (
                        contextlib.suppress(Exception),
                        psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn,
                    ):
                        conn.execute(
                            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                                sql.Identifier(dbname)
                            )
                        )
                for path in list(_LIVE_DIRS):
                    shutil.rmtree(path, ignore_errors=True)
                os._exit(3)


def stores_from_arg(value: str) -> tuple[str, ...]:
    return STORES if value == "both" else (value,)


@dataclass(frozen=True)
class Scratch:
    """One scratch store: the URL for Settings and, for the library baseline, its env."""

    kind: str
    url: str
    pg_dbname: str = ""
    sqlite_path: Path | None = None

    def library_env(self) -> dict[str, str]:
        """The eventsourcing library's settings for this store, letting it create tables."""
        if self.kind == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "30",
                "CREATE_TABLE": "y",
            }
        parts = urlsplit(self.url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": parts.username or "postgres",
            "POSTGRES_PASSWORD": parts.password or "",
            "POSTGRES_DBNAME": self.pg_dbname,
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "CREATE_TABLE": "y",
        }


def _admin_conninfo(pg_url: str) -> str:
    parts = urlsplit(pg_url)
    auth = parts.username or "postgres"
    if parts.password:
        auth += f":{parts.password}"
    return f"postgresql://{auth}@{parts.hostname or '127.0.0.1'}:{parts.port or 5432}/postgres"


@contextlib.contextmanager
def scratch_store(
    kind: str, pg_url: str = DEFAULT_PG_URL, suffix: str = "", migrate: bool = True
) -> Iterator[Scratch]:
    """Create an empty store (migrated unless `migrate` is false); remove it afterwards."""
    if kind == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix=f"tirelire_bench_{os.getpid()}_"))
        path = tmp / f"ledger{suffix}.db"
        scratch = Scratch("sqlite", f"sqlite:///{path}", sqlite_path=path)
        _LIVE_DIRS.add(tmp)
        try:
            if migrate:
                migrations.upgrade(Settings(database_url=scratch.url).store.sqlalchemy_url())
            yield scratch
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            _LIVE_DIRS.discard(tmp)
        return
    if kind != "postgresql":
        raise ValueError(f"unknown store {kind!r}")
    dbname = f"tirelire_bench_{os.getpid()}{suffix}"
    admin = _admin_conninfo(pg_url)
    parts = urlsplit(pg_url)
    auth = parts.username or "postgres"
    if parts.password:
        auth += f":{parts.password}"
    url = f"postgresql://{auth}@{parts.hostname or '127.0.0.1'}:{parts.port or 5432}/{dbname}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    scratch = Scratch("postgresql", url, pg_dbname=dbname)
    _LIVE_DATABASES.add((admin, dbname))
    try:
        if migrate:
            migrations.upgrade(Settings(database_url=url).store.sqlalchemy_url())
        yield scratch
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
        _LIVE_DATABASES.discard((admin, dbname))


def count_events(scratch: Scratch, table: str = "ledger_events") -> int:
    """Rows in an events table: a check that what was reported was written."""
    if scratch.kind == "sqlite":
        import sqlite3

        with contextlib.closing(sqlite3.connect(scratch.sqlite_path)) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    with psycopg.connect(scratch.url) as conn:
        return conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()[0]


# Figures ------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    for row in rows:
        cells = []
        for i, (cell, w) in enumerate(zip(row, widths, strict=True)):
            cells.append(cell.ljust(w) if i == 0 or not _numeric(cell) else cell.rjust(w))
        out.append("  ".join(cells))
    return "\n".join(out)


_NUMBER = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?( ?[x%]| ms| s)?$")


def _numeric(cell: str) -> bool:
    return bool(_NUMBER.match(cell))


# Profiles -----------------------------------------------------------------------------------


def report_profile(profile: cProfile.Profile, path: Path | None, title: str, top: int = 25) -> str:
    """Save a profile (.pstats) and answer its top functions, by own time and cumulative."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(path))
    out = io.StringIO()
    out.write(f"\n=== profile: {title}" + (f" (saved to {path})" if path else "") + "\n")
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    out.write("--- ledger/ and bench/ functions, by cumulative time ---\n")
    stats.sort_stats("cumulative").print_stats(r"(ledger|bench)/", top)
    return out.getvalue()


# The memory of a process and its children -----------------------------------------------


def watch_memory(process: subprocess.Popen[str], timeout_s: float, every_s: float) -> float:
    """Wait for a process; the peak of the proportional set size (PSS) of it and its
    children together, sampled every `every_s` seconds from here (bench/audit.py). PSS
    splits each shared page between the processes that share it, so a forked child that
    still shares its parent's pages is not counted twice, as a sum of resident sizes
    would count it."""
    peak, deadline = 0.0, time.monotonic() + timeout_s
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"a phase ran over {timeout_s} s")
        peak = max(peak, sum(pss_mb(pid) for pid in [process.pid, *children(process.pid)]))
        time.sleep(every_s)
    return peak


def pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # it has just ended
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listed:
                found += [int(child) for child in listed.read().split()]
    return found
