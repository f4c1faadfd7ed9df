"""The Plex session watcher against the fake Plex (notifications websocket + /status/sessions),
with the session tracker over the lists it hands over."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fake_plex import Account, FakePlex, PlaySession, PlexItem
from tests.servers.conftest import PlexRig
from tests.servers.watch_harness import WatchHarness
from trakt_plugin.events.model import PlaybackEvent
from trakt_plugin.events.parsers import plex as plex_parser
from trakt_plugin.servers.base import ServerError, ServerUnauthorized, ServerUnreachable
from trakt_plugin.servers.service import Connection
from trakt_plugin.servers.watch.plex import PlexWatcher
from trakt_plugin.servers.watch.tracker import SessionTracker

INTERVAL = 0.05  # seconds of socket silence before a listed playback is read again
QUIET = 3600.0  # an interval that never comes within a test: lists only on notifications
SOCKET_PATH = "/:/websockets/notifications"


class Watch(WatchHarness):
    """The watcher of this test file, run by the shared harness."""

    def __init__(
        self,
        rig: PlexRig,
        tracker: SessionTracker | None = None,
        *,
        interval: float = INTERVAL,
        token: str | None = None,
    ) -> None:
        super().__init__(tracker or SessionTracker("plex", "srv-1"))
        self.rig = rig
        self.interval = interval
        self.token = token or rig.fake.owner_token

    def watcher(self) -> PlexWatcher:
        connection = Connection(server_id="srv-1", kind="plex", url=self.rig.url, token=self.token)
        return PlexWatcher(connection, self.interval)


@pytest.fixture
async def watch(plex: PlexRig) -> AsyncIterator[Watch]:
    w = Watch(plex)
    try:
        yield w
    finally:
        await w.stop()


@pytest.fixture
async def quiet(plex: PlexRig) -> AsyncIterator[Watch]:
    """A watcher that reads the list only when a notification comes (no silence re-reads)."""
    w = Watch(plex, interval=QUIET)
    try:
        yield w
    finally:
        await w.stop()


def _library(fake: FakePlex) -> tuple[PlexItem, PlexItem, PlexItem]:
    movies = fake.add_section("Movies", "movie")
    shows = fake.add_section("TV Shows", "show")
    movie = fake.add_movie(movies, "The Matrix", year=1999, ids={"imdb": "tt0133093", "tmdb": 603})
    show = fake.add_show(shows, "Breaking Bad", year=2008, ids={"tvdb": 81189, "imdb": "tt0903747"})
    pilot = fake.add_episode(show, 1, 1, "Pilot", ids={"tvdb": 349232}, year=2008)
    return movie, show, pilot


def _pct(item: PlexItem, percent: int) -> int:
    assert item.duration is not None
    return item.duration * percent // 100


async def test_play_pause_resume_progress_stop(watch: Watch) -> None:
    fake = watch.rig.fake
    movie, _show, _pilot = _library(fake)
    watch.start()
    await watch.until(lambda: watch.connections == 1 and len(watch.lists) >= 1, "connected")
    assert watch.lists[0] == []
    session = fake.start_session(fake.owner, movie, offset=0)
    await watch.until(lambda: watch.kinds == ["start"], "start")
    fake.pause(session, _pct(movie, 10))
    await watch.until(lambda: watch.kinds[-1:] == ["pause"], "pause")
    fake.resume(session)
    await watch.until(lambda: watch.kinds[-1:] == ["resume"], "resume")
    fake.progress(session, _pct(movie, 50))
    await watch.until(lambda: watch.kinds[-1:] == ["progress"], "progress 50 %")
    fake.progress(session, _pct(movie, 95))
    await watch.until(lambda: [e.progress for e in watch.events][-1:] == [95.0], "95 %")
    fake.stop_session(session, offset=_pct(movie, 95))
    await watch.until(lambda: watch.kinds[-1:] == ["stop"], "stop")
    assert watch.kinds == ["start", "pause", "resume", "progress", "progress", "stop"]
    assert [e.position_ms for e in watch.events] == [
        0,
        _pct(movie, 10),
        _pct(movie, 10),
        _pct(movie, 50),
        _pct(movie, 95),
        _pct(movie, 95),
    ]
    assert [e.progress for e in watch.events] == [0.0, 10.0, 10.0, 50.0, 95.0, 95.0]
    assert [e.paused for e in watch.events][:3] == [False, True, False]
    assert {e.session_key for e in watch.events} == {watch.events[0].session_key}
    first = watch.events[0]
    assert first.user_external_ids == ("olivia",) and first.user_name == "olivia"
    assert (first.media_type, first.title, first.year) == ("movie", "The Matrix", 1999)
    assert first.ids == {"imdb": "tt0133093", "tmdb": 603}
    assert first.duration_ms == movie.duration
    assert first.source == "plex" and first.server_id == "srv-1"
    # the socket carried the owner's token in a header, never in the URL
    (handshake,) = fake.requests_to(SOCKET_PATH)
    assert handshake.status == 101 and handshake.account_id == 1
    assert handshake.headers.get("x-plex-token") == fake.owner_token
    assert not handshake.raw_query
    reads = fake.requests_to("/status/sessions", "GET")
    assert all(r.json and r.query == {} for r in reads)
    assert watch.connections == 1


async def test_a_stop_takes_the_notifications_offset(quiet: Watch) -> None:
    """Stopped at 50 % after a last known 40 %: the `stopped` notification's offset counts."""
    fake = quiet.rig.fake
    movie, _show, _pilot = _library(fake)
    quiet.start()
    await quiet.until(lambda: len(quiet.lists) == 1, "seed")
    session = fake.start_session(fake.owner, movie, offset=0)
    await quiet.until(lambda: quiet.kinds == ["start"], "start")
    fake.progress(session, _pct(movie, 40))
    await quiet.until(lambda: quiet.kinds[-1:] == ["progress"], "progress")
    fake.stop_session(session, offset=_pct(movie, 50))
    await quiet.until(lambda: quiet.kinds[-1:] == ["stop"], "stop")
    (stopped,) = quiet.latest()
    assert stopped.state == "stopped" and stopped.position_ms == _pct(movie, 50)
    assert quiet.events[-1].position_ms == _pct(movie, 50)
    assert quiet.events[-1].progress == 50.0
    assert quiet.kinds == ["start", "progress", "stop"]
    # nothing more is handed over for it
    fake.start_session(fake.owner, movie, offset=0, machine_identifier="phone")
    await quiet.until(lambda: quiet.kinds[-1:] == ["start"], "another playback")
    assert [s.state for s in quiet.latest()] == ["playing"]
    assert quiet.kinds == ["start", "progress", "stop", "start"]


