"""Record playback events and the Trakt calls they cause, in short write transactions.

The webhook answers 202 only after the transaction holding its event committed, so an
acknowledged event, its ledger play and its outbox rows survive a kill -9 together (SPEC §6
durable outbox).

Group commit: :meth:`EventRecorder.record_many` records a batch of events (the webhook route's
single writer hands it everything that is waiting) in ONE transaction, in order; an event that
fails rolls back alone and the others still commit (the batch is then recorded again with each
event in its own SAVEPOINT).
:meth:`EventRecorder.record` is the batch of one. The transaction takes the write lock up front
(``BEGIN IMMEDIATE`` on SQLite), and batches are recorded one at a time (a process lock), so a
session's state is read, decided and written without a concurrent event interleaving, and events
are recorded in the order they were handed over.

Cost: the hot path uses Core statements (no ORM objects or flushes), looks the dedupe input up
only when the event completes a playback (:func:`~.policy.decide` is pure and uses it for nothing
else), and looks the connection state up only when there are live calls to queue (once per user
and batch: the write lock is held, so it cannot change meanwhile).

Duplicate deliveries: a body identical (same source, same bytes) to one accepted within
:data:`DUPLICATE_DELIVERY_WINDOW` is the same delivery: it gets the first one's answer and
changes nothing (also within one batch: its events are recorded one after the other). Anything
else that repeats (a re-sent stop with a new timestamp, Plex's ``media.scrobble`` then
``media.stop``, Emby's stop then ``item.markplayed``) is absorbed by the policy: a completed
session sends nothing more, and a second completion of the same item within
``scrobble.dedupe_window`` with no new playback started in between is the same play.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection

from ..context import AppContext
from ..events.identities import Owner, PendingCounts, resolve_owner
from ..events.model import PlaybackEvent
from ..overrides import apply_override
from ..store import scrobble_repo
from ..store.engine import begin_write, write_lock
from .policy import Action, Decision, SessionState, decide
from .writes import Ref, Writes

# Webhook senders that repeat a delivery do so within seconds; ten minutes is far longer, and
# short enough that a paused Jellyfin heartbeat repeating the same bytes later is still cheap.
DUPLICATE_DELIVERY_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Accepted:
    """The answer to a recorded (or repeated) delivery, plus whose drain to wake."""

    event_id: int
    kind: str
    user_id: str | None
    duplicate: bool = False
    wake: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One parsed event to record: the event, its body hash, when it was received."""

    event: PlaybackEvent
    digest: str
    received_at: datetime


@dataclass
class _Batch:
    """What one write transaction may remember between its events."""

    queues: dict[str, bool] = field(default_factory=dict)
    # Senders' linked identities (see resolve_owner): the write lock keeps links unchanged.
    linked: dict[tuple[str, tuple[str, ...]], Any] = field(default_factory=dict)
    # Identity counts written once at the end (None: at once, for savepoints that roll back).
    pending: PendingCounts | None = None
    # Body hash → (event id, kind, user id, received at) of deliveries already recorded: looked
    # up for the whole batch at once (:meth:`prefetch`), completed as the batch records events.
    recorded: dict[str, tuple[int, str, str | None, datetime]] = field(default_factory=dict)

    def prefetch(self, conn: Connection, deliveries: Sequence[Delivery]) -> None:
        since = min(d.received_at for d in deliveries) - DUPLICATE_DELIVERY_WINDOW
        hashes = [d.digest for d in deliveries]
        self.recorded = scrobble_repo.find_duplicates(conn, body_hashes=hashes, since=since)

    def duplicate_of(self, delivery: Delivery) -> Accepted | None:
        """The answer of an identical delivery accepted within the window, if any."""
        found = self.recorded.get(delivery.digest)
        if found is None or found[3] < delivery.received_at - DUPLICATE_DELIVERY_WINDOW:
            return None
        return Accepted(found[0], found[1], found[2], duplicate=True)

    def queues_live_calls(self, conn: Connection, user_id: str) -> bool:
        # The write lock is held for the whole transaction: a connection cannot change state.
        if user_id not in self.queues:
            self.queues[user_id] = scrobble_repo.queues_live_calls(conn, user_id=user_id)
        return self.queues[user_id]


