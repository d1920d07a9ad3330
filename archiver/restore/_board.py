"""Awaiting the status of created workflows and versions with List calls, never a Get per item.

Every workflow awaited at a moment is answered by one listing (``ListWorkflows``, 100 a page, or
one call filtered by name per workflow when that is fewer calls), every version of one workflow by
one ``ListWorkflowVersions`` listing. An item missing from a listing is the service's lag after a
create and is waited for until the waiter's deadline, never read as "deleted"; only status DELETED
is.

When to look: a new item is first looked for shortly after its create (:data:`FIRST_LOOK`), then
at doubling gaps up to the poll interval. A restore's versions wait for their workflow to be
ACTIVE, and the run ends when its last item is, so a service that settles creates quickly is seen
to have done so at once, and a slow one is polled no more often than the interval. The workflow
listing is never polled faster than :data:`CALL_GAP` per call it takes, so that it uses at most
half the ListWorkflows quota (10 a second) however many workflows are awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._aws import OmicsApi
from .._errors import ResourceNotFound, RestoreError
from ._plan import ItemPlan

__all__ = ["CALL_GAP", "FIRST_LOOK", "Board"]

PENDING = frozenset({"CREATING", "UPDATING"})
FIRST_LOOK = 0.1  # seconds from a create to the first look at its status
CALL_GAP = 0.2  # seconds between two calls of one poller at least (ListWorkflows: 5 of its 10 a second)
_PAGE = 100


@dataclass(eq=False)
class _Waiter:
    item: ItemPlan
    deadline: float
    future: asyncio.Future[dict[str, Any]]
    due: float
    gap: float
    seen: dict[str, Any] | None = None


_Listing = Callable[[dict[str, list["_Waiter"]]], Awaitable[dict[str, dict[str, Any]]]]


@dataclass(eq=False)
class _Poll:
    """One listing and the waiters it answers: the workflows (key ``""``) or one workflow's versions."""

    waiting: dict[str, list[_Waiter]] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Board:
    """The waiters and their pollers (see the module docstring)."""

    def __init__(self, api: OmicsApi, interval: float, listed_workflows: int) -> None:
        self.api = api
        self.interval = interval
        self.first = min(FIRST_LOOK, interval)
        self.listed = listed_workflows
        self.polls: dict[str, _Poll] = {}

    async def settled(self, item: ItemPlan, deadline: float) -> dict[str, Any]:
        """The item's listing once no longer CREATING or UPDATING; RestoreError at ``deadline``."""
        now = time.monotonic()
        waiter = _Waiter(
            item, deadline, asyncio.get_running_loop().create_future(), now + self.first, self.first
        )
        if item.version_name is None:
            poll = self._poll("", self._list_workflows)
            poll.waiting.setdefault(str(item.target_id), []).append(waiter)
        else:
            wf = str(item.target_id)
            poll = self._poll(wf, lambda _waiting: self._list_versions(wf))
            poll.waiting.setdefault(item.version_name, []).append(waiter)
        poll.wake.set()
        return await waiter.future

    def _poll(self, key: str, listing: _Listing) -> _Poll:
        poll = self.polls.get(key)
        if poll is None:
            poll = self.polls[key] = _Poll()
        if poll.task is None or poll.task.done():
            poll.task = asyncio.create_task(self._run(poll, listing, key == ""))
        return poll

    async def close(self) -> None:
        tasks = [p.task for p in self.polls.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(
        self,
        poll: _Poll,
        listing: _Listing,
        workflows: bool,
    ) -> None:
        waiting = poll.waiting
        last = 0.0
        await asyncio.sleep(0)  # the waiter that started this poller is registered
        while waiting:
            poll.wake.clear()
            due = min(w.due for ws in waiting.values() for w in ws)
            if workflows:  # never more than one call per CALL_GAP on average
                due = max(due, last + CALL_GAP * self._calls(len(waiting)))
            pause = due - time.monotonic()
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poll.wake.wait(), pause)
                if poll.wake.is_set():
                    continue  # a new waiter: perhaps due sooner
            last = time.monotonic()
            try:
                listed = await listing(waiting)
            except Exception as exc:  # an unexpected one too: the waiters must never hang on a dead poller
                _fail_all(waiting, exc)
                return
            _answer(waiting, listed, self.interval)

    def _calls(self, names: int) -> int:
        return max(1, min(names, -(-self.listed // _PAGE)))

    async def _list_workflows(self, waiting: dict[str, list[_Waiter]]) -> dict[str, dict[str, Any]]:
        names = {w[0].item.name for w in waiting.values() if w}
        pages = max(1, -(-self.listed // _PAGE))
        if len(names) < pages:
            found: list[dict[str, Any]] = []
            for name in sorted(names):
                found += [w async for w in self.api.list_workflows(name=name)]
        else:
            found = [w async for w in self.api.list_workflows()]
            self.listed = len(found)
        return {str(w.get("id")): w for w in found}

    async def _list_versions(self, workflow_id: str) -> dict[str, dict[str, Any]]:
        try:
            listed = [v async for v in self.api.list_workflow_versions(workflow_id)]
        except ResourceNotFound:
            listed = []  # the workflow is not readable yet (the lag)
        return {str(v.get("versionName")): v for v in listed}


def _answer(waiting: dict[str, list[_Waiter]], listed: Mapping[str, dict[str, Any]], interval: float) -> None:
    """Resolve the waiters whose item the listing shows settled, or whose deadline has passed; the
    others are looked for again after twice their last gap (at most ``interval``)."""
    now = time.monotonic()
    for key in list(waiting):
        kept = []
        for waiter in waiting[key]:
            if waiter.future.done():
                continue
            got = listed.get(key)
            if got is not None and (not got.get("arn") or got.get("arn") == waiter.item.target_arn):
                waiter.seen = got
                if got.get("status") not in PENDING:
                    waiter.future.set_result(got)
                    continue
            if now >= waiter.deadline:
                waiter.future.set_exception(_timed_out(waiter))
                continue
            if waiter.due <= now:
                waiter.gap = min(interval, waiter.gap * 2)
                waiter.due = now + waiter.gap
            kept.append(waiter)
        if kept:
            waiting[key] = kept
        else:
            del waiting[key]


def _fail_all(waiting: dict[str, list[_Waiter]], exc: Exception) -> None:
    for waiters in waiting.values():
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)
    waiting.clear()


def _timed_out(waiter: _Waiter) -> RestoreError:
    item = waiter.item
    if waiter.seen is None:
        return RestoreError(
            f"{item.label}: {item.target_arn} (requestId {item.request_id}) was created but the "
            "service still does not list it after the wait timeout; rerun the restore later (it reuses "
            "the same requestIds and creates nothing twice)",
            workflow=item.target_id,
        )
    return RestoreError(
        f"{item.label}: still {waiter.seen.get('status')} after the wait timeout; rerun the restore "
        "later to wait for it again (nothing will be created twice)",
        workflow=item.target_id,
    )
