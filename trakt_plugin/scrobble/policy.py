"""Scrobble policy (SPEC §6): pure functions from (session state, event) to Trakt actions.

No I/O and no clock: the caller loads the :class:`SessionState` of ``(user, event.session_key)``,
calls :func:`decide`, stores ``decision.state`` and turns ``decision.actions`` into outbox rows
in the same transaction, and records ``decision.play`` in the user's ledger whenever it is set —
in every mode, also with ``auto_scrobble`` off or without a Trakt connection. An action with a
``skip_reason`` is recorded as a skipped outbox row and never sent. The play carries the item's
runtime (minutes) from the session's events, for the stats' watch time.

| event                         | actions                                                        |
|-------------------------------|----------------------------------------------------------------|
| start, resume                 | scrobble_start (current progress)                              |
| pause                         | scrobble_pause (repeats while already paused: nothing)         |
| progress (heartbeat)          | nothing, unless ``paused`` flips: pause / start (resume)       |
| any playback event ≥ T        | one play: scrobble_stop when ≥ 80 %, else history_add          |
| stop < T                      | scrobble_pause (never a play, even between 80 and T)           |
| stop, no position known       | nothing sent: a skipped scrobble_pause row says why            |
| watched (manual mark)         | history_add at the event time                                  |
| unwatched                     | history_remove only with ``propagate_unwatched``               |

Outbox helpers: :func:`should_skip_stale`, :func:`use_history_for_late_completion`,
:func:`as_history_add`, and :func:`finalise_idle` for sessions that never send a stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, Literal, TypeAlias

from trakt_plugin.events.model import EventKind, PlaybackEvent

ActionKind: TypeAlias = Literal[
    "scrobble_start",
    "scrobble_pause",
    "scrobble_stop",
    "history_add",
    "history_remove",
    "none",
]

# Trakt answers 422 to a scrobble below 1 % (docs/trakt-api.md, status table), so every
# scrobble carries at least this much, and never more than 100.
MIN_PROGRESS = 1.0
MAX_PROGRESS = 100.0
# SPEC §6: a completion at or above 80 % goes out as /scrobble/stop, below it (a threshold set
# that low) through /sync/history. Trakt's docs put its own line "above 80 %": should Trakt answer
# a completing stop with "pause", the attempt adds the play through /sync/history instead
# (scrobble/attempt.py), so exactly 80 % still ends in one play.
TRAKT_SCROBBLE_STOP_MIN = 80.0
# scrobble_threshold default (SPEC §3).
DEFAULT_THRESHOLD = 90.0
# A start at ≤ 5 % after a finished playback is a re-watch: CrossWatch's rule (docs §6).
RESTART_MAX_PROGRESS = 5.0
# A start *without* a position right after a completion is Plex's extra media.play after
# media.scrobble (credits skip / autoplay, docs §2.6) and must not open a second play; only
# after this much quiet is such a start taken as a new playback.
RESTART_QUIET = timedelta(minutes=10)
# SPEC §3 defaults: scrobble.dedupe_window, idle_finalise, stale_start, live_window.
DEFAULT_DEDUPE_WINDOW = timedelta(seconds=21600)
IDLE_FINALISE = timedelta(seconds=14400)
STALE_AFTER = timedelta(seconds=1800)
LIVE_WINDOW = timedelta(seconds=60)

_LIVE_KINDS = frozenset({"scrobble_start", "scrobble_pause"})
# A stop with no position from the event or the session: the pause it would send carries the
# 1 % floor and overwrites the resume point Trakt keeps, so it is recorded skipped instead.
NO_POSITION_REASON = "stop without a known position: nothing sent (it would reset the resume point)"


def clamp_progress(progress: float | None) -> float:
    """Progress as Trakt accepts it: unknown → the minimum, else within [1, 100]."""
    if progress is None:
        return MIN_PROGRESS
    return round(min(MAX_PROGRESS, max(MIN_PROGRESS, progress)), 2)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_dt(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise ValueError(f"not a timestamp: {value!r}")


@dataclass(frozen=True)
class SessionState:
    """What the policy remembers about one playback session of one user.

    ``completed`` means a play already went out (or was recorded) for this playback; later
    events of the session send nothing more until a new playback starts. ``stopped`` means
    the server reported a stop below the threshold.
    """

    session_key: str
    user: str
    item_key: str
    last_progress: float | None = None
    paused: bool | None = None
    started: bool = False
    stopped: bool = False
    completed: bool = False
    completed_at: datetime | None = None
    started_at: datetime | None = None
    last_event_at: datetime | None = None
    # The item's runtime in minutes, as the session's events reported it (None: unknown).
    runtime: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (datetimes as ISO 8601 strings)."""
        # Not asdict(): every field is a plain value, and asdict deep-copies each (per event).
        data = {name: getattr(self, name) for name in _STATE_FIELDS}
        for key in ("completed_at", "started_at", "last_event_at"):
            data[key] = _iso(getattr(self, key))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionState:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        last = data.get("last_progress")
        paused = data.get("paused")
        runtime = data.get("runtime")
        return cls(
            session_key=str(data["session_key"]),
            user=str(data["user"]),
            item_key=str(data["item_key"]),
            last_progress=float(last) if last is not None else None,
            paused=bool(paused) if paused is not None else None,
            started=bool(data.get("started", False)),
            stopped=bool(data.get("stopped", False)),
            completed=bool(data.get("completed", False)),
            completed_at=_parse_dt(data.get("completed_at")),
            started_at=_parse_dt(data.get("started_at")),
            last_event_at=_parse_dt(data.get("last_event_at")),
            runtime=int(runtime) if isinstance(runtime, int | float) and runtime > 0 else None,
        )