async def test_a_stop_reported_before_the_session_leaves_the_list(watch: Watch) -> None:
    """PMS may still list a session it reported stopped: the stop waits for it to go, with
    the reported offset."""
    fake = watch.rig.fake
    movie, _show, _pilot = _library(fake)
    session = fake.start_session(fake.owner, movie, offset=_pct(movie, 20))
    watch.start()
    await watch.until(lambda: watch.kinds == ["start"], "start")
    notice = fake.play_notification(session, "stopped")
    notice["NotificationContainer"]["PlaySessionStateNotification"][0]["viewOffset"] = _pct(
        movie, 30
    )
    reads = len(fake.requests_to("/status/sessions"))
    fake.push_notification(notice)
    await watch.until(lambda: len(fake.requests_to("/status/sessions")) > reads + 1, "re-read")
    assert watch.kinds == ["start"]  # still listed, still playing at 20 %
    fake.end_session(session)
    await watch.until(lambda: watch.kinds[-1:] == ["stop"], "stop")
    assert watch.events[-1].position_ms == _pct(movie, 30)


async def test_a_session_that_vanishes_stops_at_its_last_position(watch: Watch) -> None:
    fake = watch.rig.fake
    movie, _show, _pilot = _library(fake)
    session = fake.start_session(fake.owner, movie, offset=0)
    watch.start()
    await watch.until(lambda: watch.kinds == ["start"], "start")
    fake.progress(session, _pct(movie, 40))
    await watch.until(lambda: watch.kinds[-1:] == ["progress"], "progress")
    fake.end_session(session)  # gone without a `stopped` (client crashed, lost frame)
    await watch.until(lambda: watch.kinds[-1:] == ["stop"], "stop")
    assert watch.events[-1].position_ms == _pct(movie, 40)
    assert watch.events[-1].progress == 40.0
    assert watch.latest() == []


