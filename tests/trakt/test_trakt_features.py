"""Watchlist, ratings, metadata, stats, lists and recommendations through the client."""

from __future__ import annotations

import pytest

from tests.fake_trakt import FakeClock, FakeTrakt
from tests.fake_trakt.testing import connect
from trakt_plugin.trakt import TraktClient, errors
from trakt_plugin.trakt.models import Movie, Show

MATRIX = {"ids": {"imdb": "tt0133093"}}
BREAKING_BAD = {"ids": {"tvdb": 81189}}


@pytest.mark.asyncio
async def test_watchlist_round_trip(fake: FakeTrakt, client: TraktClient, clock: FakeClock) -> None:
    user = connect(fake, client, clock)
    added = await client.add_watchlist(
        user, {"movies": [MATRIX, {"ids": {"tmdb": 1}}], "shows": [BREAKING_BAD]}
    )
    assert (added.added.movies, added.added.shows) == (1, 1)
    assert added.not_found.movies == [{"ids": {"tmdb": 1}}]
    again = await client.add_watchlist(user, {"movies": [MATRIX]})
    assert again.existing.movies == 1 and again.added.movies == 0
    items = await client.get_watchlist(user)
    assert [(i.rank, i.type) for i in items] == [(1, "movie"), (2, "show")]
    assert items[1].show is not None and items[1].show.ids.trakt == 1388
    # watching an episode drops the whole show from the watchlist (Trakt's auto-removal)
    await client.add_history(user, {"episodes": [{"ids": {"trakt": 73482}}]})
    assert [i.type for i in await client.get_watchlist(user)] == ["movie"]
    removed = await client.remove_watchlist(user, {"movies": [MATRIX]})
    assert removed.deleted.movies == 1
    assert await client.get_watchlist(user, "movies") == []


@pytest.mark.asyncio
async def test_watchlist_limit_is_420_with_the_limit(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    fake.users["alice"].limits["watchlist"]["item_count"] = 1
    await client.add_watchlist(user, {"movies": [MATRIX]})
    with pytest.raises(errors.AccountLimitExceeded) as caught:
        await client.add_watchlist(user, {"movies": [{"ids": {"trakt": 16662}}]})
    assert caught.value.account_limit == 1 and caught.value.vip is False
    assert caught.value.upgrade_url


@pytest.mark.asyncio
async def test_ratings_round_trip(fake: FakeTrakt, client: TraktClient, clock: FakeClock) -> None:
    user = connect(fake, client, clock)
    added = await client.add_ratings(
        user, {"movies": [{**MATRIX, "rating": 9}], "shows": [{**BREAKING_BAD, "rating": 11}]}
    )
    assert added.added.movies == 1 and len(added.not_found.shows) == 1
    rated = await client.get_ratings(user)
    assert [(r.type, r.rating) for r in rated] == [("movie", 9)]
    removed = await client.remove_ratings(user, {"movies": [MATRIX]})
    assert removed.deleted.movies == 1
    assert await client.get_ratings(user, "movies") == []


@pytest.mark.asyncio
async def test_metadata_without_a_user(fake: FakeTrakt, client: TraktClient) -> None:
    found = await client.search_id("tvdb", 349232, "episode")
    assert len(found) == 1 and found[0].episode is not None and found[0].show is not None
    assert (found[0].episode.season, found[0].episode.number) == (1, 1)
    movie = await client.summary("movie", "tt0133093")
    assert isinstance(movie, Movie) and movie.runtime == 136
    show = await client.summary("show", "breaking-bad")
    assert isinstance(show, Show) and show.ids.tvdb == 81189
    assert all("authorization" not in r.headers for r in fake.requests)


@pytest.mark.asyncio
async def test_ratings_in_both_shapes(fake: FakeTrakt, client: TraktClient) -> None:
    every = await client.ratings("movie", 481)
    sources = every.by_source()
    assert {"trakt", "imdb", "tmdb", "metascore", "rotten_tomatoes", "letterboxd"} <= set(sources)
    assert sources["rotten_tomatoes"].state == "fresh"
    assert every.mal is None
    plain = await client.ratings("movie", 481, extended=None)
    assert plain.rating is not None and plain.by_source()["trakt"].rating == plain.rating
    episode = await client.episode_ratings("breaking-bad", 1, 2)
    assert episode.by_source()["tmdb"].rating == 8.0
    with pytest.raises(errors.NotFound):
        await client.ratings("show", "no-such-show")


@pytest.mark.asyncio
async def test_stats_lists_and_recommendations(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    await client.add_history(user, {"movies": [MATRIX]})
    stats = await client.user_stats(user)
    assert stats["movies"]["plays"] == 1 and stats["movies"]["minutes"] == 136
    favourites = fake.add_list("alice", "Favourites", fake.items[:2])
    lists = await client.user_lists(user)
    assert [(x.name, x.item_count, x.ids.trakt) for x in lists] == [
        ("Favourites", 2, favourites.trakt)
    ]
    items = await client.list_items(user, favourites.trakt)
    assert [i.movie.title for i in items if i.movie] == ["The Matrix", "Inception"]
    picks = await client.recommendations(user, "movies")
    assert [p.title for p in picks] == ["Inception"]  # The Matrix was watched
    assert fake.requests_to("/recommendations/movies")[0].query == {"limit": "100"}