_STATE_FIELDS = tuple(f.name for f in fields(SessionState))


@dataclass(frozen=True)
class Action:
    """One Trakt call to queue. ``event_time`` is when the event that caused it happened.

    ``completion`` marks the one call that records the play (never skipped, SPEC §6);
    ``watched_at`` is set for history adds. ``skip_reason``: record the row as skipped with
    this reason and send nothing.
    """

    kind: ActionKind
    event_time: datetime
    progress: float | None = None
    watched_at: datetime | None = None
    completion: bool = False
    skip_reason: str | None = None


@dataclass(frozen=True)
class LedgerPlay:
    """A play to record in the user's ledger (and export on the next sync if not sent live).

    ``runtime``: the item's length in minutes when an event reported it (else None).
    """

    watched_at: datetime
    progress: float
    runtime: int | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of one event.

    ``play`` is set exactly when this event completed a playback (or was a manual "watched"
    mark) and is not a duplicate: record it in the ledger whatever ``actions`` holds.
    ``effective_kind`` is the event's meaning after transitions (a Jellyfin heartbeat that
    un-pauses is a ``resume``). ``new_playback`` tells the caller a new playback session with
    its own start began, so older completions no longer count for dedupe (see :func:`decide`).
    ``note`` says why nothing was sent, for the event log.
    """

    state: SessionState
    actions: list[Action]
    play: LedgerPlay | None
    effective_kind: EventKind
    new_playback: bool = False
    note: str = ""


def _fresh(event: PlaybackEvent, user: str) -> SessionState:
    return SessionState(session_key=event.session_key, user=user, item_key=event.item_key)


def _with_runtime(state: SessionState, event: PlaybackEvent) -> SessionState:
    """The state remembering the item's runtime (the event's, else the one known so far)."""
    runtime = event.runtime or state.runtime
    return state if runtime == state.runtime else replace(state, runtime=runtime)


def _is_restart(state: SessionState, event: PlaybackEvent) -> bool:
    """Whether a start on a finished session opens a new playback (a re-watch)."""
    if not state.completed:
        return True  # stopped below the threshold: playing again is a new playback
    if event.progress is not None:
        return event.progress <= RESTART_MAX_PROGRESS
    last = state.last_event_at
    return last is None or event.occurred_at - last >= RESTART_QUIET


def _is_duplicate(
    event_time: datetime, recent_completion_at: datetime | None, dedupe_window: timedelta
) -> bool:
    if recent_completion_at is None:
        return False
    return abs(event_time - recent_completion_at) <= dedupe_window


def _completion_actions(progress: float, when: datetime, auto_scrobble: bool) -> list[Action]:
    if not auto_scrobble:
        return []
    if progress >= TRAKT_SCROBBLE_STOP_MIN:
        return [Action("scrobble_stop", when, progress=clamp_progress(progress), completion=True)]
    return [Action("history_add", when, watched_at=when, completion=True)]


def decide(
    state: SessionState | None,
    event: PlaybackEvent,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    auto_scrobble: bool = True,
    propagate_unwatched: bool = False,
    recent_completion_at: datetime | None = None,
    dedupe_window: timedelta = DEFAULT_DEDUPE_WINDOW,
    user: str | None = None,
) -> Decision:
    """Apply SPEC §6 to one event of one user's session.

    ``state`` is the stored state for ``(user, event.session_key)`` or None. ``user`` names the
    user in a new state (default: the event's first identity candidate).

    Dedupe contract: ``recent_completion_at`` is the time of this user's latest recorded play
    of ``event.item_key`` (from any session or source), passed **only** when no new playback
    session with its own start (a decision with ``new_playback``) has begun for that item
    since. A completion within ``dedupe_window`` of it is the same play: no call, no ``play``.
    A completion by an event that itself starts a new playback is never a duplicate.
    """
    when = event.occurred_at
    owner = user or (state.user if state else None) or next(iter(event.user_external_ids), "")
    if event.kind == "watched":
        return _manual_watched(
            state, event, owner, auto_scrobble, recent_completion_at, dedupe_window
        )
    if event.kind == "unwatched":
        current = state if state and state.item_key == event.item_key else _fresh(event, owner)
        current = replace(current, completed=False, completed_at=None, last_event_at=when)
        if propagate_unwatched:
            return Decision(current, [Action("history_remove", when)], None, "unwatched")
        return Decision(current, [], None, "unwatched", note="unwatched: recorded only")

    new_playback = False
    if state is None or state.item_key != event.item_key:
        state = _fresh(event, owner)
        new_playback = event.kind == "start"
    elif state.completed or state.stopped:
        if event.kind == "start" and _is_restart(state, event):
            keep = state.last_progress if not state.completed else None
            state = replace(_fresh(event, state.user), last_progress=keep, runtime=state.runtime)
            new_playback = True
        elif state.completed:
            return Decision(
                replace(state, last_event_at=when),
                [],
                None,
                event.kind,
                note="playback already completed",
            )

    # Position of this event; else the server's completion flag (= 100 %); else last known.
    progress = event.progress
    if progress is None and event.completed:
        progress = MAX_PROGRESS
    if progress is None:
        progress = state.last_progress
    state = _with_runtime(replace(state, last_event_at=when, last_progress=progress), event)

    if progress is not None and progress >= threshold:
        completed = replace(
            state, completed=True, completed_at=when, stopped=event.kind == "stop", paused=None
        )
        if not new_playback and _is_duplicate(when, recent_completion_at, dedupe_window):
            return Decision(
                completed, [], None, event.kind, note="same play as a recent completion"
            )
        return Decision(
            completed,
            _completion_actions(progress, when, auto_scrobble),
            LedgerPlay(
                watched_at=when, progress=min(progress, MAX_PROGRESS), runtime=state.runtime
            ),
            event.kind,
            new_playback=new_playback,
            note="" if auto_scrobble else "auto_scrobble is off: play recorded for export",
        )

    live = _live_action(state, event, progress)
    actions = [live[1]] if live[1] is not None and auto_scrobble else []
    note = live[3] or ("" if auto_scrobble or live[1] is None else "auto_scrobble is off")
    return Decision(live[0], actions, None, live[2], new_playback=new_playback, note=note)


def _live_action(
    state: SessionState, event: PlaybackEvent, progress: float | None
) -> tuple[SessionState, Action | None, EventKind, str]:
    """Start/pause calls of a playback that has not completed: (state, action, kind, note)."""
    when = event.occurred_at
    kind = event.kind
    start = Action("scrobble_start", when, progress=clamp_progress(progress))
    pause = Action("scrobble_pause", when, progress=clamp_progress(progress))
    if kind in ("start", "resume"):
        playing = state.started and not state.stopped and state.paused is not True
        if playing and (event.progress is None or event.progress == state.last_progress):
            # A repeated delivery: Trakt already shows it as watching.
            return state, None, kind, "already playing"
        started_at = state.started_at if state.started and not state.stopped else when
        new = replace(state, started=True, stopped=False, paused=False, started_at=started_at)
        return new, start, kind, ""
    if kind == "pause":
        if state.paused is True and not state.stopped:
            return state, None, kind, "already paused"
        return replace(state, paused=True, stopped=False), pause, kind, ""
    if kind == "progress":
        if event.paused is True and state.paused is not True:
            return replace(state, paused=True, stopped=False), pause, "pause", ""
        if event.paused is False and state.paused is True:
            new = replace(state, paused=False, started=True, stopped=False)
            return new, start, "resume", ""
        return state, None, kind, "heartbeat"
    # stop below the threshold: save the resume point, never a play (SPEC §6)
    if state.stopped:
        return state, None, kind, "already stopped"
    stopped = replace(state, stopped=True, started=False, paused=True)
    if progress is None:
        skipped = Action("scrobble_pause", when, skip_reason=NO_POSITION_REASON)
        return stopped, skipped, kind, NO_POSITION_REASON
    return stopped, pause, kind, ""


def _manual_watched(
    state: SessionState | None,
    event: PlaybackEvent,
    owner: str,
    auto_scrobble: bool,
    recent_completion_at: datetime | None,
    dedupe_window: timedelta,
) -> Decision:
    """A manual "mark as watched": one history add at the event time."""
    when = event.occurred_at
    current = state if state and state.item_key == event.item_key else _fresh(event, owner)
    current = _with_runtime(current, event)
    repeated = (
        current.completed
        and current.completed_at is not None
        and _is_duplicate(when, current.completed_at, dedupe_window)
    )
    marked = replace(
        current, completed=True, completed_at=when, last_event_at=when, last_progress=MAX_PROGRESS
    )
    if repeated or _is_duplicate(when, recent_completion_at, dedupe_window):
        # e.g. Emby's item.markplayed right after a completed playback.stop (docs §6 rule 3)
        return Decision(marked, [], None, "watched", note="same play as a recent completion")
    actions = (
        [Action("history_add", when, watched_at=when, completion=True)] if auto_scrobble else []
    )
    ledger = LedgerPlay(watched_at=when, progress=MAX_PROGRESS, runtime=current.runtime)
    return Decision(marked, actions, ledger, "watched")


def finalise_idle(
    state: SessionState,
    now: datetime,
    idle_after: timedelta = IDLE_FINALISE,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    auto_scrobble: bool = True,
) -> Decision:
    """Finalise a session that never sent a stop once it has been idle for ``idle_after``.

    A last progress at or above the threshold completes it: a history add stamped with the
    last event's time (it is long past the live window). Below that nothing is sent: the
    session is only closed, since a pause hours later would be stale anyway.
    """
    last = state.last_event_at
    if state.completed or state.stopped or last is None or now - last < idle_after:
        return Decision(state, [], None, "stop", note="not idle")
    progress = state.last_progress
    if progress is not None and progress >= threshold:
        done = replace(state, completed=True, completed_at=last, stopped=True, paused=None)
        actions = (
            [Action("history_add", last, watched_at=last, completion=True)] if auto_scrobble else []
        )
        ledger = LedgerPlay(watched_at=last, progress=progress, runtime=state.runtime)
        return Decision(done, actions, ledger, "stop")
    closed = replace(state, stopped=True, started=False)
    return Decision(closed, [], None, "stop", note="idle below the threshold")


def should_skip_stale(
    kind: str, event_time: datetime, now: datetime, stale_after: timedelta = STALE_AFTER
) -> bool:
    """Start/pause calls (``kind``) older than ``stale_after`` are skipped: "watching now" is no
    longer true (SPEC §6). Completions and history calls are never skipped."""
    return kind in _LIVE_KINDS and now - event_time > stale_after


def use_history_for_late_completion(
    event_time: datetime, now: datetime, live_window: timedelta = LIVE_WINDOW
) -> bool:
    """Trakt stamps a /scrobble/stop with its arrival time, so a completion going out more than
    ``live_window`` after its event goes through /sync/history with the event's time."""
    return now - event_time > live_window


def as_history_add(action: Action) -> Action:
    """The history-add form of a completion (``watched_at`` = the event's time)."""
    return Action(
        "history_add",
        action.event_time,
        watched_at=action.watched_at or action.event_time,
        completion=action.completion,
    )
