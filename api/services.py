"""What one server process runs: the applications, the read models, and who may call.

Built once per process from `Settings` (after checking the schema is migrated), owned by
the aiohttp app's cleanup context, closed on shutdown: the group committer finishes what is
queued, then the applications and the engine close. Projections follow the log in a
background task, so read models trail the books by at most a poll interval; a handler that
must read its own writes catches the projection up first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine

from api.bootstrap import check_schema
from api.codes import RedemptionCodes, derive_code_secret
from api.keys import ApiKeys
from api.limits import RateLimiter
from api.tokens import (
    TokenVerifier,
    load_or_create_checkpoint_key,
    load_or_create_signing_key,
)
from ledger.batching import GroupCommitter
from ledger.catalogue_app import Catalogue
from ledger.claims_desk import ClaimsDesk
from ledger.device_bank import DeviceBank
from ledger.errors import (
    CheckpointMismatch,
    InvalidHouseholdKey,
    InvalidSigningKey,
    StoreUnavailable,
)
from ledger.fund_app import InternetFund
from ledger.redemptions import Redemptions
from ledger.references import FreshEnough
from ledger.reimbursement import default_rule_book
from ledger.settings import Settings
from ledger.vendor_directory import VendorDirectory
from ledger.vouchers import VoucherLedger
from projections.as_of import PastReadModels
from projections.balances import Balances
from projections.catalogue import CatalogueView
from projections.checkpoint_store import CheckpointStore
from projections.checkpointer import Checkpointer
from projections.engine import create_read_engine
from projections.indicators import Indicators
from projections.log_proofs import LogProofs
from projections.registry import all_projections
from projections.runner import ProjectionRunner
from projections.vendors import VendorStatements

log = logging.getLogger("tirelire.api")
T = TypeVar("T")
WORKER_THREADS = 8
# How stale a campaign, vendor or resource may be when a hold reads it (`ledger.references`):
# a change made by another process reaches new holds within this time.
REFERENCE_MAX_AGE_MS = 1000


@dataclass
class Services:
    settings: Settings
    vouchers: VoucherLedger
    vendors: VendorDirectory
    catalogue: Catalogue
    desk: ClaimsDesk
    devices: DeviceBank
    committer: GroupCommitter
    redemptions: Redemptions
    engine: Engine
    tokens: TokenVerifier
    api_keys: ApiKeys
    codes: RedemptionCodes
    limiter: RateLimiter
    code_guesses: RateLimiter
    executor: ThreadPoolExecutor
    runners: dict[str, ProjectionRunner]
    balances: Balances
    statements: VendorStatements
    indicators: Indicators
    catalogue_view: CatalogueView
    checkpoints: CheckpointStore  # the signed checkpoints kept (`api.proofs_api`)
    proofs: LogProofs
    past: PastReadModels  # every read model as of a past point (`api.past`)
    in_flight: set[tuple[str, str]] = field(default_factory=set)
    started: bool = False
    internet_fund: InternetFund | None = None  # None: no households' key (see `fund`)

    @property
    def fund(self) -> InternetFund:
        """The internet fund, on the device bank's log. A deployment without a households'
        key (`ledger.households`) serves everything else; the fund's operations answer 503."""
        if self.internet_fund is None:
            raise StoreUnavailable("the internet fund is not configured: no households' key")
        return self.internet_fund

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work (the applications are synchronous) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def catch_up(self, *names: str) -> None:
        """Bring read models up to the log now (blocking: call through `run`)."""
        for name in names or tuple(self.runners):
            self.runners[name].catch_up()

    def close(self) -> None:
        """Let running work finish, then the committer's queue, then close the stores."""
        self.executor.shutdown(wait=True)
        self.committer.close()
        for app in (self.vouchers, self.vendors, self.catalogue, self.desk, self.devices):
            app.close()
        if self.internet_fund is not None:
            self.internet_fund.close()
        self.engine.dispose()


