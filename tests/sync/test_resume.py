"""A run cut by SIGKILL resumes from its last committed page at restart."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.conftest import Service, wait_until
from tests.sync.conftest import LONG, SyncWorld, sync_env


def check_resume(
    world: SyncWorld, service_factory: Callable[..., Service], plays: int, kill_after: int
) -> None:
    fake = world.fake.state
    seeded = fake.seed_history("ann", plays)
    fake.latency = 0.03  # each answer takes a moment, so the kill lands mid-run
    fake.clear_log()
    run_id = world.start("history", "import")
    wait_until(
        lambda: world.run(run_id, 0)["progress"]["done"] >= kill_after,
        timeout=60,
        what="a few pages imported",
    )
    assert world.service.stop(signal.SIGKILL) == -signal.SIGKILL
    before = [int(r.query["page"]) for r in fake.requests_to("/sync/history")]
    fake.clear_log()
    fake.latency = 0.0

    world.service = service_factory(sync_env(world.fake), name="data")  # same data dir
    run = world.wait(run_id, timeout=120)

    assert run["status"] == "succeeded", run
    after = [int(r.query["page"]) for r in fake.requests_to("/sync/history")]
    assert after, "the run did not resume"
    assert 1 + kill_after <= after[0] <= max(before) + 1  # resumed at the first page not committed
    assert after == list(range(after[0], after[-1] + 1))
    assert after[-1] == -(-plays // 250)
    ledger = world.ledger()
    assert len(ledger) == plays
    assert sorted(p["trakt_history_id"] for p in ledger) == sorted(p.id for p in seeded)
    by_id = {p.id: p for p in seeded}
    for entry in ledger:  # the same rows an uninterrupted run writes
        play = by_id[entry["trakt_history_id"]]
        kind = entry["type"]
        assert entry[kind]["ids"]["trakt"] == play.item.ids["trakt"]


def test_sigkill_mid_import_resumes(
    world: SyncWorld, service_factory: Callable[..., Service]
) -> None:
    check_resume(world, service_factory, plays=6_000, kill_after=5)


@pytest.mark.skipif(not LONG, reason="full size: TRAKT_PLUGIN_LONG_TESTS=1 (make test-long)")
@pytest.mark.slow
def test_sigkill_mid_20000_play_import_resumes(
    world: SyncWorld, service_factory: Callable[..., Service]
) -> None:
    check_resume(world, service_factory, plays=20_000, kill_after=20)


def test_sigkill_mid_export_resumes_without_duplicates(
    world: SyncWorld, service_factory: Callable[..., Service]
) -> None:
    from tests.sync.conftest import local_play, post_plays

    fake = world.fake.state
    source = fake.seed_history("someone-else", 1_000)
    post_plays(world, [local_play(p) for p in source])
    fake.latency = 0.1
    run_id = world.start("history", "export")
    wait_until(
        lambda: len(fake.requests_to("/sync/history", "POST")) >= 2,
        timeout=60,
        what="two batches sent",
    )
    world.service.stop(signal.SIGKILL)  # the second batch is in flight (or just answered)
    fake.latency = 0.0

    world.service = service_factory(sync_env(world.fake), name="data")
    run = world.wait(run_id, timeout=120)

    assert run["status"] == "succeeded", run
    ann = fake.history("ann")
    assert len(ann) == 1_000
    assert len({(p.item.ids["trakt"], p.watched_at) for p in ann}) == 1_000
    assert all(p["trakt_history_id"] for p in world.ledger())
