"""Watchlist writes and their undo count what Trakt answered, per item; an undo cut by a
crash resumes after its last finished batch."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from tests.conftest import Service, wait_until
from tests.fake_trakt import Item
from tests.sync.conftest import SyncWorld, sync_env
from trakt_plugin.sync.items import write_object
from trakt_plugin.sync.watchlist import answer_outcomes
from trakt_plugin.trakt.models import SyncResponse


def _movie(item: Item) -> dict[str, Any]:
    return {"type": "movie", "movie": {"title": item.title, "year": item.year, "ids": item.ids}}


def _add_watchlist(world: SyncWorld, items: list[Item]) -> None:
    with world.api() as api:
        for item in items:
            answer = api.post(f"/api/v1/users/{world.user_id}/watchlist", json=_movie(item))
            assert answer.status_code == 201, answer.text


def _undo(world: SyncWorld, run_id: str) -> str:
    with world.api() as api:
        answer = api.post(f"/api/v1/sync/runs/{run_id}/undo")
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run_id"])


def test_undo_of_a_watchlist_export_counts_what_trakt_removed(world: SyncWorld) -> None:
    fake = world.fake.state
    fake.seed_history("catalogue-owner", 0, catalogue=3)
    a, b, c = [i for i in fake.items if i.type == "movie"][-3:]
    fake.add_to_watchlist(world.username, a)  # already there: the export does not add it
    _add_watchlist(world, [a, b, c])
    export = world.sync("watchlist", "export")
    assert export["status"] == "succeeded", export
    assert export["counts"]["added"] == 2
    # Trakt drops C (say it was watched elsewhere): the undo finds it gone
    fake.watchlists[world.username] = [
        e for e in fake.watchlists[world.username] if e.item is not c
    ]

    undo_id = _undo(world, export["id"])
    world.wait(undo_id)

    undone = world.run(undo_id)
    assert undone["status"] == "succeeded", undone
    assert undone["counts"] == {
        "imported": 0, "added": 0, "removed": 1, "skipped": 0, "not_found": 1,
    }  # fmt: skip
    outcomes = {(i["item"]["movie"]["title"], i["outcome"]) for i in undone["items"]}
    assert outcomes == {(b.title, "removed"), (c.title, "not_found")}
    assert [e.item.title for e in fake.watchlists[world.username]] == [a.title]
    after = world.sync("watchlist", "export")  # undone items stay here, held: not sent again
    assert after["counts"]["added"] == 0


def test_an_undo_cut_by_a_crash_resumes_after_its_last_finished_batch(
    world: SyncWorld, service_factory: Callable[..., Service]
) -> None:
    fake = world.fake.state
    fake.set_vip(world.username)  # room for 600 watchlist items
    fake.seed_history("catalogue-owner", 0, catalogue=600)
    movies = [i for i in fake.items if i.type == "movie"][-600:]
    _add_watchlist(world, movies)
    export = world.sync("watchlist", "export")
    assert export["counts"]["added"] == 600, export
    fake.clear_log()
    fake.latency = 0.3  # each answer takes a moment, so the kill lands mid-undo
    undo_id = _undo(world, export["id"])
    wait_until(
        lambda: world.run(undo_id, 0)["progress"]["done"] >= 1,
        timeout=60,
        what="the first undo batch committed",
    )
    assert world.service.stop(signal.SIGKILL) == -signal.SIGKILL
    before = fake.requests_to("/sync/watchlist/remove", "POST")
    finished = {m["ids"]["trakt"] for m in before[0].body["movies"]}
    fake.clear_log()
    fake.latency = 0.0

    world.service = service_factory(sync_env(world.fake), name="data")  # same data dir
    world.wait(undo_id, timeout=120)

    undone = world.run(undo_id, items_limit=10000)
    assert undone["status"] == "succeeded", undone
    after = fake.requests_to("/sync/watchlist/remove", "POST")
    assert after, "the undo did not resume"
    resent = {m["ids"]["trakt"] for post in after for m in post.body["movies"]}
    assert not resent & finished  # the finished batch was not sent again
    assert len(before) + len(after) <= 3 + 1  # at most the batch in flight went twice
    assert fake.watchlists.get(world.username, []) == []
    titles = [i["item"]["movie"]["title"] for i in undone["items"]]
    assert sorted(titles) == sorted(m.title for m in movies)  # each item recorded once
    counts = undone["counts"]
    assert counts["removed"] + counts["not_found"] == 600 and counts["removed"] >= 350


# ------------------------------------------------------------------ reading Trakt's answers


def _sent(*items: dict[str, Any]) -> list[tuple[dict[str, Any], tuple[str, dict[str, Any]]]]:
    out = []
    for item in items:
        obj = write_object(item, rating=7)
        assert obj is not None
        out.append((item, obj))
    return out


def _movie_ids(trakt: int) -> dict[str, Any]:
    return {"type": "movie", "movie": {"title": None, "year": None, "ids": {"trakt": trakt}}}


def test_answer_outcomes_follow_trakts_counters_and_echoes() -> None:
    episode = {
        "type": "episode",
        "show": {"title": None, "year": None, "ids": {"trakt": 1388}},
        "episode": {"season": 1, "number": 2, "title": None, "ids": {}},
    }
    sent = _sent(_movie_ids(1), _movie_ids(2), _movie_ids(3), episode)
    answer = SyncResponse.model_validate(
        {
            "added": {"movies": 1, "episodes": 0},
            "existing": {"movies": 1},
            "not_found": {
                "movies": [{"ids": {"trakt": 2}, "rating": 7}],
                "shows": [{"ids": {"trakt": 1388}, "seasons": [{"number": 1, "episodes": [
                    {"number": 2, "rating": 7}]}]}],
            },
        }
    )  # fmt: skip
    outcomes = [o for o, _ in answer_outcomes(answer, sent, "added")]
    assert outcomes == ["added", "not_found", "existing", "not_found"]

    # an answer that counts fewer than were sent: an add is not confirmed, a removal not done
    short = SyncResponse.model_validate({"added": {"movies": 1}, "deleted": {"movies": 1}})
    adds = [o for o, _ in answer_outcomes(short, _sent(_movie_ids(1), _movie_ids(3)), "added")]
    removes = [o for o, _ in answer_outcomes(short, _sent(_movie_ids(1), _movie_ids(3)), "removed")]
    assert adds == ["added", "skipped"] and removes == ["removed", "not_found"]
