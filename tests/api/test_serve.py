"""`tirelire serve` as an operator runs it: real processes on real ports, stopped by signals.

On SQLite: the server answers, a development signing key appears beside the database, and
SIGTERM ends it cleanly; an unmigrated database is refused before anything listens. On
PostgreSQL: three server processes (one `--workers 2`, one plain) place and capture holds
for the same teachers at once, and the books stay right.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import create_engine, select

from api.spec import Role
from api.tokens import generate_key_file, issue_token, read_signing_key
from ledger import accounts
from ledger.catalogue_app import Catalogue
from ledger.eligibility import ResourceKind
from ledger.ids import credit_account_id
from ledger.settings import Settings
from ledger.vendor_directory import VendorDirectory
from ledger.vouchers import VoucherLedger
from projections.schema import projection_positions
from tests.api.served import free_port

READY_TIMEOUT_S = 60.0  # spawned workers import everything anew; CI machines are busy
STOP_TIMEOUT_S = 5.0  # an idle server stops in well under a second
RUN_TIMEOUT_S = 60.0
ACCESS_LOG_LINE = re.compile(r"^\S+ \S+ (\d+) INFO aiohttp\.access: ", re.MULTILINE)

TEACHERS = 6
CLIENTS = 12
ROUNDS = 20  # each client: hold then capture, this many times
PRICE_CENTS = 500
CAPTURE_CENTS = 400  # the other 100 return to the teacher
FACE_VALUE_CENTS = 7800  # about 19 redemptions per teacher: the clients run them dry


@dataclass
class Served:
    """One `tirelire serve` process, its output in files (no pipe to fill up)."""

    process: subprocess.Popen
    port: int
    out: Path
    err: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, http: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited with {self.process.returncode}: {self.err_text()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{self.url}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
        pytest.fail(f"serve was not ready in {READY_TIMEOUT_S:.0f} s: {self.err_text()}")

    async def listening(self, workers: int) -> None:
        """Wait until each of `workers` processes says it listens (they bind one by one)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            said = self.err_text()
            if all(f"worker {n} listening" in said for n in range(workers)):
                return
            await asyncio.sleep(0.1)
        pytest.fail(f"not every worker listened in {READY_TIMEOUT_S:.0f} s: {self.err_text()}")

    def stop(self) -> int:
        """SIGTERM, then the exit code, which must come within a few seconds."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not stop within {STOP_TIMEOUT_S:.0f} s of SIGTERM")

    def out_text(self) -> str:
        return self.out.read_text()

    def err_text(self) -> str:
        return self.err.read_text()


def serve_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRELIRE_")}
    return {**env, "TIRELIRE_DATABASE_URL": url, **extra}


@contextlib.contextmanager
def serving(folder: Path, env: dict[str, str], *args: str, name: str = "serve") -> Iterator[Served]:
    """Start `python -m api.cli serve --port <free port> ARGS`; kill it if the test failed."""
    port = free_port()
    out, err = folder / f"{name}.out", folder / f"{name}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), *args],
            cwd=folder,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    served = Served(process, port, out, err)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_cli(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


# SQLite ------------------------------------------------------------------------------------


async def test_serve_answers_on_sqlite_then_stops_cleanly_on_sigterm(
    sqlite_url: str, tmp_path: Path
) -> None:
    database = Settings(database_url=sqlite_url).store.sqlite_path
    assert database is not None
    key_file = database.with_name(database.name + ".signing-key.pem")
    assert not key_file.exists()
    with serving(tmp_path, serve_env(sqlite_url)) as served:
        async with aiohttp.ClientSession(served.url) as http:
            await served.ready(http)
            async with http.get("/healthz") as response:
                assert (response.status, await response.json()) == (200, {"status": "ok"})
            async with http.get("/openapi.json") as response:
                document = await response.json()
            assert response.status == 200 and document["openapi"].startswith("3.1")
            assert "/v1/campaigns/{campaign_id}/holds" in document["paths"]
            credit = f"/v1/campaigns/{uuid.uuid4()}/credit"
            async with http.get(credit) as response:
                problem = await response.json(content_type=None)
            assert (response.status, problem["code"]) == (401, "unauthenticated")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            # The key made on first run is the one the server verifies tokens with.
            token = issue_token(
                read_signing_key(key_file), subject="t1", role=Role.TEACHER, now=int(time.time())
            )
            async with http.get(credit, headers={"Authorization": f"Bearer {token}"}) as response:
                problem = await response.json(content_type=None)
            assert (response.status, problem["code"]) == (404, "credit_account_not_found")
            # The projector process follows the log: each read model has its position.
            assert await projected(sqlite_url) == READ_MODELS
        assert served.stop() == 0
    assert "projector stopped" in served.err_text()  # it stopped with the server
    assert f"http://127.0.0.1:{served.port}" in served.out_text()
    assert f"http://127.0.0.1:{served.port}/docs" in served.out_text()
    assert "Traceback" not in served.err_text()


READ_MODELS = {
    "balances",
    "catalogue",
    "indicators",
    "vendor_statements",
    "device_pipeline",
    "fund_movements",
    "fund_levies",
    "fund_subsidies",
    "fund_cofinancing",
}


async def projected(url: str, within_s: float = 20.0) -> set[str]:
    """The read models with a position, once all have one (or what there is)."""
    engine = create_engine(Settings(database_url=url).store.sqlalchemy_url())
    try:
        deadline = time.monotonic() + within_s
        while True:
            with engine.connect() as conn:
                names = set(conn.execute(select(projection_positions.c.projection)).scalars())
            if len(names) >= len(READ_MODELS) or time.monotonic() > deadline:
                return names
            await asyncio.sleep(0.1)
    finally:
        engine.dispose()


def test_serve_refuses_an_unmigrated_database_before_listening(tmp_path: Path) -> None:
    env = serve_env(f"sqlite:///{tmp_path / 'empty.db'}")
    refused = run_cli(tmp_path, env, "serve", "--port", str(free_port()))
    assert refused.returncode == 2
    assert refused.stderr.startswith("tirelire: schema_not_migrated: ")
    assert "tirelire migrate" in refused.stderr and "Traceback" not in refused.stderr
    assert refused.stdout == ""  # no URL: nothing was served


def test_serve_refuses_several_workers_on_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    env = serve_env(sqlite_url)
    refused = run_cli(tmp_path, env, "serve", "--port", str(free_port()), "--workers", "2")
    assert refused.returncode == 2
    assert refused.stderr.startswith("tirelire: invalid_input: ")
    assert "PostgreSQL" in refused.stderr and "Traceback" not in refused.stderr


# PostgreSQL --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shop:
    """What the servers sell from: one approved vendor, one resource, one campaign."""

    vendor: str
    resource: str
    campaign: str
    teachers: tuple[str, ...]


def open_shop(settings: Settings, now: datetime) -> Shop:
    """Seed through the applications, at the real time: the servers use the real clock."""
    vouchers, vendors, catalogue = (
        VoucherLedger(settings),
        VendorDirectory(settings),
        Catalogue(settings),
    )
    try:
        vendor = vendors.apply_vendor(
            legal_name="Les Petits Savants",
            siren="732829320",
            siret="73282932000074",
            contact_ref="contact-732829320",
            iban="FR7630006000011234567890189",
            by="vendor",
            now=now,
        )
        vendors.approve(vendor, by="operator", now=now)
        resource = catalogue.list_resource(
            vendor_id=str(vendor),
            reference="lecture-cp",
            title="Lecture CP",
            description="",
            kind=ResourceKind.DIGITAL_TEXTBOOK,
            levels=["elementaire"],
            price_cents=PRICE_CENTS,
            by="vendor",
            now=now,
        )
        teachers = tuple(f"t{n}" for n in range(TEACHERS))
        campaign = vouchers.open_campaign(
            campaign_key="serve-side-by-side",
            name="Side by side",
            face_value_cents=FACE_VALUE_CENTS,
            valid_from=now - timedelta(days=1),
            valid_until=now + timedelta(days=30),
            budget_cents=FACE_VALUE_CENTS * TEACHERS,
            funders=(("etat", 1),),
            by="operator",
            now=now - timedelta(days=1),
        )
        vouchers.grant_credits(campaign, teachers, grant_key="g", by="operator", now=now)
    finally:
        for app in (vouchers, vendors, catalogue):
            app.close()
    return Shop(str(vendor), str(resource), str(campaign), teachers)


async def redeem_concurrently(
    http: aiohttp.ClientSession, urls: list[str], shop: Shop, key_file: Path
) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """CLIENTS at once, each ROUNDS times: hold on one server, capture on the other.

    Answers (captured cents per teacher, holds placed per server, statuses seen)."""
    key, now = read_signing_key(key_file), int(time.time())

    def bearer(role: Role, subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(key, subject=subject, role=role, now=now)}"}

    teachers = {t: bearer(Role.TEACHER, t) for t in shop.teachers}
    vendor = bearer(Role.VENDOR, shop.vendor)
    captured: Counter[str] = Counter()
    placed: Counter[str] = Counter()
    seen: Counter[str] = Counter()

    async def client(number: int) -> None:
        rng = random.Random(number)
        for r in range(ROUNDS):
            teacher = rng.choice(shop.teachers)
            here, there = urls[(number + r) % 2], urls[(number + r + 1) % 2]
            async with http.post(
                f"{here}/v1/campaigns/{shop.campaign}/holds",
                json={"resource_id": shop.resource, "order_ref": f"o-{number}-{r}"},
                headers={**teachers[teacher], "Idempotency-Key": f"h-{number}-{r}"},
            ) as response:
                hold = await response.json(content_type=None)
            seen[f"hold {response.status} {hold.get('code', '')}".strip()] += 1
            if response.status != 201:
                continue
            placed[here] += 1
            async with http.post(
                f"{there}/v1/redemptions/{hold['redemption_code']}/capture",
                json={"amount_cents": CAPTURE_CENTS},
                headers={**vendor, "Idempotency-Key": f"c-{number}-{r}"},
            ) as response:
                answer = await response.json(content_type=None)
            seen[f"capture {response.status} {answer.get('code', '')}".strip()] += 1
            if response.status == 200:
                captured[teacher] += answer["captured_cents"]

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return captured, placed, seen


def check_books(settings: Settings, shop: Shop, captured: Counter[str]) -> None:
    """The log folds to a trial balance of zero, and each teacher's credit adds up to what
    was granted, with exactly the captures the clients were told of."""
    vouchers = VoucherLedger(settings)
    try:
        events = [
            vouchers.mapper.to_domain_event(n)
            for n in vouchers.recorder.select_notifications(start=None, limit=1_000_000)
        ]
        books = accounts.fold(events)
        assert sum(books.values()) == 0
        campaign = uuid.UUID(shop.campaign)
        for teacher in shop.teachers:
            view = vouchers.account_view(campaign, teacher)
            figures = (view.available_cents, view.held_cents, view.captured_cents)
            assert min(figures) >= 0, (teacher, figures)
            assert sum(figures) == view.granted_cents == FACE_VALUE_CENTS, (teacher, figures)
            assert view.captured_cents == captured[teacher], teacher
            account = credit_account_id(campaign, teacher)
            assert books.get(accounts.teacher_available(account), 0) == view.available_cents
            assert books.get(accounts.teacher_held(account), 0) == view.held_cents
        assert books[accounts.vendor_payable(shop.vendor)] == sum(captured.values())
    finally:
        vouchers.close()


@pytest.mark.postgres
async def test_serve_processes_side_by_side_on_one_postgresql_keep_the_books_right(
    pg_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "signing-key.pem"
    generate_key_file(key_file)
    settings = Settings(database_url=pg_url, signing_key_file=str(key_file))
    shop = open_shop(settings, datetime.now(UTC))
    env = serve_env(
        pg_url, TIRELIRE_SIGNING_KEY_FILE=str(key_file), TIRELIRE_RATE_PER_MINUTE="100000"
    )
    with (
        serving(tmp_path, env, "--workers", "2", "--access-log", name="pair") as pair,
        serving(tmp_path, env, name="single") as single,
    ):
        # A connection per request: the kernel spreads connections, not requests, over
        # the processes sharing the pair's port.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            await pair.ready(http)
            await pair.listening(workers=2)
            await single.ready(http)
            captured, placed, seen = await redeem_concurrently(
                http, [pair.url, single.url], shop, key_file
            )
        assert pair.stop() == 0 and single.stop() == 0
    # Every answer is a success or a refusal the books explain; the clients ran the
    # teachers' credit dry, and both servers did their share of the work.
    assert set(seen) <= {
        "hold 201",
        "hold 409 insufficient_credit",
        "hold 409 concurrency_conflict",
        "capture 200",
        "capture 409 concurrency_conflict",
    }, seen
    assert seen["hold 409 insufficient_credit"] > 0, seen
    assert placed[pair.url] > 0 and placed[single.url] > 0, placed
    assert len(set(ACCESS_LOG_LINE.findall(pair.err_text()))) == 2  # both workers answered
    assert "aiohttp.access" not in single.err_text()  # no access log unless asked
    assert "Traceback" not in pair.err_text() + single.err_text()
    check_books(settings, shop, captured)
