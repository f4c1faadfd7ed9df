"""Metadata lookups against the fake Trakt: every id kind, the cache and its TTLs, the batch,
and the two settings (SPEC §8)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.enrich.conftest import Harness, HarnessFactory

MATRIX_IDS = {"trakt": 481, "slug": "the-matrix-1999", "imdb": "tt0133093", "tmdb": 603}
BB_IDS = {"trakt": 1388, "slug": "breaking-bad", "imdb": "tt0903747", "tmdb": 1396, "tvdb": 81189}
PILOT_IDS = {"trakt": 73482, "tvdb": 349232, "imdb": "tt0959621", "tmdb": 62085}
# What the fake's extended=all answers hold (null blocks are sources without a rating).
MOVIE_SOURCES = {"trakt", "imdb", "tmdb", "metascore", "rotten_tomatoes", "letterboxd", "mal"}
SHOW_SOURCES = {"trakt", "imdb", "tmdb", "rotten_tomatoes"}
EPISODE_SOURCES = {"trakt", "imdb", "tmdb"}
MAL = {"rating": 8.7, "votes": 1200, "link": "https://myanimelist.net/anime/1"}
TTL_DEADLINE = 10.0


def _paths(h: Harness, since: int) -> list[str]:
    return [r.path for r in h.fake.requests[since:]]


async def _get(h: Harness, kind: str, **ids: Any) -> tuple[dict[str, Any], list[str]]:
    since = h.requests()
    response = await h.api.get(f"/api/v1/metadata/{kind}", params=ids)
    assert response.status_code == 200, response.text
    return response.json(), _paths(h, since)


@pytest.mark.parametrize(
    ("kind", "id_type", "value", "expected_ids", "sources", "ids_path"),
    [
        ("movie", "trakt", 481, MATRIX_IDS, MOVIE_SOURCES, "/movies/481"),
        ("movie", "slug", "the-matrix-1999", MATRIX_IDS, MOVIE_SOURCES, "/movies/the-matrix-1999"),
        ("movie", "imdb", "tt0133093", MATRIX_IDS, MOVIE_SOURCES, "/movies/tt0133093"),
        ("movie", "tmdb", 603, MATRIX_IDS, MOVIE_SOURCES, "/search/tmdb/603"),
        ("show", "trakt", 1388, BB_IDS, SHOW_SOURCES, "/shows/1388"),
        ("show", "slug", "breaking-bad", BB_IDS, SHOW_SOURCES, "/shows/breaking-bad"),
        ("show", "imdb", "tt0903747", BB_IDS, SHOW_SOURCES, "/shows/tt0903747"),
        ("show", "tmdb", 1396, BB_IDS, SHOW_SOURCES, "/search/tmdb/1396"),
        ("show", "tvdb", 81189, BB_IDS, SHOW_SOURCES, "/search/tvdb/81189"),
        ("episode", "trakt", 73482, PILOT_IDS, EPISODE_SOURCES, "/search/trakt/73482"),
        ("episode", "imdb", "tt0959621", PILOT_IDS, EPISODE_SOURCES, "/search/imdb/tt0959621"),
        ("episode", "tmdb", 62085, PILOT_IDS, EPISODE_SOURCES, "/search/tmdb/62085"),
        ("episode", "tvdb", 349232, PILOT_IDS, EPISODE_SOURCES, "/search/tvdb/349232"),
    ],
)
async def test_every_id_kind_gives_all_ids_and_every_rating_source(
    harness: HarnessFactory,
    kind: str,
    id_type: str,
    value: object,
    expected_ids: dict[str, Any],
    sources: set[str],
    ids_path: str,
) -> None:
    async with harness() as h:
        h.fake.extra_ratings[("movie", 481)] = {"mal": MAL}
        answer, paths = await _get(h, kind, **{id_type: value})
    assert answer["type"] == kind
    assert answer["ids"] == expected_ids
    assert set(answer["ratings"]) == sources
    assert all({"rating", "votes"} <= set(r) for r in answer["ratings"].values())
    assert answer["cached_at"]
    ratings_path = {
        "movie": "/movies/481/ratings",
        "show": "/shows/1388/ratings",
        "episode": "/shows/1388/seasons/1/episodes/1/ratings",
    }[kind]
    assert paths == [ids_path, ratings_path]
    if kind == "movie":
        assert answer["title"] == "The Matrix" and answer["year"] == 1999
        assert answer["ratings"]["mal"] == {"rating": 8.7, "votes": 1200, "link": MAL["link"]}
        assert answer["ratings"]["rotten_tomatoes"]["state"] == "fresh"
    if kind == "episode":
        assert answer["title"] == "Pilot"
        assert (answer["season"], answer["number"]) == (1, 1)
        assert answer["show"]["ids"] == BB_IDS


async def test_cached_answer_needs_no_request_until_its_ttl_passes(
    harness: HarnessFactory,
) -> None:
    async with harness(TRAKT_PLUGIN_METADATA__RATINGS_TTL="1") as h:
        first, paths = await _get(h, "movie", imdb="tt0133093")
        assert len(paths) == 2
        again, paths = await _get(h, "movie", imdb="tt0133093")
        assert paths == [] and again == first
        # Every id of a cached item finds it: cross-referenced lookups are free too.
        for id_type, value in MATRIX_IDS.items():
            answer, paths = await _get(h, "movie", **{id_type: value})
            assert paths == [] and answer["ids"] == MATRIX_IDS
        _, paths = await _get(h, "episode", tvdb=349232)
        assert len(paths) == 2
        _, paths = await _get(h, "episode", imdb="tt0959621")
        assert paths == []

        # After ratings_ttl (1 s) the ratings alone are fetched again; ids live 30 days.
        deadline = time.monotonic() + TTL_DEADLINE
        while True:
            refreshed, paths = await _get(h, "movie", tmdb=603)
            if paths:
                break
            assert time.monotonic() < deadline, "ratings were never refetched"
            await asyncio.sleep(0.1)  # polling for the TTL to pass, bounded by the deadline
        assert paths == ["/movies/481/ratings"]
        assert refreshed["cached_at"] == first["cached_at"]  # the oldest part: the ids
        _, paths = await _get(h, "movie", tmdb=603)
        assert paths == []


async def test_ttl_zero_always_asks_trakt(harness: HarnessFactory) -> None:
    async with harness(
        TRAKT_PLUGIN_METADATA__IDS_TTL="0", TRAKT_PLUGIN_METADATA__RATINGS_TTL="0"
    ) as h:
        for _ in range(2):
            _, paths = await _get(h, "show", tvdb=81189)
            assert paths == ["/search/tvdb/81189", "/shows/1388/ratings"]


async def test_batch_of_100_stays_in_budget_and_skips_cached_items(
    harness: HarnessFactory,
) -> None:
    async with harness() as h:
        fake = h.fake
        fake.rate_limits = True  # Trakt's real limits: 1000 GETs per 5 minutes per app
        for n in range(100):
            fake.add_movie(f"Film {n}", 2000 + n % 20, {"trakt": 5000 + n, "slug": f"film-{n}",
                           "imdb": f"tt90{n:05d}", "tmdb": 70000 + n})  # fmt: skip
        entries = [{"type": "movie", "imdb": f"tt90{n:05d}"} for n in range(100)]

        since = h.requests()
        first = await h.api.post("/api/v1/metadata/batch", json={"items": entries[:40]})
        assert first.status_code == 200, first.text
        assert len(h.fake.requests) - since == 80  # ids + ratings per item

        since = h.requests()
        # 40 cached (asked by another id of theirs) + 60 new
        mixed = [{"type": "movie", "tmdb": 70000 + n} for n in range(40)] + entries[40:]
        answer = await h.api.post("/api/v1/metadata/batch", json={"items": mixed})
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        assert [i["ids"]["trakt"] for i in items] == [5000 + n for n in range(100)]
        assert all(set(i["ratings"]) >= {"trakt", "imdb", "tmdb"} for i in items)
        sent = fake.requests[since:]
        assert len(sent) == 120
        cached_ids = {f"tt90{n:05d}" for n in range(40)} | {str(5000 + n) for n in range(40)}
        assert not any(part in cached_ids for r in sent for part in r.path.split("/"))
        assert all(r.method == "GET" and "authorization" not in r.headers for r in sent)
        assert not [r for r in fake.requests if r.status == 429]

        too_many = await h.api.post(
            "/api/v1/metadata/batch", json={"items": [*entries, entries[0]]}
        )
        assert too_many.status_code == 422
        assert too_many.json()["field"] == "items"


async def test_batch_answers_in_order_with_errors_in_place(harness: HarnessFactory) -> None:
    async with harness() as h:
        body = {
            "items": [
                {"type": "movie", "imdb": "tt0133093"},
                {"type": "movie", "imdb": "tt0000001"},
                {"type": "episode", "slug": "pilot"},
                "not an object",
                {"type": "show", "tvdb": 81189},
                {"type": "movie", "imdb": "tt0133093"},
            ]
        }
        since = h.requests()
        items = (await h.api.post("/api/v1/metadata/batch", json=body)).json()["items"]
        assert items[0]["title"] == items[5]["title"] == "The Matrix"
        assert "tt0000001" in items[1]["error"]
        assert "slug" in items[2]["error"]
        assert "error" in items[3]
        assert items[4]["title"] == "Breaking Bad"
        # the repeated Matrix lookup was asked once
        assert _paths(h, since).count("/movies/tt0133093") == 1


async def test_fetch_ratings_off_makes_no_ratings_request(harness: HarnessFactory) -> None:
    async with harness(TRAKT_PLUGIN_METADATA__FETCH_RATINGS="false") as h:
        answer, paths = await _get(h, "movie", imdb="tt0133093")
        assert answer["ratings"] is None
        assert answer["ids"] == MATRIX_IDS
        episode, more = await _get(h, "episode", tvdb=349232)
        assert episode["ratings"] is None
        assert not [p for p in paths + more if p.endswith("/ratings")]


async def test_enrichment_off_answers_404_with_a_reason(harness: HarnessFactory) -> None:
    async with harness(TRAKT_PLUGIN_METADATA__USE_FOR_ENRICHMENT="false") as h:
        single = await h.api.get("/api/v1/metadata/movie", params={"imdb": "tt0133093"})
        batch = await h.api.post(
            "/api/v1/metadata/batch", json={"items": [{"type": "movie", "imdb": "tt0133093"}]}
        )
        assert h.requests() == 0
    for response in (single, batch):
        assert response.status_code == 404
        assert "use_for_enrichment" in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("movie", {"tvdb": "1"}, "tvdb"),
        ("episode", {"slug": "pilot"}, "slug"),
        ("movie", {"imdb": "tt0133093", "tmdb": "603"}, "tmdb"),
        ("show", {}, "id"),
        ("movie", {"imdb": "0133093"}, "imdb"),
        ("show", {"tmdb": "-3"}, "tmdb"),
        ("person", {"trakt": "1"}, "kind"),
    ],
)
async def test_invalid_lookups_answer_422_naming_the_field(
    harness: HarnessFactory, path: str, params: dict[str, str], field: str
) -> None:
    async with harness() as h:
        response = await h.api.get(f"/api/v1/metadata/{path}", params=params)
        assert h.requests() == 0
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert response.json()["error"]


async def test_unknown_item_answers_404(harness: HarnessFactory) -> None:
    async with harness() as h:
        response = await h.api.get("/api/v1/metadata/movie", params={"tmdb": "999999"})
    assert response.status_code == 404
    assert "999999" in response.json()["error"]
