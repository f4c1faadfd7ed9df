"""The ledger, watchlist and sync endpoints: shapes, validation, 429 pauses, not_found items,
one run per user."""

from __future__ import annotations

from tests.sync.conftest import (
    INCEPTION,
    MATRIX,
    SyncWorld,
    link_revenge,
    local_play,
    outbox,
    post_plays,
    webhook,
)


def test_a_run_outlasts_more_429s_than_the_client_retries(world: SyncWorld) -> None:
    fake = world.fake.state
    fake.seed_history("ann", 600)
    # the client retries a 429 three times; six in a row must pause the run, not end it
    fake.fail_next(6, 429, method="GET", path="/sync/history", retry_after=0.05)

    run = world.sync("history", "import")

    assert run["status"] == "succeeded", run
    assert run["counts"]["imported"] == 600
    assert len(world.ledger()) == 600
    statuses = [r.status for r in fake.requests_to("/sync/history")]
    assert statuses.count(429) == 6 and statuses.count(200) == 3


def test_not_found_is_reported_per_item(world: SyncWorld) -> None:
    fake = world.fake.state
    source = fake.seed_history("someone-else", 3)
    plays = [local_play(p) for p in source]
    unknown = {"type": "movie", "movie": {"title": "Nowhere", "ids": {"imdb": "tt0000001"}},
               "watched_at": "2021-01-01T10:00:00Z"}  # fmt: skip
    post_plays(world, [*plays, unknown])

    run = world.sync("history", "export")

    assert run["status"] == "succeeded", run
    assert run["counts"]["added"] == 3 and run["counts"]["not_found"] == 1
    missing = [i for i in run["items"] if i["outcome"] == "not_found"]
    assert [m["item"]["movie"]["title"] for m in missing] == ["Nowhere"]
    again = world.sync("history", "export")
    assert again["counts"]["added"] == 0 and again["requests"] == 1


def test_ledger_api_duplicates_rejections_and_shapes(world: SyncWorld) -> None:
    movie = {"type": "movie", "movie": {"title": "The Matrix", "year": 1999,
                                        "ids": {"imdb": "tt0133093", "tmdb": 603}}}  # fmt: skip
    plays = [
        {**movie, "watched_at": "2026-01-02T20:15:10Z"},
        {**movie, "watched_at": "2026-01-02T20:15:50Z"},  # same minute: a duplicate
        {**movie, "watched_at": "2026-01-02T22:00:00Z"},
        {"type": "movie", "movie": {"title": "No ids"}, "watched_at": "2026-01-02T20:00:00Z"},
        {**movie, "watched_at": "yesterday"},
        {"type": "song", "watched_at": "2026-01-02T20:00:00Z"},
    ]
    result = post_plays(world, plays)
    assert result["added"] == 2 and result["duplicates"] == 1
    assert [r["index"] for r in result["rejected"]] == [3, 4, 5]
    assert post_plays(world, plays[:1])["duplicates"] == 1  # already in the ledger

    with world.api() as api:
        url = f"/api/v1/users/{world.user_id}/history"
        page = api.get(url, params={"limit": 1}).json()
        assert page["items"][0]["watched_at"] == "2026-01-02T22:00:00.000Z"
        assert set(page["items"][0]) >= {"type", "movie", "watched_at", "id", "source",
                                         "trakt_history_id"}  # fmt: skip
        rest = api.get(url, params={"limit": 1, "cursor": page["next_cursor"]}).json()
        assert rest["items"][0]["watched_at"] == "2026-01-02T20:15:10.000Z"
        assert rest["next_cursor"] is None
        since = api.get(url, params={"since": "2026-01-02T21:00:00Z"}).json()
        assert len(since["items"]) == 1

        too_many = api.post(url, json={"plays": [plays[0]] * 5001})
        assert too_many.status_code == 422 and too_many.json()["field"] == "plays"
        assert api.post("/api/v1/users/nobody/history", json={"plays": []}).status_code == 404

        wl = f"/api/v1/users/{world.user_id}/watchlist"
        created = api.post(wl, json=movie)
        assert created.status_code == 201
        assert set(created.json()) >= {"id", "type", "movie", "added_at"}
        assert api.post(wl, json=movie).json()["id"] == created.json()["id"]
        bad = api.post(wl, json={"type": "movie", "movie": {"title": "x"}})
        assert bad.status_code == 422 and bad.json()["field"] == "movie.ids"
        assert api.delete(f"{wl}/{created.json()['id']}").status_code == 204
        assert api.delete(f"{wl}/{created.json()['id']}").status_code == 404
        assert api.get(wl).json() == {"items": [], "next_cursor": None}


