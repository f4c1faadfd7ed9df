"""Record one playback event and the Trakt calls it causes, in ONE short write transaction.

The webhook answers 202 only after :meth:`EventRecorder.record` returned, so an acknowledged
event, its ledger play and its outbox rows survive a kill -9 together (SPEC §6 durable outbox).

Duplicate deliveries: a body identical (same source, same bytes) to one accepted within
:data:`DUPLICATE_DELIVERY_WINDOW` is the same delivery: it gets the first one's answer and
changes nothing. Anything else that repeats (a re-sent stop with a new timestamp, Plex's
``media.scrobble`` then ``media.stop``, Emby's stop then ``item.markplayed``) is absorbed by the
policy: a completed session sends nothing more, and a second completion of the same item within
``scrobble.dedupe_window`` with no new playback started in between is the same play.

Events of one sender are recorded one at a time (striped process locks): the session state is
read, decided and written without a concurrent event of the same session interleaving.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from ..context import AppContext
from ..events.identities import Owner, lock_key, resolve_owner
from ..events.model import PlaybackEvent
from ..store import scrobble_repo
from ..store.models import Play, PlaybackSession, Scrobble, WebhookEvent, as_utc
from .policy import Action, Decision, SessionState, decide

# Webhook senders that repeat a delivery do so within seconds; ten minutes is far longer, and
# short enough that a paused Jellyfin heartbeat repeating the same bytes later is still cheap.
DUPLICATE_DELIVERY_WINDOW = timedelta(minutes=10)
# Striped locks: events of one sender serialise, different senders rarely contend.
LOCK_STRIPES = 64


@dataclass(frozen=True)
class Accepted:
    """The answer to a recorded (or repeated) delivery, plus whose drain to wake."""

    event_id: int
    kind: str
    user_id: str | None
    duplicate: bool = False
    wake: str | None = None


def body_hash(source: str, body: bytes) -> str:
    return hashlib.sha256(source.encode() + b"\0" + body).hexdigest()


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class EventRecorder:
    """Turns parsed events into stored events, session state, plays and outbox rows."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]

    def _lock(self, key: str) -> threading.Lock:
        return self._locks[hash(key) % LOCK_STRIPES]

    def record(self, event: PlaybackEvent, digest: str, received_at: datetime) -> Accepted:
        """Store the event and its consequences; blocking (call from a worker thread)."""
        with self._lock(lock_key(event)), self._ctx.session() as session, session.begin():
            repeated = scrobble_repo.find_duplicate(
                session, body_hash=digest, since=received_at - DUPLICATE_DELIVERY_WINDOW
            )
            if repeated is not None and repeated.id is not None:
                return Accepted(repeated.id, repeated.kind, repeated.user_id, duplicate=True)
            settings = self._ctx.settings
            owner = resolve_owner(
                session, event, default_user=settings.default_user, now=received_at
            )
            stored = scrobble_repo.get_session(
                session, owner=owner.key, session_key=event.session_key
            )
            state = SessionState.from_dict(json.loads(stored.state_json)) if stored else None
            queues = owner.user_id is not None and scrobble_repo.queues_live_calls(
                session, user_id=owner.user_id
            )
            decision = decide(
                state,
                event,
                threshold=settings.scrobble_threshold,
                auto_scrobble=settings.auto_scrobble,
                propagate_unwatched=settings.sync.propagate_unwatched,
                recent_completion_at=self._recent_completion(session, owner, event.item_key),
                dedupe_window=timedelta(seconds=settings.scrobble.dedupe_window),
                user=owner.key,
            )
            row = WebhookEvent(
                received_at=received_at,
                source=event.source,
                user_id=owner.user_id,
                identity_id=owner.identity_id,
                kind=decision.effective_kind,
                raw_kind=event.raw_event[:60],
                media_type=event.media_type,
                session_key=event.session_key[:400],
                item_key=event.item_key[:400],
                title=_title(event),
                progress=event.progress,
                occurred_at=event.occurred_at,
                body_hash=digest,
                note=decision.note[:200],
                event_json=_dump(event.to_dict()),
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            item = event.trakt_item()
            _save_session(session, stored, owner, event, decision, item)
            wake = record_consequences(
                session,
                owner=owner,
                decision=decision,
                item=item,
                item_key=event.item_key,
                session_key=event.session_key,
                source=event.source,
                event_id=row.id,
                has_ids=event.has_ids(),
                queues=queues,
            )
            return Accepted(row.id, decision.effective_kind, owner.user_id, wake=wake)

    def _recent_completion(self, session: Session, owner: Owner, item_key: str) -> datetime | None:
        """The policy's dedupe input: the latest play, unless a new playback began since."""
        last_play = scrobble_repo.latest_play_at(
            session, user_id=owner.user_id, identity_id=owner.identity_id, item_key=item_key
        )
        if last_play is None:
            return None
        restarted = scrobble_repo.latest_new_playback_at(
            session, owner=owner.key, item_key=item_key
        )
        if restarted is not None and restarted > last_play:
            return None
        return last_play


def _title(event: PlaybackEvent) -> str | None:
    if event.media_type == "episode" and event.show is not None and event.show.title:
        return f"{event.show.title} S{event.season}E{event.number}"[:400]
    return (event.title or None) and event.title[:400]


def _save_session(
    session: Session,
    stored: PlaybackSession | None,
    owner: Owner,
    event: PlaybackEvent,
    decision: Decision,
    item: dict[str, object],
) -> None:
    row = stored or PlaybackSession(
        owner=owner.key,
        session_key=event.session_key,
        item_key=event.item_key,
        state_json="{}",
        item="{}",
        source=event.source,
    )
    state = decision.state
    row.item_key = state.item_key
    row.state_json = _dump(state.to_dict())
    row.item = _dump(item)
    row.title = _title(event)
    row.last_event_at = event.occurred_at
    row.open = not (state.completed or state.stopped)
    if decision.new_playback:
        row.new_playback_at = event.occurred_at
    session.add(row)


def record_consequences(
    session: Session,
    *,
    owner: Owner,
    decision: Decision,
    item: dict[str, object],
    item_key: str,
    session_key: str,
    source: str,
    event_id: int | None,
    has_ids: bool,
    queues: bool | None = None,
) -> str | None:
    """Write the decision's ledger play and outbox rows; returns the user whose drain to wake.

    Plays are recorded for everyone (also unlinked, or without a connection: SPEC §4); live
    calls are queued only for users whose Trakt connection exists (``queues``, looked up when
    not given).
    """
    play_id: int | None = None
    if decision.play is not None:
        play = Play(
            user_id=owner.user_id,
            identity_id=owner.identity_id,
            item=_dump(item),
            item_key=item_key[:400],
            watched_at=decision.play.watched_at,
            source=source,
            event_id=event_id,
        )
        session.add(play)
        session.flush()
        play_id = play.id
    user_id = owner.user_id
    if not decision.actions or user_id is None:
        return None
    if queues is None:
        queues = scrobble_repo.queues_live_calls(session, user_id=user_id)
    if not queues:
        return None
    scrobble_repo.supersede_live(
        session, user_id=user_id, session_key=session_key[:400], note="superseded by a later event"
    )
    for action in decision.actions:
        session.add(
            _outbox_row(action, user_id, item, item_key, session_key, event_id, play_id, has_ids)
        )
    return user_id if has_ids else None


def _outbox_row(
    action: Action,
    user_id: str,
    item: dict[str, object],
    item_key: str,
    session_key: str,
    event_id: int | None,
    play_id: int | None,
    has_ids: bool,
) -> Scrobble:
    row = Scrobble(
        user_id=user_id,
        action=action.kind,
        item=_dump(item),
        item_key=item_key[:400],
        session_key=session_key[:400],
        progress=action.progress,
        event_time=action.event_time,
        watched_at=action.watched_at,
        completion=action.completion,
        event_id=event_id,
        play_id=play_id if action.completion else None,
        next_attempt_at=action.event_time,
    )
    if not has_ids:
        row.status, row.last_error, row.next_attempt_at = "skipped", "no ids", None
    return row


def session_owner(owner_key: str) -> Owner:
    """The :class:`Owner` a stored session's ``owner`` column names."""
    if owner_key.startswith("identity:"):
        return Owner(owner_key, None, int(owner_key.removeprefix("identity:")))
    if owner_key.startswith("anonymous:"):
        return Owner(owner_key, None, None)
    return Owner(owner_key, owner_key, None)


def last_event_at(row: PlaybackSession) -> datetime | None:
    return as_utc(row.last_event_at)
