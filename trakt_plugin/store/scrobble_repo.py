"""Repository functions for scrobbling: events, sessions, the play ledger, the outbox.

Keyword-only, each takes an open session; callers own the transaction. Datetimes go in aware
(UTC) and come back naive from SQLite (see :func:`as_utc`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, func, select

from .models import (
    Play,
    PlaybackSession,
    RejectedDelivery,
    Scrobble,
    TraktConnection,
    WebhookEvent,
    as_utc,
)

# The rejected-deliveries log keeps this many bodies (newest), each cut to REJECTED_BODY_BYTES:
# enough to diagnose a misconfigured server, bounded so a flood cannot fill the disk.
REJECTED_KEEP = 200
REJECTED_BODY_BYTES = 64 * 1024
# Connection states whose live calls are queued: connected, or waiting for re-authorisation
# (the rows wait parked). "pending" counts only when old tokens exist (a reconnect).
QUEUEING_STATES = ("connected", "reauth_required")
STATUSES = ("pending", "sent", "skipped", "dead", "discarded")

# ---------------------------------------------------------------- rejected deliveries


def record_rejected(
    session: Session,
    *,
    source: str,
    status: int,
    reason: str,
    content_type: str | None,
    body: bytes,
    size: int,
) -> None:
    session.add(
        RejectedDelivery(
            source=source[:40],
            status=status,
            reason=reason[:300],
            content_type=(content_type or None) and content_type[:200],
            size=size,
            body=body[:REJECTED_BODY_BYTES],
        )
    )
    session.flush()
    cutoff = session.exec(
        select(RejectedDelivery.id).order_by(col(RejectedDelivery.id).desc()).offset(REJECTED_KEEP)
    ).first()
    if cutoff is not None:
        session.execute(delete(RejectedDelivery).where(col(RejectedDelivery.id) <= cutoff))


def list_rejected(
    session: Session, *, before: int | None = None, limit: int = 100
) -> Sequence[RejectedDelivery]:
    query = select(RejectedDelivery).order_by(col(RejectedDelivery.id).desc())
    if before is not None:
        query = query.where(col(RejectedDelivery.id) < before)
    return session.exec(query.limit(limit)).all()


# ---------------------------------------------------------------- events


def find_duplicate(session: Session, *, body_hash: str, since: datetime) -> WebhookEvent | None:
    query = (
        select(WebhookEvent)
        .where(WebhookEvent.body_hash == body_hash, col(WebhookEvent.received_at) >= since)
        .order_by(col(WebhookEvent.id))
    )
    return session.exec(query).first()


def recent_events(session: Session, *, limit: int = 50) -> Sequence[WebhookEvent]:
    return session.exec(
        select(WebhookEvent).order_by(col(WebhookEvent.id).desc()).limit(limit)
    ).all()


def purge_events(session: Session, *, before: datetime) -> int:
    result = session.execute(delete(WebhookEvent).where(col(WebhookEvent.received_at) < before))
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- sessions and dedupe


def get_session(session: Session, *, owner: str, session_key: str) -> PlaybackSession | None:
    return session.get(PlaybackSession, (owner, session_key))


def latest_play_at(
    session: Session, *, user_id: str | None, identity_id: int | None, item_key: str
) -> datetime | None:
    """When the owner's latest ledger play of the item was watched."""
    query = select(func.max(Play.watched_at)).where(Play.item_key == item_key)
    if user_id is not None:
        query = query.where(Play.user_id == user_id)
    elif identity_id is not None:
        query = query.where(Play.identity_id == identity_id, col(Play.user_id).is_(None))
    else:
        return None
    return as_utc(session.exec(query).one())


def latest_new_playback_at(session: Session, *, owner: str, item_key: str) -> datetime | None:
    query = select(func.max(PlaybackSession.new_playback_at)).where(
        PlaybackSession.owner == owner, PlaybackSession.item_key == item_key
    )
    return as_utc(session.exec(query).one())


