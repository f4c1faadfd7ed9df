"""Stats: known plays in the ledger give known per-day, per-week and top-show numbers; Trakt's
stats are cached an hour (SPEC §8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.enrich.conftest import HarnessFactory

MATRIX = {"type": "movie", "movie": {"title": "The Matrix", "year": 1999,
                                     "ids": {"trakt": 481, "imdb": "tt0133093"}}}  # fmt: skip
UNKNOWN_FILM = {"type": "movie", "movie": {"title": "Obscure", "year": 1950,
                                           "ids": {"imdb": "tt0000042"}}}  # fmt: skip
BB = {"title": "Breaking Bad", "year": 2008, "ids": {"trakt": 1388, "tvdb": 81189}}
WIRE = {"title": "The Wire", "year": 2002, "ids": {"trakt": 1000, "tvdb": 79126}}


def episode(show: dict[str, Any], season: int, number: int, **extra: Any) -> dict[str, Any]:
    ids = {"tvdb": 349232} if (season, number) == (1, 1) and show is BB else {}
    return {
        "type": "episode",
        "show": show,
        "episode": {"season": season, "number": number, "title": "", "ids": ids, **extra},
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def test_local_stats_from_known_plays(harness: HarnessFactory) -> None:
    async with harness() as h:
        user = h.add_user("Dana")
        other = h.add_user("Eli")
        # The pilot's runtime comes from the metadata cache (a lookup stores it).
        pilot = await h.api.get("/api/v1/metadata/episode", params={"tvdb": "349232"})
        assert pilot.json()["runtime"] == 47
        h.add_plays(
            user,
            [
                # Monday 2026-11-23 (ISO week 48), late evening UTC: still the 23rd
                {"item": MATRIX, "watched_at": at("2026-11-23T23:30:00"), "source": "plex",
                 "runtime": 136},
                {"item": episode(BB, 1, 1), "watched_at": at("2026-11-23T10:00:00"),
                 "source": "jellyfin"},
                # Tuesday 2026-11-24, runtime carried in the item itself
                {"item": episode(BB, 1, 2, runtime=48), "watched_at": at("2026-11-24T00:10:00"),
                 "source": "plex"},
                {"item": UNKNOWN_FILM, "watched_at": at("2026-11-24T20:00:00"),
                 "source": "revenge"},
                # Sunday 2026-11-29 still week 48; Monday 2026-11-30 is week 49
                {"item": episode(WIRE, 1, 1), "watched_at": at("2026-11-29T21:00:00"),
                 "source": "emby", "runtime": 60},
                {"item": episode(BB, 1, 3), "watched_at": at("2026-11-30T08:00:00"),
                 "source": "plex", "runtime": 45},
                # 2027-01-01 belongs to ISO week 53 of 2026
                {"item": episode(WIRE, 1, 2), "watched_at": at("2027-01-01T12:00:00"),
                 "source": "plex", "runtime": 58},
            ],
        )  # fmt: skip
        h.add_plays(other, [{"item": MATRIX, "watched_at": at("2026-11-23T12:00:00"),
                             "source": "plex", "runtime": 136}])  # fmt: skip
        answer = await h.api.get(f"/api/v1/users/{user}/stats")
        missing = await h.api.get("/api/v1/users/nobody/stats")
    assert answer.status_code == 200, answer.text
    stats = answer.json()
    assert stats["trakt"] is None  # not connected
    local = stats["local"]
    assert local["plays_per_day"] == [
        {"date": "2026-11-23", "plays": 2, "minutes": 136 + 47},
        {"date": "2026-11-24", "plays": 2, "minutes": 48},
        {"date": "2026-11-29", "plays": 1, "minutes": 60},
        {"date": "2026-11-30", "plays": 1, "minutes": 45},
        {"date": "2027-01-01", "plays": 1, "minutes": 58},
    ]
    assert local["minutes_per_week"] == [
        {"week": "2026-W48", "minutes": 136 + 47 + 48 + 60, "plays": 5},
        {"week": "2026-W49", "minutes": 45, "plays": 1},
        {"week": "2026-W53", "minutes": 58, "plays": 1},
    ]
    assert [(s["show"], s["plays"]) for s in local["top_shows"]] == [
        ("Breaking Bad", 3),
        ("The Wire", 2),
    ]
    assert local["per_source"] == {"emby": 1, "jellyfin": 1, "plex": 4, "revenge": 1}
    assert local["totals"] == {"plays": 7, "minutes": 394, "unknown_runtime": 1}
    assert missing.status_code == 404


async def test_trakt_stats_are_cached_for_an_hour(harness: HarnessFactory) -> None:
    async with harness() as h:
        user = h.connect("Fay", "fay_t")
        matrix = h.fake.find("movie", {"trakt": 481}, ("trakt",))
        assert matrix is not None
        h.fake.add_play("fay_t", matrix, h.fake.clock() - 3600)
        first = (await h.api.get(f"/api/v1/users/{user}/stats")).json()
        since = h.requests()
        again = (await h.api.get(f"/api/v1/users/{user}/stats")).json()
        assert h.requests() == since
    assert first["trakt"]["movies"] == {"plays": 1, "watched": 1, "minutes": 136}
    assert again["trakt"] == first["trakt"]
    assert again["trakt_cached_at"] == first["trakt_cached_at"]
    assert [r.path for r in h.fake.requests].count("/users/me/stats") == 1


async def test_ranges_bucket_days_weeks_months(harness: HarnessFactory) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    async with harness() as h:
        user = h.add_user("Gil")
        # The Matrix's runtime comes from the metadata cache for the play without one.
        matrix = await h.api.get("/api/v1/metadata/movie", params={"imdb": "tt0133093"})
        assert matrix.json()["runtime"] == 136
        h.add_plays(
            user,
            [
                {"item": MATRIX, "watched_at": now - timedelta(days=2), "source": "plex",
                 "runtime": 136},
                {"item": episode(WIRE, 1, 1), "watched_at": now - timedelta(days=100),
                 "source": "emby", "runtime": 60},
                {"item": episode(WIRE, 1, 2), "watched_at": now - timedelta(days=3 * 365),
                 "source": "plex", "runtime": 58},
                {"item": MATRIX, "watched_at": now - timedelta(days=3 * 365), "source": "plex"},
            ],
        )  # fmt: skip
        answers = {
            r: (await h.api.get(f"/api/v1/users/{user}/stats", params={"range": r})).json()
            for r in ("30d", "12m", "all")
        }
        default = (await h.api.get(f"/api/v1/users/{user}/stats")).json()
        bad = await h.api.get(f"/api/v1/users/{user}/stats", params={"range": "7d"})
    assert bad.status_code == 422 and bad.json()["field"] == "range"
    assert default["local"] == {**answers["all"]["local"], "since": None}
    month, week, day = answers["30d"]["local"], answers["12m"]["local"], answers["all"]["local"]
    assert (month["bucket"], week["bucket"], day["bucket"]) == ("day", "week", "month")
    # Whole buckets, empty ones listed: 30 days ending today, 53 ISO weeks ending this week.
    assert len(month["buckets"]) == 30 and month["buckets"][-1]["bucket"] == now.date().isoformat()
    assert len(week["buckets"]) == 53 and week["buckets"][-1]["bucket"] == "{}-W{:02d}".format(
        *now.isocalendar()[:2]
    )
    first = now - timedelta(days=3 * 365)
    assert day["buckets"][0]["bucket"] == f"{first:%Y-%m}"
    assert day["buckets"][-1]["bucket"] == f"{now:%Y-%m}"
    assert sum(b["plays"] for b in day["buckets"]) == 4
    assert [m["totals"]["plays"] for m in (month, week, day)] == [1, 2, 4]
    assert [m["watch_minutes"] for m in (month, week, day)] == [136, 196, 390]
    assert day["totals"]["unknown_runtime"] == 0  # The Matrix's runtime is in the cache
    assert (
        sum(d["plays"] for d in day["by_weekday"]) == 4 == sum(x["plays"] for x in day["by_hour"])
    )
    wd = (now - timedelta(days=2)).weekday()
    assert month["by_weekday"][wd]["plays"] == 1
    assert month["by_hour"][(now - timedelta(days=2)).hour]["plays"] == 1
    assert [(m["movie"], m["year"], m["plays"]) for m in day["top_movies"]] == [
        ("The Matrix", 1999, 2)
    ]
    assert [(s["show"], s["plays"]) for s in week["top_shows"]] == [("The Wire", 1)]
    assert week["per_source"] == {"emby": 1, "plex": 1}
    assert day["plays_by_type"] == {"movie": 2, "episode": 2}
    assert month["plays_per_day"] == [
        {"date": (now - timedelta(days=2)).date().isoformat(), "plays": 1, "minutes": 136}
    ]
