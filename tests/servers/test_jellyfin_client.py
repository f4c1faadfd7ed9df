"""The Jellyfin/Emby connector against the fake Jellyfin in both flavours (over HTTP)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from tests.fake_jellyfin import FakeJellyfin, build_library, serve_in_thread
from tests.servers.conftest import JELLYFIN_KEY, JellyfinRig
from trakt_plugin.servers.base import (
    PAGE_SIZE,
    NotSupported,
    ServerError,
    ServerUnauthorized,
    ServerUnreachable,
)
from trakt_plugin.servers.jellyfin import JellyfinClient

T0 = 1_700_000_000


def _client(rig: JellyfinRig, token: str = JELLYFIN_KEY, **kwargs: object) -> JellyfinClient:
    return JellyfinClient(rig.url, token, flavour=rig.fake.flavour, **kwargs)  # type: ignore[arg-type]


def _int_ids(
    raw: dict[str, str], kinds: tuple[str, ...] = ("imdb", "tmdb", "tvdb")
) -> dict[str, object]:
    """What Trakt can use of ``ProviderIds`` (AniDB and friends are dropped)."""
    return {
        k.lower(): (v if k.lower() == "imdb" else int(v))
        for k, v in raw.items()
        if k.lower() in kinds
    }


def test_info_and_how_the_token_travels(jellyfin: JellyfinRig) -> None:
    info = _client(jellyfin).info()
    assert info.server_id == jellyfin.fake.server_id
    assert info.name == jellyfin.fake.server_name and info.version == jellyfin.fake.version
    request = jellyfin.fake.requests_to("/System/Info")[-1]
    assert request.caller == "api_key"
    assert JELLYFIN_KEY not in str(request.query)
    if jellyfin.kind == "emby":
        assert request.path.startswith("/emby/")
        assert request.auth_via == "X-Emby-Token"
    else:
        assert not request.path.startswith("/emby")
        assert request.auth_via == "Authorization"
        assert request.headers["authorization"].startswith("MediaBrowser ")


def test_jellyfin_12_without_legacy_authorization() -> None:
    fake = FakeJellyfin("jellyfin", version="12.0.0", api_key=JELLYFIN_KEY)
    assert not fake.legacy_auth
    with serve_in_thread(fake) as server:
        client = JellyfinClient(server.url, JELLYFIN_KEY)
        assert client.info().version == "12.0.0"
        assert client.accounts() == []


def test_accounts_are_users_with_their_ids_as_identities(jellyfin: JellyfinRig) -> None:
    alice = jellyfin.fake.add_user("alice", admin=True)
    bob = jellyfin.fake.add_user("bob", hidden=True)
    accounts = {a.name: a for a in _client(jellyfin).accounts()}
    assert set(accounts) == {"alice", "bob"}
    for user in (alice, bob):
        account = accounts[user.name]
        assert account.account_id == user.id
        assert (account.identity.source, account.identity.external_id) == (jellyfin.kind, user.id)
        assert account.writable and account.reason is None
    if jellyfin.kind == "emby":
        # /Users answers 403 to API keys on Emby (docs §4): /Users/Query is asked instead.
        assert jellyfin.fake.requests_to("/Users/Query")
        assert not jellyfin.fake.requests_to("/Users")


def test_jellyfin_user_ids_are_normalised_to_32_lower_case_hex() -> None:
    fake = FakeJellyfin("jellyfin", api_key=JELLYFIN_KEY)
    fake.add_user("carol", user_id="5E7A9C1B3D5F7E9A1C3E5B7D9F1A3C5E")
    with serve_in_thread(fake) as server:
        (account,) = JellyfinClient(server.url, JELLYFIN_KEY).accounts()
    assert account.account_id == "5e7a9c1b3d5f7e9a1c3e5b7d9f1a3c5e"
    assert account.identity.external_id == "5e7a9c1b3d5f7e9a1c3e5b7d9f1a3c5e"


def test_emby_falls_back_to_users_when_the_query_route_is_missing() -> None:
    fake = FakeJellyfin("emby", api_key=JELLYFIN_KEY)
    fake.users_forbidden_for_api_keys = False
    fake.add_user("dave")
    fake.fail_next(1, 404, path="/Users/Query")
    with serve_in_thread(fake) as server:
        accounts = JellyfinClient(server.url, JELLYFIN_KEY, flavour="emby").accounts()
    assert [a.name for a in accounts] == ["dave"]
    assert fake.requests_to("/Users")


def test_library_is_read_in_pages_of_at_least_500(jellyfin: JellyfinRig) -> None:
    lib = build_library(
        jellyfin.fake, movies=1100, episodes=650, episodes_per_series=25, users=("alice",)
    )
    alice = lib.users[0]
    jellyfin.fake.clear_log()
    pages = list(_client(jellyfin).library(alice.id))
    items = [item for page in pages for item in page]
    assert len(items) == len(lib.movies) + len(lib.episodes)
    route = "/Users/{userId}/Items" if jellyfin.kind == "emby" else "/Items"
    listing = jellyfin.fake.requests_to(route)
    limits = [int(r.query.get("Limit") or r.query.get("limit") or 0) for r in listing]
    assert listing and all(limit >= PAGE_SIZE for limit in limits)
    series_pages = math.ceil(len(lib.series) / PAGE_SIZE)
    item_pages = math.ceil((len(lib.movies) + len(lib.episodes)) / PAGE_SIZE)
    assert len(listing) == series_pages + item_pages
    assert len(jellyfin.fake.requests) == len(listing)  # nothing item by item


def test_library_ids_watched_state_and_series_join(jellyfin: JellyfinRig) -> None:
    lib = build_library(
        jellyfin.fake, movies=120, episodes=60, episodes_per_series=20, users=("alice", "bob")
    )
    alice = lib.users[0]
    items = {item.key: item for page in _client(jellyfin).library(alice.id) for item in page}
    unmatched = {item.id for item in lib.unmatched}
    for movie in lib.movies:
        item = items[movie.id]
        assert item.type == "movie" and item.title == movie.name and item.year == movie.year
        assert item.ids == _int_ids(
            movie.provider_ids, ("imdb", "tmdb")
        )  # keys in any case (odd_case share)
        assert item.matched == (movie.id not in unmatched)
        assert item.runtime == round(movie.runtime_ticks / 600_000_000)  # type: ignore[operator]
    for series in lib.series:
        for episode in jellyfin.fake.episodes_of(series):
            item = items[episode.id]
            assert item.show is not None and item.show.title == series.name
            assert item.show.year == series.year
            assert item.show.ids == _int_ids(series.provider_ids)
            assert (item.season, item.number) == (episode.season, episode.number)
            assert item.ids == _int_ids(episode.provider_ids)
    played = lib.played[alice.id]
    assert {key for key, item in items.items() if item.watched} == played
    for key in played:
        data = jellyfin.fake.user_data(alice, jellyfin.fake.item(key))
        expected = datetime.fromtimestamp(data.last_played, UTC) if data.last_played else None
        got = items[key].last_watched_at
        assert got == expected or (
            got and expected and abs((got - expected).total_seconds()) < 1e-5
        )


def test_marks_change_one_user_only_with_the_date(jellyfin: JellyfinRig) -> None:
    alice, bob = jellyfin.fake.add_user("alice"), jellyfin.fake.add_user("bob")
    movie = jellyfin.fake.add_movie("The Matrix", 1999, {"Imdb": "tt0133093"})
    client = _client(jellyfin)
    at = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

    client.mark_watched(alice.id, movie.id, at)
    assert jellyfin.fake.user_data(alice, movie).played
    assert jellyfin.fake.user_data(alice, movie).last_played == at.timestamp()
    assert not jellyfin.fake.user_data(bob, movie).played
    (write,) = jellyfin.fake.writes
    if jellyfin.kind == "emby":
        assert write.path == f"/emby/Users/{alice.id}/PlayedItems/{movie.id}"
        assert write.query == {"DatePlayed": "20240506070809"}
    else:
        assert write.path == f"/UserPlayedItems/{movie.id}"
        assert write.query == {"datePlayed": "20240506070809", "userId": alice.id}
    read_back = {i.key: i for page in client.library(alice.id) for i in page}[movie.id]
    assert read_back.watched and read_back.last_watched_at == at

    client.mark_unwatched(alice.id, movie.id)
    assert not jellyfin.fake.user_data(alice, movie).played

    with pytest.raises(NotSupported):
        client.set_rating(alice.id, movie.id, 8)


def test_jellyfin_before_10_9_uses_the_user_routes() -> None:
    fake = FakeJellyfin("jellyfin", version="10.8.13", api_key=JELLYFIN_KEY)
    alice = fake.add_user("alice")
    movie = fake.add_movie("Heat", 1995, {"Imdb": "tt0113277"})
    with serve_in_thread(fake) as server:
        client = JellyfinClient(server.url, JELLYFIN_KEY)
        client.mark_watched(alice.id, movie.id, datetime(2024, 1, 1, tzinfo=UTC))
        assert fake.user_data(alice, movie).played
        client.mark_unwatched(alice.id, movie.id)
        assert not fake.user_data(alice, movie).played
        with pytest.raises(ServerError) as caught:
            client.mark_watched(alice.id, "0" * 32)
        assert caught.value.status == 404


def test_wrong_token_is_unauthorized_and_never_named(jellyfin: JellyfinRig) -> None:
    token = "0123456789abcdef0123456789abcdef"
    with pytest.raises(ServerUnauthorized) as caught:
        _client(jellyfin, token).info()
    assert caught.value.status == 401
    assert token not in str(caught.value) and caught.value.__suppress_context__ is False
    assert caught.value.__context__ is None


def test_stopped_server_is_unreachable(jellyfin: JellyfinRig) -> None:
    client = _client(jellyfin, timeout=2)
    jellyfin.server.stop()
    with pytest.raises(ServerUnreachable) as caught:
        client.info()
    assert "connection refused" in caught.value.reason
    jellyfin.server.start()
    assert client.info().server_id == jellyfin.fake.server_id


def test_failures_map_to_the_error_tree(jellyfin: JellyfinRig) -> None:
    client = _client(jellyfin, timeout=1)
    jellyfin.fake.fail_next(1, 500, path="/System/Info")
    with pytest.raises(ServerError) as caught:
        client.info()
    assert type(caught.value) is ServerError and caught.value.status == 500
    jellyfin.fake.fail_next(1, "drop", path="/System/Info")
    with pytest.raises(ServerUnreachable):
        client.info()
    jellyfin.fake.hang_seconds = 3
    jellyfin.fake.fail_next(1, "hang", path="/System/Info")
    with pytest.raises(ServerUnreachable) as hung:
        client.info()
    assert "timed out" in hung.value.reason


def test_marks_travel_with_the_token_as_a_header_and_survive_a_restart(
    jellyfin: JellyfinRig,
) -> None:
    """Marks go on kept-alive connections: the token in a header (never the URL), a connection
    the server closed is not used again, and failures are named without the token."""
    alice = jellyfin.fake.add_user("alice")
    movies = [
        jellyfin.fake.add_movie(f"Film {i}", 2000 + i, {"Imdb": f"tt0{i}00001"}) for i in range(3)
    ]
    client = _client(jellyfin, timeout=1)
    client.mark_watched(alice.id, movies[0].id)
    jellyfin.server.stop()
    jellyfin.server.start()
    client.mark_watched(alice.id, movies[1].id)
    client.mark_watched(alice.id, movies[2].id)
    assert all(jellyfin.fake.user_data(alice, m).played for m in movies)
    marks = [r for r in jellyfin.fake.requests if r.method == "POST" and "PlayedItems" in r.path]
    assert len(marks) == 3 and all(r.caller == "api_key" for r in marks)
    assert all(JELLYFIN_KEY not in f"{r.path}?{r.query}" for r in marks)

    jellyfin.fake.fail_next(1, 500, path=marks[0].local_path)
    with pytest.raises(ServerError) as failed:
        client.mark_watched(alice.id, movies[0].id)
    assert failed.value.status == 500 and "PlayedItems" in failed.value.reason
    jellyfin.server.stop()
    with pytest.raises(ServerUnreachable) as down:
        client.mark_unwatched(alice.id, movies[0].id)
    assert "connection refused" in down.value.reason
    for error in (failed, down):
        assert JELLYFIN_KEY not in str(error.value)
