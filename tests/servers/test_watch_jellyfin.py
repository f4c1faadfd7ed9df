"""The Jellyfin/Emby session watcher against the fake server (websocket and polling), with the
session tracker over the lists it hands over."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from tests.fake_jellyfin import FakeJellyfin, Item, LiveServer, User
from tests.servers.conftest import JELLYFIN_KEY, JellyfinRig
from tests.servers.watch_harness import WatchHarness
from trakt_plugin.events.model import PlaybackEvent
from trakt_plugin.events.parsers import emby as emby_parser
from trakt_plugin.events.parsers import jellyfin as jellyfin_parser
from trakt_plugin.servers.base import ServerError, ServerUnreachable
from trakt_plugin.servers.service import Connection
from trakt_plugin.servers.watch.jellyfin import JellyfinWatcher
from trakt_plugin.servers.watch.tracker import SessionTracker

INTERVAL = 0.05  # seconds: the fake pushes (and the watcher polls) this often
MINUTE_MS = 60_000


class Watch(WatchHarness):
    """The watcher of this test file, run by the shared harness."""

    def __init__(self, rig: JellyfinRig, tracker: SessionTracker | None = None) -> None:
        super().__init__(tracker or SessionTracker(rig.fake.flavour, "srv-1"))  # type: ignore[arg-type]
        self.rig = rig

    def watcher(self) -> JellyfinWatcher:
        connection = Connection(
            server_id="srv-1", kind=self.rig.kind, url=self.rig.url, token=JELLYFIN_KEY
        )
        return JellyfinWatcher(connection, INTERVAL)


@pytest.fixture
async def watch(jellyfin: JellyfinRig) -> AsyncIterator[Watch]:
    w = Watch(jellyfin)
    try:
        yield w
    finally:
        await w.stop()


def _library(fake: FakeJellyfin) -> tuple[User, Item, Item, Item]:
    alice = fake.add_user("alice")
    movie = fake.add_movie("The Matrix", 1999, {"Imdb": "tt0133093", "Tmdb": "603"})
    show = fake.add_series("Breaking Bad", 2008, {"Tvdb": "81189", "Imdb": "tt0903747"})
    pilot = fake.add_episode(show, 1, 1, "Pilot", {"Tvdb": "349232"})
    return alice, movie, show, pilot


def _pct(item: Item, percent: int) -> int:
    assert item.runtime_ticks is not None
    return item.runtime_ticks // 10_000 * percent // 100


async def _play_pause_resume_stop(w: Watch, alice: User, movie: Item) -> None:
    """Play → pause at 10 % → resume → 50 % → 95 % → stop, waiting for each to be seen."""
    fake = w.rig.fake
    session = fake.start_playback(alice, movie, position_ms=0)
    await w.until(lambda: w.kinds == ["start"], "start")
    fake.pause(session, _pct(movie, 10))
    await w.until(lambda: w.kinds[-1:] == ["pause"], "pause")
    fake.resume(session)
    await w.until(lambda: w.kinds[-1:] == ["resume"], "resume")
    fake.progress(session, _pct(movie, 50))
    await w.until(lambda: w.kinds[-1:] == ["progress"], "progress 50 %")
    fake.progress(session, _pct(movie, 95))
    await w.until(lambda: [e.progress for e in w.events][-1:] == [95.0], "progress 95 %")
    fake.stop_playback(session, position_ms=_pct(movie, 95))
    await w.until(lambda: w.kinds[-1:] == ["stop"], "stop")
    assert w.kinds == ["start", "pause", "resume", "progress", "progress", "stop"]
    assert [e.position_ms for e in w.events] == [
        0,
        _pct(movie, 10),
        _pct(movie, 10),
        _pct(movie, 50),
        _pct(movie, 95),
        _pct(movie, 95),
    ]
    assert [e.progress for e in w.events] == [0.0, 10.0, 10.0, 50.0, 95.0, 95.0]
    assert [e.paused for e in w.events][:3] == [False, True, False]
    assert {e.session_key for e in w.events} == {w.events[0].session_key}
    first = w.events[0]
    assert first.user_external_ids == (alice.id, "alice") and first.user_name == "alice"
    assert (first.media_type, first.title, first.year) == ("movie", "The Matrix", 1999)
    assert first.ids == {"imdb": "tt0133093", "tmdb": 603}
    assert first.duration_ms == movie.runtime_ticks // 10_000  # type: ignore[operator]


async def test_websocket_play_pause_resume_progress_stop(watch: Watch) -> None:
    fake = watch.rig.fake
    alice, movie, _show, _pilot = _library(fake)
    watch.start()
    await watch.until(lambda: watch.connections == 1 and len(watch.lists) >= 1, "connected")
    assert watch.lists[0] == []
    (socket,) = fake.sockets
    assert socket.subscribed == (0, 50)
    await _play_pause_resume_stop(watch, alice, movie)
    assert ("SessionsStart", "0,50") in fake.socket_messages
    (handshake,) = fake.requests_to("websocket")
    if fake.flavour == "emby":
        assert handshake.path == "/embywebsocket" and handshake.auth_via == "api_key"
    else:  # the header, never the query (12.0 refuses api_key; the URL stays clean)
        assert handshake.path == "/socket" and handshake.auth_via == "Authorization"
        assert JELLYFIN_KEY not in str(handshake.query)
    # the lists come from the socket: REST read the sessions only once (the seed)
    assert len(fake.requests_to("/Sessions", "GET")) == 1
    assert len(watch.lists) > 3


async def test_session_key_is_the_webhook_parsers(watch: Watch) -> None:
    """A playback seen by webhook and by the watcher is one session (and one item)."""
    fake = watch.rig.fake
    alice, movie, _show, _pilot = _library(fake)
    session = fake.start_playback(alice, movie, position_ms=MINUTE_MS)
    watch.start()
    await watch.until(lambda: watch.kinds == ["start"], "start")
    now = datetime.now(UTC)
    if fake.flavour == "jellyfin":
        parsed = jellyfin_parser.parse(
            {
                "NotificationType": "PlaybackStart", "ItemType": "Movie",
                "ServerId": fake.server_id, "UserId": alice.id,
                "NotificationUsername": "alice", "ItemId": movie.id, "Id": session.id,
                "Name": "The Matrix", "Year": 1999, "Provider_imdb": "tt0133093",
                "Provider_tmdb": "603", "RunTimeTicks": movie.runtime_ticks,
                "PlaybackPositionTicks": MINUTE_MS * 10_000,
            },
            received_at=now,
        )  # fmt: skip
    else:
        parsed = emby_parser.parse(
            {
                "Event": "playback.start", "User": {"Id": alice.id, "Name": "alice"},
                "Server": {"Id": fake.server_id},
                "Session": {"Id": session.id, "DeviceId": session.device_id},
                "Item": {"Type": "Movie", "Id": movie.id, "Name": "The Matrix",
                         "ProductionYear": 1999, "RunTimeTicks": movie.runtime_ticks,
                         "ProviderIds": {"Imdb": "tt0133093", "Tmdb": "603"}},
                "PlaybackInfo": {"PositionTicks": MINUTE_MS * 10_000},
            },
            received_at=now,
        )  # fmt: skip
    assert isinstance(parsed, PlaybackEvent)
    (event,) = watch.events
    assert event.session_key == parsed.session_key
    assert event.item_key == parsed.item_key
    assert event.user_external_ids == parsed.user_external_ids
    (snapshot,) = watch.latest()
    assert snapshot.local_key == f"{fake.flavour}:{fake.server_id}:{movie.id}"


async def test_episode_series_ids_read_once_and_what_is_left_out(watch: Watch) -> None:
    fake = watch.rig.fake
    alice, movie, show, pilot = _library(fake)
    bob = fake.add_user("bob")
    carol = fake.add_user("carol")
    theme = fake.add_movie("Theme", 2000)
    session = fake.start_playback(alice, pilot, position_ms=MINUTE_MS, device_id="tv")
    session.additional_user_ids = [bob.id]  # watching together: reported for both
    fake.start_playback(carol, theme, device_id="hall", theme_media=True)  # never a playback
    idle = fake.start_playback(carol, movie, device_id="phone")
    fake.stop_playback(idle, position_ms=MINUTE_MS)  # a session without NowPlayingItem
    watch.start()
    await watch.until(lambda: len(watch.kinds) == 2, "two starts")
    for minute in range(2, 8):
        fake.progress(session, minute * MINUTE_MS)
    await watch.until(
        lambda: {s.position_ms for s in watch.latest()} == {7 * MINUTE_MS}, "position 7 min"
    )
    users = sorted(s.user_external_ids for s in watch.latest())
    assert users == sorted([(alice.id, "alice"), (bob.id, "bob")])
    event = watch.events[0]
    assert event.media_type == "episode" and event.show is not None
    assert event.show.title == "Breaking Bad"
    assert dict(event.show.ids) == {"tvdb": 81189, "imdb": "tt0903747"}
    assert (event.season, event.number, event.episode_title) == (1, 1, "Pilot")
    assert event.ids == {"tvdb": 349232}
    # one request for the series, however many lists named it
    series_reads = [r for r in fake.requests_to("/Items", "GET") if show.id in str(r.query)]
    assert len(series_reads) == 1
    assert len(watch.lists) >= 2


async def test_a_session_that_vanishes_stops_at_its_last_position(watch: Watch) -> None:
    fake = watch.rig.fake
    alice, movie, _show, _pilot = _library(fake)
    session = fake.start_playback(alice, movie, position_ms=0)
    watch.start()
    await watch.until(lambda: watch.kinds == ["start"], "start")
    fake.progress(session, _pct(movie, 40))
    await watch.until(lambda: watch.kinds[-1:] == ["progress"], "progress")
    fake.end_session(session)  # gone without a stop (client crashed, session ended)
    await watch.until(lambda: watch.kinds[-1:] == ["stop"], "stop")
    assert watch.events[-1].position_ms == _pct(movie, 40)
    assert watch.events[-1].progress == 40.0


async def test_polling_when_the_websocket_is_refused(
    watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trakt_plugin")
    fake = watch.rig.fake
    fake.socket_refused = True
    alice, movie, _show, _pilot = _library(fake)
    watch.start()
    await watch.until(lambda: watch.connections == 1 and len(watch.lists) >= 1, "first poll")
    await _play_pause_resume_stop(watch, alice, movie)
    assert not fake.sockets
    (handshake,) = fake.requests_to("websocket")
    assert handshake.status == 403
    polls = fake.requests_to("/Sessions", "GET")
    assert len(polls) >= len(watch.lists) > 5  # one poll per list (one may be under way)
    assert {p.query.get("activeWithinSeconds") for p in polls} == {"960"}
    assert "no websocket (HTTP 403)" in caplog.text
    assert watch.connections == 1


@pytest.fixture
def jellyfin_only() -> Iterator[JellyfinRig]:
    """A fake Jellyfin alone (the versions below are Jellyfin's)."""
    fake = FakeJellyfin("jellyfin", api_key=JELLYFIN_KEY)
    server = LiveServer(fake).start()
    try:
        yield JellyfinRig(fake, server)
    finally:
        server.stop()


@pytest.mark.parametrize("version", ["10.9.11", "10.10.7"])
async def test_jellyfin_before_10_11_polls_without_trying_the_socket(
    jellyfin_only: JellyfinRig, version: str
) -> None:
    """10.9 lets only admin users subscribe; 10.10 gives API keys no data (docs §3.6)."""
    jellyfin = jellyfin_only
    jellyfin.fake.version = version
    w = Watch(jellyfin)
    alice, movie, _show, _pilot = _library(jellyfin.fake)
    jellyfin.fake.start_playback(alice, movie)
    w.start()
    try:
        await w.until(lambda: w.kinds == ["start"] and len(w.lists) >= 3, "polled lists")
    finally:
        await w.stop()
    assert not jellyfin.fake.requests_to("websocket")


async def test_socket_silent_while_paused_still_answers(watch: Watch) -> None:
    """The real server pushes only on changes: with periodic pushes off, the seed list and
    the change pushes still give every event."""
    fake = watch.rig.fake
    fake.socket_periodic = False
    alice, movie, _show, _pilot = _library(fake)
    session = fake.start_playback(alice, movie, position_ms=0, paused=True)
    watch.start()
    await watch.until(lambda: watch.kinds == ["pause"], "first seen paused")
    fake.resume(session)
    await watch.until(lambda: watch.kinds == ["pause", "resume"], "resume")
    fake.stop_playback(session, position_ms=_pct(movie, 30))
    await watch.until(lambda: watch.kinds[-1:] == ["stop"], "stop")
    assert len(fake.requests_to("/Sessions", "GET")) == 1


async def test_the_watcher_ends_when_the_server_restarts_and_the_tracker_catches_up(
    watch: Watch,
) -> None:
    fake = watch.rig.fake
    alice, movie, _show, _pilot = _library(fake)
    session = fake.start_playback(alice, movie, position_ms=0)
    watch.start()
    await watch.until(lambda: watch.kinds == ["start"], "start")
    fake.progress(session, _pct(movie, 20))
    await watch.until(lambda: watch.kinds[-1:] == ["progress"], "progress")
    assert fake.drop_sockets() == 1
    error = await watch.ended()
    assert isinstance(error, ServerUnreachable) and "websocket closed" in error.reason
    # meanwhile the playback ended; the next watcher (same tracker) stops it at 20 %
    fake.end_session(session)
    again = Watch(watch.rig, watch.tracker)
    again.start()
    try:
        await again.until(lambda: again.kinds == ["stop"], "stop after reconnecting")
    finally:
        await again.stop()
    assert again.events[0].position_ms == _pct(movie, 20)


@pytest.mark.parametrize("refused", [False, True], ids=["websocket", "polling"])
async def test_the_watcher_ends_when_the_server_goes_away(watch: Watch, refused: bool) -> None:
    fake = watch.rig.fake
    fake.socket_refused = refused
    watch.start()
    await watch.until(lambda: watch.connections == 1, "connected")
    watch.rig.server.stop()
    error = await watch.ended()
    assert isinstance(error, ServerUnreachable)


async def test_an_unreachable_or_refusing_server_raises(jellyfin: JellyfinRig) -> None:
    w = Watch(jellyfin)
    jellyfin.fake.revoke_api_key(JELLYFIN_KEY)
    with pytest.raises(ServerError) as refused:
        await w.watcher().run(w.sink, w.connected)
    assert refused.value.status == 401 and w.connections == 0
    jellyfin.server.stop()
    with pytest.raises(ServerUnreachable):
        await w.watcher().run(w.sink, w.connected)


async def test_a_user_unknown_to_the_server_is_still_reported(watch: Watch) -> None:
    """The watcher reports every account; the recorder decides who is linked."""
    fake = watch.rig.fake
    alice, movie, _show, _pilot = _library(fake)
    session = fake.start_playback(alice, movie)
    del fake.users[alice.id]  # the session outlives its user: no name any more
    watch.start()
    await watch.until(lambda: watch.kinds == ["start"], "start")
    (snapshot,) = watch.latest()
    assert snapshot.user_external_ids == (alice.id,) and snapshot.user_name is None
    assert session.id in snapshot.session_key


async def test_the_token_never_reaches_the_log(
    jellyfin: JellyfinRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = jellyfin.fake
    alice, movie, _show, _pilot = _library(fake)
    fake.start_playback(alice, movie)
    for refused in (False, True):
        fake.socket_refused = refused
        w = Watch(jellyfin)
        w.start()
        try:
            await w.until(lambda w=w: w.kinds == ["start"] and len(w.lists) >= 2, "start")  # type: ignore[misc]
        finally:
            await w.stop()
    fake.socket_refused = False
    w = Watch(jellyfin)
    w.start()
    await w.until(lambda: w.connections == 1, "connected")
    jellyfin.server.stop()
    error = await w.ended()
    assert JELLYFIN_KEY not in str(error) and JELLYFIN_KEY not in repr(error)
    # the websocket library's debug lines (request line, headers) were logged, masked
    assert any(r.name == "websockets.client" and "> GET" in r.getMessage() for r in caplog.records)
    assert JELLYFIN_KEY not in caplog.text
    assert all(JELLYFIN_KEY not in str(r.args) for r in caplog.records)


async def test_two_hours_of_updates_every_five_seconds_make_under_200_events(
    watch: Watch,
) -> None:
    """Every update is seen (the test waits for each list), yet a playback stores about one
    event per percent, never one per update (SPEC §12)."""
    fake = watch.rig.fake
    fake.socket_periodic = False  # one push per change, as the real servers do
    alice = fake.add_user("alice")
    movie = fake.add_movie("Long", 2020, {"Imdb": "tt7777777"}, runtime_minutes=120)
    watch.start()
    await watch.until(lambda: watch.connections == 1 and len(watch.lists) >= 1, "connected")
    session = fake.start_playback(alice, movie, position_ms=0)
    await watch.until(lambda: watch.kinds == ["start"], "start")
    for second in range(5, 7200, 5):
        seen = len(watch.lists)
        fake.progress(session, second * 1000)
        await watch.until(lambda seen=seen: len(watch.lists) > seen, f"the update at {second} s")
    fake.stop_playback(session, position_ms=7_200_000)
    await watch.until(lambda: watch.kinds[-1:] == ["stop"], "stop")
    # the seed, the start, then at least one list per update (1439): none was merged away
    assert len(watch.lists) >= 1441
    assert watch.kinds[0] == "start" and set(watch.kinds[1:-1]) == {"progress"}
    assert len(watch.events) < 200, len(watch.events)