def _webhook(
    fake: FakePlex, account: Account, session: PlaySession, item: PlexItem
) -> dict[str, Any]:
    """The Plex webhook for the same playback (shape of docs/samples/plex/movie_play.json)."""
    meta: dict[str, Any] = {
        "ratingKey": str(item.rating_key),
        "key": item.key,
        "guid": item.guid,
        "type": item.type,
        "title": item.title,
        "year": item.year,
        "duration": item.duration,
        "viewOffset": session.view_offset,
        "Guid": [{"id": tag} for tag in item.guids],
    }
    if item.type == "episode":
        assert item.show is not None and item.season is not None
        meta.update(
            grandparentTitle=item.show.title,
            grandparentGuid=item.show.guid,
            parentGuid=item.season.guid,
            grandparentRatingKey=str(item.show.rating_key),
            parentIndex=item.season.index,
            index=item.index,
        )
    return {
        "event": "media.play",
        "user": True,
        "owner": account.is_owner,
        "Account": {"id": account.id, "thumb": "", "title": account.name},
        "Server": {"title": fake.friendly_name, "uuid": fake.machine_identifier},
        "Player": {
            "local": True,
            "publicAddress": "203.0.113.24",
            "title": session.player_title,
            "uuid": session.machine_identifier,
        },
        "Metadata": meta,
    }


async def test_session_key_is_the_webhook_parsers(watch: Watch) -> None:
    """A playback seen by webhook and by the watcher is one session (and one item), for the
    owner's movie and another account's episode."""
    fake = watch.rig.fake
    movie, _show, pilot = _library(fake)
    kid = fake.add_account("Kid Name")
    plays = [
        (fake.owner, fake.start_session(fake.owner, movie, offset=60_000), movie),
        (kid, fake.start_session(kid, pilot, offset=60_000, machine_identifier="kid-tv"), pilot),
    ]
    watch.start()
    await watch.until(lambda: len(watch.events) == 2, "two starts")
    by_rating_key = {e.session_key.rsplit(":", 1)[1]: e for e in watch.events}
    for account, session, item in plays:
        parsed = plex_parser.parse(
            _webhook(fake, account, session, item), received_at=datetime.now(UTC)
        )
        assert isinstance(parsed, PlaybackEvent)
        event = by_rating_key[str(item.rating_key)]
        assert event.session_key == parsed.session_key
        assert event.item_key == parsed.item_key
        assert event.user_external_ids == parsed.user_external_ids == (account.name,)
        assert (event.season, event.number) == (parsed.season, parsed.number)
    snapshot = next(s for s in watch.latest() if s.item.key == str(movie.rating_key))
    assert snapshot.local_key == f"plex:{fake.machine_identifier}:{movie.rating_key}"
    assert snapshot.session_key == (
        f"plex:{fake.machine_identifier}:1:olivia:{plays[0][1].machine_identifier}:"
        f"{movie.rating_key}"
    )


async def test_another_accounts_episode_with_ids_read_once(watch: Watch) -> None:
    fake = watch.rig.fake
    movie, show, pilot = _library(fake)
    kid = fake.add_account("kid")
    session = fake.start_session(kid, pilot, offset=60_000)
    fake.start_session(fake.owner, movie, offset=0, state="paused")
    watch.start()
    await watch.until(lambda: sorted(watch.kinds) == ["pause", "start"], "both seen")
    for minute in range(2, 8):
        fake.progress(session, minute * 60_000)
    await watch.until(
        lambda: 7 * 60_000 in {s.position_ms for s in watch.latest()}, "position 7 min"
    )
    await watch.until(lambda: len(watch.lists) >= 5, "more lists (re-reads)")
    users = sorted(s.user_external_ids for s in watch.latest())
    assert users == [("kid",), ("olivia",)]
    event = next(e for e in watch.events if e.media_type == "episode")
    assert event.user_external_ids == ("kid",) and event.user_name == "kid"
    assert event.show is not None and event.show.title == "Breaking Bad"
    assert dict(event.show.ids) == {"tvdb": 81189, "imdb": "tt0903747"}
    assert event.show.year == 2008
    assert (event.season, event.number, event.episode_title) == (1, 1, "Pilot")
    assert event.ids == {"tvdb": 349232}
    assert event.duration_ms == pilot.duration
    paused = next(e for e in watch.events if e.media_type == "movie")
    assert paused.kind == "pause" and paused.user_external_ids == ("olivia",)
    # one read per rating key and one for the show, however many lists named them
    for key in (pilot.rating_key, movie.rating_key, show.rating_key):
        (read,) = fake.requests_to(f"/library/metadata/{key}", "GET")
        assert read.query.get("includeGuids") == "1"


