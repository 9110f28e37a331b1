"""The HTTP API under concurrent clients: hello world, one save per request, and ours.

    .venv/bin/python bench/api.py                          # 64 clients, 10 s per phase
    .venv/bin/python bench/api.py --seconds 20 --clients 128
    .venv/bin/python bench/api.py --profile bench/profiles/api   # where the server's time goes

PostgreSQL only: TIRELIRE_DATABASE_URL, or by default a database `tirelire_bench` on
127.0.0.1:5432, created if missing and migrated (`--fresh` drops it first). Each run opens
campaigns of its own there. Servers run as processes of their own; the clients are
`--clients` asyncio tasks in this process sharing one aiohttp session. Each phase warms up
for `--warmup` seconds, then is measured for `--seconds`:

(a) hello world: `GET /healthz` of the real server (`tirelire serve`);
(b) naive: a small aiohttp app defined here, whose handlers call `VoucherLedger.execute` in
    a thread per request: one eventsourcing save per request. A redemption is a hold, then
    a capture;
(c) ours: the real server; a redemption is `POST /v1/campaigns/{id}/holds` (teacher token),
    then `POST /v1/redemptions/{code}/capture` (vendor token), as a shop would call it.

Printed: requests/s, redemptions/s, p50/p99 latency per request (client side), the CPU the
server and this load generator used, the ratio (c)/(b), and the issue's targets: (c) at
least 5,000 redemptions/s with p99 <= 50 ms, and at least 6x (b). Afterwards the store is
read back: the captured total must be what the clients were told.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from uuid import UUID

import aiohttp
import psycopg
from aiohttp import web
from psycopg import sql

# This file is bench/api.py: with its folder on the path, `import api` would find it instead
# of the project's package. The folder comes off the path; `_common` and `_http` (the load's
# plumbing) are loaded by their files.
sys.path.remove(str(Path(__file__).resolve().parent))
import migrations
from api.spec import Role
from api.tokens import generate_key_file, issue_token
from ledger.catalogue_app import Catalogue
from ledger.eligibility import ResourceKind
from ledger.settings import Settings
from ledger.vendor_directory import VendorDirectory
from ledger.vendors import VendorStatus
from ledger.vouchers import VoucherLedger


def load_sibling(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_common = load_sibling("_common")
exit_cleanly_on_sigterm, fmt_int, machine_load, table = (
    _common.exit_cleanly_on_sigterm,
    _common.fmt_int,
    _common.machine_load,
    _common.table,
)
_http = load_sibling("_http")  # after `_common`, which it imports
Cpu, Load, Server, Step, World = _http.Cpu, _http.Load, _http.Server, _http.Step, _http.World
CAPTURE_CENTS, PRICE_CENTS = _http.CAPTURE_CENTS, _http.PRICE_CENTS
drive, free_port, start_server, wait_ready = (
    _http.drive,
    _http.free_port,
    _http.start_server,
    _http.wait_ready,
)
hello_step, naive_step, our_step = _http.hello_step, _http.naive_step, _http.our_step
naive_app, py_spy, start_profiler = _http.naive_app, _http.py_spy, _http.start_profiler
summarise_pstats, summarise_raw_profile = _http.summarise_pstats, _http.summarise_raw_profile
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/tirelire_bench"
TARGET_REDEMPTIONS_S = 5_000
TARGET_P99_MS = 50.0
TARGET_RATIO = 6.0
FACE_VALUE_CENTS = 7800  # 130 redemptions per teacher
REQUEST_TIMEOUT_S = 30.0
NO_RATE_LIMIT = "1000000000"  # per caller per minute: the clients share one vendor


# The world: a database, campaigns, tokens ---------------------------------------------------


def prepare_database(url: str | None, fresh: bool) -> str:
    """The bench database, on PostgreSQL, migrated."""
    url = url or DEFAULT_URL
    store = Settings(database_url=url).store
    if store.kind != "postgresql":
        raise SystemExit(f"bench/api.py runs on PostgreSQL only, not {store.kind}: {url}")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        name = sql.Identifier(store.pg_dbname)
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (store.pg_dbname,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    migrations.upgrade(store.sqlalchemy_url())
    return url


def seed(url: str, teachers: int, key_file: Path) -> World:
    """A vendor and its resource, and one campaign per redeeming phase, at the real time:
    the servers take the time of each request from the clock."""
    now = datetime.now(UTC)
    tag = now.strftime("%Y%m%dT%H%M%S")
    settings = Settings(database_url=url, grant_chunk_size=5000)
    vouchers, vendors, catalogue = (
        VoucherLedger(settings),
        VendorDirectory(settings),
        Catalogue(settings),
    )
    names = [f"bench-{tag}-{n:05d}" for n in range(teachers)]
    try:
        # The same vendor on every run (its id derives from the SIREN): a retry answers it.
        vendor = vendors.apply_vendor(
            legal_name="Bench",
            siren="732829320",
            siret="73282932000074",
            contact_ref="bench",
            iban="FR7630006000011234567890189",
            by="bench",
            now=now,
        )
        if vendors.get_vendor(vendor).status is not VendorStatus.APPROVED:
            vendors.approve(vendor, by="bench", now=now)
        resource = catalogue.list_resource(
            vendor_id=str(vendor),
            reference=f"bench-{tag}",
            title="Bench",
            description="",
            kind=ResourceKind.DIGITAL_TEXTBOOK,
            levels=["elementaire"],
            price_cents=PRICE_CENTS,
            by="bench",
            now=now,
        )
        campaigns = {
            phase: open_campaign(vouchers, f"{tag}-{phase}", names, now)
            for phase in ("naive", "ours")
        }
    finally:
        for app in (vouchers, vendors, catalogue):
            app.close()
    key = generate_key_file(key_file)
    issued = int(now.timestamp())

    def bearer(role: Role, subject: str) -> dict[str, str]:
        token = issue_token(key, subject=subject, role=role, now=issued, ttl_s=6 * 3600)
        return {"Authorization": f"Bearer {token}"}

    return World(
        url=url,
        vendor=str(vendor),
        resource=str(resource),
        campaigns=campaigns,
        teachers=names,
        tokens={t: bearer(Role.TEACHER, t) for t in names},
        vendor_token=bearer(Role.VENDOR, str(vendor)),
        tag=tag,
        key_file=key_file,
    )


def open_campaign(vouchers: VoucherLedger, key: str, teachers: list[str], now: datetime) -> str:
    campaign = vouchers.open_campaign(
        campaign_key=f"bench-api-{key}",
        name=f"Bench API {key}",
        face_value_cents=FACE_VALUE_CENTS,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
        budget_cents=FACE_VALUE_CENTS * len(teachers),
        funders=(("etat", 1),),
        by="bench",
        now=now - timedelta(days=1),
    )
    vouchers.grant_credits(campaign, teachers, grant_key="bench", by="bench", now=now)
    return str(campaign)


# Our server and the naive one, as processes -------------------------------------------------


def start_ours(world: World, folder: Path, args: argparse.Namespace, port: int) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRELIRE_")}
    env |= {
        "TIRELIRE_DATABASE_URL": world.url,
        "TIRELIRE_SIGNING_KEY_FILE": str(world.key_file),
        "TIRELIRE_RATE_PER_MINUTE": NO_RATE_LIMIT,
    }
    env |= dict(setting.split("=", 1) for setting in args.server_env)
    serve = ["-m", "api.cli", "serve", "--port", str(port), "--workers", str(args.workers)]
    if args.profile and not py_spy():
        serve = ["-m", "cProfile", "-o", f"{args.profile}-ours.pstats", *serve]
    return start_server([sys.executable, *serve], env, folder, port)


def start_naive(world: World, folder: Path, args: argparse.Namespace, port: int) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRELIRE_")}
    command = [
        sys.executable,
        __file__,
        "--naive-server",
        str(port),
        "--clients",
        str(args.clients),
    ]
    return start_server(command, env | {"TIRELIRE_DATABASE_URL": world.url}, folder, port)


# The phases ---------------------------------------------------------------------------------


async def measure(
    name: str, step: Step, server: Server, args: argparse.Namespace, per_unit: int
) -> Load:
    turns = [0] * args.clients
    warm = Load(name, per_unit)
    await drive(step, args.clients, args.warmup, warm, turns)
    load = Load(name, per_unit, warmup_units=warm.units)
    cpu, client_cpu = Cpu.now(server.process.pid), time.process_time()
    profiler = start_profiler(server, args, name) if name.startswith("(c)") else None
    await drive(step, args.clients, args.seconds, load, turns)
    load.cpu = Cpu.now(server.process.pid) - cpu
    load.client_cpu_s = time.process_time() - client_cpu
    if profiler is not None:
        profiler.wait()
    print_load(load)
    return load


# Figures ------------------------------------------------------------------------------------


def print_load(load: Load) -> None:
    errors = f"; refused/failed: {dict(load.errors)}" if load.errors else ""
    cpu = load.cpu
    print(
        f"{load.name}: {fmt_int(load.requests)} requests in {load.seconds:.1f} s = "
        f"{fmt_int(load.requests / load.seconds)} req/s; p50 {load.p(50):.1f} ms, "
        f"p99 {load.p(99):.1f} ms; CPU: server {load.share(cpu.server_user)} user + "
        f"{load.share(cpu.server_system)} system, postgres {load.share(cpu.postgres)}, "
        f"clients {load.share(load.client_cpu_s)}{errors}",
        flush=True,
    )


def summary(hello: Load, naive: Load, ours: Load) -> str:
    rows = [
        [
            load.name,
            fmt_int(load.requests),
            f"{load.seconds:.1f}",
            fmt_int(load.requests / load.seconds),
            "-" if load.requests_per_unit == 1 else fmt_int(load.redemptions_s),
            f"{load.p(50):.1f}",
            f"{load.p(99):.1f}",
            load.share(load.cpu.server_user + load.cpu.server_system),
            load.share(load.cpu.postgres),
            load.share(load.client_cpu_s),
        ]
        for load in (hello, naive, ours)
    ]
    headers = ["phase", "requests", "s", "req/s", "redemptions/s", "p50 ms", "p99 ms"]
    return table([*headers, "server CPU", "postgres CPU", "clients CPU"], rows)


def verdicts(hello: Load, naive: Load, ours: Load) -> list[str]:
    ratio = ours.redemptions_s / naive.redemptions_s
    met = {True: "MET", False: "NOT MET"}
    # A redemption is two requests: what this load generator can drive at all, measured
    # on the cheapest endpoint in the same run, bounds what any server can show here.
    ceiling = hello.requests / hello.seconds / ours.requests_per_unit
    return [
        f"ratio (c)/(b): {ratio:.2f}x",
        f"ceiling of this machine's load: (a) {fmt_int(ceiling)} request pairs/s "
        f"(a target above it cannot be shown here); (c) reaches {ours.redemptions_s / ceiling:.0%}",
        f"target (c) >= {fmt_int(TARGET_REDEMPTIONS_S)} redemptions/s: "
        f"{fmt_int(ours.redemptions_s)} -> {met[ours.redemptions_s >= TARGET_REDEMPTIONS_S]}",
        f"target (c) p99 <= {TARGET_P99_MS:.0f} ms: {ours.p(99):.1f} ms -> "
        f"{met[ours.p(99) <= TARGET_P99_MS]}",
        f"target (c) >= {TARGET_RATIO:.0f}x (b): {ratio:.2f}x -> {met[ratio >= TARGET_RATIO]}",
    ]


def check_books(world: World, phase: str, told: int) -> None:
    """Read every account back: the captures in the store are the ones the clients saw."""
    vouchers = VoucherLedger(Settings(database_url=world.url))
    try:
        campaign = UUID(world.campaigns[phase])
        captured = sum(vouchers.account_view(campaign, t).captured_cents for t in world.teachers)
    finally:
        vouchers.close()
    if captured != told * CAPTURE_CENTS:
        raise SystemExit(f"{phase}: the store captured {captured}, the clients were told {told}")


# Main ---------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, world: World, folder: Path) -> tuple[Load, Load, Load]:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=args.clients)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        ours_server = start_ours(world, folder, args, free_port())
        try:
            await wait_ready(http, ours_server)
            hello = await measure(
                "(a) hello world", hello_step(http, ours_server), ours_server, args, 1
            )
            step = our_step(http, ours_server, world, args.clients)
            ours = await measure("(c) ours: hold + capture", step, ours_server, args, 2)
        finally:
            ours_server.stop()
        naive_server = start_naive(world, folder, args, free_port())
        try:
            await wait_ready(http, naive_server)
            step = naive_step(http, naive_server, world, args.clients)
            naive = await measure("(b) naive: one save per request", step, naive_server, args, 2)
        finally:
            naive_server.stop()
    return hello, naive, ours


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up time per phase")
    parser.add_argument("--teachers", type=int, default=2000, help="teachers per campaign")
    parser.add_argument("--workers", type=int, default=1, help="`tirelire serve --workers`")
    parser.add_argument("--fresh", action="store_true", help="drop the bench database first")
    parser.add_argument(
        "--profile", default=None, help="profile our server in phase (c); files start so"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for our server, e.g. TIRELIRE_POLL_INTERVAL_MS=60000 (repeat it)",
    )
    parser.add_argument("--naive-server", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    per_teacher = (args.seconds + args.warmup) * 10_000 / args.teachers  # a generous bound
    if per_teacher * CAPTURE_CENTS > FACE_VALUE_CENTS:
        parser.error("too few teachers for this long a run: raise --teachers")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.naive_server is not None:
        settings = Settings.from_env()
        app = naive_app(settings, args.clients)
        web.run_app(app, host="127.0.0.1", port=args.naive_server, print=None)
        return 0
    exit_cleanly_on_sigterm()
    if args.profile:
        Path(args.profile).parent.mkdir(parents=True, exist_ok=True)
    url = prepare_database(os.environ.get("TIRELIRE_DATABASE_URL"), args.fresh)
    print(f"api: {args.clients} clients, {args.seconds:.0f} s per phase; {machine_load()}")
    folder = Path(tempfile.mkdtemp(prefix="tirelire_bench_api_"))
    try:
        world = seed(url, args.teachers, folder / "signing-key.pem")
        hello, naive, ours = asyncio.run(run(args, world, folder))
        check_books(world, "ours", ours.units + ours.warmup_units)
        check_books(world, "naive", naive.units + naive.warmup_units)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nafter the run: {machine_load()}")
    print("\nSummary (latency per request, client side)")
    print(summary(hello, naive, ours))
    for line in verdicts(hello, naive, ours):
        print(line)
    if args.profile and py_spy():
        print(summarise_raw_profile(Path(f"{args.profile}-ours.raw")))
    elif args.profile:
        print(summarise_pstats(Path(f"{args.profile}-ours.pstats")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
