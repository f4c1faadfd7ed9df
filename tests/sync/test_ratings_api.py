"""Local ratings through the API, and the ratings sync that sends and removes them, counting
each item as Trakt answered."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import wait_until
from tests.fake_trakt import Item
from tests.sync.conftest import SyncWorld

UNKNOWN_MOVIE = {"title": "Nobody Made This", "year": 2001, "ids": {"trakt": 987654321}}


def _movie(item: Item) -> dict[str, Any]:
    return {"type": "movie", "movie": {"title": item.title, "year": item.year, "ids": item.ids}}


def _episode_by_number(item: Item) -> dict[str, Any]:
    """An episode named by its show's ids + season/number only."""
    assert item.show is not None
    return {
        "type": "episode",
        "show": {"title": item.show.title, "year": item.show.year, "ids": item.show.ids},
        "episode": {"season": item.season, "number": item.number, "ids": {}},
    }


def _rate(world: SyncWorld, body: dict[str, Any], rating: Any, status: int = 201) -> Any:
    with world.api() as api:
        answer = api.post(f"/api/v1/users/{world.user_id}/ratings", json={**body, "rating": rating})
    assert answer.status_code == status, answer.text
    return answer.json()


def _local(world: SyncWorld) -> list[dict[str, Any]]:
    with world.api() as api:
        answer = api.get(f"/api/v1/users/{world.user_id}/ratings")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _trakt_ratings(world: SyncWorld) -> dict[str, int]:
    fake = world.fake.state
    mine = fake.ratings.get(world.username, {})
    return {item.title: mine[id(item)][0] for item in fake.items if id(item) in mine}


def _catalogue(world: SyncWorld) -> tuple[Item, Item, Item]:
    fake = world.fake.state
    matrix = next(i for i in fake.items if i.title == "The Matrix")
    inception = next(i for i in fake.items if i.title == "Inception")
    pilot = next(i for i in fake.items if i.type == "episode" and i.title == "Pilot")
    return matrix, inception, pilot


def test_rated_here_goes_out_with_the_next_export_counted_as_trakt_answered(
    world: SyncWorld,
) -> None:
    matrix, _, pilot = _catalogue(world)
    created = _rate(world, _movie(matrix), 8)
    assert created["rating"] == 8 and created["movie"]["ids"]["trakt"] == 481
    assert isinstance(created["id"], int) and created["synced"] is False
    _rate(world, _episode_by_number(pilot), 9)
    _rate(world, {"type": "movie", "movie": UNKNOWN_MOVIE}, 3)
    assert len(_local(world)) == 3

    run = world.sync("ratings", "export")

    assert run["status"] == "succeeded", run
    assert _trakt_ratings(world) == {"The Matrix": 8, "Pilot": 9}
    outcomes = sorted((i["action"], i["outcome"], i["item"]["rating"]) for i in run["items"])
    assert outcomes == [("add", "added", 8), ("add", "added", 9), ("add", "not_found", 3)]
    missing = next(i for i in run["items"] if i["outcome"] == "not_found")
    assert missing["item"]["movie"]["ids"] == {"trakt": 987654321}
    assert run["counts"] == {
        "imported": 0, "added": 2, "removed": 0, "skipped": 0, "not_found": 1,
    }  # fmt: skip
    posts = world.fake.state.requests_to("/sync/ratings", "POST")
    assert len(posts) == 1  # every rating in one call
    assert sorted(movie["rating"] for movie in posts[0].body["movies"]) == [3, 8]
    assert set(posts[0].body) == {"movies", "shows"}, posts[0].body  # the episode by number
    (season,) = posts[0].body["shows"][0]["seasons"]
    assert [episode["rating"] for episode in season["episodes"]] == [9]

    listed = {i["rating"]: i for i in _local(world)}
    assert listed[8]["synced"] and listed[9]["synced"]
    assert not listed[3]["synced"] and listed[3]["not_found_at"]

    # nothing changed since: the item Trakt does not know is not sent again
    world.fake.state.clear_log()
    again = world.sync("ratings", "bidirectional")
    assert again["status"] == "succeeded", again
    assert again["requests"] == 1 and again["items"] == []


