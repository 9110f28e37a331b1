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
import io
import os
import pstats
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import aiohttp
import psycopg
from aiohttp import web
from psycopg import sql

# This file is bench/api.py: with its folder on the path, `import api` would find it instead
# of the project's package. The folder comes off the path; `_common` is loaded by its file.
sys.path.remove(str(Path(__file__).resolve().parent))
import migrations
from api.spec import Role
from api.tokens import generate_key_file, issue_token
from ledger.catalogue_app import Catalogue
from ledger.commands import CaptureHold, PlaceHold
from ledger.eligibility import ResourceKind
from ledger.errors import DomainError
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
exit_cleanly_on_sigterm, fmt_int, machine_load, percentile, table = (
    _common.exit_cleanly_on_sigterm,
    _common.fmt_int,
    _common.machine_load,
    _common.percentile,
    _common.table,
)
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/tirelire_bench"
TARGET_REDEMPTIONS_S = 5_000
TARGET_P99_MS = 50.0
TARGET_RATIO = 6.0
PRICE_CENTS = 100  # each redemption holds this much and captures CAPTURE_CENTS of it
CAPTURE_CENTS = 60
FACE_VALUE_CENTS = 7800  # 130 redemptions per teacher
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 30.0
NO_RATE_LIMIT = "1000000000"  # per caller per minute: the clients share one vendor
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# The naive endpoint: one save per request ---------------------------------------------------


def naive_app(settings: Settings, threads: int) -> web.Application:
    """POST /holds and POST /captures, each one `VoucherLedger.execute` in a thread."""
    ledger = VoucherLedger(settings)
    executor = ThreadPoolExecutor(threads, thread_name_prefix="naive")

    async def run(command: PlaceHold | CaptureHold) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, ledger.execute, command)

    async def hold(request: web.Request) -> web.Response:
        body = await request.json()
        command = PlaceHold(
            campaign_id=UUID(body["campaign_id"]),
            teacher_id=body["teacher_id"],
            key=body["key"],
            by=body["teacher_id"],
            now=datetime.now(UTC),
            vendor_id=body["vendor_id"],
            order_ref=body["key"],
            amount_cents=PRICE_CENTS,
            ttl_s=900,
        )
        receipt = await run(command)
        return web.json_response({"hold_id": str(receipt.hold_id)}, status=201)

    async def capture(request: web.Request) -> web.Response:
        body = await request.json()
        command = CaptureHold(
            campaign_id=UUID(body["campaign_id"]),
            teacher_id=body["teacher_id"],
            key=body["key"],
            by=body["vendor_id"],
            now=datetime.now(UTC),
            hold_id=UUID(body["hold_id"]),
            amount_cents=CAPTURE_CENTS,
        )
        receipt = await run(command)
        return web.json_response({"captured_cents": receipt.captured_cents})

    @web.middleware
    async def refusals(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except DomainError as error:
            return web.json_response({"code": error.code}, status=409)

    async def close(_: web.Application) -> None:
        executor.shutdown(wait=True)
        ledger.close()

    app = web.Application(middlewares=[refusals])
    app.router.add_post("/holds", hold)
    app.router.add_post("/captures", capture)
    app.router.add_get("/readyz", ready)
    app.on_cleanup.append(close)
    return app


async def ready(_: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


# The world: a database, campaigns, tokens ---------------------------------------------------


@dataclass
class World:
    url: str
    vendor: str
    resource: str
    campaigns: dict[str, str]  # phase -> campaign id
    teachers: list[str]
    tokens: dict[str, dict[str, str]]  # teacher -> Authorization header
    vendor_token: dict[str, str]
    tag: str  # makes idempotency keys unique per run
    key_file: Path


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


# Servers as processes -----------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(command: list[str], env: dict[str, str], folder: Path, port: int) -> Server:
    log = folder / f"server-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(process, f"http://127.0.0.1:{port}", log)


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


async def wait_ready(http: aiohttp.ClientSession, server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"a server exited early:\n{server.log.read_text()}")
        try:
            async with http.get(f"{server.url}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(
        f"a server was not ready in {READY_TIMEOUT_S:.0f} s:\n{server.log.read_text()}"
    )


@dataclass(frozen=True)
class Cpu:
    """CPU seconds used so far, user and system, by the server and by PostgreSQL."""

    server_user: float
    server_system: float
    postgres: float

    @classmethod
    def now(cls, pid: int) -> Cpu:
        """From /proc: the server and its children (workers), and every postgres process
        (other work on the machine shows there too: read it as a bound)."""
        user = system = postgres = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                head, _, tail = (entry / "stat").read_text().rpartition(")")
            except OSError:
                continue  # it ended meanwhile
            fields = tail.split()  # fields[1]: the parent's pid; [11], [12]: user, system
            if int(entry.name) == pid or int(fields[1]) == pid:
                user += int(fields[11]) / CLOCK_TICKS
                system += int(fields[12]) / CLOCK_TICKS
            elif head.endswith("(postgres"):
                postgres += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return cls(user, system, postgres)

    def __sub__(self, earlier: Cpu) -> Cpu:
        return Cpu(
            self.server_user - earlier.server_user,
            self.server_system - earlier.server_system,
            self.postgres - earlier.postgres,
        )


# The load ---------------------------------------------------------------------------------


@dataclass
class Load:
    """What one measured phase did, as the clients saw it."""

    name: str
    requests_per_unit: int
    units: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    warmup_units: int = 0  # done while warming up: in the store too
    cpu: Cpu = Cpu(0.0, 0.0, 0.0)
    client_cpu_s: float = 0.0

    def share(self, seconds: float) -> str:
        return f"{100 * seconds / self.seconds:.0f}%"

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies), q) * 1000

    @property
    def redemptions_s(self) -> float:
        return self.units / self.seconds if self.requests_per_unit == 2 else float("nan")


