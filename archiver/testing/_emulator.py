"""The in-process handle on an emulator: :class:`Emulator` (own thread) and :func:`open_emulator`.

Tests of synchronous code want a server that runs while they block, so :class:`Emulator` runs the
aiohttp application on a private thread with its own event loop, bound to 127.0.0.1 and a free port
by default. Async tests can instead ``async with open_emulator(...)`` to run it on their own loop.
State is only ever touched on the emulator's loop; calls from other threads are marshalled there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from ._config import EmulatorConfig, EmulatorStats
from ._server import Core, build_app

__all__ = ["Emulator", "open_emulator"]

T = TypeVar("T")


class Emulator:
    """A running HealthOmics emulator; a context manager that starts and stops it.

    ``url`` is the endpoint (``http://127.0.0.1:PORT``) once started. ``configure`` replaces config
    fields at run time; ``stats`` returns a frozen snapshot of what was served.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        seed_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._core = Core(config or EmulatorConfig())
        self._host = host
        self._port = port
        self._seed_dir = seed_dir
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def config(self) -> EmulatorConfig:
        return self._core.config

    # --- lifecycle --------------------------------------------------------------------------------

    async def _serve(self) -> None:
        """Bind the application on the current loop; sets ``url``."""
        if self._seed_dir is not None:
            self._core.load_seed(self._seed_dir)
        runner = web.AppRunner(build_app(self._core), access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._core.close()

    def start(self) -> None:
        """Start serving on a private thread; returns once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        thread = threading.Thread(target=run, name="omics-emulator", daemon=True)
        thread.start()
        started.wait()
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._thread = loop, thread

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = self._loop = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- control ----------------------------------------------------------------------------------

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the emulator's loop (directly when already on it or not threaded)."""
        loop = self._loop
        if loop is None or self._thread is None or threading.current_thread() is self._thread:
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result()

    def configure(self, **changes: Any) -> None:
        """Replace config fields (``latency``, ``quotas``, ``faults``, ``url_ttl`` ...) at run time."""
        new = dataclasses.replace(self._core.config, **changes)
        self._on_loop(lambda: self._core.reconfigure(new))

    def stats(self) -> EmulatorStats:
        return self._core.stats.snapshot()

    def reset_stats(self) -> None:
        self._core.stats.reset()

    def load_seed(self, seed_dir: Path) -> None:
        """Add the workflows of a seed directory (see docs/emulator.md) to the running state."""
        self._on_loop(lambda: self._core.load_seed(Path(seed_dir)))


@asynccontextmanager
async def open_emulator(
    config: EmulatorConfig | None = None,
    *,
    seed_dir: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[Emulator]:
    """Run an emulator on the current event loop for the duration of the ``async with`` block."""
    emulator = Emulator(config, seed_dir=seed_dir, host=host, port=port)
    await emulator._serve()
    try:
        yield emulator
    finally:
        await emulator._shutdown()