def test_rerated_and_deleted_here_reach_trakt(world: SyncWorld) -> None:
    fake = world.fake.state
    matrix, inception, pilot = _catalogue(world)
    fake.rate(world.username, inception, 6)  # rated on Trakt only: imported
    first = _rate(world, _movie(matrix), 7)
    pilot_rating = _rate(world, _episode_by_number(pilot), 5)
    run = world.sync("ratings", "bidirectional")
    assert run["status"] == "succeeded", run
    assert _trakt_ratings(world) == {"Inception": 6, "The Matrix": 7, "Pilot": 5}
    assert run["counts"]["imported"] == 1 and run["counts"]["added"] == 2

    again = _rate(world, _movie(matrix), 10, status=200)  # rated again: same entry
    assert again["id"] == first["id"] and again["rating"] == 10 and not again["synced"]
    imported = next(i for i in _local(world) if i.get("movie", {}).get("title") == "Inception")
    base = f"/api/v1/users/{world.user_id}/ratings"
    with world.api() as api:
        assert api.delete(f"{base}/{imported['id']}").status_code == 204
        assert api.delete(f"{base}/{pilot_rating['id']}").status_code == 204
        gone = api.delete(f"{base}/{pilot_rating['id']}")
        assert gone.status_code == 404 and gone.json() == {"error": "rating not found"}
    assert [i["rating"] for i in _local(world)] == [10]

    second = world.sync("ratings", "bidirectional")

    assert second["status"] == "succeeded", second
    assert _trakt_ratings(world) == {"The Matrix": 10}
    assert second["counts"] == {
        "imported": 0, "added": 1, "removed": 2, "skipped": 0, "not_found": 0,
    }  # fmt: skip
    assert [i["rating"] for i in _local(world)] == [10]  # the deleted ones were not re-imported
    world.fake.state.clear_log()
    quiet = world.sync("ratings", "bidirectional")
    assert quiet["requests"] == 1 and quiet["items"] == []


def test_a_rating_removed_on_trakt_goes_here_too(world: SyncWorld) -> None:
    fake = world.fake.state
    matrix, inception, _ = _catalogue(world)
    _rate(world, _movie(matrix), 8)
    _rate(world, _movie(inception), 6)
    assert world.sync("ratings", "export")["counts"]["added"] == 2
    del fake.ratings[world.username][id(matrix)]  # removed on Trakt's site
    fake.touch(world.username, "movies", "rated_at")

    run = world.sync("ratings", "bidirectional")

    assert run["status"] == "succeeded", run
    assert [(i["action"], i["outcome"], i["detail"]) for i in run["items"]] == [
        ("remove", "removed", "removed on Trakt")
    ]
    assert [i["movie"]["title"] for i in _local(world)] == [inception.title]
    assert _trakt_ratings(world) == {inception.title: 6}  # not sent back


def test_a_deleted_rating_never_synced_is_not_sent(world: SyncWorld) -> None:
    matrix, _, _ = _catalogue(world)
    entry = _rate(world, _movie(matrix), 4)
    with world.api() as api:
        assert api.delete(f"/api/v1/users/{world.user_id}/ratings/{entry['id']}").status_code == 204
    run = world.sync("ratings", "export")
    assert run["status"] == "succeeded", run
    assert run["items"] == [] and _trakt_ratings(world) == {}
    assert world.fake.state.requests_to("/sync/ratings/remove", "POST") == []