async def test_legacy_agent_episode_takes_show_ids_from_its_guid(watch: Watch) -> None:
    fake = watch.rig.fake
    shows = fake.add_section("Old Shows", "show")
    show = fake.add_show(shows, "Lost", year=2004, ids={"tvdb": 73739}, agent="thetvdb")
    episode = fake.add_episode(show, 2, 5, "...And Found")
    fake.start_session(fake.owner, episode, offset=1000)
    watch.start()
    await watch.until(lambda: watch.kinds == ["start"], "start")
    event = watch.events[0]
    assert event.show is not None and dict(event.show.ids) == {"tvdb": 73739}
    assert (event.season, event.number) == (2, 5)
    assert event.item_key == "show:tvdb:73739:s2e5"
    assert not fake.requests_to(f"/library/metadata/{show.rating_key}")  # not needed


async def test_autoplay_to_the_next_item_stops_one_and_starts_the_other(watch: Watch) -> None:
    fake = watch.rig.fake
    _movie, show, pilot = _library(fake)
    second = fake.add_episode(show, 1, 2, "Cat's in the Bag...", ids={"tvdb": 349235})
    session = fake.start_session(fake.owner, pilot, offset=0)
    watch.start()
    await watch.until(lambda: watch.kinds == ["start"], "start")
    fake.progress(session, _pct(pilot, 97))
    await watch.until(lambda: watch.kinds[-1:] == ["progress"], "near the end")
    with fake.lock:  # the same sessionKey moves on to the next episode
        session.item = second
    fake.progress(session, 0)
    await watch.until(lambda: len(watch.kinds) == 4, "next episode")
    # one list: the tracker starts what is listed, then stops what left it
    start, stop = watch.events[-2:]
    assert (start.kind, stop.kind) == ("start", "stop")
    assert stop.ids == {"tvdb": 349232} and stop.position_ms == _pct(pilot, 97)
    assert start.ids == {"tvdb": 349235} and start.session_key != stop.session_key


async def test_other_notifications_read_nothing(quiet: Watch) -> None:
    fake = quiet.rig.fake
    movie, _show, _pilot = _library(fake)
    quiet.start()
    await quiet.until(lambda: len(quiet.lists) == 1, "seed")
    timeline = {
        "NotificationContainer": {
            "type": "timeline",
            "size": 1,
            "TimelineEntry": [{"identifier": "com.plexapp.plugins.library", "itemID": 7}],
        }
    }
    assert fake.push_notification(timeline) == 1
    fake.push_notification({"NotificationContainer": {"type": "activity", "size": 0}})
    fake.start_session(fake.owner, movie)
    await quiet.until(lambda: quiet.kinds == ["start"], "start")
    assert len(fake.requests_to("/status/sessions")) == 2  # the seed, then the `playing`
    assert len(quiet.lists) == 2


async def test_the_watcher_ends_when_the_socket_drops_and_the_tracker_catches_up(
    watch: Watch,
) -> None:
    fake = watch.rig.fake
    movie, _show, _pilot = _library(fake)
    session = fake.start_session(fake.owner, movie, offset=0)
    watch.start()
    await watch.until(lambda: watch.kinds == ["start"], "start")
    fake.progress(session, _pct(movie, 20))
    await watch.until(lambda: watch.kinds[-1:] == ["progress"], "progress")
    assert fake.drop_sockets() == 1
    error = await watch.ended()
    assert isinstance(error, ServerUnreachable) and "websocket closed (code 1001)" in error.reason
    # meanwhile the playback ended; the next watcher (same tracker) stops it at 20 %
    fake.end_session(session)
    again = Watch(watch.rig, watch.tracker)
    again.start()
    try:
        await again.until(lambda: again.kinds == ["stop"], "stop after reconnecting")
    finally:
        await again.stop()
    assert again.events[0].position_ms == _pct(movie, 20)
    assert again.connections == 1


async def test_the_watcher_ends_when_the_server_goes_away(watch: Watch) -> None:
    watch.start()
    await watch.until(lambda: watch.connections == 1, "connected")
    watch.rig.server.stop()
    error = await watch.ended()
    assert isinstance(error, ServerUnreachable)


