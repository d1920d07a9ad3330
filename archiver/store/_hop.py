"""A lean hop to a worker thread, for the one blocking step every new bundle takes.

A backup of many small workflows builds and writes each bundle in one worker-thread step
(``FileStore.put_built``). Through ``loop.run_in_executor`` and ``asyncio.shield`` that hop cost
the event loop about three times the file-system work it carried: a ``concurrent.futures.Future``
with its condition variable, a work item, the executor's Python-level idle semaphore, two chained
futures. :func:`in_worker` keeps what matters of :func:`~archiver.store._local.in_thread` (the
caller's context variables go along; a cancelled caller waits for the step to finish before the
cancellation propagates, so no thread is still writing when it returns) and drops the rest: jobs
go through a ``queue.SimpleQueue`` to a small pool of threads of its own, and each result comes
back with one ``call_soon_threadsafe``.

The pool has as many threads as asyncio's default executor would (``min(32, cores + 4)``), made
as jobs arrive and then kept, idle, as daemon threads: every job has a caller that awaits it, so
none is left unfinished when the program ends. A forked child starts with no threads and makes
its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

from ._local import settle

__all__ = ["in_worker"]

T = TypeVar("T")

_MAX_THREADS = min(32, (os.cpu_count() or 1) + 4)
_jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_started = 0
_lock = threading.Lock()


def _serve() -> None:
    while True:
        _jobs.get()()


def _reset_after_fork() -> None:
    global _jobs, _started, _lock
    _jobs, _started, _lock = queue.SimpleQueue(), 0, threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _submit(job: Callable[[], None]) -> None:
    global _started
    _jobs.put(job)
    if _started < _MAX_THREADS:  # a thread per job until there are enough; then they take turns
        with _lock:
            if _started < _MAX_THREADS:
                threading.Thread(target=_serve, name=f"archiver-worker-{_started}", daemon=True).start()
                _started += 1


def _settle(fut: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)  # type: ignore[arg-type]


async def in_worker(func: Callable[[], T]) -> T:
    """Run ``func()`` in a worker thread and return its result (or raise its exception).

    If the caller is cancelled, wait for ``func`` to finish first, then propagate the cancellation.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()
    ctx = contextvars.copy_context()

    def job() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = ctx.run(func)
        except BaseException as exc:  # delivered to the caller, whatever it is
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, done, result, error)

    _submit(job)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        await settle(done)
        raise
