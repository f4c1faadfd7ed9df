"""Periodic jobs through the running service's scheduler, with time moved instead of waited."""

from __future__ import annotations

from tests.clock.conftest import ClockWorld
from tests.conftest import wait_until

HOUR = 3600
SYNC_INTERVAL = HOUR  # the SPEC's default sync_interval
VIP_INTERVAL = 30 * 86400  # the SPEC's default vip.check_interval


def test_a_scheduled_sync_every_sync_interval_per_user(clock_world: ClockWorld) -> None:
    world = clock_world
    users = [world.connect("Ann", "ann"), world.connect("Bob", "bob")]
    for user_id in users:
        assert world.settled_runs(user_id, "schedule") == []

    # Two minutes short of the interval: not due yet.
    now = world.advance(SYNC_INTERVAL - 120)
    assert 0 < (world.next_run("sync") - now).total_seconds() <= 120
    # The interval passed: one run per user.
    now = world.advance(120)
    for user_id in users:
        wait_until(lambda u=user_id: world.runs(u, "schedule"), what="a scheduled sync")
    for user_id in users:
        runs = world.settled_runs(user_id, "schedule")
        assert [r["status"] for r in runs] == ["succeeded"], runs
    assert 3500 <= (world.next_run("sync") - now).total_seconds() <= SYNC_INTERVAL

    # Three intervals at once (a suspended machine waking up): one run each, not three.
    now = world.advance(3 * SYNC_INTERVAL)
    for user_id in users:
        wait_until(lambda u=user_id: len(world.runs(u, "schedule")) >= 2, what="the second sync")
    for user_id in users:
        runs = world.settled_runs(user_id, "schedule")
        assert [r["status"] for r in runs] == ["succeeded", "succeeded"], runs
        # Each scheduled run began with its one last_activities read.
        assert runs[0]["requests"] >= 1
    assert 3500 <= (world.next_run("sync") - now).total_seconds() <= SYNC_INTERVAL
    for user_id in users:
        assert len(world.runs(user_id, "schedule")) == 2


def test_vip_is_checked_again_every_check_interval(clock_world: ClockWorld) -> None:
    world = clock_world
    user_id = world.connect("Cid", "cid")
    assert world.get(f"/users/{user_id}")["trakt"]["vip"] is False
    checks = len(world.requests("/users/settings", "cid"))
    assert checks >= 1  # read at connect
    world.fake.state.set_vip("cid", True)

    # An hour short of the interval: a month of hourly syncs and a token refresh, no VIP check.
    world.advance(VIP_INTERVAL - HOUR)
    wait_until(lambda: world.runs(user_id, "schedule"), what="the scheduled sync after the jump")
    world.settled_runs(user_id)
    assert len(world.requests("/users/settings", "cid")) == checks
    assert world.get(f"/users/{user_id}")["trakt"]["vip"] is False
    assert world.fake.state.refreshes >= 1  # a 7-day token was refreshed on the way

    # The interval passed: Trakt is asked once and the new VIP state shows.
    world.advance(HOUR)
    wait_until(lambda: world.get(f"/users/{user_id}")["trakt"]["vip"] is True, what="VIP noticed")
    assert len(world.requests("/users/settings", "cid")) == checks + 1
    trakt = world.get(f"/users/{user_id}")["trakt"]
    assert trakt["state"] == "connected"