def test_sync_api_validation_and_one_run_per_user(world: SyncWorld) -> None:
    fake = world.fake.state
    fake.seed_history("ann", 2000)
    fake.latency = 0.02
    with world.api() as api:
        url = f"/api/v1/users/{world.user_id}/sync"
        wrong = api.post(url, json={"kind": "everything", "direction": "import"})
        assert wrong.status_code == 422 and wrong.json()["field"] == "kind"
        wrong = api.post(url, json={"kind": "history", "direction": "sideways"})
        assert wrong.status_code == 422 and wrong.json()["field"] == "direction"
        assert api.post("/api/v1/users/nobody/sync", json={}).status_code == 404

        first = api.post(url, json={"kind": "history", "direction": "import"}).json()
        second = api.post(url, json={"kind": "watchlist", "direction": "export"}).json()
        assert second["run_id"] == first["run_id"]
        assert api.post(f"/api/v1/sync/runs/{first['run_id']}/undo").status_code == 409
    run = world.wait(first["run_id"])
    assert set(run) >= {"id", "user_id", "kind", "direction", "dry_run", "status", "counts",
                        "requests", "started_at", "finished_at", "error", "items"}  # fmt: skip
    assert run["duration_seconds"] is not None and run["finished_at"] >= run["started_at"]
    with world.api() as api:
        assert api.post(f"/api/v1/sync/runs/{first['run_id']}/undo").status_code == 409
        assert api.get("/api/v1/sync/runs/nope").status_code == 404
        listed = api.get("/api/v1/sync/runs", params={"user_id": world.user_id}).json()
    assert [r["id"] for r in listed["items"]] == [first["run_id"]]


def test_plays_of_an_identity_linked_later_are_exported(world: SyncWorld) -> None:
    """An unlinked Revenge account's watched play becomes Ann's once linked (SPEC §4)."""
    from tests.conftest import WEBHOOK_TOKEN

    body = {
        "event": "watched", "user_id": "stranger-42", "content_type": "movie",
        "content_id": "c1", "occurred_at": "2026-03-01T20:00:00Z",
        "movie": {"title": "The Matrix", "year": 1999, "ids": {"imdb": "tt0133093"}},
    }  # fmt: skip
    with world.api() as api:
        answer = api.post(
            "/webhooks/revenge", json=body, headers={"X-Webhook-Token": WEBHOOK_TOKEN}
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["user_id"] is None
        linked = api.post(
            f"/api/v1/users/{world.user_id}/identities",
            json={"source": "revenge", "external_id": "stranger-42"},
        )
        assert linked.status_code == 201

    run = world.sync("history", "export")

    assert run["counts"]["added"] == 1, run
    assert [p.item.title for p in world.fake.state.history("ann")] == ["The Matrix"]


def test_ratings_import_then_nothing_to_do(world: SyncWorld) -> None:
    fake = world.fake.state
    matrix, inception = [i for i in fake.items if i.type == "movie"][:2]
    fake.rate("ann", matrix, 9)
    fake.rate("ann", inception, 7)

    run = world.sync("ratings", "bidirectional")

    assert run["status"] == "succeeded", run
    assert run["counts"]["imported"] == 2
    assert sorted(i["item"]["rating"] for i in run["items"]) == [7, 9]
    assert not fake.requests_to("/sync/ratings", "POST")
    assert world.sync("ratings", "bidirectional")["requests"] == 1


def test_a_discarded_scrobble_is_never_exported(world: SyncWorld) -> None:
    """Discard (API or dashboard) keeps the play in the ledger and off Trakt (SPEC §7)."""
    from tests.conftest import wait_until

    fake = world.fake.state
    link_revenge(world)
    fake.fail_next(1, 422, method="POST", path="/sync/history")  # the live add goes dead
    webhook(world, "watched", MATRIX, occurred_at="2026-03-01T20:00:00Z")
    (row,) = wait_until(lambda: outbox(world, "dead"), what="the dead history add")
    with world.api() as api:
        assert api.delete(f"/api/v1/scrobbles/{row['id']}").status_code == 204
    webhook(world, "watched", INCEPTION, occurred_at="2026-03-02T20:00:00Z")
    wait_until(lambda: outbox(world, "sent"), what="the other play sent")
    assert len(world.ledger()) == 2  # kept for the record

    run = world.sync("history", "bidirectional")

    assert run["status"] == "succeeded", run["error"]
    assert run["counts"]["added"] == 0
    assert [p.item.title for p in fake.history("ann")] == ["Inception"]
    # the two live adds (the refused one, the other play), and nothing from the sync
    assert [r.status for r in fake.requests_to("/sync/history", "POST")] == [422, 201]
    again = world.sync("history", "export")
    assert again["counts"]["added"] == 0 and fake.history("ann")[0].item.title == "Inception"


def test_the_runs_list_shows_each_runs_first_items(world: SyncWorld) -> None:
    fake = world.fake.state
    fake.seed_history("ann", 30)
    run = world.sync("history", "import")
    assert run["counts"]["imported"] == 30
    with world.api() as api:
        listed = api.get("/api/v1/sync/runs", params={"user_id": world.user_id}).json()
        (first,) = listed["items"]
        assert first["id"] == run["id"]
        assert len(first["items"]) == 20  # the first items, bounded
        assert first["items"] == run["items"][:20]
        rest = api.get(
            f"/api/v1/sync/runs/{run['id']}", params={"items_cursor": first["items_next_cursor"]}
        ).json()
        assert first["items"] + rest["items"] == run["items"]
        assert rest["items_next_cursor"] is None

        for path, params, field in (
            ("/api/v1/sync/runs", {"cursor": "garbage"}, "cursor"),
            ("/api/v1/sync/runs", {"cursor": "-5"}, "cursor"),
            (f"/api/v1/sync/runs/{run['id']}", {"items_cursor": "garbage"}, "items_cursor"),
            (f"/api/v1/sync/runs/{run['id']}", {"items_limit": "-1"}, "items_limit"),
        ):
            answer = api.get(path, params=params)
            assert answer.status_code == 422, (path, params, answer.text)
            assert set(answer.json()) == {"error", "field"}
            assert answer.json()["field"] == field
