"""Filling unknown play runtimes in the background (SPEC §8 watch time): from the item, from the
metadata cache, else from a bounded number of Trakt lookups whose answers are cached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests import pg
from tests.enrich.conftest import Harness, HarnessFactory
from trakt_plugin.enrich import enrichment
from trakt_plugin.enrich.runtimes import fill_play_runtimes

DAY = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
BB = {"title": "Breaking Bad", "year": 2008, "ids": {"tvdb": 81189}}


def movie(title: str, **ids: Any) -> dict[str, Any]:
    return {"type": "movie", "movie": {"title": title, "year": 2000, "ids": ids}}


def episode(number: int, **ids: Any) -> dict[str, Any]:
    return {"type": "episode", "show": BB,
            "episode": {"season": 1, "number": number, "title": "", "ids": ids}}  # fmt: skip


PLAYS: list[tuple[str, dict[str, Any]]] = [
    ("cached", movie("The Matrix", imdb="tt0133093")),  # in the metadata cache beforehand: 136
    ("looked up", movie("Inception", imdb="tt1375666")),  # one Trakt lookup: 148
    ("episode", episode(2, tvdb=349235)),  # the episode's own lookup: 47
    ("show only", episode(9)),  # no episode ids: its show's runtime, 47
    ("unknown", movie("Obscure", imdb="tt0000042")),  # Trakt knows nothing
    ("no ids", movie("Home video")),  # nothing to ask with
    ("in item", {"type": "movie", "movie": {"title": "Imported", "year": 2001,
                                            "ids": {"imdb": "tt0000043"}, "runtime": 99}}),
]  # fmt: skip
EXPECTED = {"cached": 136, "looked up": 148, "episode": 47, "show only": 47, "in item": 99}


def _seed(h: Harness) -> str:
    user = h.add_user("Gil")
    h.add_plays(
        user,
        [
            {"item": item, "watched_at": DAY + timedelta(minutes=n), "source": "api"}
            for n, (_, item) in enumerate(PLAYS)
        ],
    )
    return user


def _runtimes(h: Harness) -> dict[str, int | None]:
    url = h.ctx.settings.effective_database_url
    rows = pg.query(url, "SELECT runtime FROM play ORDER BY watched_at")
    return {name: row["runtime"] for (name, _), row in zip(PLAYS, rows, strict=True)}


def _lookup_paths(h: Harness, since: int) -> list[str]:
    return [r.path for r in h.fake.requests[since:]]


async def test_unknown_runtimes_are_filled_from_cache_then_bounded_lookups(
    harness: HarnessFactory,
) -> None:
    async with harness() as h:
        cached = await h.api.get("/api/v1/metadata/movie", params={"imdb": "tt0133093"})
        assert cached.json()["runtime"] == 136
        user = _seed(h)
        before = await h.api.get(f"/api/v1/users/{user}/stats")
        assert before.json()["local"]["totals"]["minutes"] == 136 + 99  # read-time fallbacks
        filler = enrichment(h.ctx).runtimes

        start = h.requests()
        first = await filler.fill(max_lookups=2)
        assert first.lookups == 2
        assert _runtimes(h)["cached"] == 136 and _runtimes(h)["in item"] == 99
        assert "/movies/tt0133093" not in _lookup_paths(h, start)  # the cache answered

        await filler.fill(max_lookups=2)  # continues where the first run stopped
        await filler.fill(max_lookups=2)
        runtimes = _runtimes(h)
        assert {k: v for k, v in runtimes.items() if v is not None} == EXPECTED
        assert runtimes["unknown"] is None and runtimes["no ids"] is None

        asked = h.requests()
        again = await filler.fill()  # what Trakt did not know is not asked again soon
        assert (again.filled, again.lookups) == (0, 0)
        assert h.requests() == asked

        after = (await h.api.get(f"/api/v1/users/{user}/stats")).json()["local"]
    assert after["plays_per_day"] == [
        {"date": "2026-11-23", "plays": len(PLAYS), "minutes": sum(EXPECTED.values())}
    ]
    assert after["totals"]["unknown_runtime"] == 2


async def test_ratings_are_not_fetched_and_lookups_stop_when_enrichment_is_off(
    harness: HarnessFactory,
) -> None:
    async with harness(TRAKT_PLUGIN_METADATA__FETCH_RATINGS="true") as h:
        _seed(h)
        start = h.requests()
        await enrichment(h.ctx).runtimes.fill()
        assert not [p for p in _lookup_paths(h, start) if p.endswith("/ratings")]
        assert _runtimes(h)["looked up"] == 148
    async with harness(TRAKT_PLUGIN_METADATA__USE_FOR_ENRICHMENT="false") as h:
        _seed(h)
        start = h.requests()  # the fake is shared with the first harness
        report = await enrichment(h.ctx).runtimes.fill()
        assert report.lookups == 0 and h.requests() == start
        runtimes = _runtimes(h)
        assert runtimes["in item"] == 99 and runtimes["looked up"] is None


async def test_the_job_survives_a_missing_app_credential(harness: HarnessFactory) -> None:
    async with harness(TRAKT_CLIENT_ID="", TRAKT_CLIENT_SECRET="") as h:
        _seed(h)
        await fill_play_runtimes(h.ctx)  # logs, never raises; the item's own runtime still fills
        assert _runtimes(h)["in item"] == 99
        assert _runtimes(h)["looked up"] is None
