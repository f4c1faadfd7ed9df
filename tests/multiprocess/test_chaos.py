"""The chaos load of tests/scrobble/test_chaos.py on two processes sharing one PostgreSQL: webhooks
go alternately to each, the fake fails 30 % of scrobble/history calls, and each process is
SIGKILLed once and restarted. Afterwards Trakt holds exactly one play per completed playback and
no other, no stop was sent again after one had succeeded (Trakt would answer 409), and nothing is
pending (SPEC §13).

The scaled-down run is in ``make test``; the full one (500 playbacks, 5 users) needs
TRAKT_PLUGIN_LONG_TESTS=1 (``make test-long``).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.conftest import wait_until
from tests.multiprocess.conftest import Pair
from tests.scrobble.test_chaos import (
    CHAOS_ENV,
    FAULTS,
    SOURCES,
    USERS,
    Playback,
    _catalogue,
    _ids,
    _interleaved,
)
from tests.webhooks.harness import Rig


def run_chaos(pair: Pair, playbacks_total: int, seed: int) -> None:
    rng = random.Random(seed)
    fake = pair.fake.state
    rigs = [Rig(service, pair.fake) for service in pair.services]
    per_user = -(-playbacks_total // USERS)
    items = _catalogue(rigs[0], per_user)
    user_ids = [rigs[k % 2].user(f"Chaos{k}", _ids(k), f"chaos{k}_t") for k in range(USERS)]
    fake.rate_limits = True
    fake.post_interval = 0.05
    fake.hang_seconds = 1.5  # a hung request is processed after the client gave up
    fake.set_error_rate(0.3, seed=seed, kinds=FAULTS, paths=("/scrobble/", "/sync/history"))

    playbacks = [
        Playback(k % USERS, rng.choice(SOURCES), items[k // USERS], rng.random() < 0.8, f"s{k}")
        for k in range(playbacks_total)
    ]
    queues, order = _interleaved(playbacks, rng)
    # Each process is killed once: the first a third of the way in, the second at two thirds.
    kill_points = {len(order) // 3: 0, 2 * len(order) // 3: 1}
    for step, index in enumerate(order):
        if step in kill_points:
            pair.restart(kill_points[step])
            rigs = [Rig(service, pair.fake) for service in pair.services]
        kind, body = queues[index].pop(0)
        rigs[step % 2].deliver(playbacks[index].source, body)
        if kind == "stop":
            playbacks[index].stop_at = time.time()

    wait_until(
        lambda: not rigs[0].rows(status="pending"),
        timeout=60 + playbacks_total,
        what="outbox empty",
    )
    fake.set_error_rate(0.0)
    wait_until(
        lambda: not any(r.status is None for r in fake.requests),
        timeout=10,
        what="the fake finished every request",
    )
    chaos_paths = ("/scrobble/", "/sync/history")
    failed = [r for r in fake.requests if r.path.startswith(chaos_paths) and (r.status or 0) >= 500]
    assert len(failed) >= playbacks_total // 10, "the fake injected too few failures to mean much"
    usernames = {f"chaos{k}_t" for k in range(USERS)}
    for k in range(USERS):
        username = f"chaos{k}_t"
        expected = Counter(p.media.title for p in playbacks if p.user == k and p.complete)
        assert Counter(play.item.title for play in fake.history(username)) == expected, username
    again = [r for r in fake.requests if r.path == "/scrobble/stop" and r.status == 409]
    assert [r for r in again if r.user in usernames] == []
    statuses = Counter(row["status"] for row in rigs[1].rows())
    assert statuses["pending"] == 0 and statuses["dead"] == 0, statuses
    ledger = rigs[0].ledger()
    assert len(ledger) == sum(p.complete for p in playbacks)
    assert {row["user_id"] for row in ledger} <= set(user_ids)


def test_chaos_two_processes_scaled_down(pair_factory: Callable[..., Pair]) -> None:
    run_chaos(pair_factory(clock=False, **CHAOS_ENV), playbacks_total=30, seed=6)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("TRAKT_PLUGIN_LONG_TESTS") != "1", reason="set TRAKT_PLUGIN_LONG_TESTS=1"
)
def test_chaos_two_processes_full_size(pair_factory: Callable[..., Pair]) -> None:
    run_chaos(pair_factory(clock=False, **CHAOS_ENV), playbacks_total=500, seed=7)