Step = Callable[[int, int, Load], Awaitable[None]]


async def drive(step: Step, clients: int, seconds: float, load: Load, turns: list[int]) -> None:
    """`clients` tasks, each running `step` again and again until the time is up."""
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        while time.perf_counter() < deadline:
            try:
                await step(number, turns[number], load)
            except (aiohttp.ClientError, TimeoutError) as error:
                load.errors[type(error).__name__] += 1  # the server is gone or stuck
                await asyncio.sleep(0.1)
            turns[number] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    load.seconds = time.perf_counter() - started


async def timed_post(
    http: aiohttp.ClientSession, url: str, load: Load, **kwargs: Any
) -> tuple[int, dict]:
    started = time.perf_counter()
    async with http.post(url, **kwargs) as response:
        body = await response.json(content_type=None)
    load.latencies.append(time.perf_counter() - started)
    if response.status >= 300:
        load.errors[f"{response.status} {body.get('code', '')}"] += 1
    return response.status, body


def hello_step(http: aiohttp.ClientSession, server: Server) -> Step:
    async def step(_: int, __: int, load: Load) -> None:
        started = time.perf_counter()
        async with http.get(f"{server.url}/healthz") as response:
            await response.read()
        load.latencies.append(time.perf_counter() - started)
        load.units += 1
        if response.status != 200:
            load.errors[str(response.status)] += 1

    return step


def our_step(http: aiohttp.ClientSession, server: Server, world: World, clients: int) -> Step:
    campaign = world.campaigns["ours"]

    async def step(number: int, turn: int, load: Load) -> None:
        teacher = world.teachers[(number + turn * clients) % len(world.teachers)]
        key = f"{world.tag}-{number}-{turn}"
        status, hold = await timed_post(
            http,
            f"{server.url}/v1/campaigns/{campaign}/holds",
            load,
            json={"resource_id": world.resource, "order_ref": key},
            headers={**world.tokens[teacher], "Idempotency-Key": key},
        )
        if status != 201:
            return
        status, _ = await timed_post(
            http,
            f"{server.url}/v1/redemptions/{hold['redemption_code']}/capture",
            load,
            json={"amount_cents": CAPTURE_CENTS},
            headers={**world.vendor_token, "Idempotency-Key": key},
        )
        load.units += status == 200

    return step


