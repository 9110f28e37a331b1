"""`tirelire serve`: the HTTP API in one process, or in several sharing one port.

One process is the default and the right choice on SQLite (the store has one writer) and
for most loads: a single event loop with its group committer already puts many requests
in each transaction (`ledger.batching`).

With `--workers N` (PostgreSQL only) the parent starts N processes (multiprocessing
*spawn*: nothing is inherited but the settings); each binds the same port with
SO_REUSEPORT, so the kernel spreads connections among them. Each worker has its own
committer and account cache: two workers writing the same account meet as a version
conflict, and the batch is applied again from fresh state. That keeps the books right but
costs throughput when workers share hot accounts (bench/README.md, api.py: two workers
gained 60% over one, not 100%); scaling further means routing accounts to workers.

Stopping: SIGTERM or SIGINT. A worker stops taking connections, lets requests in flight
finish (at most `SHUTDOWN_TIMEOUT_S`), lets the committer save what is queued, then closes
the stores; aiohttp's own signal handling does this. The parent passes the signal on to
its workers once and waits for them. Workers sit in their own process group, so a Ctrl-C
at a terminal reaches them through the parent only (a second signal would cut their
shutdown short), and each worker stops by itself if the parent dies.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from aiohttp import web

from api.app import create_app
from api.bootstrap import check_schema
from api.services import run_projector
from api.tokens import load_or_create_signing_key
from ledger.errors import DomainError, InvalidInput
from ledger.settings import Settings

log = logging.getLogger("tirelire.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_WORKERS = 64
SHUTDOWN_TIMEOUT_S = 10.0  # how long requests in flight may take to finish on SIGTERM
LISTEN_BACKLOG = 1024  # pending connections per worker
EXIT_REFUSED = 2
EXIT_WORKER_FAILED = 1
CANNOT_LISTEN = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
# The projector yields the CPU to the workers: under load, answering requests comes before
# keeping read models fresh, and the projector catches up as soon as the load falls.
PROJECTOR_NICENESS = 10
# A collection of the youngest objects every 50,000 allocations instead of 700: a request
# allocates a few hundred objects, nearly all freed by reference counting, and collecting
# every few requests made the slowest answers slower (bench/README.md).
GC_YOUNGEST_THRESHOLD = 50_000


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    access_log: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def serve(settings: Settings, options: ServeOptions) -> int:
    """Check everything that can be checked before listening, then serve until a signal.

    Refusals (an unmigrated schema, no signing key, several workers on SQLite) raise domain
    errors, which the command line prints as `tirelire: <code>: <message>` (exit 2).
    """
    configure_logging()
    check_options(settings, options)
    check_schema(settings)
    key_path = settings.signing_key_path
    is_new_key = key_path is not None and not key_path.exists()
    # Made here, once, before any worker starts: workers must all sign with the same key.
    load_or_create_signing_key(settings)
    if is_new_key:
        log.info("generated a development signing key in %s", key_path)
    projector = start_projector(settings)
    try:
        if options.workers == 1:
            run_app(settings, options, number=0)
            return 0
        return run_workers(settings, options)
    finally:
        stop_projector(projector)


def check_options(settings: Settings, options: ServeOptions) -> None:
    if not 1 <= options.port <= 65_535:
        raise InvalidInput(f"--port must be 1 to 65535, not {options.port}", field="port")
    if not 1 <= options.workers <= MAX_WORKERS:
        raise InvalidInput(f"--workers must be 1 to {MAX_WORKERS}", field="workers")
    if options.workers > 1 and settings.store.kind != "postgresql":
        raise InvalidInput(
            "--workers above 1 needs PostgreSQL: a SQLite database has one writer, "
            "so serve it from one process",
            field="workers",
        )


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)


def run_app(settings: Settings, options: ServeOptions, number: int) -> None:
    """Serve in this process until SIGTERM or SIGINT (aiohttp's graceful shutdown)."""

    def announce(_: str) -> None:
        # Called by aiohttp once the port listens, after the services have started.
        log.info("worker %d listening on %s", number, options.url)
        if number == 0:
            print(f"Tirelire API on {options.url}", flush=True)
            print(f"API docs on {options.url}/docs (OpenAPI: {options.url}/openapi.json)")
            print("Stop with Ctrl-C or SIGTERM.", flush=True)

    app = create_app(settings, follow_projections=False)
    app.on_startup.append(settle_heap)
    try:
        web.run_app(
            app,
            host=options.host,
            port=options.port,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            access_log=logging.getLogger("aiohttp.access") if options.access_log else None,
            print=announce,
            backlog=LISTEN_BACKLOG,
            reuse_port=options.workers > 1 or None,
        )
    except OSError as error:
        if error.errno not in CANNOT_LISTEN:
            raise
        raise InvalidInput(
            f"cannot listen on {options.url}: {error.strerror}", field="port"
        ) from None
    log.info("worker %d stopped", number)


async def settle_heap(_: web.Application) -> None:
    """Once the services are built: what startup made lives as long as the process, so the
    collector stops scanning it (`gc.freeze`), and young collections run less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, older, oldest)


def run_workers(settings: Settings, options: ServeOptions) -> int:
    """Start the workers, pass the first SIGTERM or SIGINT on to them, wait for them all.

    A worker that ends before the parent was told to stop (it failed to start, or
    crashed) stops the others: a half-started server is worse than none.
    """
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=worker_main, args=(settings, options, n), name=f"tirelire-worker-{n}"
        )
        for n in range(options.workers)
    ]
    stopping = threading.Event()

    def stop(signum: int, _frame: object = None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log.info("stopping %d workers (signal %d)", len(workers), signum)
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # it has just ended
                    os.kill(worker.pid, signal.SIGTERM)

    for worker in workers:
        worker.start()
    # After the starts: a signal now finds every worker to pass itself on to. (One that
    # came earlier ended the parent; the workers notice and stop, see `watch_parent`.)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("started %d workers sharing %s", len(workers), options.url)
    failed = wait_for_workers(workers, stopping, stop)
    return failed or 0


def wait_for_workers(
    workers: list[BaseProcess], stopping: threading.Event, stop: Callable[[int], None]
) -> int | None:
    """Wait until every worker has ended; the exit status to report if one failed."""
    failed: int | None = None
    running = list(workers)
    while running:
        wait([w.sentinel for w in running])
        for worker in [w for w in running if not w.is_alive()]:
            running.remove(worker)
            worker.join()
            code = worker.exitcode
            if code != 0 and failed is None:
                log.error("%s ended with exit code %s", worker.name, code)
                failed = code if code == EXIT_REFUSED else EXIT_WORKER_FAILED
            if not stopping.is_set():
                stop(signal.SIGTERM)
    return failed


def worker_main(settings: Settings, options: ServeOptions, number: int) -> None:
    """One worker process: its own process group, its own services, the shared port."""
    os.setpgrp()
    configure_logging()
    watch_parent()
    try:
        run_app(settings, options, number)
    except DomainError as error:
        print(f"tirelire: {error.code}: {error.message}", file=sys.stderr)
        sys.exit(EXIT_REFUSED)


def start_projector(settings: Settings) -> BaseProcess:
    """The process that keeps the read models caught up (`api.services.run_projector`)."""
    projector = multiprocessing.get_context("spawn").Process(
        target=projector_main, args=(settings,), name="tirelire-projector"
    )
    projector.start()
    return projector


def stop_projector(projector: BaseProcess) -> None:
    if projector.is_alive() and projector.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(projector.pid, signal.SIGTERM)
    projector.join(SHUTDOWN_TIMEOUT_S)
    if projector.is_alive():
        log.error("the projector did not stop in time; killing it")
        projector.kill()
        projector.join()


def projector_main(settings: Settings) -> None:
    """The projector process: its own process group; stops after its page on SIGTERM."""
    os.setpgrp()
    os.nice(PROJECTOR_NICENESS)
    configure_logging()
    watch_parent()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("projector following the log")
    run_projector(settings, stop)
    log.info("projector stopped")


def watch_parent() -> None:
    """Stop gracefully if the parent dies: out of its process group, no signal reaches us."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
