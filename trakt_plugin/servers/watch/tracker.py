"""Turning successive lists of a server's sessions into playback events (pure, no I/O).

A session seen for the first time starts (or pauses, when first seen paused); a change of state
pauses or resumes; a position that moved by at least :data:`MIN_PROGRESS_STEP` percent is a
progress event (anything less changes nothing and is not stored: two hours of updates every
5 s stay near a hundred events); a session reported stopped, or missing from a later list
(ended, changed item — its key names the item —, or gone with a server restart), stops at its
last known position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from ...events.model import EventKind, PlaybackEvent, ShowInfo, Source, make_item_key
from ...store.models import utcnow
from .base import SessionSnapshot

MIN_PROGRESS_STEP = 1.0  # percent


@dataclass
class _Known:
    snapshot: SessionSnapshot
    stored_progress: float | None  # the progress of the last event stored for it


class SessionTracker:
    """The sessions of one server and what was last stored of each."""

    def __init__(
        self, source: Source, server_id: str, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.source = source
        self.server_id = server_id
        self._clock = clock
        self._known: dict[str, _Known] = {}

    @property
    def active(self) -> int:
        return len(self._known)

    def update(self, sessions: list[SessionSnapshot]) -> list[PlaybackEvent]:
        """Events for the change from the last list to ``sessions`` (the whole list now)."""
        now = self._clock()
        events: list[PlaybackEvent] = []
        listed: set[str] = set()
        for snapshot in sessions:
            listed.add(snapshot.session_key)
            events.extend(self._one(snapshot, now))
        for key in [k for k in self._known if k not in listed]:
            last = self._known.pop(key).snapshot
            events.append(self._event("stop", last, now))
        return events

    def _one(self, snapshot: SessionSnapshot, now: datetime) -> list[PlaybackEvent]:
        key = snapshot.session_key
        known = self._known.get(key)
        if snapshot.state == "stopped":
            self._known.pop(key, None)
            if snapshot.position_ms is None and known is not None:
                snapshot = _with_position(snapshot, known.snapshot)
            return [self._event("stop", snapshot, now)]
        progress = _progress(snapshot)
        if known is None:
            kind: EventKind = "pause" if snapshot.state == "paused" else "start"
        elif snapshot.state != known.snapshot.state:
            kind = "pause" if snapshot.state == "paused" else "resume"
        elif _moved(known.stored_progress, progress):
            kind = "progress"
        else:
            known.snapshot = snapshot  # nothing worth storing; its position is still the latest
            return []
        self._known[key] = _Known(snapshot, progress)
        return [self._event(kind, snapshot, now)]

    def _event(self, kind: EventKind, snapshot: SessionSnapshot, now: datetime) -> PlaybackEvent:
        item = snapshot.item
        episode = item.type == "episode"
        show = item.show or (ShowInfo(title=None) if episode else None)
        progress = _progress(snapshot)
        return PlaybackEvent(
            source=self.source,
            kind=kind,
            media_type=item.type,
            session_key=snapshot.session_key,
            item_key=make_item_key(
                item.type,
                item.ids,
                show=show,
                season=item.season,
                number=item.number,
                local_key=snapshot.local_key,
                title=show.title if episode and show else item.title,
                year=item.year,
            ),
            occurred_at=now,
            raw_event=f"watch.{kind}",
            user_external_ids=snapshot.user_external_ids,
            user_name=snapshot.user_name,
            title=show.title if episode and show else item.title,
            year=item.year,
            ids=dict(item.ids),
            show=show,
            season=item.season,
            number=item.number,
            episode_title=item.title if episode else None,
            progress=progress,
            position_known=progress is not None,
            position_ms=snapshot.position_ms,
            duration_ms=snapshot.duration_ms,
            paused={"pause": True, "start": False, "resume": False}.get(kind),
            server_id=self.server_id,
        )


def _progress(snapshot: SessionSnapshot) -> float | None:
    position, duration = snapshot.position_ms, snapshot.duration_ms
    if position is None or not duration or duration <= 0:
        return None
    return max(0.0, min(100.0, position * 100.0 / duration))


def _moved(before: float | None, now: float | None) -> bool:
    if now is None:
        return False
    return before is None or abs(now - before) >= MIN_PROGRESS_STEP


def _with_position(snapshot: SessionSnapshot, last: SessionSnapshot) -> SessionSnapshot:
    return replace(
        snapshot,
        position_ms=last.position_ms,
        duration_ms=snapshot.duration_ms or last.duration_ms,
    )