def build_services(settings: Settings) -> Services:
    check_schema(settings)
    key = load_or_create_signing_key(settings)
    raw_key = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    vouchers = VoucherLedger(settings)
    vendors = VendorDirectory(settings)
    catalogue = Catalogue(settings)
    committer = GroupCommitter(vouchers)
    engine = create_read_engine(settings)
    runners = projection_runners(vouchers, engine)
    devices = DeviceBank(settings)
    checkpoints = CheckpointStore(engine)
    return Services(
        settings=settings,
        vouchers=vouchers,
        vendors=vendors,
        catalogue=catalogue,
        desk=ClaimsDesk(settings, default_rule_book()),
        devices=devices,
        committer=committer,
        redemptions=Redemptions(
            vouchers, vendors, catalogue, committer, FreshEnough(REFERENCE_MAX_AGE_MS)
        ),
        engine=engine,
        tokens=TokenVerifier(key.public_key()),
        api_keys=ApiKeys(engine),
        codes=RedemptionCodes(derive_code_secret(raw_key)),
        limiter=RateLimiter(settings.rate_per_minute),
        code_guesses=RateLimiter(settings.code_guesses_per_minute),
        executor=ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="tirelire"),
        runners=runners,
        balances=Balances(engine),
        statements=VendorStatements(engine),
        indicators=Indicators(engine),
        catalogue_view=CatalogueView(engine),
        checkpoints=checkpoints,
        proofs=LogProofs(vouchers, checkpoints),
        past=PastReadModels(vouchers),
        internet_fund=open_fund(settings, devices),
    )


def open_fund(settings: Settings, devices: DeviceBank) -> InternetFund | None:
    """The internet fund, or None (logged) where no households' key is configured."""
    try:
        return InternetFund(settings, device_bank=devices)
    except InvalidHouseholdKey as missing:
        log.warning("the internet fund is not served: %s", missing.message)
        return None


def projection_runners(vouchers: VoucherLedger, engine: Engine) -> dict[str, ProjectionRunner]:
    return {
        projection.name: ProjectionRunner(vouchers, engine, projection)
        for projection in all_projections()
    }


def run_projector(settings: Settings, stop: threading.Event) -> None:
    """Keep every read model caught up with the log until `stop` is set: the loop of the
    projector process `tirelire serve` starts beside its workers, so that folding the log
    does not take the request-serving processes' CPU."""
    check_schema(settings)
    vouchers = VoucherLedger(settings)
    engine = create_read_engine(settings)
    runners = projection_runners(vouchers, engine)
    checkpointer = open_checkpointer(settings, vouchers, engine)
    interval = settings.poll_interval_ms / 1000
    try:
        while not stop.is_set():
            try:
                applied = sum(runner.run_once() for runner in runners.values())
            except Exception:
                log.exception("a projection failed to catch up; retrying")
                applied = 0
            if checkpointer is not None:
                checkpointer = keep_checkpoints(checkpointer, datetime.now(UTC))
            if not applied:
                stop.wait(interval)
    finally:
        vouchers.close()
        engine.dispose()


def open_checkpointer(
    settings: Settings, vouchers: VoucherLedger, engine: Engine
) -> Checkpointer | None:
    """The projector's checkpointer, or None (logged) where no checkpoint key is
    configured: the books are served, and no checkpoint is signed."""
    try:
        key = load_or_create_checkpoint_key(settings)
    except InvalidSigningKey as missing:
        log.warning("no checkpoints are signed: %s", missing.message)
        return None
    return Checkpointer(vouchers, CheckpointStore(engine), key, settings)


def keep_checkpoints(checkpointer: Checkpointer, now: datetime) -> Checkpointer | None:
    """Issue a checkpoint if one is due. A log that no longer gives a signed checkpoint
    stops the signing for good (None); anything else is logged and retried."""
    try:
        signed = checkpointer.tick(now)
    except CheckpointMismatch as mismatch:
        log.critical("checkpoints stopped: %s", mismatch.message)
        return None
    except Exception:
        log.exception("a checkpoint failed; retrying")
        return checkpointer
    if signed is not None:
        log.info("signed the checkpoint of size %d", signed.log_size)
    return checkpointer


SERVICES = web.AppKey("services", Services)
FOLLOW_PROJECTIONS = web.AppKey("follow_projections", bool)


async def services_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: build the services, follow the projections, close on shutdown."""
    settings: Settings = app[SETTINGS]
    services = await asyncio.get_running_loop().run_in_executor(None, build_services, settings)
    app[SERVICES] = services
    stop = asyncio.Event()
    follower = None
    if app[FOLLOW_PROJECTIONS]:
        follower = asyncio.create_task(follow_projections(services, stop))
    services.started = True
    try:
        yield
    finally:
        # Not a cancel: a catch-up running in a worker thread must end before the stores
        # close under it.
        stop.set()
        if follower is not None:
            await follower
        await asyncio.get_running_loop().run_in_executor(None, services.close)


async def follow_projections(services: Services, stop: asyncio.Event) -> None:
    """Catch the read models up every poll interval, until told to stop. A failing read
    model is logged and retried: it must not take the server down."""
    interval = services.settings.poll_interval_ms / 1000
    while not stop.is_set():
        try:
            await services.run(services.catch_up)
        except Exception:
            log.exception("a projection failed to catch up; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


SETTINGS = web.AppKey("settings", Settings)