def idle_sessions(
    session: Session, *, before: datetime, limit: int = 500
) -> Sequence[PlaybackSession]:
    query = (
        select(PlaybackSession)
        .where(col(PlaybackSession.open).is_(True), col(PlaybackSession.last_event_at) < before)
        .limit(limit)
    )
    return session.exec(query).all()


def open_sessions(
    session: Session, *, since: datetime, limit: int = 50
) -> Sequence[PlaybackSession]:
    query = (
        select(PlaybackSession)
        .where(col(PlaybackSession.open).is_(True), col(PlaybackSession.last_event_at) >= since)
        .order_by(col(PlaybackSession.last_event_at).desc())
        .limit(limit)
    )
    return session.exec(query).all()


# ---------------------------------------------------------------- ledger


def plays_of(session: Session, *, user_id: str) -> Sequence[Play]:
    query = select(Play).where(Play.user_id == user_id).order_by(col(Play.watched_at))
    return session.exec(query).all()


# ---------------------------------------------------------------- outbox


def queues_live_calls(session: Session, *, user_id: str) -> bool:
    """Whether live calls are queued for the user (SPEC §4: none without a connection)."""
    row = session.get(TraktConnection, user_id)
    if row is None:
        return False
    return row.state in QUEUEING_STATES or (row.state == "pending" and bool(row.access_token))


def supersede_live(session: Session, *, user_id: str, session_key: str, note: str) -> int:
    """Mark the session's unsent start/pause calls skipped (a later event replaces them)."""
    result = session.execute(
        update(Scrobble)
        .where(
            col(Scrobble.user_id) == user_id,
            col(Scrobble.session_key) == session_key,
            col(Scrobble.status) == "pending",
            col(Scrobble.completion).is_(False),
            col(Scrobble.action).in_(("scrobble_start", "scrobble_pause")),
        )
        .values(status="skipped", last_error=note, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def next_pending(session: Session, *, user_id: str) -> Scrobble | None:
    """The user's oldest pending row that is not parked (calls go out in event order)."""
    query = (
        select(Scrobble)
        .where(
            Scrobble.user_id == user_id,
            Scrobble.status == "pending",
            col(Scrobble.parked_at).is_(None),
        )
        .order_by(col(Scrobble.id))
    )
    return session.exec(query).first()


def users_with_pending(session: Session) -> list[str]:
    query = (
        select(Scrobble.user_id)
        .where(Scrobble.status == "pending", col(Scrobble.parked_at).is_(None))
        .distinct()
    )
    return list(session.exec(query).all())


def park_user(session: Session, *, user_id: str, now: datetime, reason: str) -> int:
    """Park the user's pending rows until reconnect; their give-up clock stops."""
    result = session.execute(
        update(Scrobble)
        .where(
            col(Scrobble.user_id) == user_id,
            col(Scrobble.status) == "pending",
            col(Scrobble.parked_at).is_(None),
        )
        .values(parked_at=now, last_error=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def unpark_user(session: Session, *, user_id: str, now: datetime) -> int:
    """Release parked rows; the parked time is taken off their give-up clock."""
    rows = session.exec(
        select(Scrobble).where(
            Scrobble.user_id == user_id,
            Scrobble.status == "pending",
            col(Scrobble.parked_at).is_not(None),
        )
    ).all()
    for row in rows:
        parked_at = as_utc(row.parked_at)
        first_failed = as_utc(row.first_failed_at)
        if parked_at is not None and first_failed is not None:
            row.first_failed_at = first_failed + (now - parked_at)
        row.parked_at = None
        row.next_attempt_at = now
        session.add(row)
    return len(rows)


def outbox_depth(session: Session) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(Scrobble).where(Scrobble.status == "pending")
        ).one()
    )


def list_scrobbles(
    session: Session,
    *,
    user_id: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> Sequence[Scrobble]:
    query = select(Scrobble).order_by(col(Scrobble.id).desc())
    if user_id is not None:
        query = query.where(Scrobble.user_id == user_id)
    if status is not None:
        query = query.where(Scrobble.status == status)
    if before is not None:
        query = query.where(col(Scrobble.id) < before)
    return session.exec(query.limit(limit)).all()
