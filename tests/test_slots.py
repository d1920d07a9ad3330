"""archiver._slots.Slots: a bound on work in flight, first come first served, that loses no slot."""

from __future__ import annotations

import asyncio

import pytest

from archiver._slots import Slots


async def test_at_most_size_hold_a_slot_and_they_are_served_in_order() -> None:
    slots, holding, most, order = Slots(3), 0, 0, []

    async def work(k: int) -> None:
        nonlocal holding, most
        async with slots:
            order.append(k)
            holding += 1
            most = max(most, holding)
            await asyncio.sleep(0.001 * (k % 4))
            holding -= 1

    await asyncio.gather(*(work(k) for k in range(200)))
    assert most == 3 and order == list(range(200)) and slots.free == 3


async def test_a_cancelled_waiter_loses_no_slot() -> None:
    slots = Slots(1)
    release = asyncio.Event()

    async def hold() -> None:
        async with slots:
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(hold()) for _ in range(3)]
    await asyncio.sleep(0)
    waiters[0].cancel()  # cancelled while queued
    await asyncio.sleep(0)
    release.set()
    await holder
    await asyncio.gather(*waiters[1:])
    with pytest.raises(asyncio.CancelledError):
        await waiters[0]
    assert slots.free == 1


async def test_a_waiter_cancelled_after_it_was_handed_a_slot_passes_it_on() -> None:
    slots = Slots(1)
    await slots.__aenter__()
    first = asyncio.create_task(slots.__aenter__())
    second = asyncio.create_task(slots.__aenter__())
    await asyncio.sleep(0)
    await slots.__aexit__(None, None, None)  # hands the slot to ``first``...
    first.cancel()  # ...which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the slot went on to ``second``
    assert slots.free == 0
    await slots.__aexit__(None, None, None)
    assert slots.free == 1


def test_a_slot_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Slots(0)
