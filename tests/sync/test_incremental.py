"""What a history change costs (SPEC §7 cost rules): changes our own writes caused (live
scrobbles, history adds) cost no re-read; other changes are read newest first up to the first
page with nothing new; every page is read again once ``sync.full_import_every`` has passed.

Scaled down: 2,000 plays (8 pages). `bench/sync.py` runs the same with 100,000.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests import pg
from tests.conftest import wait_until
from tests.fake_trakt.state import FakeTrakt
from tests.sync.conftest import (
    INCEPTION,
    MATRIX,
    SyncWorld,
    link_revenge,
    outbox,
    webhook,
)

PLAYS = 2_000  # 8 pages of 250


def _history_pages(fake: FakeTrakt) -> list[int]:
    """Pages of the history the import read (range reads, with start_at, are the export's)."""
    return [
        int(r.query["page"])
        for r in fake.requests_to("/sync/history", "GET")
        if r.status == 200 and "start_at" not in r.query
    ]


def _age_full_read(world: SyncWorld, by: timedelta) -> None:
    """Move the time of the last full read back (as if ``by`` had passed since)."""
    url = pg.store_url(world.service)
    mine = "user_id = :u AND kind = 'history_full'"
    (row,) = pg.query(url, f"SELECT marker FROM syncmarker WHERE {mine}", {"u": world.user_id})
    when = datetime.fromisoformat(row["marker"].replace("Z", "+00:00")) - by
    (changed,) = pg.execute(
        url,
        [
            (
                f"UPDATE syncmarker SET marker = :m WHERE {mine}",
                {"m": when.astimezone(UTC).isoformat(), "u": world.user_id},
            )
        ],
    )
    assert changed == 1


def test_our_own_scrobbles_cost_no_history_re_read(world: SyncWorld) -> None:
    fake = world.fake.state
    fake.seed_history("ann", PLAYS)
    first = world.sync("history", "bidirectional")
    assert first["counts"]["imported"] == PLAYS and first["requests"] == 1 + PLAYS // 250
    link_revenge(world)
    # a live scrobble (a /scrobble/stop) and a manual mark (a /sync/history add, at its time)
    webhook(world, "start", MATRIX, session_id="s1", progress=10)
    webhook(world, "stop", MATRIX, session_id="s1", progress=95)
    earlier = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    webhook(world, "watched", INCEPTION, occurred_at=earlier)

    def completions_sent() -> bool:
        sent = {r["action"] for r in outbox(world, "sent")}
        return {"scrobble_stop", "history_add"} <= sent

    wait_until(completions_sent, timeout=30, what="the scrobble and the history add sent")
    assert len(fake.history("ann")) == PLAYS + 2
    fake.clear_log()

    run = world.sync("all", "bidirectional")  # the scheduled run's steps, and ratings

    assert run["status"] == "succeeded", run["error"]
    assert run["requests"] <= 3, world.trakt_requests()
    assert _history_pages(fake) == []  # no history re-read, not even its first page
    assert run["counts"]["imported"] == 0 and run["counts"]["added"] == 0
    assert len(fake.history("ann")) == PLAYS + 2  # nothing twice
    ledger = world.ledger()
    assert len(ledger) == PLAYS + 2
    assert all(p["trakt_history_id"] for p in ledger)  # the history add linked by its range
    assert {p["trakt_history_id"] for p in ledger} == {p.id for p in fake.history("ann")}

    fake.clear_log()
    assert world.sync("all", "bidirectional")["requests"] == 1


def test_other_changes_are_read_newest_first_and_everything_after_the_interval(
    world_factory: Callable[..., SyncWorld],
) -> None:
    world = world_factory(TRAKT_PLUGIN_SYNC__FULL_IMPORT_EVERY="86400")
    fake = world.fake.state
    fake.seed_history("ann", PLAYS)
    assert world.sync("history", "import")["counts"]["imported"] == PLAYS
    matrix, inception = [i for i in fake.items if i.type == "movie"][:2]

    fake.clear_log()
    fake.add_play("ann", matrix, fake.clock())  # another app: watched just now
    run = world.sync("history", "import")
    assert run["counts"]["imported"] == 1, run
    assert _history_pages(fake) == [1, 2]  # page 1 held it, page 2 nothing new
    assert run["requests"] == 3

    fake.clear_log()
    fake.add_play("ann", inception, 1_500_000_000)  # marked watched years ago: the last page
    run = world.sync("history", "import")
    assert run["counts"]["imported"] == 0
    assert _history_pages(fake) == [1]  # not seen yet: the safety net's job

    _age_full_read(world, timedelta(hours=12))  # not yet the interval (one day here)
    fake.clear_log()
    fake.add_play("ann", matrix, fake.clock() - 3600)
    run = world.sync("history", "import")
    assert run["counts"]["imported"] == 1
    assert _history_pages(fake) == [1, 2]

    _age_full_read(world, timedelta(days=2))
    fake.clear_log()
    fake.add_play("ann", matrix, fake.clock() - 7200)
    run = world.sync("history", "import")
    assert run["counts"]["imported"] == 2  # the new one and the old one
    total = len(fake.history("ann"))
    assert _history_pages(fake) == list(range(1, -(-total // 250) + 1))
    assert len(world.ledger()) == total
    assert {p["trakt_history_id"] for p in world.ledger()} == {p.id for p in fake.history("ann")}

    fake.clear_log()
    fake.add_play("ann", inception, fake.clock())
    run = world.sync("history", "import")  # the clock restarted: newest first again
    assert run["counts"]["imported"] == 1
    assert _history_pages(fake) == [1, 2]