def naive_step(http: aiohttp.ClientSession, server: Server, world: World, clients: int) -> Step:
    campaign = world.campaigns["naive"]

    async def step(number: int, turn: int, load: Load) -> None:
        teacher = world.teachers[(number + turn * clients) % len(world.teachers)]
        body = {"campaign_id": campaign, "teacher_id": teacher, "vendor_id": world.vendor}
        key = f"{world.tag}-{number}-{turn}"
        status, hold = await timed_post(
            http, f"{server.url}/holds", load, json={**body, "key": key}
        )
        if status != 201:
            return
        capture = {**body, "key": f"c-{key}", "hold_id": hold["hold_id"]}
        status, _ = await timed_post(http, f"{server.url}/captures", load, json=capture)
        load.units += status == 200

    return step


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


# Profiles -----------------------------------------------------------------------------------


def py_spy() -> str:
    """py-spy, on the PATH or beside this Python (a virtualenv's bin); "" when missing."""
    beside = Path(sys.executable).with_name("py-spy")
    return shutil.which("py-spy") or (str(beside) if beside.exists() else "")


def start_profiler(server: Server, args: argparse.Namespace, name: str) -> subprocess.Popen | None:
    """py-spy over the server's measured phase, sampling the threads that hold the GIL."""
    if not args.profile or not py_spy():
        return None
    raw = Path(f"{args.profile}-ours.raw")
    command = [py_spy(), "record", "--pid", str(server.process.pid), "--duration"]
    command += [str(int(args.seconds)), "--rate", "200", "--gil", "--nonblocking"]
    command += ["--subprocesses", "--threads", "--format", "raw", "--output", str(raw)]
    print(f"profiling {name} with py-spy into {raw}", file=sys.stderr)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise_raw_profile(path: Path, top: int = 25) -> str:
    """py-spy's collapsed stacks: samples by thread, the functions by own samples, and the
    project's functions (and aiohttp's server) by inclusive samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if frames and frames[0].startswith("thread ("):
            # "thread (123): tirelire_7" -> "tirelire": pool threads count as one
            threads[re.sub(r"_\d+$", "", frames.pop(0).partition(": ")[2])] += int(count)
        if frames:
            own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    total = sum(threads.values()) or sum(own.values())
    if not total:
        return f"{path}: no samples"

    def share(items: list[tuple[str, int]]) -> list[str]:
        return [f"{100 * n / total:5.1f}%  {what}" for what, n in items]

    ours = [
        (f, n)
        for f, n in inclusive.most_common()
        if any(part in f for part in ("api/", "ledger/", "projections/", "aiohttp/web_"))
    ]
    return "\n".join(
        [
            f"\n=== py-spy, threads holding the GIL, {total} samples ({path})",
            "-- by thread (pools summed) --",
            *share(threads.most_common()),
            "-- own --",
            *share(own.most_common(top)),
            "-- inclusive: api/ ledger/ projections/ and aiohttp's server --",
            *share(ours[:top]),
        ]
    )


def summarise_pstats(path: Path, top: int = 25) -> str:
    """Without py-spy: cProfile of the server's main thread (the event loop) only."""
    out = io.StringIO()
    out.write(f"\n=== cProfile, the server's event loop thread only ({path})\n")
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"(api|ledger|projections)/", top)
    return out.getvalue()


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


def verdicts(naive: Load, ours: Load) -> list[str]:
    ratio = ours.redemptions_s / naive.redemptions_s
    met = {True: "MET", False: "NOT MET"}
    return [
        f"ratio (c)/(b): {ratio:.2f}x",
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
    for line in verdicts(naive, ours):
        print(line)
    if args.profile and py_spy():
        print(summarise_raw_profile(Path(f"{args.profile}-ours.raw")))
    elif args.profile:
        print(summarise_pstats(Path(f"{args.profile}-ours.pstats")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