def body_hash(source: str, body: bytes) -> str:
    return hashlib.sha256(source.encode() + b"\0" + body).hexdigest()


def _dump(value: object) -> str:
    """Compact JSON; orjson, as this runs several times per event in the writer thread."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # an integer beyond 64 bits: the standard library takes anything
        return json.dumps(value, separators=(",", ":"), default=str)


class EventRecorder:
    """Turns parsed events into stored events, session state, plays and outbox rows."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        # One batch at a time in this process (shared with the drain's writes): SQLite has one
        # writer anyway, and waiting here is cheaper than in its busy handler.
        self._write = write_lock(ctx.engine)
        # Called after each committed batch, from the recording thread (the dashboard's live
        # updates, ui/live.py): each must be quick and must not raise.
        self.listeners: list[Callable[[], None]] = []

    def record(self, event: PlaybackEvent, digest: str, received_at: datetime) -> Accepted:
        """Store the event and its consequences; blocking (call from a worker thread)."""
        result = self.record_many([Delivery(event, digest, received_at)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def record_many(self, deliveries: Sequence[Delivery]) -> list[Accepted | Exception]:
        """Record ``deliveries`` in order in one transaction, committed before this returns.

        An event that raises is rolled back alone and its exception takes its place in the
        answer. An exception raised from here (the store could not begin or commit the
        transaction) means none of them was stored.

        Events almost never fail, so the batch is first recorded as one group (its rows
        written together, no savepoints); if one raises, that transaction is rolled back and
        the batch recorded again with each event in its own savepoint.
        """
        results: list[Accepted | Exception] = []
        with self._write, self._ctx.engine.connect() as conn:
            begin_write(conn)
            try:
                batch = _Batch(pending=PendingCounts())
                batch.prefetch(conn, deliveries)
                results = list(self._record_group(conn, batch, deliveries))
                assert batch.pending is not None
                batch.pending.flush(conn)
            except Exception as exc:
                conn.rollback()
                if len(deliveries) == 1:
                    return [exc]
                begin_write(conn)
                results = self._record_each(conn, deliveries)
            conn.commit()
        for listener in self.listeners:
            listener()
        return results

    def _record_each(
        self, conn: Connection, deliveries: Sequence[Delivery]
    ) -> list[Accepted | Exception]:
        """Record each delivery in its own savepoint (the batch had an event that fails)."""
        batch = _Batch()
        batch.prefetch(conn, deliveries)
        results: list[Accepted | Exception] = []
        for delivery in deliveries:
            savepoint = conn.begin_nested()
            try:
                [accepted] = self._record_group(conn, batch, [delivery])
            except Exception as exc:
                savepoint.rollback()  # if even this fails, the whole batch fails
                results.append(exc)
                continue
            savepoint.commit()
            results.append(accepted)
        return results

    def _record_group(
        self, conn: Connection, batch: _Batch, deliveries: Sequence[Delivery]
    ) -> list[Accepted]:
        """Record deliveries in order; their rows are written together at the end (writes.py).

        First the repeated deliveries are set aside and each sender resolved (and counted),
        then the sessions' states are read in one query, then each event is decided in order
        against the state the events before it left.
        """
        owners: list[Owner | int | Accepted] = []
        first_of: dict[str, int] = {}
        for index, delivery in enumerate(deliveries):
            repeated = batch.duplicate_of(delivery)
            if repeated is not None:
                owners.append(repeated)
            elif delivery.digest in first_of:  # the same delivery twice in this group
                owners.append(first_of[delivery.digest])
            else:
                first_of[delivery.digest] = index
                owners.append(self._owner(conn, batch, delivery))
        states = scrobble_repo.session_states(
            conn,
            [
                (owner.key, delivery.event.session_key)
                for delivery, owner in zip(deliveries, owners, strict=True)
                if isinstance(owner, Owner)
            ],
        )
        writes = Writes()
        recorded: list[_Recorded | Accepted | int] = [
            self._record_one(conn, writes, batch, states, delivery, owner)
            if isinstance(owner, Owner)
            else owner
            for delivery, owner in zip(deliveries, owners, strict=True)
        ]
        writes.flush(conn)
        answers: list[Accepted] = []
        for delivery, one in zip(deliveries, recorded, strict=True):
            if isinstance(one, _Recorded):
                accepted = one.accepted()
                # A repeat of this body later (in the batch) gets this answer.
                batch.recorded.setdefault(
                    delivery.digest,
                    (accepted.event_id, accepted.kind, accepted.user_id, delivery.received_at),
                )
            elif isinstance(one, int):
                first = answers[one]
                accepted = Accepted(first.event_id, first.kind, first.user_id, duplicate=True)
            else:
                accepted = one
            answers.append(accepted)
        return answers

    def _owner(self, conn: Connection, batch: _Batch, delivery: Delivery) -> Owner:
        return resolve_owner(
            conn,
            delivery.event,
            default_user=self._ctx.settings.default_user,
            now=delivery.received_at,
            linked_cache=batch.linked,
            pending=batch.pending,
        )

    def _record_one(
        self,
        conn: Connection,
        writes: Writes,
        batch: _Batch,
        states: dict[tuple[str, str], str],
        delivery: Delivery,
        owner: Owner,
    ) -> _Recorded:
        event, received_at = delivery.event, delivery.received_at
        settings = self._ctx.settings
        stored = states.get((owner.key, event.session_key))
        state = SessionState.from_dict(json.loads(stored)) if stored is not None else None
        options: dict[str, Any] = {
            "threshold": settings.scrobble_threshold,
            "auto_scrobble": settings.auto_scrobble,
            "propagate_unwatched": settings.sync.propagate_unwatched,
            "dedupe_window": timedelta(seconds=settings.scrobble.dedupe_window),
            "user": owner.key,
        }
        decision = decide(state, event, recent_completion_at=None, **options)
        if decision.play is not None:
            # Only a completion can be "the same play as a recent one": the dedupe input is
            # looked up for these alone (decide() uses it for nothing else), after this
            # group's earlier rows are written (the look-up reads plays and sessions).
            writes.flush(conn)
            recent = self._recent_completion(conn, owner, event.item_key)
            if recent is not None:
                decision = decide(state, event, recent_completion_at=recent, **options)
        event_ref = writes.add_event(
            {
                "received_at": received_at,
                "source": event.source,
                "user_id": owner.user_id,
                "identity_id": owner.identity_id,
                "kind": decision.effective_kind,
                "raw_kind": event.raw_event[:60],
                "media_type": event.media_type,
                "session_key": event.session_key[:400],
                "item_key": event.item_key[:400],
                "title": _title(event),
                "progress": event.progress,
                "occurred_at": event.occurred_at,
                "body_hash": delivery.digest,
                "note": decision.note[:200],
                "event_json": _dump(event.to_dict()),
            }
        )
        # A person's pin for an item that could not be identified (SPEC §10 Unmatched).
        item, has_ids = apply_override(conn, event.item_key, event.trakt_item(), event.has_ids())
        states[(owner.key, event.session_key)] = _save_session(
            writes, stored is not None, owner, event, decision, item
        )
        queues = None
        if decision.actions and owner.user_id is not None:
            queues = batch.queues_live_calls(conn, owner.user_id)
        wake = record_consequences(
            conn,
            writes,
            owner=owner,
            decision=decision,
            item=item,
            item_key=event.item_key,
            session_key=event.session_key,
            source=event.source,
            event=event_ref,
            has_ids=has_ids,
            queues=queues,
        )
        return _Recorded(event_ref, decision.effective_kind, owner.user_id, wake)

    def _recent_completion(self, conn: Connection, owner: Owner, item_key: str) -> datetime | None:
        """The policy's dedupe input: the latest play, unless a new playback began since."""
        last_play = scrobble_repo.latest_play_at(
            conn, user_id=owner.user_id, identity_id=owner.identity_id, item_key=item_key
        )
        if last_play is None:
            return None
        restarted = scrobble_repo.latest_new_playback_at(conn, owner=owner.key, item_key=item_key)
        if restarted is not None and restarted > last_play:
            return None
        return last_play


@dataclass(frozen=True)
class _Recorded:
    """An event recorded in a group whose rows are not written yet (its id comes at the end)."""

    event: Ref
    kind: str
    user_id: str | None
    wake: str | None

    def accepted(self) -> Accepted:
        return Accepted(self.event.get(), self.kind, self.user_id, wake=self.wake)


def _title(event: PlaybackEvent) -> str | None:
    if event.media_type == "episode" and event.show is not None and event.show.title:
        return f"{event.show.title} S{event.season}E{event.number}"[:400]
    return (event.title or None) and event.title[:400]


def _save_session(
    writes: Writes,
    exists: bool,
    owner: Owner,
    event: PlaybackEvent,
    decision: Decision,
    item: dict[str, object],
) -> str:
    """Queue the session's row; returns its new state (JSON) for the group's next events."""
    state = decision.state
    state_json = _dump(state.to_dict())
    values: dict[str, Any] = {
        "item_key": state.item_key,
        "state_json": state_json,
        "item": _dump(item),
        "title": _title(event),
        "last_event_at": event.occurred_at,
        "open": not (state.completed or state.stopped),
    }
    if decision.new_playback:
        values["new_playback_at"] = event.occurred_at
    if not exists:
        values.setdefault("new_playback_at", None)
        values["source"] = event.source
    writes.save_session(owner.key, event.session_key, exists=exists, values=values)
    return state_json


def record_consequences(
    conn: Connection,
    writes: Writes,
    *,
    owner: Owner,
    decision: Decision,
    item: dict[str, object],
    item_key: str,
    session_key: str,
    source: str,
    event: Ref | None,
    has_ids: bool,
    queues: bool | None = None,
) -> str | None:
    """Queue the decision's ledger play and outbox rows in ``writes`` (the caller flushes them
    before committing); returns the user whose drain to wake.

    Plays are recorded for everyone (also unlinked, or without a connection: SPEC §4), with the
    item's runtime when the events reported it; live calls are queued only for users whose
    Trakt connection exists (``queues``, looked up when not given); an action with a
    ``skip_reason`` is recorded as a skipped row. ``conn``: the transaction's connection
    (``session.connection()`` in an ORM transaction).
    """
    play: Ref | None = None
    if decision.play is not None:
        play = writes.add_play(
            {
                "user_id": owner.user_id,
                "identity_id": owner.identity_id,
                "item": _dump(item),
                "item_key": item_key[:400],
                "watched_at": decision.play.watched_at,
                "source": source,
                "event_id": None,
                "runtime": decision.play.runtime,
            },
            event,
        )
    user_id = owner.user_id
    if not decision.actions or user_id is None:
        return None
    if queues is None:
        queues = scrobble_repo.queues_live_calls(conn, user_id=user_id)
    if not queues:
        return None
    writes.supersede_live(user_id, session_key[:400], "superseded by a later event")
    for action in decision.actions:
        writes.add_scrobble(
            _outbox_row(action, user_id, item, item_key, session_key, has_ids),
            event,
            play if action.completion else None,
        )
    sendable = any(action.skip_reason is None for action in decision.actions)
    return user_id if has_ids and sendable else None


def _outbox_row(
    action: Action,
    user_id: str,
    item: dict[str, object],
    item_key: str,
    session_key: str,
    has_ids: bool,
) -> dict[str, Any]:
    """The values of one :class:`~..store.models.Scrobble` row (the rest take their defaults;
    ``event_id`` and ``play_id`` are filled in when the batch is written)."""
    row: dict[str, Any] = {
        "user_id": user_id,
        "action": action.kind,
        "item": _dump(item),
        "item_key": item_key[:400],
        "session_key": session_key[:400],
        "progress": action.progress,
        "event_time": action.event_time,
        "watched_at": action.watched_at,
        "completion": action.completion,
        "event_id": None,
        "play_id": None,
        "next_attempt_at": action.event_time,
        "status": "pending",
        "last_error": None,
    }
    if action.skip_reason is not None:
        row.update(status="skipped", last_error=action.skip_reason, next_attempt_at=None)
    elif not has_ids:
        row.update(status="skipped", last_error="no ids", next_attempt_at=None)
    return row


def session_owner(owner_key: str) -> Owner:
    """The :class:`Owner` a stored session's ``owner`` column names."""
    if owner_key.startswith("identity:"):
        return Owner(owner_key, None, int(owner_key.removeprefix("identity:")))
    if owner_key.startswith("anonymous:"):
        return Owner(owner_key, None, None)
    return Owner(owner_key, owner_key, None)
