"""Audit pass: chain verification, replay and the balance fold over a log of 1,000,000 events.

    .venv/bin/python bench/audit.py                          # builds /tmp/tirelire_audit_1000000.db
    .venv/bin/python bench/audit.py --reuse                  # the same log, if already built
    .venv/bin/python bench/audit.py --events 20000           # a smoke test
    .venv/bin/python bench/audit.py --reuse --store postgresql://postgres@127.0.0.1:5432/tirelire_audit

The log is built through the real applications (see bench/_audit_build.py for the mix) in a
store that is kept (`--reuse` skips building when a complete log of that size is there).
Each phase then runs in a fresh process, so that its peak memory is its own: the peak
resident set size of that process (VmHWM in /proc/self/status: interpreter,
imports, connection and the pass), and that peak less the resident size before the pass.

(a) raw read: the recorder's `select_notifications`, page by page (`audit_log.notifications`,
    1,000 a page), `Notification` objects, no decoding: the baseline;
(b) raw rows: the lean pass's own reader (`audit_replay.stored_rows`), no decoding;
(c) reference: `audit_log.log_checkpoint`, through the library's objects: leaf hash of
    every event, Merkle frontier, `mapper.to_domain_event`, `accounts.postings`, the
    balances commitment;
(d) lean: `audit_replay.audit_log` and `commitment.balances_commitment`: the same checks
    and results without the library's objects, in one process;
(f) two cores: `audit_parallel.audit_pass`, the lean pass on the log's two halves at once
    (the second in a forked process); its peak memory is the PSS of both processes together
    (each shared page split between them), sampled every 50 ms from the script's own
    process; the sum of their peak resident sizes is printed beside it;
(e) export verification: `api.audit_cli.verify_export` of an export written beforehand by
    `export_jsonl` (checkpoint every 10,000 events; the writing is timed apart). Both
    recompute the balances commitment over every account at each checkpoint: at 1,000,000
    events each takes ~5 minutes (`--skip-export` leaves them out).

Every pass must end on the same tree size, root and balances commitment, or the run fails.
Target for the audit pass: 150,000 events/s or more, with a peak of at most 300 MB.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_BENCH = str(Path(__file__).resolve().parent)
# Out of the path (Python puts a script's directory first): bench/api.py would hide the
# project's `api` (export, verify); `bench_module` puts it back for a moment.
while _BENCH in sys.path:
    sys.path.remove(_BENCH)


def bench_module(name: str) -> Any:
    """A helper module of bench/, imported only where used: the phases' processes import
    none of them (the build's applications would weigh on the memory they measure). The
    directory leaves the path after: bench/api.py would hide the project's `api`."""
    sys.path.insert(0, _BENCH)
    try:
        return importlib.import_module(name)
    finally:
        while _BENCH in sys.path:
            sys.path.remove(_BENCH)


TARGET_RATE = 150_000
TARGET_PEAK_MB = 300
EXPORT_EVERY = 10_000
PHASE_TIMEOUT_S = 1800
PSS_EVERY_S = 0.05  # how often the memory of a phase's processes is sampled
HERE = Path(__file__).resolve()


# Phases, each in a process of its own --------------------------------------------------


def fmt_int(value: float) -> str:
    return bench_module("_common").fmt_int(value)


def machine_load() -> str:
    return bench_module("_common").machine_load()


def table(headers: list[str], rows: list[list[str]]) -> str:
    return bench_module("_common").table(headers, rows)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    """The process's peak resident set size since it started (VmHWM). Not `ru_maxrss`:
    Linux keeps that across exec, so a phase would inherit the peak of the parent that
    built the log."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_phase(args: argparse.Namespace) -> dict[str, object]:
    from ledger.application import LedgerApplication
    from ledger.settings import Settings

    app = LedgerApplication(Settings(database_url=args.store))
    try:
        stop = args.stop
        work = PHASES[args.phase]
        before = rss_mb()
        profile = None
        if args.profile:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        started, cpu = time.perf_counter(), time.process_time()
        result = work(app, stop, args)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profile:
            profile.disable()
            report_profile = bench_module("_common").report_profile
            print(report_profile(profile, args.profile, f"phase {args.phase}"), file=sys.stderr)
        peak = peak_mb()
        return {
            **result, "seconds": seconds, "cpu": cpu, "peak_mb": peak, "parent_peak_mb": peak,
            "before_mb": before,
        }  # fmt: skip
    finally:
        app.close()


def phase_raw(app, stop, args):  # type: ignore[no-untyped-def]
    from ledger.audit_log import notifications

    count = 0
    for _ in notifications(app.recorder, stop):
        count += 1
    return {"events": count}


def phase_rows(app, stop, args):  # type: ignore[no-untyped-def]
    from ledger.audit_replay import stored_rows

    pages = stored_rows(app.recorder, stop, args.page_size)
    return {"events": sum(len(rows) for rows, _ in pages)}


def phase_reference(app, stop, args):  # type: ignore[no-untyped-def]
    from ledger.audit_log import log_checkpoint

    checkpoint = log_checkpoint(app.recorder, app.mapper, stop, datetime.now(UTC))
    return {
        "events": checkpoint.log_size,
        "root": checkpoint.root,
        "balances": checkpoint.balances_sha256,
    }


def phase_lean(app, stop, args):  # type: ignore[no-untyped-def]
    from ledger.audit_replay import audit_log
    from ledger.commitment import balances_commitment

    replay = audit_log(app.recorder, app.mapper, stop, args.page_size)
    return {
        "events": replay.size,
        "root": replay.root().hex(),
        "balances": balances_commitment(replay.balances),
    }


def phase_two(app, stop, args):  # type: ignore[no-untyped-def]
    import resource

    from ledger.audit_parallel import audit_pass

    started = time.perf_counter()

    def trace(step: str) -> None:
        print(f"      {time.perf_counter() - started:6.2f} s  {step}", file=sys.stderr)

    result = audit_pass(app.recorder, app.mapper, stop, page_size=args.page_size, trace=trace)
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "events": result.size,
        "root": result.root.hex(),
        "balances": result.balances_sha256,
        "child_peak_mb": child_kb / 1024,
    }


def phase_export(app, stop, args):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from api.audit_cli import export_jsonl

    key = Ed25519PrivateKey.generate()
    with open(args.export, "x", encoding="utf-8") as out:
        size = export_jsonl(app, out, key, EXPORT_EVERY, datetime.now(UTC))
    public = key.public_key().public_bytes_raw()
    Path(f"{args.export}.pub").write_bytes(public)
    return {"events": size}


def phase_verify(app, stop, args):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from api.audit_cli import verify_export

    public = Ed25519PublicKey.from_public_bytes(Path(f"{args.export}.pub").read_bytes())
    verifier = verify_export(Path(args.export), public)
    last = verifier.last_checkpoint
    assert last is not None
    return {"events": verifier.tree.size, "root": last.root, "balances": last.balances_sha256}


PHASES = {
    "raw": phase_raw,
    "rows": phase_rows,
    "reference": phase_reference,
    "lean": phase_lean,
    "two": phase_two,
    "export": phase_export,
    "verify": phase_verify,
}
LABELS = {
    "raw": "(a) raw read: recorder, 1,000/page",
    "rows": "(b) raw rows: lean reader",
    "reference": "(c) reference: log_checkpoint",
    "lean": "(d) lean: audit_replay",
    "two": "(f) two cores: audit_parallel",
    "export": "    (writing the export)",
    "verify": "(e) verify an export file",
}
AUDIT_PHASES = ("reference", "lean", "two", "verify")


def spawn(phase: str, args: argparse.Namespace, stop: int, export: Path) -> dict[str, object]:
    command = [sys.executable, str(HERE), "--phase", phase, "--store", args.store]
    command += ["--stop", str(stop), "--page-size", str(args.page_size), "--export", str(export)]
    if args.profile and phase == "lean":
        command += ["--profile-out", str(args.profile)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        peak_pss = bench_module("_common").watch_memory(process, PHASE_TIMEOUT_S, PSS_EVERY_S)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(f"phase {phase} failed ({process.returncode}):\n{stderr[-4000:]}")
    if stderr.strip():
        print(stderr, file=sys.stderr)
    return {**json.loads(stdout.strip().splitlines()[-1]), "pss_mb": peak_pss}


# The log ------------------------------------------------------------------------------


def marker_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return Path(url.split("://", 1)[1][1:] + ".json")
    return Path(tempfile.gettempdir()) / f"tirelire_audit_{parts.path.strip('/')}.json"


def prepare_log(args: argparse.Namespace) -> tuple[int, dict[str, int]]:
    """The log to audit: reused when complete and asked to, else built afresh."""

    import migrations
    from ledger.application import LedgerApplication
    from ledger.settings import Settings

    marker = marker_path(args.store)
    settings = Settings(database_url=args.store)
    if args.reuse and marker.exists():
        built = json.loads(marker.read_text())
        app = LedgerApplication(settings)
        try:
            stop = app.recorder.max_notification_id() or 0
        finally:
            app.close()
        same = built.get("url") == args.store and built.get("events") == args.events
        if same and stop == built["mix"]["events"]:
            print(f"reusing the log of {fmt_int(stop)} events in {args.store}")
            return stop, built["mix"]
        print("the stored log does not match its marker: building it again", file=sys.stderr)
    marker.unlink(missing_ok=True)
    fresh_store(args.store)
    migrations.upgrade(settings.store.sqlalchemy_url())
    print(f"building a log of {fmt_int(args.events)} events in {args.store} ...", flush=True)
    mix = bench_module("_audit_build").build_log(settings, args.events, quiet=args.quiet)
    marker.write_text(json.dumps({"url": args.store, "events": args.events, "mix": mix}))
    print(f"built in {mix['build_s']} s: {mix}")
    return mix["events"], mix


def fresh_store(url: str) -> None:
    """An empty store at `url`: the SQLite file removed, the PostgreSQL database recreated."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        path = Path(url.split("://", 1)[1][1:])
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    admin = parts._replace(path="/postgres").geturl()
    name = parts.path.strip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# Reporting ----------------------------------------------------------------------------


def report(results: dict[str, dict[str, object]], events: int) -> bool:
    raw_rate = results["raw"]["events"] / results["raw"]["seconds"]  # type: ignore[operator]
    rows, ok = [], True
    for phase, r in results.items():
        rate = r["events"] / r["seconds"]  # type: ignore[operator]
        verdict = ""
        if phase == "two":  # two processes: their PSS together, not one process's peak
            r["peak_mb"] = r["pss_mb"]
        if phase in AUDIT_PHASES:
            met = rate >= TARGET_RATE and r["peak_mb"] <= TARGET_PEAK_MB  # type: ignore[operator]
            verdict = "PASS" if met else "FAIL"
        rows.append(
            [
                LABELS[phase],
                fmt_int(r["events"]),  # type: ignore[arg-type]
                f"{r['seconds']:.2f}",
                f"{r.get('cpu', 0):.2f}",
                fmt_int(rate),
                f"{rate / raw_rate:.2f}x",
                fmt_int(r["peak_mb"]),  # type: ignore[arg-type]
                fmt_int(r["peak_mb"] - r["before_mb"]),  # type: ignore[operator]
                verdict,
            ]
        )
        if r["events"] != events:
            print(f"FAILED: {phase} saw {r['events']} events, the log holds {events}")
            ok = False
    headers = ["phase", "events", "seconds", "cpu s", "events/s", "vs raw", "peak MB", "pass MB"]
    print(table([*headers, f"target >= {TARGET_RATE:,}/s, <= {TARGET_PEAK_MB} MB"], rows))
    if "two" in results:
        two = results["two"]
        print(
            f"(f) peak MB is the PSS of both processes together, sampled every {PSS_EVERY_S} s; "
            f"their peak resident sizes add up to {two['parent_peak_mb']:.0f} + "
            f"{two['child_peak_mb']:.0f} MB (shared pages counted in each)"
        )
    audited = {
        p: (results[p]["root"], results[p]["balances"]) for p in AUDIT_PHASES if p in results
    }
    if len(set(audited.values())) != 1:
        print(f"FAILED: the passes disagree: {audited}")
        return False
    root, balances = next(iter(audited.values()))
    print(f"{', '.join(audited)} agree: root {root}, balances commitment {balances}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log")
    parser.add_argument(
        "--store", default=None, help="database URL (default: a SQLite file in /tmp)"
    )
    parser.add_argument("--reuse", action="store_true", help="reuse a complete log of that size")
    parser.add_argument("--page-size", type=int, default=10_000, help="rows a query, lean pass")
    parser.add_argument("--skip-reference", action="store_true", help="skip the slow path (c)")
    parser.add_argument("--skip-export", action="store_true", help="skip export and verify (e)")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile (d) into this file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--stop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--export", default="", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.store = args.store or f"sqlite:////tmp/tirelire_audit_{args.events}.db"
    if args.phase:
        args.profile = args.profile_out
        print(json.dumps(run_phase(args)))
        return 0

    stop, mix = prepare_log(args)
    print(f"the mix: {mix}")
    phases = ["raw", "rows"] + ([] if args.skip_reference else ["reference"]) + ["lean", "two"]
    phases += [] if args.skip_export else ["export", "verify"]
    print(f"audit: {fmt_int(stop)} events in {args.store}; {machine_load()}", flush=True)
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="tirelire_audit_") as tmp:
        export = Path(tmp) / "export.jsonl"
        for phase in phases:
            results[phase] = spawn(phase, args, stop, export)
            r = results[phase]
            print(
                f"  {LABELS[phase].strip()}: {fmt_int(r['events'])} events in "  # type: ignore[arg-type]
                f"{r['seconds']:.2f} s, peak {r['peak_mb']:.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    print(f"after the run: {machine_load()}")
    if args.profile:
        print(f"(d) ran under cProfile (slower); profile saved to {args.profile}")
    return 0 if report(results, stop) else 1


if __name__ == "__main__":
    sys.exit(main())
