"""Watchlist sync both ways and the plan limit."""

from __future__ import annotations

from typing import Any

from tests.fake_trakt import Item
from tests.sync.conftest import SyncWorld, local_play, post_plays


def _movie(item: Item) -> dict[str, Any]:
    return {"type": "movie", "movie": {"title": item.title, "year": item.year, "ids": item.ids}}


def _trakt_titles(world: SyncWorld) -> set[str]:
    return {e.item.title for e in world.fake.state.watchlists.get("ann", [])}


def _local(world: SyncWorld) -> dict[str, int]:
    with world.api() as api:
        items = api.get(f"/api/v1/users/{world.user_id}/watchlist").json()["items"]
    return {i["movie"]["title"]: i["id"] for i in items}


def _add_local(world: SyncWorld, item: Item) -> int:
    with world.api() as api:
        answer = api.post(f"/api/v1/users/{world.user_id}/watchlist", json=_movie(item))
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_bidirectional_watchlist_with_deletions_on_both_sides(world: SyncWorld) -> None:
    fake = world.fake.state
    fake.seed_history("catalogue-owner", 0, catalogue=8)
    a, b, c, d, e, f, g, _h = [i for i in fake.items if i.type == "movie"][-8:]
    fake.add_to_watchlist("ann", a)
    fake.add_to_watchlist("ann", b)
    _add_local(world, c)

    first = world.sync("watchlist", "bidirectional")
    assert first["status"] == "succeeded", first
    assert _trakt_titles(world) == set(_local(world)) == {a.title, b.title, c.title}

    # both sides change: A deleted here, B deleted on Trakt, D added there, E added here
    with world.api() as api:
        gone = api.delete(f"/api/v1/users/{world.user_id}/watchlist/{_local(world)[a.title]}")
        assert gone.status_code == 204
    fake.watchlists["ann"] = [x for x in fake.watchlists["ann"] if x.item is not b]
    fake.touch("ann", "watchlist", "updated_at")
    fake.add_to_watchlist("ann", d)
    _add_local(world, e)

    second = world.sync("watchlist", "bidirectional")
    assert second["status"] == "succeeded", second
    assert _trakt_titles(world) == set(_local(world)) == {c.title, d.title, e.title}
    assert second["counts"] == {
        "imported": 1, "added": 1, "removed": 2, "skipped": 0, "not_found": 0,
    }  # fmt: skip

    # C is watched on Trakt, which drops it from the watchlist: it must not come back.
    # F is added here and then watched here: Trakt would drop it at once, so it is not sent.
    fake.add_play("ann", c, fake.clock())
    _add_local(world, f)
    post_plays(world, [local_play(_Watch(f, fake.clock() + 120), shift=0)])
    _add_local(world, g)

    third = world.sync("watchlist", "bidirectional")
    assert third["status"] == "succeeded", third
    assert _trakt_titles(world) == set(_local(world)) == {d.title, e.title, g.title}
    outcomes = {(i["item"]["movie"]["title"], i["outcome"]) for i in third["items"]}
    assert (c.title, "removed") in outcomes and (f.title, "watched") in outcomes

    fake.clear_log()
    quiet = world.sync("watchlist", "bidirectional")
    assert quiet["requests"] == 1


def test_an_export_run_does_not_hide_trakt_additions_from_a_later_import(
    world: SyncWorld,
) -> None:
    fake = world.fake.state
    fake.seed_history("catalogue-owner", 0, catalogue=3)
    a, b = [i for i in fake.items if i.type == "movie"][-2:]
    fake.add_to_watchlist("ann", a)  # added on Trakt before an export-only run
    _add_local(world, b)

    export = world.sync("watchlist", "export")
    assert export["status"] == "succeeded", export
    assert set(_local(world)) == {b.title}

    both = world.sync("watchlist", "bidirectional")
    assert both["status"] == "succeeded", both
    assert set(_local(world)) == {a.title, b.title}


class _Watch:
    """Just enough of a fake play for local_play()."""

    def __init__(self, item: Item, watched_at: float) -> None:
        self.item, self.watched_at = item, watched_at


def test_watchlist_limit_ends_the_run_partial_and_names_the_limit(world: SyncWorld) -> None:
    fake = world.fake.state
    fake.users["ann"].limits["watchlist"]["item_count"] = 3
    fake.seed_history("catalogue-owner", 0, catalogue=5)
    movies = [i for i in fake.items if i.type == "movie"][-5:]
    fake.add_to_watchlist("ann", movies[0])
    fake.add_to_watchlist("ann", movies[1])
    for movie in movies[2:]:
        _add_local(world, movie)

    run = world.sync("watchlist", "export")

    assert run["status"] == "partial", run
    assert "watchlist limit of 3 items" in run["error"]
    assert "free plan" in run["error"]
    assert [r.status for r in fake.requests_to("/sync/watchlist", "POST")] == [420]
    limited = [i for i in run["items"] if i["outcome"] == "limit"]
    assert len(limited) == 3
    with world.api() as api:
        listed = api.get("/api/v1/sync/runs", params={"user_id": world.user_id}).json()
    assert listed["items"][0]["status"] == "partial"
    assert "watchlist limit" in listed["items"][0]["error"]


def test_an_item_trakt_does_not_know_is_sent_once_not_every_run(
    world: SyncWorld,
) -> None:
    fake = world.fake.state
    unknown = {"type": "movie", "movie": {"title": "Nowhere", "year": 1901,
                                          "ids": {"imdb": "tt9999990"}}}  # fmt: skip
    with world.api() as api:
        assert api.post(f"/api/v1/users/{world.user_id}/watchlist", json=unknown).status_code == 201
    first = world.sync("watchlist", "export")
    assert first["status"] == "succeeded", first
    assert [i["outcome"] for i in first["items"]] == ["not_found"]

    # not sent again: nothing changed here since (a removed-then-added entry would be sent again)
    fake.clear_log()
    again = world.sync("watchlist", "export")
    assert again["status"] == "succeeded", again
    assert fake.requests_to("/sync/watchlist", "POST") == []
    assert "Nowhere" in _local(world)
