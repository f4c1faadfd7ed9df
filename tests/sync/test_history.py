"""History sync against the fake Trakt: import cost, export without duplicates, dry run, undo.

The full sizes (20,000 plays; 3,000 local plays) run with
``make test-long``; the normal suite runs the same checks scaled down.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from tests.sync.conftest import LONG, POST_INTERVAL, SyncWorld, local_play, post_plays
from trakt_plugin.sync.history import MAX_RANGES, ranges_of

PAGE = 250
slow = pytest.mark.skipif(not LONG, reason="full size: TRAKT_PLUGIN_LONG_TESTS=1 (make test-long)")


def _paths(world: SyncWorld) -> Counter[tuple[str, str]]:
    return Counter((r.method, r.path) for r in world.trakt_requests())


def check_import(world: SyncWorld, plays: int, watchlist: int) -> None:
    fake = world.fake.state
    seeded = fake.seed_history("ann", plays)
    movies = [i for i in fake.items if i.type == "movie"][:watchlist]
    for movie in movies:
        fake.add_to_watchlist("ann", movie)
    fake.clear_log()

    run = world.sync("all", "import", timeout=300)

    assert run["status"] == "succeeded", run
    assert run["counts"]["imported"] == plays + watchlist
    ledger = world.ledger()
    assert len(ledger) == plays
    assert {p["trakt_history_id"] for p in ledger} == {p.id for p in seeded}
    assert all(p["source"] == "trakt" for p in ledger)
    first = ledger[0]
    media = first["movie"] if first["type"] == "movie" else first["episode"]
    assert media["runtime"] > 0  # extended=full
    history_pages = math.ceil(plays / PAGE)
    watchlist_pages = math.ceil(watchlist / PAGE)
    assert _paths(world) == Counter(
        {
            ("GET", "/sync/last_activities"): 1,
            ("GET", "/sync/history"): history_pages,
            ("GET", "/sync/watchlist"): watchlist_pages,
        }
    )
    assert run["requests"] == 1 + history_pages + watchlist_pages
    for request in world.fake.state.requests_to("/sync/history"):
        assert request.query["limit"] == "250" and request.query["extended"] == "full,images"
    with world.api() as api:
        listed = api.get(f"/api/v1/users/{world.user_id}/watchlist", params={"limit": 1000})
    assert len(listed.json()["items"]) == watchlist

    fake.clear_log()
    again = world.sync("all", "import")
    assert again["status"] == "succeeded"
    assert again["requests"] == 1
    assert _paths(world) == Counter({("GET", "/sync/last_activities"): 1})


def test_import_small(world: SyncWorld) -> None:
    check_import(world, plays=2_000, watchlist=20)


@slow
@pytest.mark.slow
def test_import_20000_plays_and_200_watchlist_items(world: SyncWorld) -> None:
    check_import(world, plays=20_000, watchlist=200)


def check_export(world: SyncWorld, local: int, on_trakt: int) -> None:
    """``local`` plays in the ledger, ``on_trakt`` of which Trakt already has."""
    fake = world.fake.state
    source = fake.seed_history("someone-else", local, step=900)
    for play in source[:on_trakt]:  # the same plays, already on Ann's Trakt
        fake.add_play("ann", play.item, play.watched_at)
    before = {p.id for p in fake.history("ann")}
    plays = [
        local_play(p, shift=60 * (i % 3), ids="some" if i % 4 == 0 else "all")
        for i, p in enumerate(source)
    ]
    assert post_plays(world, plays)["added"] == local
    fake.clear_log()

    run = world.sync("history", "export", timeout=300)

    assert run["status"] == "succeeded", run
    assert run["counts"]["added"] == local - on_trakt
    ann = fake.history("ann")
    assert len(ann) == local  # nothing twice
    assert len({(p.item.ids["trakt"], p.watched_at) for p in ann}) == local
    posts = [r for r in world.trakt_requests() if r.method == "POST"]
    assert len(posts) == math.ceil((local - on_trakt) / PAGE)
    for post in posts:
        sent = sum(len(v) for v in post.body.values())
        assert sent <= PAGE
        assert post.status == 201
    gaps = [b.t - a.t for a, b in pairwise(posts)]
    assert all(gap >= POST_INTERVAL for gap in gaps), gaps
    ledger = world.ledger()
    assert all(p["trakt_history_id"] for p in ledger)  # read back after the adds
    ranges = Counter(
        (r.query["start_at"], r.query["end_at"], r.query["page"])
        for r in world.trakt_requests()
        if r.method == "GET" and "start_at" in r.query
    )
    assert ranges and set(ranges.values()) == {1}  # read ahead, yet each page once
    added_ids = {p.id for p in ann} - before
    assert {p["trakt_history_id"] for p in ledger} == {p.id for p in ann}

    fake.clear_log()
    again = world.sync("history", "export")
    assert again["counts"]["added"] == 0 and again["requests"] == 1
    assert len(fake.history("ann")) == local

    undo_id = _undo(world, run["id"])
    undone = world.wait(undo_id)
    assert undone["status"] == "succeeded", undone
    assert undone["counts"]["removed"] == len(added_ids)
    assert {p.id for p in fake.history("ann")} == before  # exactly the added plays went
    after = world.sync("history", "export")
    assert after["counts"]["added"] == 0  # undone plays are not sent again


def test_export_reads_back_only_the_time_ranges_of_its_plays(world: SyncWorld) -> None:
    """Three plays from years ago and three from this week: Trakt's history is read over two
    short ranges, not every page of the years between (a long history would be hundreds)."""
    fake = world.fake.state
    year = 365 * 86400.0
    between = fake.seed_history("ann", 1_000, start=fake.clock() - 2 * year, step=year / 1_000)
    source = fake.seed_history("someone-else", 6, step=3600)
    times = [fake.clock() - 3 * year + h * 3600 for h in range(3)]
    times += [fake.clock() - 86400 + h * 3600 for h in range(3)]
    plays = []
    for play, when in zip(source, times, strict=True):
        play.watched_at = when
        plays.append(local_play(play, shift=0))
    assert post_plays(world, plays)["added"] == 6
    fake.clear_log()

    run = world.sync("history", "export")

    assert run["status"] == "succeeded", run
    assert run["counts"]["added"] == 6
    assert all(p["trakt_history_id"] for p in world.ledger())
    assert len(fake.history("ann")) == len(between) + 6
    ranges = [r for r in world.trakt_requests() if r.method == "GET" and "start_at" in r.query]
    # two ranges, one page each, read before the adds (what Trakt has) and after (their ids)
    assert len(ranges) == 4 and len({(r.query["start_at"], r.query["end_at"]) for r in ranges}) == 2


def test_ranges_split_at_long_gaps_and_stay_few() -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    close = [start + timedelta(hours=h) for h in range(100)]
    assert len(ranges_of(close)) == 1
    apart = [start + timedelta(days=30 * k) for k in range(40)]
    ranges = ranges_of(apart)
    assert len(ranges) == MAX_RANGES
    assert all(any(a <= t <= b for a, b in ranges) for t in apart)  # every play in a range
    assert ranges == sorted(ranges)


def _undo(world: SyncWorld, run_id: str) -> str:
    with world.api() as api:
        answer = api.post(f"/api/v1/sync/runs/{run_id}/undo")
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run_id"])


def test_export_small(world: SyncWorld) -> None:
    check_export(world, local=600, on_trakt=200)


@slow
@pytest.mark.slow
def test_export_3000_plays_1000_already_on_trakt(world: SyncWorld) -> None:
    check_export(world, local=3_000, on_trakt=1_000)


def test_dry_run_writes_nothing_and_shows_the_plan(world: SyncWorld) -> None:
    fake = world.fake.state
    source = fake.seed_history("someone-else", 30)
    fake.seed_history("ann", 10)
    post_plays(world, [local_play(p) for p in source])
    with world.api() as api:
        movie = {"type": "movie", "movie": {"title": "The Matrix", "ids": {"imdb": "tt0133093"}}}
        assert api.post(f"/api/v1/users/{world.user_id}/watchlist", json=movie).status_code == 201
    fake.clear_log()

    run = world.sync("all", "bidirectional", dry_run=True)

    assert run["status"] == "succeeded", run
    assert run["dry_run"] is True
    assert not [r for r in fake.requests if r.method == "POST"]
    assert run["counts"]["added"] == 31 and run["counts"]["imported"] == 10
    planned = Counter((i["kind"], i["action"], i["outcome"]) for i in run["items"])
    assert planned[("history", "add", "planned")] == 30
    assert planned[("history", "import", "planned")] == 10
    assert planned[("watchlist", "add", "planned")] == 1
    ledger = world.ledger()
    assert len(ledger) == 30 and not any(p["trakt_history_id"] for p in ledger)
    real = world.sync("all", "bidirectional")
    assert real["counts"]["added"] == 31 and real["counts"]["imported"] == 10


def test_first_sync_after_connect_exports_the_ledger(
    world_factory: Callable[..., SyncWorld],
) -> None:
    """Plays recorded before the user connected go out with the sync the connection starts."""
    from tests.conftest import wait_until

    world = world_factory(TRAKT_PLUGIN_SYNC__AUTO_EXPORT_PLAYS="true")
    fake = world.fake.state
    source = fake.seed_history("someone-else", 5)
    with world.api() as api:
        bea = api.post("/api/v1/users", json={"display_name": "Bea"}).json()
        plays = {"plays": [local_play(p) for p in source]}
        assert api.post(f"/api/v1/users/{bea['id']}/history", json=plays).json()["added"] == 5
    with world.api() as api:
        code = api.post(f"/api/v1/users/{bea['id']}/trakt/device").json()
        fake.approve(code["user_code"], "bea")

        def exported() -> bool:
            runs = api.get("/api/v1/sync/runs", params={"user_id": bea["id"]}).json()["items"]
            return any(r["trigger"] == "connect" and r["status"] == "succeeded" for r in runs)

        wait_until(exported, timeout=30, what="the connect-time sync")
    assert len(fake.history("bea")) == 5
