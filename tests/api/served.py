"""A real server on a free port, in a thread of its own, for clients that are processes."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from api.app import create_app
from ledger.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(settings: Settings, **app_options) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serve `create_app(settings)` until the block ends; yields the base URL."""
    port = free_port()
    loop = asyncio.new_event_loop()
    started, stopped = threading.Event(), threading.Event()
    runner = web.AppRunner(create_app(settings, **app_options), access_log=None)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()
        stopped.set()

    thread = threading.Thread(target=run, name="served-app", daemon=True)
    thread.start()
    assert started.wait(30), "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        assert stopped.wait(30), "the server did not stop"
        thread.join()