INVALID_RATINGS = [
    ({"type": "movie", "movie": {"ids": {"trakt": 481}}, "rating": 0}, "rating"),
    ({"type": "movie", "movie": {"ids": {"trakt": 481}}, "rating": 11}, "rating"),
    ({"type": "movie", "movie": {"ids": {"trakt": 481}}, "rating": 7.5}, "rating"),
    ({"type": "movie", "movie": {"ids": {"trakt": 481}}, "rating": "7"}, "rating"),
    ({"type": "movie", "movie": {"ids": {"trakt": 481}}, "rating": True}, "rating"),
    ({"type": "movie", "movie": {"ids": {"trakt": 481}}}, "rating"),
    ({"type": "movie", "movie": {"title": "No ids"}, "rating": 7}, "movie.ids"),
    ({"type": "movie", "rating": 7}, "movie"),
    ({"type": "show", "show": {"ids": {}}, "rating": 7}, "show.ids"),
    (
        {"type": "episode", "episode": {"ids": {"imdb": "tt0959621"}}, "rating": 7},
        "episode.ids",
    ),
    ({"type": "episode", "show": {"ids": {"trakt": 1388}}, "rating": 7}, "episode"),
    ({"type": "season", "show": {"ids": {"trakt": 1388}}, "rating": 7}, "type"),
]


def test_a_rating_that_fails_validation_answers_422_naming_the_field(world: SyncWorld) -> None:
    with world.api() as api:
        for body, field in INVALID_RATINGS:
            answer = api.post(f"/api/v1/users/{world.user_id}/ratings", json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["field"] == field, (body, answer.text)
    assert _local(world) == []


def test_ratings_of_an_unknown_user_or_item_answer_404(world: SyncWorld) -> None:
    with world.api() as api:
        body = {"type": "movie", "movie": {"ids": {"trakt": 481}}, "rating": 7}
        assert api.post("/api/v1/users/nobody/ratings", json=body).status_code == 404
        assert api.get("/api/v1/users/nobody/ratings").status_code == 404
        assert api.delete(f"/api/v1/users/{world.user_id}/ratings/12345").status_code == 404
        page = api.get(f"/api/v1/users/{world.user_id}/ratings", params={"limit": 1}).json()
    assert page == {"items": [], "next_cursor": None}


def test_one_item_rated_by_many_requests_at_once_is_one_rating(world: SyncWorld) -> None:
    matrix, _, _ = _catalogue(world)

    def rate(rating: int) -> int:
        with world.api() as api:
            body = {**_movie(matrix), "rating": rating}
            return api.post(f"/api/v1/users/{world.user_id}/ratings", json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(rate, range(1, 9)))

    assert sorted(statuses) == [200] * 7 + [201]
    assert len(_local(world)) == 1


def test_ratings_list_pages_with_a_cursor(world: SyncWorld) -> None:
    matrix, inception, pilot = _catalogue(world)
    for body, rating in (
        (_movie(matrix), 8),
        (_movie(inception), 7),
        (_episode_by_number(pilot), 6),
    ):
        _rate(world, body, rating)
    seen: list[int] = []
    cursor = None
    with world.api() as api:
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = api.get(f"/api/v1/users/{world.user_id}/ratings", params=params).json()
            seen += [i["rating"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert seen == [8, 7, 6]


def test_an_export_trakt_answers_as_existing_is_counted_as_skipped(world: SyncWorld) -> None:
    """Trakt gets the same rating from elsewhere between the run's read and its write."""
    matrix, _, _ = _catalogue(world)
    _rate(world, _movie(matrix), 8)
    fake = world.fake.state
    fake.latency = 0.3
    run_id = world.start("ratings", "export")
    wait_until(
        lambda: any(r.status for r in fake.requests_to("/sync/ratings", "GET")),
        timeout=30,
        what="the ratings read answered",
    )
    fake.rate(world.username, matrix, 8)  # the add is still waiting for its answer
    fake.latency = 0.0
    world.wait(run_id)

    run = world.run(run_id)
    assert run["status"] == "succeeded", run
    assert [i["outcome"] for i in run["items"]] == ["existing"]
    assert run["counts"] == {
        "imported": 0, "added": 0, "removed": 0, "skipped": 1, "not_found": 0,
    }  # fmt: skip
    assert _local(world)[0]["synced"] is True
