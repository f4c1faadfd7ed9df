"""Watch time (SPEC §8): the length each media server reports is kept as the play's runtime, so
the stats count minutes for webhook plays; the bulk API takes an optional ``runtime`` per play.
Through the running service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.webhooks.harness import Rig
from tests.webhooks.payloads import DURATION_MS, Media, emby, jellyfin, plex, revenge

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
INCEPTION = Media("movie", "Inception", 2010, imdb="tt1375666", tmdb=27205)
PILOT = Media(
    "episode", "Pilot", 2008, tvdb=349232, show_title="Breaking Bad", show_tvdb=81189,
    season=1, number=1,
)  # fmt: skip
HEAT = Media("movie", "Heat", 1995, imdb="tt0113277", tmdb=949)
ALIEN = Media("movie", "Alien", 1979, imdb="tt0078748", tmdb=348)
JF_ANN = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
SERVER_MINUTES = DURATION_MS // 60_000  # the payload helpers' items last 100 minutes


def _local_stats(rig: Rig, user_id: str) -> dict[str, Any]:
    with rig.service.api() as api:
        answer = api.get(f"/api/v1/users/{user_id}/stats")
    assert answer.status_code == 200, answer.text
    local: dict[str, Any] = answer.json()["local"]
    return local


def _history(rig: Rig, user_id: str) -> list[dict[str, Any]]:
    with rig.service.api() as api:
        answer = api.get(f"/api/v1/users/{user_id}/history")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _minutes_by_day(local: dict[str, Any]) -> dict[str, int]:
    return {day["date"]: day["minutes"] for day in local["plays_per_day"]}


def test_webhook_durations_become_watch_time_in_the_stats(rig: Rig) -> None:
    ann = rig.user("Ann", {"plex": "Ann", "jellyfin": JF_ANN, "emby": "ann-e", "revenge": "ann-r"})
    rig.deliver("plex", plex("start", "Ann", MATRIX, 0))
    rig.deliver("plex", plex("stop", "Ann", MATRIX, 95))  # Metadata.duration, ms
    rig.deliver("jellyfin", jellyfin("stop", JF_ANN, "ann", INCEPTION, 96))  # RunTimeTicks
    rig.deliver("emby", emby("stop", "ann-e", "ann", PILOT, 95))  # Item.RunTimeTicks
    rig.deliver("revenge", revenge("start", "ann-r", HEAT, 1, runtime=170))  # minutes
    rig.deliver("revenge", revenge("stop", "ann-r", HEAT, 95))  # the session remembers it
    rig.deliver("revenge", revenge("stop", "ann-r", ALIEN, 95, session_id="s2", duration=7020))

    plays = _history(rig, ann)
    assert sorted(p["runtime"] for p in plays) == [100, 100, 100, 117, 170]
    local = _local_stats(rig, ann)
    by_day = _minutes_by_day(local)
    for played in plays:
        assert by_day[played["watched_at"][:10]] > 0  # the day of each play has watch time
    assert sum(by_day.values()) == 3 * SERVER_MINUTES + 170 + 117
    assert local["totals"]["unknown_runtime"] == 0
    assert sum(week["minutes"] for week in local["minutes_per_week"]) == 587


def test_bulk_plays_take_an_optional_runtime(rig: Rig) -> None:
    bea = rig.user("Bea", {})
    day = (datetime.now(UTC) - timedelta(days=2)).replace(hour=20, minute=0, microsecond=0)
    movie = {"type": "movie", "movie": {"title": "Heat", "year": 1995,
                                        "ids": {"imdb": "tt0113277"}}}  # fmt: skip
    plays = [
        {**movie, "watched_at": day.isoformat(), "runtime": 170},
        {**movie, "watched_at": (day + timedelta(hours=3)).isoformat()},  # unknown for now
        {**movie, "watched_at": (day + timedelta(hours=4)).isoformat(), "runtime": -5},
        {**movie, "watched_at": (day + timedelta(hours=5)).isoformat(), "runtime": "long"},
    ]
    with rig.service.api() as api:
        answer = api.post(f"/api/v1/users/{bea}/history", json={"plays": plays})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["added"] == 2 and result["duplicates"] == 0
    assert [(r["index"], r["error"].split(":")[0]) for r in result["rejected"]] == [
        (2, "runtime"),
        (3, "runtime"),
    ]
    assert sorted((p["runtime"] or 0) for p in _history(rig, bea)) == [0, 170]
    local = _local_stats(rig, bea)
    assert _minutes_by_day(local) == {day.date().isoformat(): 170}
    assert local["totals"]["unknown_runtime"] == 1