async def test_a_refused_or_unreachable_server_raises(plex: PlexRig) -> None:
    fake = plex.fake
    wrong = Watch(plex, token="not-the-token")
    with pytest.raises(ServerUnauthorized) as refused:
        await wrong.watcher().run(wrong.sink, wrong.connected)
    assert refused.value.status == 401 and wrong.connections == 0
    kid = fake.add_account("kid")  # a valid token, but not the owner's: no socket
    assert kid.token
    shared = Watch(plex, token=kid.token)
    with pytest.raises(ServerUnauthorized) as forbidden:
        await shared.watcher().run(shared.sink, shared.connected)
    assert forbidden.value.status == 403 and "owner" in forbidden.value.reason
    assert shared.connections == 0
    plex.server.stop()
    with pytest.raises(ServerUnreachable):
        await wrong.watcher().run(wrong.sink, wrong.connected)


async def test_a_failed_item_read_still_reports_the_session(watch: Watch) -> None:
    fake = watch.rig.fake
    movie, _show, _pilot = _library(fake)
    fake.fail_next(1, 500, path=f"/library/metadata/{movie.rating_key}")
    fake.start_session(fake.owner, movie)
    watch.start()
    await watch.until(lambda: watch.kinds == ["start"], "start")
    event = watch.events[0]
    assert event.title == "The Matrix" and event.ids == {}  # the session shows no Guid tags
    assert event.item_key == f"local:plex:{fake.machine_identifier}:{movie.rating_key}"


async def test_a_failing_session_list_ends_the_watcher(watch: Watch) -> None:
    fake = watch.rig.fake
    watch.start()
    await watch.until(lambda: watch.connections == 1, "connected")
    fake.fail_next(1, 500, path="/status/sessions")
    movie, _show, _pilot = _library(fake)
    fake.start_session(fake.owner, movie)
    error = await watch.ended()
    assert isinstance(error, ServerError) and error.status == 500


async def test_the_token_never_reaches_the_log(
    plex: PlexRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = plex.fake
    movie, _show, _pilot = _library(fake)
    w = Watch(plex)
    w.start()
    await w.until(lambda: w.connections == 1, "connected")
    session = fake.start_session(fake.owner, movie)
    await w.until(lambda: w.kinds == ["start"], "start")
    fake.stop_session(session, offset=_pct(movie, 30))
    await w.until(lambda: w.kinds[-1:] == ["stop"], "stop")
    plex.server.stop()
    error = await w.ended()
    token = fake.owner_token
    assert token not in str(error) and token not in repr(error)
    refused = Watch(plex, token="a-wrong-token-123")
    plex.server.start()
    with pytest.raises(ServerUnauthorized) as wrong:
        await refused.watcher().run(refused.sink, refused.connected)
    assert "a-wrong-token-123" not in str(wrong.value)
    # the websocket library's debug lines (request line, headers) were logged, masked
    assert any(r.name == "websockets.client" and "> GET" in r.getMessage() for r in caplog.records)
    assert any("X-Plex-Token: ****" in r.getMessage() for r in caplog.records)
    assert token not in caplog.text
    assert all(token not in str(r.args) for r in caplog.records)


async def test_two_hours_of_updates_every_five_seconds_make_under_200_events(
    quiet: Watch,
) -> None:
    """Every heartbeat is seen (the test waits for each list), yet a playback stores about one
    event per percent, never one per update (SPEC §12)."""
    fake = quiet.rig.fake
    section = fake.add_section("Movies", "movie")
    movie = fake.add_movie(section, "Long", year=2020, ids={"imdb": "tt7777777"},
                           duration=7_200_000)  # fmt: skip
    quiet.start()
    await quiet.until(lambda: len(quiet.lists) == 1, "seed")
    session = fake.start_session(fake.owner, movie, offset=0)
    await quiet.until(lambda: quiet.kinds == ["start"], "start")
    for second in range(5, 7200, 5):
        seen = len(quiet.lists)
        fake.progress(session, second * 1000)
        await quiet.until(lambda seen=seen: len(quiet.lists) > seen, f"the update at {second} s")
    fake.stop_session(session, offset=7_200_000)
    await quiet.until(lambda: quiet.kinds[-1:] == ["stop"], "stop")
    assert len(quiet.lists) > 1440
    assert quiet.kinds[0] == "start" and set(quiet.kinds[1:-1]) == {"progress"}
    assert len(quiet.events) < 200, len(quiet.events)
