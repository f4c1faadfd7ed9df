"""SPEC §6 sequences through the pure scrobble policy."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from trakt_plugin.events.model import EventKind, PlaybackEvent
from trakt_plugin.events.parsers import parse_payload
from trakt_plugin.scrobble.policy import (
    IDLE_FINALISE,
    MIN_PROGRESS,
    Action,
    Decision,
    SessionState,
    as_history_add,
    clamp_progress,
    decide,
    finalise_idle,
    should_skip_stale,
    use_history_for_late_completion,
)

T0 = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
SAMPLES = Path(__file__).parent.parent / "events" / "samples"


def ev(
    kind: EventKind,
    progress: float | None = None,
    *,
    minute: float = 0,
    completed: bool = False,
    paused: bool | None = None,
    session: str = "plex:s1",
    item: str = "movie:imdb:tt0133093",
) -> PlaybackEvent:
    return PlaybackEvent(
        source="plex",
        kind=kind,
        media_type="movie",
        session_key=session,
        item_key=item,
        occurred_at=T0 + timedelta(minutes=minute),
        raw_event=kind,
        user_external_ids=("alice",),
        title="The Matrix",
        year=1999,
        ids={"imdb": "tt0133093"},
        progress=progress,
        position_known=progress is not None,
        completed=completed,
        paused=paused,
    )


def play(events: list[PlaybackEvent], **options: Any) -> list[Decision]:
    """Feed events through decide() as the caller would, keeping one state per session."""
    states: dict[str, SessionState] = {}
    decisions = []
    for event in events:
        decision = decide(states.get(event.session_key), event, **options)
        states[event.session_key] = decision.state
        decisions.append(decision)
    return decisions


def kinds(decisions: list[Decision]) -> list[str]:
    return [action.kind for d in decisions for action in d.actions]


def plays(decisions: list[Decision]) -> int:
    return sum(1 for d in decisions if d.play is not None)


def test_start_pause_resume_stop_95() -> None:
    decisions = play(
        [
            ev("start", 0),
            ev("pause", 40, minute=50),
            ev("resume", 40, minute=55),
            ev("stop", 95, minute=130),
        ]
    )
    assert kinds(decisions) == [
        "scrobble_start",
        "scrobble_pause",
        "scrobble_start",
        "scrobble_stop",
    ]
    stop = decisions[-1].actions[0]
    assert stop.progress == 95.0
    assert stop.completion
    assert plays(decisions) == 1
    assert decisions[-1].play is not None
    assert decisions[-1].play.watched_at == T0 + timedelta(minutes=130)
    assert decisions[0].new_playback


def test_stop_between_80_and_threshold_is_a_pause_not_a_play() -> None:
    decisions = play([ev("start", 0), ev("stop", 85, minute=100)], threshold=90)
    assert kinds(decisions) == ["scrobble_start", "scrobble_pause"]
    assert decisions[-1].actions[0].progress == 85.0
    assert plays(decisions) == 0
    assert decisions[-1].state.stopped and not decisions[-1].state.completed


def test_plex_scrobble_then_stop_is_one_play() -> None:
    decisions = play(
        [ev("start"), ev("progress", 90.2, minute=120, completed=True), ev("stop", 97, minute=125)]
    )
    assert kinds(decisions) == ["scrobble_start", "scrobble_stop"]
    assert decisions[1].actions[0].completion
    assert decisions[2].actions == []
    assert decisions[2].note == "playback already completed"
    assert plays(decisions) == 1


def test_plex_scrobble_below_threshold_lets_progress_decide() -> None:
    decisions = play(
        [ev("start"), ev("progress", 91, minute=1, completed=True), ev("stop", 93, minute=2)],
        threshold=95,
    )
    assert kinds(decisions) == ["scrobble_start", "scrobble_pause"]
    assert plays(decisions) == 0


def test_completed_flag_without_position_counts_as_100() -> None:
    decisions = play([ev("start", 10), ev("stop", None, minute=5, completed=True)], threshold=95)
    assert kinds(decisions) == ["scrobble_start", "scrobble_stop"]
    assert decisions[-1].actions[0].progress == 100.0


def test_completed_flag_with_a_position_does_not_override_it() -> None:
    decisions = play([ev("start", 10), ev("stop", 60, minute=5, completed=True)])
    assert kinds(decisions) == ["scrobble_start", "scrobble_pause"]
    assert plays(decisions) == 0


def test_missing_progress_on_stop_uses_last_known() -> None:
    decisions = play(
        [ev("start", 0), ev("pause", 93, minute=1), ev("stop", None, minute=2)], threshold=95
    )
    assert kinds(decisions) == ["scrobble_start", "scrobble_pause", "scrobble_pause"]
    assert decisions[-1].actions[0].progress == 93.0
    decisions = play([ev("pause", 96, minute=1), ev("stop", None, minute=2)])
    assert kinds(decisions) == ["scrobble_stop"]  # the pause at 96 % already completed it


def test_jellyfin_heartbeats_only_emit_transitions() -> None:
    events = [
        ev("start", 0, paused=False),
        ev("progress", 5, minute=5, paused=False),
        ev("progress", 10, minute=10, paused=False),
        ev("progress", 12, minute=12, paused=True),
        ev("progress", 12, minute=13, paused=True),
        ev("pause", 12, minute=14, paused=True),  # parser's form of a paused heartbeat
        ev("progress", 12, minute=15, paused=False),
        ev("progress", 30, minute=30, paused=False),
        ev("progress", 30, minute=31, paused=None),
    ]
    decisions = play(events)
    assert kinds(decisions) == ["scrobble_start", "scrobble_pause", "scrobble_start"]
    assert [d.effective_kind for d in decisions][3] == "pause"
    assert [d.effective_kind for d in decisions][6] == "resume"
    assert decisions[1].note == "heartbeat"


def test_heartbeat_reaching_threshold_completes_once() -> None:
    events = [ev("start", 0, paused=False)]
    events += [ev("progress", p, minute=p, paused=False) for p in (50, 89, 90, 95, 99)]
    events.append(ev("stop", 99.5, minute=100))
    decisions = play(events)
    assert kinds(decisions) == ["scrobble_start", "scrobble_stop"]
    assert decisions[3].actions[0].completion
    assert plays(decisions) == 1


def test_auto_scrobble_off_sends_nothing_but_records_the_play() -> None:
    decisions = play(
        [ev("start", 0), ev("pause", 40, minute=1), ev("stop", 95, minute=2)],
        auto_scrobble=False,
    )
    assert kinds(decisions) == []
    assert plays(decisions) == 1
    assert decisions[-1].state.completed
    watched = play([ev("watched", minute=3, session="m")], auto_scrobble=False)
    assert kinds(watched) == []
    assert plays(watched) == 1


def test_threshold_below_80_completes_through_history() -> None:
    decisions = play([ev("start", 0), ev("stop", 75, minute=90)], threshold=70)
    assert kinds(decisions) == ["scrobble_start", "history_add"]
    add = decisions[-1].actions[0]
    assert add.watched_at == T0 + timedelta(minutes=90)
    assert add.completion


def test_manual_watched_is_a_history_add_at_event_time() -> None:
    decisions = play([ev("watched", minute=7, session="mark")])
    assert kinds(decisions) == ["history_add"]
    assert decisions[0].actions[0].watched_at == T0 + timedelta(minutes=7)
    assert decisions[0].play is not None


def test_unwatched_is_recorded_only_unless_propagated() -> None:
    assert kinds(play([ev("unwatched")])) == []
    assert kinds(play([ev("unwatched")], propagate_unwatched=True)) == ["history_remove"]


def test_dedupe_window() -> None:
    earlier = T0 - timedelta(hours=2)
    # a second completion of the same item (another session/source) within 6 h: same play
    decisions = play([ev("stop", 95, session="jellyfin:x")], recent_completion_at=earlier)
    assert kinds(decisions) == []
    assert plays(decisions) == 0
    assert decisions[0].state.completed
    # outside the window: a new play
    old = T0 - timedelta(hours=7)
    assert kinds(play([ev("stop", 95)], recent_completion_at=old)) == ["scrobble_stop"]
    # a new playback with its own start is a re-watch even inside the window
    decisions = play([ev("start", 0), ev("stop", 96, minute=100)], recent_completion_at=earlier)
    assert decisions[0].new_playback
    # the caller stops passing recent_completion_at once new_playback was reported
    assert kinds(play([ev("start", 0), ev("stop", 96, minute=100)])) == [
        "scrobble_start",
        "scrobble_stop",
    ]
    # Emby item.markplayed right after a completed stop
    marked = play([ev("watched", session="mark")], recent_completion_at=T0 - timedelta(minutes=1))
    assert kinds(marked) == []


def test_completing_start_is_never_a_duplicate() -> None:
    decisions = play([ev("start", 97)], recent_completion_at=T0 - timedelta(hours=1))
    assert kinds(decisions) == ["scrobble_stop"]


def test_progress_below_one_percent_is_clamped() -> None:
    decisions = play([ev("start", 0.2), ev("pause", None, minute=1)])
    assert [a.progress for d in decisions for a in d.actions] == [MIN_PROGRESS, MIN_PROGRESS]
    assert clamp_progress(None) == 1.0
    assert clamp_progress(250) == 100.0
    assert clamp_progress(42.123) == 42.12


def test_repeated_deliveries_send_once() -> None:
    decisions = play(
        [
            ev("start", 0),
            ev("start", 0),
            ev("pause", 30, minute=1),
            ev("pause", 30, minute=1),
            ev("stop", 40, minute=2),
            ev("stop", 40, minute=2),
        ]
    )
    assert kinds(decisions) == ["scrobble_start", "scrobble_pause", "scrobble_pause"]


def test_extra_play_after_scrobble_is_not_a_rewatch() -> None:
    decisions = play(
        [
            ev("start", None),
            ev("progress", 91, minute=120, completed=True),
            ev("start", None, minute=121),
            ev("stop", 98, minute=125),
        ]
    )
    assert kinds(decisions) == ["scrobble_start", "scrobble_stop"]
    assert not decisions[2].new_playback


def test_rewatch_after_completion_is_a_new_play() -> None:
    decisions = play(
        [
            ev("start", 0),
            ev("stop", 96, minute=120),
            ev("start", 0.5, minute=125),
            ev("stop", 95, minute=250),
        ]
    )
    assert kinds(decisions) == [
        "scrobble_start",
        "scrobble_stop",
        "scrobble_start",
        "scrobble_stop",
    ]
    assert decisions[2].new_playback
    assert plays(decisions) == 2
    # a start late in the item right after completion (credits, seek) is the same playback
    decisions = play([ev("start", 0), ev("stop", 96, minute=120), ev("start", 60, minute=121)])
    assert kinds(decisions) == ["scrobble_start", "scrobble_stop"]


def test_stop_then_play_again_continues_from_last_progress() -> None:
    decisions = play([ev("start", 0), ev("stop", 30, minute=40), ev("start", None, minute=600)])
    assert kinds(decisions) == ["scrobble_start", "scrobble_pause", "scrobble_start"]
    assert decisions[2].actions[0].progress == 30.0
    assert decisions[2].new_playback


def test_new_item_on_same_session_key_starts_fresh() -> None:
    decisions = play(
        [
            ev("start", 0),
            ev("stop", 96, minute=60),
            ev("start", 0, minute=61, item="movie:imdb:tt0234215"),
        ]
    )
    assert kinds(decisions) == ["scrobble_start", "scrobble_stop", "scrobble_start"]


def test_state_round_trips_through_json() -> None:
    decision = play([ev("start", 10), ev("stop", 95, minute=3)])[-1]
    data = json.loads(json.dumps(decision.state.to_dict()))
    assert SessionState.from_dict(data) == decision.state
    assert SessionState.from_dict({**data, "future_field": 1}) == decision.state


def test_finalise_idle() -> None:
    state = play([ev("start", 0), ev("progress", 95, minute=1)], threshold=99)[-1].state
    early = finalise_idle(state, T0 + timedelta(hours=1), threshold=90)
    assert early.actions == [] and early.note == "not idle"
    later = T0 + timedelta(minutes=1) + IDLE_FINALISE
    done = finalise_idle(state, later, threshold=90)
    assert [a.kind for a in done.actions] == ["history_add"]
    assert done.actions[0].watched_at == T0 + timedelta(minutes=1)
    assert done.play is not None and done.state.completed
    short = play([ev("start", 0), ev("progress", 40, minute=1)])[-1].state
    closed = finalise_idle(short, later, threshold=90)
    assert closed.actions == [] and closed.play is None and closed.state.stopped
    assert finalise_idle(done.state, later + IDLE_FINALISE, threshold=90).actions == []


def test_stale_and_late_helpers() -> None:
    start = Action("scrobble_start", T0, progress=5)
    stop = Action("scrobble_stop", T0, progress=95, completion=True)
    assert not should_skip_stale(start.kind, T0, T0 + timedelta(minutes=29))
    assert should_skip_stale(start.kind, T0, T0 + timedelta(minutes=31))
    assert not should_skip_stale(stop.kind, T0, T0 + timedelta(days=2))
    assert not use_history_for_late_completion(T0, T0 + timedelta(seconds=59))
    assert use_history_for_late_completion(T0, T0 + timedelta(seconds=61))
    add = as_history_add(stop)
    assert (add.kind, add.watched_at, add.completion) == ("history_add", T0, True)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (
            ["movie_play", "movie_pause", "movie_stop_95"],
            ["scrobble_start", "scrobble_pause", "scrobble_stop"],
        ),
    ],
)
def test_real_plex_samples_through_policy(names: list[str], expected: list[str]) -> None:
    events = []
    for minute, name in enumerate(names):
        payload = json.loads((SAMPLES / "plex" / f"{name}.json").read_text())
        result = parse_payload("plex", payload, received_at=T0 + timedelta(minutes=minute))
        assert isinstance(result, PlaybackEvent)
        events.append(result)
    assert kinds(play(events)) == expected


def test_real_jellyfin_samples_through_policy() -> None:
    events = []
    for minute, name in enumerate(["movie_start", "movie_pause", "movie_stop_95"]):
        payload = json.loads((SAMPLES / "jellyfin" / f"{name}.json").read_text())
        result = parse_payload("jellyfin", payload, received_at=T0 + timedelta(minutes=minute))
        assert isinstance(result, PlaybackEvent)
        events.append(result)
    # a heartbeat that is no longer paused between pause and stop is the resume
    resumed = json.loads((SAMPLES / "jellyfin" / "movie_pause.json").read_text())
    resumed["IsPaused"] = False
    heartbeat = parse_payload("jellyfin", resumed, received_at=T0 + timedelta(seconds=90))
    assert isinstance(heartbeat, PlaybackEvent)
    events.insert(2, heartbeat)
    assert kinds(play(events)) == [
        "scrobble_start",
        "scrobble_pause",
        "scrobble_start",
        "scrobble_stop",
    ]


# --- SPEC §6 edges: exactly 80 %, a stop with no position; the play's runtime (§8) ----------


def test_a_completion_at_exactly_80_percent_is_a_scrobble_stop() -> None:
    decisions = play([ev("start", 0), ev("stop", 80, minute=90)], threshold=80)
    assert kinds(decisions) == ["scrobble_start", "scrobble_stop"]
    stop = decisions[-1].actions[0]
    assert stop.progress == 80.0 and stop.completion
    just_below = play([ev("start", 0), ev("stop", 79.9, minute=90)], threshold=79)
    assert kinds(just_below) == ["scrobble_start", "history_add"]


def test_a_stop_with_no_known_position_sends_nothing_and_says_why() -> None:
    decisions = play([ev("start"), ev("stop", None, minute=30)])
    assert kinds(decisions) == ["scrobble_start", "scrobble_pause"]
    skipped = decisions[-1].actions[0]
    assert skipped.skip_reason is not None and "position" in skipped.skip_reason
    assert decisions[-1].note == skipped.skip_reason
    assert decisions[-1].state.stopped and decisions[-1].play is None
    assert decisions[0].actions[0].skip_reason is None  # the start goes out as before
    # With a position known earlier in the session the stop still saves that resume point.
    known = play([ev("start", 0), ev("pause", 40, minute=20), ev("stop", None, minute=30)])
    assert known[-1].actions[0].skip_reason is None
    assert known[-1].actions[0].progress == 40.0


def test_the_play_carries_the_runtime_the_session_reported() -> None:
    minutes_100 = 100 * 60_000
    decisions = play(
        [
            replace(ev("start", 0), duration_ms=minutes_100),
            ev("stop", 95, minute=100),  # this event has no duration: the session remembers
        ]
    )
    assert decisions[-1].play is not None and decisions[-1].play.runtime == 100
    restored = SessionState.from_dict(json.loads(json.dumps(decisions[0].state.to_dict())))
    assert restored.runtime == 100
    assert SessionState.from_dict({**decisions[0].state.to_dict(), "runtime": None}).runtime is None

    marked = play([replace(ev("watched", minute=7, session="m"), duration_ms=minutes_100)])
    assert marked[0].play is not None and marked[0].play.runtime == 100

    state = play([replace(ev("start", 0), duration_ms=minutes_100), ev("progress", 95, minute=1)],
                 threshold=99)[-1].state  # fmt: skip
    done = finalise_idle(state, T0 + timedelta(minutes=1) + IDLE_FINALISE, threshold=90)
    assert done.play is not None and done.play.runtime == 100

    unknown = play([ev("start", 0), ev("stop", 95, minute=100)])
    assert unknown[-1].play is not None and unknown[-1].play.runtime is None
