"""The Plex connector against the fake Plex (driven over HTTP, as python-plexapi talks to PMS)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from tests.fake_plex import build_library, episode_ids, movie_ids, show_ids
from tests.servers.conftest import PlexRig
from trakt_plugin.servers.base import (
    PAGE_SIZE,
    AccountNotWritable,
    ServerError,
    ServerUnauthorized,
    ServerUnreachable,
)
from trakt_plugin.servers.plex import PlexClient

T0 = 1_700_000_000


def _clean(ids: dict[str, str]) -> dict[str, object]:
    return {k: (v if k == "imdb" else int(v)) for k, v in ids.items()}


def test_info_names_the_server(plex: PlexRig) -> None:
    info = PlexClient(plex.url, plex.fake.owner_token).info()
    assert info.server_id == plex.fake.machine_identifier
    assert info.name == "Living Room"
    assert info.version == plex.fake.version
    # The token travels as a header, never in the URL.
    request = plex.fake.requests_to("/")[-1]
    assert request.token == plex.fake.owner_token
    assert "X-Plex-Token" not in request.raw_query


def test_accounts_with_identities_and_writability(plex: PlexRig) -> None:
    kid = plex.fake.add_account("kid")
    friend = plex.fake.add_account("Friend", kind="shared")
    assert kid.token
    client = PlexClient(plex.url, plex.fake.owner_token, account_tokens={str(kid.id): kid.token})
    accounts = {a.account_id: a for a in client.accounts()}
    assert set(accounts) == {"1", str(kid.id), str(friend.id)}  # PMS's nameless id 0 left out
    owner = accounts["1"]
    assert owner.owner and owner.writable and owner.reason is None
    assert (owner.identity.source, owner.identity.external_id) == ("plex", "olivia")
    assert accounts[str(kid.id)].writable
    shared = accounts[str(friend.id)]
    assert not shared.writable
    assert shared.reason and "token" in shared.reason
    assert shared.identity.external_id == "Friend"  # as Plex webhooks name it (Account.title)


def test_library_is_read_in_pages_of_at_least_500(plex: PlexRig) -> None:
    lib = build_library(plex.fake, movies=1203, shows=4, seasons=3, episodes=60, seed=3)
    plex.fake.clear_log()
    pages = list(PlexClient(plex.url, plex.fake.owner_token).library("1"))
    items = [item for page in pages for item in page]
    assert len(items) == len(lib.movies) + len(lib.episodes)
    assert len({item.key for item in items}) == len(items)
    listing = plex.fake.requests_to(prefix="/library/sections/")
    assert listing and all(int(r.headers["x-plex-container-size"]) >= PAGE_SIZE for r in listing)
    movie_pages = [r for r in listing if r.query.get("type") == "1"]
    episode_pages = [r for r in listing if r.query.get("type") == "4"]
    assert len(movie_pages) == math.ceil(len(lib.movies) / PAGE_SIZE)
    assert len(episode_pages) == math.ceil(len(lib.episodes) / PAGE_SIZE)
    # Nothing is fetched one item at a time.
    assert not plex.fake.requests_to(prefix="/library/metadata/")
    assert len(plex.fake.requests) <= 12


def test_library_ids_match_what_the_library_holds(plex: PlexRig) -> None:
    lib = build_library(plex.fake, movies=300, shows=12, seasons=2, episodes=5, seed=11)
    items = {
        item.key: item
        for page in PlexClient(plex.url, plex.fake.owner_token).library("1")
        for item in page
    }
    for i, movie in enumerate(lib.movies):
        item = items[str(movie.rating_key)]
        assert item.type == "movie" and item.title == movie.title and item.year == movie.year
        assert item.ids == _clean(movie.ids), movie.guid
        assert item.matched == bool(movie.ids)
        if movie.agent == "plex":
            assert item.ids == _clean(movie_ids(i))
    for s, show in enumerate(lib.shows):
        episodes = [e for season in show.children for e in season.children]
        for episode in episodes:
            item = items[str(episode.rating_key)]
            assert item.type == "episode" and item.show is not None
            assert item.show.title == show.title
            assert (item.season, item.number) == (episode.parent.index, episode.index)  # type: ignore[union-attr]
            if show.agent == "plex":
                assert item.ids == _clean(episode.ids)
                assert item.show.ids == _clean(show_ids(s))  # joined from the shows page
                assert item.show.year == show.year
            elif show.agent in ("thetvdb", "themoviedb"):
                assert item.ids == {}
                assert item.show.ids == _clean(show.ids)  # the legacy guid names the show
                assert item.matched
            else:
                assert not item.matched
    assert episode_ids(0)  # the builder's truth is what we compared against


def test_watched_state_time_runtime_and_rating_are_the_accounts(plex: PlexRig) -> None:
    section = plex.fake.add_section("Films", "movie")
    heat = plex.fake.add_movie(section, "Heat", year=1995, ids={"imdb": "tt0113277"})
    ronin = plex.fake.add_movie(section, "Ronin", year=1998, duration=7_320_000)
    kid = plex.fake.add_account("kid")
    assert kid.token
    plex.fake.set_state("olivia", heat, view_count=2, last_viewed_at=T0, user_rating=8.0)
    plex.fake.set_state(kid, ronin, view_count=1, last_viewed_at=T0 + 60)
    client = PlexClient(plex.url, plex.fake.owner_token, account_tokens={str(kid.id): kid.token})

    owner_view = {i.title: i for page in client.library("1") for i in page}
    assert owner_view["Heat"].watched and owner_view["Heat"].play_count == 2
    assert owner_view["Heat"].last_watched_at == datetime.fromtimestamp(T0, UTC)
    assert owner_view["Heat"].user_rating == 8.0
    assert owner_view["Heat"].runtime == 120
    assert not owner_view["Ronin"].watched and owner_view["Ronin"].last_watched_at is None
    assert owner_view["Ronin"].runtime == 122

    kid_view = {i.title: i for page in client.library(str(kid.id)) for i in page}
    assert kid_view["Ronin"].watched and not kid_view["Heat"].watched
    assert kid_view["Ronin"].last_watched_at == datetime.fromtimestamp(T0 + 60, UTC)
    kid_requests = plex.fake.requests_to(f"/library/sections/{section.key}/all")
    assert kid_requests[-1].token == kid.token


def test_an_account_without_its_own_token_is_read_from_the_play_history(plex: PlexRig) -> None:
    section = plex.fake.add_section("Films", "movie")
    heat = plex.fake.add_movie(section, "Heat", ids={"imdb": "tt0113277"})
    plex.fake.add_movie(section, "Ronin")
    friend = plex.fake.add_account("Friend", kind="shared")
    plex.fake.add_play(friend, heat, viewed_at=T0)
    plex.fake.add_play(friend, heat, viewed_at=T0 + 3600)
    plex.fake.set_state("olivia", heat, view_count=0)
    client = PlexClient(plex.url, plex.fake.owner_token)  # no token of Friend's
    view = {i.title: i for page in client.library(str(friend.id)) for i in page}
    assert view["Heat"].watched and view["Heat"].play_count == 2
    assert view["Heat"].last_watched_at == datetime.fromtimestamp(T0 + 3600, UTC)
    assert not view["Ronin"].watched
    history = plex.fake.requests_to("/status/sessions/history/all")
    assert history and history[0].query["accountID"] == str(friend.id)
    assert all(r.token == plex.fake.owner_token for r in plex.fake.requests)


def test_short_pages_are_followed(plex: PlexRig) -> None:
    lib = build_library(plex.fake, movies=700, shows=1, seasons=1, episodes=3, seed=5)
    plex.fake.page_cap = 300  # PMS may answer fewer than asked (docs §2.3)
    items = [i for page in PlexClient(plex.url, plex.fake.owner_token).library("1") for i in page]
    assert len(items) == len(lib.movies) + len(lib.episodes)


def test_marks_and_ratings_change_one_account_only(plex: PlexRig) -> None:
    section = plex.fake.add_section("Films", "movie")
    heat = plex.fake.add_movie(section, "Heat", ids={"imdb": "tt0113277"})
    kid = plex.fake.add_account("kid")
    assert kid.token
    client = PlexClient(plex.url, plex.fake.owner_token, account_tokens={str(kid.id): kid.token})
    key = str(heat.rating_key)

    client.mark_watched(str(kid.id), key, datetime(2020, 1, 1, tzinfo=UTC))
    assert plex.fake.watched_keys(kid) == {heat.rating_key}
    assert plex.fake.watched_keys("olivia") == set()
    assert plex.fake.writes()[-1].token == kid.token

    client.set_rating(str(kid.id), key, 7.0)
    assert plex.fake.state(kid, heat).user_rating == 7.0
    assert plex.fake.state("olivia", heat).user_rating is None
    client.set_rating(str(kid.id), key, None)
    assert plex.fake.state(kid, heat).user_rating is None

    client.mark_unwatched(str(kid.id), key)
    assert plex.fake.watched_keys(kid) == set()

    client.mark_watched("1", key)
    assert plex.fake.watched_keys("olivia") == {heat.rating_key}
    assert plex.fake.watched_keys(kid) == set()
    assert plex.fake.writes()[-1].token == plex.fake.owner_token


def test_an_account_without_a_token_is_not_written(plex: PlexRig) -> None:
    section = plex.fake.add_section("Films", "movie")
    heat = plex.fake.add_movie(section, "Heat")
    friend = plex.fake.add_account("Friend", kind="shared")
    client = PlexClient(plex.url, plex.fake.owner_token)
    with pytest.raises(AccountNotWritable):
        client.mark_watched(str(friend.id), str(heat.rating_key))
    assert plex.fake.writes() == []  # never falls back to the owner's token


def test_wrong_token_is_unauthorized_and_never_named(plex: PlexRig) -> None:
    token = "wrong-token-9f8e7d6c5b4a"
    with pytest.raises(ServerUnauthorized) as caught:
        PlexClient(plex.url, token).info()
    assert caught.value.status == 401
    assert token not in str(caught.value) and token not in repr(caught.value.args)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_token_that_is_not_the_owners_cannot_list_accounts(plex: PlexRig) -> None:
    kid = plex.fake.add_account("kid")
    assert kid.token
    client = PlexClient(plex.url, kid.token)
    assert client.info().server_id == plex.fake.machine_identifier
    with pytest.raises(ServerUnauthorized) as caught:
        client.accounts()
    assert "owner" in caught.value.reason
    assert kid.token not in caught.value.reason


def test_stopped_server_is_unreachable(plex: PlexRig) -> None:
    client = PlexClient(plex.url, plex.fake.owner_token, timeout=2)
    plex.server.stop()
    with pytest.raises(ServerUnreachable) as caught:
        client.info()
    assert "connection refused" in caught.value.reason
    plex.server.start()
    assert client.info().name == "Living Room"


def test_server_errors_are_server_errors(plex: PlexRig) -> None:
    plex.fake.fail_next(1, 500, path="/")
    with pytest.raises(ServerError) as caught:
        PlexClient(plex.url, plex.fake.owner_token).info()
    assert not isinstance(caught.value, ServerUnauthorized | ServerUnreachable)
    assert caught.value.status == 500


def test_a_hanging_server_times_out(plex: PlexRig) -> None:
    plex.fake.hang_seconds = 5
    plex.fake.fail_next(1, "hang", path="/")
    with pytest.raises(ServerUnreachable) as caught:
        PlexClient(plex.url, plex.fake.owner_token, timeout=0.5).info()
    assert "timed out" in caught.value.reason
    plex.fake.release_hangs()


def test_writes_carry_the_token_as_a_header_and_plexapis_identity(plex: PlexRig) -> None:
    section = plex.fake.add_section("Films", "movie")
    heat = plex.fake.add_movie(section, "Heat", ids={"imdb": "tt0113277"})
    client = PlexClient(plex.url, plex.fake.owner_token)
    client.mark_watched("1", str(heat.rating_key))
    client.set_rating("1", str(heat.rating_key), 8.0)
    (mark, rate) = plex.fake.writes()
    assert (mark.method, mark.path, rate.method, rate.path) == (
        "GET",
        "/:/scrobble",
        "PUT",
        "/:/rate",
    )
    assert mark.query == {"key": str(heat.rating_key), "identifier": "com.plexapp.plugins.library"}
    for write in (mark, rate):
        assert write.token == plex.fake.owner_token and plex.fake.owner_token not in write.raw_query
        assert write.headers.get("x-plex-client-identifier")
    assert plex.fake.state("olivia", heat).user_rating == 8.0


def test_a_write_after_the_server_restarted_opens_a_new_connection(plex: PlexRig) -> None:
    """A kept-alive connection the server closed is not used for the next write."""
    section = plex.fake.add_section("Films", "movie")
    movies = [plex.fake.add_movie(section, f"Film {i}") for i in range(3)]
    client = PlexClient(plex.url, plex.fake.owner_token)
    client.mark_watched("1", str(movies[0].rating_key))
    plex.server.stop()
    plex.server.start()
    client.mark_watched("1", str(movies[1].rating_key))
    client.mark_watched("1", str(movies[2].rating_key))
    assert plex.fake.watched_keys("olivia") == {m.rating_key for m in movies}


def test_write_failures_are_named_without_the_token(plex: PlexRig) -> None:
    section = plex.fake.add_section("Films", "movie")
    heat = plex.fake.add_movie(section, "Heat")
    key = str(heat.rating_key)
    client = PlexClient(plex.url, plex.fake.owner_token, timeout=0.5)

    plex.fake.fail_next(1, 500, path="/:/scrobble")
    with pytest.raises(ServerError) as caught:
        client.mark_watched("1", key)
    assert caught.value.status == 500 and "/:/scrobble" in caught.value.reason

    plex.fake.fail_next(1, 401, path="/:/scrobble")
    with pytest.raises(ServerUnauthorized) as refused:
        client.mark_watched("1", key)
    assert refused.value.status == 401

    plex.fake.hang_seconds = 5
    plex.fake.fail_next(1, "hang", path="/:/scrobble")
    with pytest.raises(ServerUnreachable) as slow:
        client.mark_watched("1", key)
    assert "timed out" in slow.value.reason
    plex.fake.release_hangs()

    plex.server.stop()
    with pytest.raises(ServerUnreachable) as down:
        client.mark_watched("1", key)
    assert "connection refused" in down.value.reason
    for error in (caught, refused, slow, down):
        assert plex.fake.owner_token not in str(error.value)
