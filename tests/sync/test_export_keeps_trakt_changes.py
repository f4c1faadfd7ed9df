"""An export-only run reads Trakt's side only to compare: a change made on Trakt before it is
still imported by the next run that imports (its change marker must not move past it)."""

from __future__ import annotations

from typing import Any

from tests.fake_trakt import Item
from tests.sync.conftest import SyncWorld


def _movie(item: Item) -> dict[str, Any]:
    return {"type": "movie", "movie": {"title": item.title, "year": item.year, "ids": item.ids}}


def _local_ratings(world: SyncWorld) -> dict[str, int]:
    with world.api() as api:
        answer = api.get(f"/api/v1/users/{world.user_id}/ratings")
    assert answer.status_code == 200, answer.text
    return {i["movie"]["title"]: i["rating"] for i in answer.json()["items"]}


def _local_watchlist(world: SyncWorld) -> set[str]:
    with world.api() as api:
        answer = api.get(f"/api/v1/users/{world.user_id}/watchlist")
    assert answer.status_code == 200, answer.text
    return {i["movie"]["title"] for i in answer.json()["items"]}


def _movies(world: SyncWorld) -> tuple[Item, Item]:
    fake = world.fake.state
    matrix = next(i for i in fake.items if i.title == "The Matrix")
    inception = next(i for i in fake.items if i.title == "Inception")
    return matrix, inception


def test_a_rating_added_on_trakt_before_an_export_run_is_imported_later(
    world: SyncWorld,
) -> None:
    matrix, inception = _movies(world)
    world.fake.state.rate(world.username, inception, 6)  # rated on Trakt only
    with world.api() as api:
        body = {**_movie(matrix), "rating": 8}
        assert api.post(f"/api/v1/users/{world.user_id}/ratings", json=body).status_code == 201

    export = world.sync("ratings", "export")  # writes to Trakt, so re-reads the markers after
    assert export["status"] == "succeeded", export
    assert export["counts"]["added"] == 1 and export["counts"]["imported"] == 0
    assert _local_ratings(world) == {matrix.title: 8}

    both = world.sync("ratings", "bidirectional")
    assert both["status"] == "succeeded", both
    assert both["counts"]["imported"] == 1, both
    assert _local_ratings(world) == {matrix.title: 8, inception.title: 6}


def test_a_rerating_on_trakt_seen_by_an_export_run_without_writes_is_imported_later(
    world: SyncWorld,
) -> None:
    matrix, _ = _movies(world)
    fake = world.fake.state
    fake.rate(world.username, matrix, 7)
    first = world.sync("ratings", "import")
    assert first["status"] == "succeeded", first
    assert _local_ratings(world) == {matrix.title: 7}
    fake.rate(world.username, matrix, 9)  # re-rated on Trakt's site

    export = world.sync("ratings", "export")  # nothing to send: it only reads and compares
    assert export["status"] == "succeeded", export
    assert export["items"] == [] and _local_ratings(world) == {matrix.title: 7}

    both = world.sync("ratings", "bidirectional")
    assert both["status"] == "succeeded", both
    assert [(i["action"], i["outcome"]) for i in both["items"]] == [("import", "imported")]
    assert _local_ratings(world) == {matrix.title: 9}
    assert fake.ratings[world.username][id(matrix)][0] == 9  # not sent back as 7


def test_a_watchlist_removal_on_trakt_seen_by_an_export_run_is_applied_later(
    world: SyncWorld,
) -> None:
    matrix, inception = _movies(world)
    fake = world.fake.state
    fake.add_to_watchlist(world.username, matrix)
    fake.add_to_watchlist(world.username, inception)
    first = world.sync("watchlist", "import")
    assert first["status"] == "succeeded", first
    assert _local_watchlist(world) == {matrix.title, inception.title}
    fake.watchlists[world.username] = [
        e for e in fake.watchlists[world.username] if e.item is not matrix
    ]  # removed on Trakt's site
    fake.touch(world.username, "watchlist", "updated_at")

    export = world.sync("watchlist", "export")
    assert export["status"] == "succeeded", export
    assert _local_watchlist(world) == {matrix.title, inception.title}  # export leaves it here

    both = world.sync("watchlist", "bidirectional")
    assert both["status"] == "succeeded", both
    assert [(i["action"], i["outcome"]) for i in both["items"]] == [("remove", "removed")]
    assert _local_watchlist(world) == {inception.title}
    assert {e.item.title for e in fake.watchlists[world.username]} == {inception.title}
