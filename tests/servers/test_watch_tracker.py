"""The session tracker: lists of a server's sessions in, playback events out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trakt_plugin.events.model import ShowInfo
from trakt_plugin.servers.base import LibraryItem
from trakt_plugin.servers.watch.base import SessionSnapshot
from trakt_plugin.servers.watch.tracker import SessionTracker

MOVIE = LibraryItem(key="11", type="movie", title="Heat", year=1995, ids={"imdb": "tt0113277"})
EPISODE = LibraryItem(
    key="22",
    type="episode",
    title="Pilot",
    year=2008,
    ids={"tvdb": 349232},
    show=ShowInfo("Breaking Bad", 2008, {"tvdb": 81189}),
    season=1,
    number=1,
)
HOUR_MS = 3_600_000


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=5)
        return self.now


def snap(
    state: str = "playing", position: int = 0, item: LibraryItem = MOVIE, key: str = "s1"
) -> SessionSnapshot:
    return SessionSnapshot(
        session_key=key,
        user_external_ids=("ann",),
        user_name="ann",
        item=item,
        state=state,  # type: ignore[arg-type]
        position_ms=position,
        duration_ms=HOUR_MS,
    )


def kinds(tracker: SessionTracker, *lists: list[SessionSnapshot]) -> list[tuple[str, float]]:
    out = []
    for sessions in lists:
        out += [(e.kind, round(e.progress or 0, 1)) for e in tracker.update(sessions)]
    return out


def test_play_pause_resume_stop_gives_one_event_each() -> None:
    tracker = SessionTracker("plex", "server-1", Clock())
    events = kinds(
        tracker,
        [snap("playing", 0)],
        [snap("paused", 600_000)],
        [snap("playing", 600_000)],
        [snap("stopped", int(HOUR_MS * 0.95))],
    )
    assert events == [("start", 0.0), ("pause", 16.7), ("resume", 16.7), ("stop", 95.0)]
    assert tracker.active == 0


def test_updates_that_change_less_than_one_percent_are_not_stored() -> None:
    tracker = SessionTracker("jellyfin", "server-1", Clock())
    lists = [[snap("playing", ms)] for ms in range(0, 2 * 3_600_000 // 2, 5_000)]  # 5 s steps
    events = kinds(tracker, *lists)
    assert events[0] == ("start", 0.0)
    assert all(kind == "progress" for kind, _ in events[1:])
    assert 90 <= len(events) <= 101  # one per percent, not one per update (720 updates)


def test_a_vanished_session_stops_at_its_last_known_position() -> None:
    tracker = SessionTracker("emby", "server-1", Clock())
    events = kinds(
        tracker,
        [snap("playing", 0)],
        [snap("playing", int(HOUR_MS * 0.949))],
        [snap("playing", int(HOUR_MS * 0.953))],  # under 1 %: not stored, but remembered
        [],
    )
    assert events[-1] == ("stop", 95.3)


def test_an_item_change_in_one_session_stops_the_first_and_starts_the_second() -> None:
    tracker = SessionTracker("jellyfin", "server-1", Clock())
    tracker.update([snap("playing", HOUR_MS // 2, MOVIE, key="dev:11")])
    events = tracker.update([snap("playing", 0, EPISODE, key="dev:22")])
    assert [(e.kind, e.session_key) for e in events] == [("start", "dev:22"), ("stop", "dev:11")]
    start = events[0]
    assert start.media_type == "episode" and start.show is not None
    assert start.trakt_item()["episode"] == {
        "season": 1, "number": 1, "title": "Pilot", "ids": {"tvdb": 349232},
    }  # fmt: skip
    assert start.item_key == "episode:tvdb:349232"
    assert start.user_external_ids == ("ann",) and start.server_id == "server-1"


def test_a_session_first_seen_paused_pauses_and_a_stop_without_position_keeps_the_last() -> None:
    tracker = SessionTracker("plex", "server-1", Clock())
    first = tracker.update([snap("paused", HOUR_MS // 4)])
    stopped = SessionSnapshot("s1", ("ann",), "ann", MOVIE, "stopped", None, None)
    last = tracker.update([stopped])
    assert [e.kind for e in first] == ["pause"] and first[0].paused is True
    assert [(e.kind, e.position_ms) for e in last] == [("stop", HOUR_MS // 4)]
    assert last[0].progress == 25.0
