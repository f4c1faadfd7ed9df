"""The per-user budget, driven by a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from trakt_plugin.trakt import Priority, RateBudget
from trakt_plugin.trakt.ratelimit import GET_WINDOW


class Clock:
    """Monotonic clock + sleep that jump instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def write(budget: RateBudget, clock: Clock, key: str, name: str, log: list, priority=1):
    async with budget.slot(key, "POST", priority):
        log.append((name, clock.now))
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_writes_of_one_user_are_spaced() -> None:
    clock = Clock()
    budget = RateBudget(post_interval=1.0, clock=clock, sleep=clock.sleep)
    log: list = []
    await asyncio.gather(*(write(budget, clock, "alice", f"w{i}", log) for i in range(4)))
    times = [t for _, t in log]
    assert [b - a for a, b in itertools.pairwise(times)] == [1.0, 1.0, 1.0]
    assert [n for n, _ in log] == ["w0", "w1", "w2", "w3"]  # arrival order kept


@pytest.mark.asyncio
async def test_users_do_not_share_a_write_budget() -> None:
    clock = Clock()
    budget = RateBudget(post_interval=1.0, clock=clock, sleep=clock.sleep)
    log: list = []
    await asyncio.gather(
        write(budget, clock, "alice", "a", log), write(budget, clock, "bob", "b", log)
    )
    assert [t for _, t in log] == [0.0, 0.0]


@pytest.mark.asyncio
async def test_scrobbles_go_ahead_of_waiting_bulk_writes() -> None:
    clock = Clock()
    budget = RateBudget(post_interval=1.0, clock=clock, sleep=clock.sleep)
    log: list = []
    tasks = [
        asyncio.create_task(write(budget, clock, "alice", f"bulk{i}", log, Priority.BULK))
        for i in range(3)
    ]
    await asyncio.sleep(0)
    tasks.append(
        asyncio.create_task(write(budget, clock, "alice", "scrobble", log, Priority.SCROBBLE))
    )
    await asyncio.gather(*tasks)
    assert [n for n, _ in log] == ["bulk0", "scrobble", "bulk1", "bulk2"]


@pytest.mark.asyncio
async def test_gets_stay_under_the_window_limit() -> None:
    clock = Clock()
    budget = RateBudget(get_per_5min=3, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(7):
        async with budget.slot("alice", "GET"):
            times.append(clock.now)
    assert times == [0, 0, 0, GET_WINDOW, GET_WINDOW, GET_WINDOW, 2 * GET_WINDOW]
    async with budget.slot(None, "GET"):  # the app-wide bucket is separate
        pass
    assert clock.now == 2 * GET_WINDOW


@pytest.mark.asyncio
async def test_429_pauses_the_user_for_retry_after() -> None:
    clock = Clock()
    budget = RateBudget(post_interval=1.0, clock=clock, sleep=clock.sleep)
    budget.pause("alice", 30)
    assert budget.paused_for("alice") == 30 and budget.paused_for("bob") == 0
    async with budget.slot("alice", "GET"):
        assert clock.now == 30
    async with budget.slot("bob", "POST"):
        assert clock.now == 30


@pytest.mark.asyncio
async def test_cancelled_waiter_leaves_the_queue() -> None:
    clock = Clock()
    budget = RateBudget(post_interval=1.0, clock=clock, sleep=clock.sleep)
    log: list = []
    holder = asyncio.Event()

    async def hold() -> None:
        async with budget.slot("alice", "POST"):
            await holder.wait()

    first = asyncio.create_task(hold())
    await asyncio.sleep(0)
    doomed = asyncio.create_task(write(budget, clock, "alice", "doomed", log))
    await asyncio.sleep(0)
    doomed.cancel()
    holder.set()
    await first
    await write(budget, clock, "alice", "after", log)
    assert [n for n, _ in log] == ["after"]
