"""The fake Plex checked against the real client library (python-plexapi) and raw HTTP.

Everything runs against uvicorn on 127.0.0.1; a guard fails any test that resolves another
host (plexapi reaches plex.tv for some calls: `myPlexAccount()`, `switchUser`, a session's
`.user` — none of them is used here).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import requests
from plexapi.exceptions import BadRequest, NotFound, Unauthorized
from plexapi.server import PlexServer

from tests.fake_plex import (
    FakePlex,
    PlexServerThread,
    build_library,
    episode_ids,
    movie_ids,
    serve_in_thread,
)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
T0 = 1_790_000_000


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse (and remember) any name lookup that is not loopback."""
    seen: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        seen.append(name)
        if name not in LOOPBACK:
            raise AssertionError(f"a test tried to reach {name}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield seen
    assert set(seen) <= LOOPBACK


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakePlex:
    return FakePlex(friendly_name="Household", version="1.41.9.9961-46083195d", clock=clock)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.trust_env = False  # no proxy from the environment: loopback only
        yield http


@pytest.fixture
def url(fake: FakePlex) -> Iterator[str]:
    with serve_in_thread(fake) as base_url:
        yield base_url


def connect(url: str, token: str, session: requests.Session, timeout: int = 5) -> PlexServer:
    return PlexServer(url, token, session=session, timeout=timeout)


# ---------------------------------------------------------------------- identity and auth


def test_identity_and_root_through_plexapi(
    fake: FakePlex, url: str, session: requests.Session
) -> None:
    plex = connect(url, fake.owner_token, session)
    assert plex.friendlyName == "Household"
    assert plex.version == "1.41.9.9961-46083195d"
    assert plex.machineIdentifier == fake.machine_identifier
    assert plex.myPlexUsername == "owner"
    identity = plex.identity()
    assert (identity.machineIdentifier, identity.version) == (fake.machine_identifier, fake.version)
    assert fake.requests[0].headers["x-plex-token"] == fake.owner_token
    assert fake.requests[0].account_id == 1


def test_wrong_or_missing_token_is_401(fake: FakePlex, url: str, session: requests.Session) -> None:
    with pytest.raises(Unauthorized):
        connect(url, "not-a-token", session)
    assert session.get(f"{url}/").status_code == 401
    # /identity answers without a token, as PMS does
    assert session.get(f"{url}/identity").status_code == 200
    # the token may come as a query parameter instead of a header
    assert session.get(f"{url}/?X-Plex-Token={fake.owner_token}").status_code == 200
    assert [r.status for r in fake.requests] == [401, 401, 200, 200]
    assert fake.requests[0].account_id is None


def test_revoked_token_stops_working(fake: FakePlex, url: str, session: requests.Session) -> None:
    kid = fake.add_account("kid")
    assert kid.token
    connect(url, kid.token, session)
    fake.revoke_token(kid.token)
    with pytest.raises(Unauthorized):
        connect(url, kid.token, session)


# ---------------------------------------------------------------------- library and paging


def test_sections_search_and_paging(fake: FakePlex, url: str, session: requests.Session) -> None:
    lib = build_library(fake, movies=45, shows=3, seasons=2, episodes=5, legacy=0, no_ids=0)
    plex = connect(url, fake.owner_token, session)
    sections = plex.library.sections()
    assert [(s.key, s.type, s.title) for s in sections] == [
        (1, "movie", "Movies"),
        (2, "show", "TV Shows"),
    ]
    movies, shows = sections
    fake.clear_log()
    page = movies.search(libtype="movie", container_start=10, container_size=20, maxresults=20)
    assert [m.ratingKey for m in page] == [m.rating_key for m in lib.movies[10:30]]
    assert page[0].guids[0].id == f"imdb://{movie_ids(10)['imdb']}"
    logged = fake.requests_to("/library/sections/1/all")
    assert logged[0].headers["x-plex-container-start"] == "10"
    assert logged[0].headers["x-plex-container-size"] == "20"
    assert logged[0].query["includeGuids"] == "1" and logged[0].query["type"] == "1"

    # plexapi pages through everything with the size it is given
    fake.clear_log()
    episodes = shows.search(libtype="episode", container_size=7)
    assert len(episodes) == 30 == shows.totalViewSize(libtype="episode")
    pages = fake.requests_to("/library/sections/2/all")
    assert [r.headers.get("x-plex-container-start") for r in pages[:5]] == [
        "0",
        "7",
        "14",
        "21",
        "28",
    ]
    assert pages[-1].query["X-Plex-Container-Size"] == "0"  # totalViewSize: paging by query
    first = episodes[0]
    assert (first.grandparentTitle, first.parentIndex, first.index) == ("Show 0", 1, 1)
    assert first.grandparentRatingKey == lib.shows[0].rating_key
    assert first.grandparentGuid == lib.shows[0].guid
    assert [g.id for g in first.guids] == [
        f"imdb://{episode_ids(0)['imdb']}",
        f"tmdb://{episode_ids(0)['tmdb']}",
        f"tvdb://{episode_ids(0)['tvdb']}",
    ]
    assert first.duration == 2_700_000
    assert [s.title for s in shows.all()] == ["Show 0", "Show 1", "Show 2"]
    assert len(plex.fetchItem(lib.shows[1].rating_key).episodes()) == 10  # allLeaves


def test_guid_forms_new_legacy_and_none(
    fake: FakePlex, url: str, session: requests.Session
) -> None:
    movies = fake.add_section("Movies", "movie")
    shows = fake.add_section("TV", "show")
    new = fake.add_movie(movies, "The Matrix", year=1999, ids={"imdb": "tt0133093", "tmdb": 603})
    imdb = fake.add_movie(movies, "Old Matrix", ids={"imdb": "tt0133093"}, agent="imdb")
    tmdb = fake.add_movie(movies, "Old Inception", ids={"tmdb": 27205}, agent="themoviedb")
    home = fake.add_movie(movies, "Holiday 2019", agent="none")
    local = fake.add_movie(movies, "Unmatched", agent="local")
    buffy = fake.add_show(shows, "Buffy", ids={"tvdb": 70327}, agent="thetvdb")
    episode = fake.add_episode(buffy, 1, 2, "The Harvest")
    plex = connect(url, fake.owner_token, session)

    found = {m.ratingKey: m for m in plex.library.sectionByID(movies.key).all()}
    assert [g.id for g in found[new.rating_key].guids] == ["imdb://tt0133093", "tmdb://603"]
    assert found[new.rating_key].guid.startswith("plex://movie/")
    assert found[imdb.rating_key].guid == "com.plexapp.agents.imdb://tt0133093?lang=en"
    assert found[tmdb.rating_key].guid == "com.plexapp.agents.themoviedb://27205?lang=en"
    assert found[home.rating_key].guid.startswith("com.plexapp.agents.none://")
    assert found[local.rating_key].guid == f"local://{local.rating_key}"
    for legacy in (imdb, tmdb, home, local):
        assert found[legacy.rating_key].guids == []  # legacy and id-less items: no Guid tags
    got = plex.fetchItem(episode.rating_key)
    assert got.guid == "com.plexapp.agents.thetvdb://70327/1/2?lang=en"
    assert got.grandparentGuid == "com.plexapp.agents.thetvdb://70327?lang=en"
    assert got.parentGuid == "com.plexapp.agents.thetvdb://70327/1?lang=en"

    # Guid children only with includeGuids=1 on listings
    token = {"X-Plex-Token": fake.owner_token}
    plain = session.get(f"{url}/library/sections/{movies.key}/all", headers=token).text
    with_ids = session.get(
        f"{url}/library/sections/{movies.key}/all?includeGuids=1", headers=token
    ).text
    assert "<Guid " not in plain
    assert '<Guid id="imdb://tt0133093" />' in with_ids


# ---------------------------------------------------------------------- per-account state


def test_each_token_reads_and_writes_only_its_own_account(
    fake: FakePlex, clock: Clock, url: str, session: requests.Session
) -> None:
    movies = fake.add_section("Movies", "movie")
    matrix = fake.add_movie(movies, "The Matrix", ids={"imdb": "tt0133093"})
    heat = fake.add_movie(movies, "Heat", ids={"imdb": "tt0113277"})
    kid = fake.add_account("kid")
    assert kid.token
    fake.add_play(fake.owner, matrix, T0 - 5000)
    fake.set_state(kid, heat, view_count=3, last_viewed_at=T0 - 9000, user_rating=8.0)
    owner_plex = connect(url, fake.owner_token, session)
    kid_plex = connect(url, kid.token, session)  # the kid's own token, no switchUser

    def seen(plex: PlexServer) -> dict[int, tuple[int, float | None]]:
        return {
            m.ratingKey: (
                m.viewCount,
                m.lastViewedAt.timestamp() if m.lastViewedAt else None,
            )
            for m in plex.library.sectionByID(movies.key).search(libtype="movie")
        }

    assert seen(owner_plex) == {matrix.rating_key: (1, T0 - 5000), heat.rating_key: (0, None)}
    assert seen(kid_plex) == {matrix.rating_key: (0, None), heat.rating_key: (3, T0 - 9000)}

    clock.now = T0 + 60
    history_before = len(fake.history)
    fake.clear_log()
    kid_plex.fetchItem(matrix.rating_key).markPlayed()
    assert fake.writes()[0].path == "/:/scrobble"
    assert fake.writes()[0].account_id == kid.id
    assert fake.writes()[0].query == {
        "key": str(matrix.rating_key),
        "identifier": "com.plexapp.plugins.library",
    }
    assert fake.state(kid, matrix).view_count == 1
    assert fake.state(kid, matrix).last_viewed_at == T0 + 60  # now: Plex cannot back-date
    assert fake.state(fake.owner, matrix).view_count == 1  # untouched
    assert len(fake.history) == history_before  # marking writes no history row
    refetched = kid_plex.fetchItem(matrix.rating_key)
    assert refetched.isPlayed and refetched.lastViewedAt.timestamp() == T0 + 60

    kid_plex.fetchItem(heat.rating_key).markUnplayed()
    assert fake.state(kid, heat).view_count == 0
    assert fake.state(kid, heat).user_rating == 8.0  # unscrobble leaves the rating
    assert not kid_plex.fetchItem(heat.rating_key).isPlayed

    owner_matrix = owner_plex.fetchItem(matrix.rating_key)
    owner_matrix.markPlayed()
    assert fake.state(fake.owner, matrix).view_count == 2
    assert fake.state(kid, matrix).view_count == 1
    assert fake.watched_keys(kid) == {matrix.rating_key}


def test_ratings(fake: FakePlex, clock: Clock, url: str, session: requests.Session) -> None:
    movies = fake.add_section("Movies", "movie")
    matrix = fake.add_movie(movies, "The Matrix", ids={"imdb": "tt0133093"})
    plex = connect(url, fake.owner_token, session)
    item = plex.fetchItem(matrix.rating_key)
    assert item.userRating is None
    item.rate(7.5)
    assert fake.requests[-1].method == "PUT"
    assert plex.fetchItem(matrix.rating_key).userRating == 7.5
    assert fake.state(fake.owner, matrix).last_rated_at == T0
    item.rate(None)  # plexapi sends rating=-1
    assert fake.requests[-1].query["rating"] == "-1"
    assert fake.state(fake.owner, matrix).user_rating is None
    with pytest.raises(BadRequest):
        item.rate(11)  # refused by plexapi before sending
    base = f"{url}/:/rate?key={matrix.rating_key}&identifier=com.plexapp.plugins.library"
    token = {"X-Plex-Token": fake.owner_token}
    assert session.put(f"{base}&rating=11", headers=token).status_code == 400
    assert session.put(f"{base}&rating=6&ratedAt={T0 + 10}", headers=token).status_code == 400
    assert session.put(f"{base}&rating=6&ratedAt={T0 - 10}", headers=token).status_code == 200
    assert fake.state(fake.owner, matrix).last_rated_at == T0 - 10
    wrong = f"{url}/:/scrobble?key={matrix.rating_key}&identifier=com.plexapp.agents.none"
    assert session.get(wrong, headers=token).status_code == 400
    unknown = f"{url}/:/scrobble?key=999&identifier=com.plexapp.plugins.library"
    assert session.get(unknown, headers=token).status_code == 404


# ---------------------------------------------------------------------- accounts and history


def test_system_accounts_and_history(fake: FakePlex, url: str, session: requests.Session) -> None:
    movies = fake.add_section("Movies", "movie")
    a, b, c = (fake.add_movie(movies, title) for title in ("A", "B", "C"))
    kid = fake.add_account("kid")
    guest = fake.add_account("guest", kind="shared")
    assert kid.token and guest.token
    fake.add_play(kid, a, T0 - 1000)
    fake.add_play(kid, b, T0 - 100)
    fake.add_play(fake.owner, c, T0 - 50)
    fake.add_play(guest, a, T0 - 10)
    plex = connect(url, fake.owner_token, session)

    accounts = {acc.id: acc.name for acc in plex.systemAccounts()}
    assert accounts == {0: "", 1: "owner", kid.id: "kid", guest.id: "guest"}

    everyone = plex.history()
    assert [(h.accountID, h.ratingKey) for h in everyone] == [
        (guest.id, a.rating_key),
        (1, c.rating_key),
        (kid.id, b.rating_key),
        (kid.id, a.rating_key),
    ]  # plexapi asks for sort=viewedAt:desc
    since = datetime.fromtimestamp(T0 - 500)
    recent = plex.history(accountID=kid.id, mindate=since)
    assert [(h.ratingKey, h.viewedAt.timestamp()) for h in recent] == [(b.rating_key, T0 - 100)]
    assert fake.requests[-1].query["viewedAt>"] == str(T0 - 500)  # i.e. viewedAt>=…
    assert recent[0].historyKey.startswith("/status/sessions/history/")
    assert recent[0].source().ratingKey == b.rating_key

    # another account's token sees only its own plays, and not the account list
    kid_plex = connect(url, kid.token, session)
    assert {h.accountID for h in kid_plex.history()} == {kid.id}
    with pytest.raises(Unauthorized):
        kid_plex.systemAccounts()

    # paging over history, with plexapi's container size
    for n in range(25):
        fake.add_play(kid, c, T0 - 5000 - n)
    assert len(plex.history(accountID=kid.id)) == 27
    fake.clear_log()
    assert len(plex.history(accountID=kid.id, maxresults=10)) == 10
    [asked] = fake.requests_to("/status/sessions/history/all")
    assert asked.headers["x-plex-container-size"] == "10"

    # a deleted item keeps its history rows, without a key to fetch it by
    fake.remove_item(b)
    rows = plex.history(accountID=kid.id)
    gone = next(h for h in rows if h.ratingKey == b.rating_key)
    assert gone.source() is None
    with pytest.raises(NotFound):
        plex.fetchItem(b.rating_key)


def test_shared_account_sees_only_its_sections(
    fake: FakePlex, url: str, session: requests.Session
) -> None:
    movies = fake.add_section("Movies", "movie")
    shows = fake.add_section("TV", "show")
    fake.add_movie(movies, "Heat")
    show = fake.add_show(shows, "Buffy", ids={"tvdb": 70327})
    fake.add_episode(show, 1, 1)
    friend = fake.add_account("friend", kind="shared", sections=[movies])
    assert friend.token
    plex = connect(url, friend.token, session)
    assert [s.title for s in plex.library.sections()] == ["Movies"]  # /library refused: 403
    assert fake.requests_to("/library")[0].status == 403
    with pytest.raises(NotFound):
        plex.fetchItem(show.rating_key)


# ---------------------------------------------------------------------- live sessions


def test_sessions(fake: FakePlex, clock: Clock, url: str, session: requests.Session) -> None:
    lib = build_library(fake, movies=2, shows=1, seasons=1, episodes=3, watched=0)
    kid = fake.add_account("kid")
    assert kid.token
    episode = lib.episodes[1]
    playing = fake.start_session(kid, episode, offset=600_000, player_title="Bedroom")
    plex = connect(url, fake.owner_token, session)
    [seen] = plex.sessions()
    assert seen.sessionKey == playing.session_key
    assert seen.ratingKey == episode.rating_key
    assert seen.usernames == ["kid"]  # not `.user`: that asks plex.tv
    assert (seen.player.title, seen.player.state) == ("Bedroom", "playing")
    assert seen.session.location == "lan"
    assert seen.viewOffset == 600_000
    assert seen.grandparentTitle == "Show 0" and seen.index == 2

    with pytest.raises(BadRequest):  # 403: only the owner reads /status/sessions
        connect(url, kid.token, session).sessions()

    fake.update_session(playing.session_key, state="paused")
    assert plex.sessions()[0].player.state == "paused"
    clock.now = T0 + 3000
    fake.update_session(playing.session_key, offset=2_500_000, state="playing")  # > 90 %
    assert [(h.account_id, h.item, h.viewed_at) for h in fake.history] == [
        (kid.id, episode, T0 + 3000)
    ]
    fake.stop_session(playing.session_key)
    assert plex.sessions() == []
    assert fake.state(kid, episode).view_count == 1
    assert len(fake.history) == 1  # recorded once

    short = fake.start_session(kid, lib.movies[0], offset=0)
    fake.stop_session(short.session_key, offset=120_000)
    assert fake.state(kid, lib.movies[0]).view_offset == 120_000
    assert fake.state(kid, lib.movies[0]).view_count == 0


def _until(predicate: Any, what: str, timeout: float = 5.0) -> None:
    """Wait (in this thread) for a condition another thread makes true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.005)


def test_alert_listener_receives_playing_notifications(
    fake: FakePlex, url: str, session: requests.Session
) -> None:
    """plexapi's AlertListener (websocket-client, token in the query) gets a `playing`
    notification at every session change, in the shape of docs §2.8."""
    lib = build_library(fake, movies=1, shows=0, watched=0)
    kid = fake.add_account("kid")
    movie = lib.movies[0]
    plex = connect(url, fake.owner_token, session)
    received: list[dict[str, Any]] = []
    errors: list[Any] = []
    got = threading.Condition()

    def on_alert(data: dict[str, Any]) -> None:
        with got:
            received.append(data)
            got.notify_all()

    listener = plex.startAlertListener(on_alert, errors.append)
    try:
        _until(lambda: len(fake.sockets) == 1, "the listener connected")
        playing = fake.start_session(kid, movie, offset=0, machine_identifier="tv-1")
        fake.pause(playing, 60_000)
        fake.resume(playing)
        fake.progress(playing, 120_000)
        fake.stop_session(playing, offset=150_000)
        fake.end_session(fake.start_session(kid, movie))  # start: one; the end: none
        with got:
            assert got.wait_for(lambda: len(received) == 6, timeout=5), received
    finally:
        listener.stop()  # its thread is a daemon; the server sees the socket close
    _until(lambda: not fake.sockets, "the listener's socket closed")
    assert not errors
    assert {d["type"] for d in received} == {"playing"}
    assert all(d["size"] == 1 for d in received)
    notes = [d["PlaySessionStateNotification"][0] for d in received]
    assert [(n["state"], n["viewOffset"]) for n in notes[:5]] == [
        ("playing", 0),
        ("paused", 60_000),
        ("playing", 60_000),
        ("playing", 120_000),
        ("stopped", 150_000),
    ]
    first = notes[0]
    assert set(first) == {
        "sessionKey", "clientIdentifier", "guid", "ratingKey", "url", "key", "viewOffset",
        "playQueueItemID", "state",
    }  # fmt: skip
    assert first["sessionKey"] == str(playing.session_key)
    assert first["clientIdentifier"] == "tv-1"
    assert (first["ratingKey"], first["key"]) == (str(movie.rating_key), movie.key)
    assert isinstance(first["playQueueItemID"], int)
    (handshake,) = fake.requests_to("/:/websockets/notifications")
    assert handshake.status == 101 and handshake.account_id == 1
    assert handshake.query.get("X-Plex-Token") == fake.owner_token  # plexapi's form


def test_notifications_socket_auth_drop_and_other_frames(fake: FakePlex, url: str) -> None:
    """Token in the header (Tautulli's form) or refused: none, wrong, not the owner's, or
    another path; `drop_sockets` closes with 1001; other notification types go out as given."""
    import websocket  # websocket-client, what plexapi's AlertListener uses

    kid = fake.add_account("kid")
    root = url.replace("http://", "ws://")
    for address, header, status in (
        (f"{root}/:/websockets/notifications", {}, 401),
        (f"{root}/:/websockets/notifications", {"X-Plex-Token": "wrong"}, 401),
        (f"{root}/:/websockets/notifications", {"X-Plex-Token": kid.token}, 403),
        (f"{root}/:/websocket/notifications", {"X-Plex-Token": fake.owner_token}, 404),
    ):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(address, header=header, timeout=5)
        assert refused.value.status_code == status
    ws = websocket.create_connection(
        f"{root}/:/websockets/notifications",
        header={"X-Plex-Token": fake.owner_token},
        timeout=5,
    )
    try:
        _until(lambda: len(fake.sockets) == 1, "connected")
        timeline = {"NotificationContainer": {"type": "timeline", "size": 1, "TimelineEntry": [
            {"identifier": "com.plexapp.plugins.library", "itemID": 7, "state": 5}]}}  # fmt: skip
        assert fake.push_notification(timeline) == 1
        assert json.loads(ws.recv()) == timeline
        assert fake.drop_sockets() == 1
        opcode, frame = ws.recv_data_frame(True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame.data[:2], "big") == 1001  # going away
    finally:
        ws.close()
    _until(lambda: not fake.sockets, "the socket is gone")
    header = fake.requests_to("/:/websockets/notifications")[-1]
    assert header.status == 101 and "x-plex-token" in header.headers
    assert [r.status for r in fake.requests_to("/:/websockets/notifications")] == [
        401, 401, 403, 101,
    ]  # fmt: skip


# ---------------------------------------------------------------------- log and faults


def test_request_log_and_faults(fake: FakePlex, session: requests.Session) -> None:
    movies = fake.add_section("Movies", "movie")
    heat = fake.add_movie(movies, "Heat")
    with PlexServerThread(fake) as server:
        plex = connect(server.url, fake.owner_token, session, timeout=1)
        fake.clear_log()
        plex.fetchItem(heat.rating_key)
        assert fake.writes() == []
        assert [(r.method, r.path, r.status) for r in fake.requests] == [
            ("GET", f"/library/metadata/{heat.rating_key}", 200)
        ]

        fake.fail_next(2, 500, prefix="/library/metadata")
        for _ in range(2):
            with pytest.raises(BadRequest):
                plex.fetchItem(heat.rating_key)
        assert plex.fetchItem(heat.rating_key).title == "Heat"

        fake.fail_next(1, 401, path="/library/sections")
        with pytest.raises(Unauthorized):
            plex.library.sections()
        assert fake.requests[-1].status == 401

        fake.fail_next(1, "hang")
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            plex.fetchItem(heat.rating_key)
        assert time.monotonic() - started < 5
        fake.release_hangs()

        server.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            plex.fetchItem(heat.rating_key)
        server.start()  # same URL again
        assert plex.fetchItem(heat.rating_key).title == "Heat"

        fake.clear_log()
        plex.fetchItem(heat.rating_key).markPlayed()
        assert [r.path for r in fake.writes()] == ["/:/scrobble"]


# ---------------------------------------------------------------------- JSON and filters


def test_json_answers(fake: FakePlex, url: str) -> None:
    lib = build_library(fake, movies=12, shows=1, seasons=1, episodes=2, legacy=0, no_ids=0)
    kid = fake.add_account("kid")
    fake.add_play(kid, lib.movies[3], T0 - 100)
    fake.rate(fake.owner, lib.movies[0], 8.0)
    fake.start_session(kid, lib.episodes[0], offset=1000)
    headers = {"X-Plex-Token": fake.owner_token, "Accept": "application/json"}
    with httpx.Client(base_url=url, headers=headers, trust_env=False) as http:
        root = http.get("/").json()["MediaContainer"]
        assert root["friendlyName"] == "Household"
        assert root["machineIdentifier"] == fake.machine_identifier
        sections = http.get("/library/sections").json()["MediaContainer"]["Directory"]
        assert [(s["key"], s["type"]) for s in sections] == [("1", "movie"), ("2", "show")]
        answer = http.get(
            "/library/sections/1/all",
            params={"type": 1, "includeGuids": 1},
            headers={"X-Plex-Container-Start": "0", "X-Plex-Container-Size": "5"},
        )
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.headers["X-Plex-Container-Total-Size"] == "12"
        page = answer.json()["MediaContainer"]
        assert (page["offset"], page["size"], page["totalSize"]) == (0, 5, 12)
        first = page["Metadata"][0]
        assert first["ratingKey"] == str(lib.movies[0].rating_key)
        assert first["Guid"] == [{"id": "imdb://tt1000000"}, {"id": "tmdb://100000"}]
        assert first["userRating"] == 8.0 and first["type"] == "movie"
        # paging by query parameters works too; size 0 gives only the total
        only_total = http.get(
            "/library/sections/2/all?type=4&X-Plex-Container-Start=0&X-Plex-Container-Size=0"
        ).json()["MediaContainer"]
        assert (only_total["size"], only_total["totalSize"]) == (0, 2)
        assert "Metadata" not in only_total
        episode = http.get(f"/library/metadata/{lib.episodes[1].rating_key}").json()
        meta = episode["MediaContainer"]["Metadata"][0]
        assert (meta["grandparentTitle"], meta["parentIndex"], meta["index"]) == ("Show 0", 1, 2)
        assert meta["grandparentRatingKey"] == str(lib.shows[0].rating_key)
        history = http.get(f"/status/sessions/history/all?accountID={kid.id}").json()
        [row] = history["MediaContainer"]["Metadata"]
        assert (row["accountID"], row["viewedAt"]) == (kid.id, T0 - 100)
        assert row["ratingKey"] == str(lib.movies[3].rating_key)
        playing = http.get("/status/sessions").json()["MediaContainer"]["Metadata"][0]
        assert playing["User"] == {"id": str(kid.id), "thumb": "", "title": "kid"}
        assert playing["Player"]["state"] == "playing" and playing["viewOffset"] == 1000
        accounts = http.get("/accounts").json()["MediaContainer"]["Account"]
        assert [a["id"] for a in accounts] == [0, 1, kid.id]
    assert all(r.json for r in fake.requests)


def test_media_query_filters(fake: FakePlex, clock: Clock, url: str) -> None:
    lib = build_library(fake, movies=30, shows=2, seasons=2, episodes=10, watched=0.4, seed=7)
    token = {"X-Plex-Token": fake.owner_token}

    def keys(query: str) -> list[int]:
        with httpx.Client(base_url=url, headers=token, trust_env=False) as http:
            answer = http.get(f"/library/sections/2/all?{query}")
            assert answer.status_code == 200, answer.text
        return [int(k) for k in _attr_values(answer.text, "ratingKey")]

    watched = fake.watched_keys(fake.owner)
    episodes = {e.rating_key for e in lib.episodes}
    assert set(keys("type=4&episode.viewCount>>=0")) == watched & episodes
    assert set(keys("type=4&unwatched=1")) == episodes - watched
    since = T0 - 400 * 86400
    recent = {
        e.rating_key
        for e in lib.episodes
        if (fake.state(fake.owner, e).last_viewed_at or 0) > since
    }
    assert set(keys(f"type=4&lastViewedAt>>={since}")) == recent
    by_last = keys("type=4&episode.viewCount>>=0&sort=lastViewedAt:desc")
    stamps = [fake.state(fake.owner, k).last_viewed_at or 0 for k in by_last]
    assert stamps == sorted(stamps, reverse=True)
    with httpx.Client(base_url=url, headers=token, trust_env=False) as http:
        refused = http.get("/library/sections/2/all?type=4&episode.genre=Drama")
        assert refused.status_code == 400 and "unsupported filter" in refused.text


def _attr_values(xml: str, name: str) -> list[str]:
    marker = f' {name}="'
    values = []
    for chunk in xml.split(marker)[1:]:
        values.append(chunk.split('"', 1)[0])
    return values


# ---------------------------------------------------------------------- size


def test_household_size_library_pages_in_constant_time(fake: FakePlex) -> None:
    started = time.perf_counter()
    lib = build_library(fake, movies=20_000, shows=1_000, seasons=5, episodes=20, seed=1)
    built = time.perf_counter() - started
    assert (len(lib.movies), len(lib.episodes)) == (20_000, 100_000)
    watched = fake.watched_keys(fake.owner)
    assert 30_000 < len(watched) < 42_000
    legacy = [m for m in lib.movies if m.guid.startswith("com.plexapp.agents.")]
    assert legacy and any(not m.guids for m in lib.movies)
    headers = {"X-Plex-Token": fake.owner_token, "Accept": "application/json"}
    timings = []
    with (
        serve_in_thread(fake) as url,
        httpx.Client(base_url=url, headers=headers, trust_env=False) as http,
    ):
        for start in (0, 50_000, 99_500):
            began = time.perf_counter()
            answer = http.get(
                "/library/sections/2/all?type=4&includeGuids=1",
                headers={"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": "500"},
            )
            timings.append(time.perf_counter() - began)
            page = answer.json()["MediaContainer"]
            assert (page["totalSize"], page["size"]) == (100_000, 500)
            keys = [int(m["ratingKey"]) for m in page["Metadata"]]
            assert keys == [e.rating_key for e in lib.episodes[start : start + 500]]
    print(f"built 120,000 items in {built:.2f}s; 500-item pages in", [f"{t:.3f}s" for t in timings])
    # a page far down the library costs what the first page costs (generous: loaded machines)
    assert timings[-1] < max(1.0, 5 * timings[0])
