"""The plumbing of bench/api.py's HTTP load: what runs the phases, not what they measure.

- the naive server: a small aiohttp app, one `VoucherLedger.execute` (one save) per request;
- the world the clients and servers share (`World`: campaigns, teachers, tokens);
- servers as processes of their own: start, wait until ready, stop;
- the clients: asyncio tasks running a step again and again (`drive`), the steps of each
  phase (hello world, ours, naive), each request timed into a `Load`;
- CPU sampling from /proc: the server (and its workers) and PostgreSQL;
- profiles: py-spy over the server, and summaries of py-spy's raw output or of cProfile's.

bench/api.py loads this file by its path (its own folder is off `sys.path`: `bench/api.py`
would shadow the project's `api` package), after `_common`, which it registers in
`sys.modules`; with bench/ on the path (as for the other scripts), `_common` imports as usual.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import pstats
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
from _common import percentile
from aiohttp import web

from ledger.commands import CaptureHold, PlaceHold
from ledger.errors import DomainError
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger

PRICE_CENTS = 100  # each redemption holds this much and captures CAPTURE_CENTS of it
CAPTURE_CENTS = 60
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
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


# The world the clients and servers share ----------------------------------------------------


@dataclass
class World:
    """What bench/api.py seeded: the database, its vendor, resource and campaigns, tokens."""

    url: str
    vendor: str
    resource: str
    campaigns: dict[str, str]  # phase -> campaign id
    teachers: list[str]
    tokens: dict[str, dict[str, str]]  # teacher -> Authorization header
    vendor_token: dict[str, str]
    tag: str  # makes idempotency keys unique per run
    key_file: Path


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
