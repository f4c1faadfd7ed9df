"""Repository functions for scrobbling: events, sessions, the play ledger, the outbox.

Keyword-only, each takes an open session; callers own the transaction. Datetimes go in aware
(UTC) and come back naive from SQLite (see :func:`as_utc`).

The webhook hot path (duplicate check, session state, dedupe inputs, connection state, outbox
inserts) takes a Core :class:`~sqlalchemy.engine.Connection` instead and uses Core statements on
the tables: the ORM's per-statement and per-object bookkeeping was most of an event's cost.
Pass ``session.connection()`` to use them inside an ORM transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, delete, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, SQLModel, col, func, select

from .models import (
    PlaybackSession,
    RejectedDelivery,
    Scrobble,
    WebhookEvent,
    as_utc,
    utcnow,
)

# Core tables of the hot path (see the module docstring).
EVENT_TABLE: Table = SQLModel.metadata.tables["webhookevent"]
SESSION_TABLE: Table = SQLModel.metadata.tables["playbacksession"]
PLAY_TABLE: Table = SQLModel.metadata.tables["play"]
SCROBBLE_TABLE: Table = SQLModel.metadata.tables["scrobble"]
CONNECTION_TABLE: Table = SQLModel.metadata.tables["traktconnection"]
_E, _S, _P, _O, _C = (
    t.c for t in (EVENT_TABLE, SESSION_TABLE, PLAY_TABLE, SCROBBLE_TABLE, CONNECTION_TABLE)
)
# Built once: building a statement costs as much as running it (parameters go in at execute).
_FIND_DUPLICATES = (
    core_select(_E.id, _E.kind, _E.user_id, _E.received_at, _E.body_hash)
    .where(
        _E.body_hash.in_(bindparam("b_hashes", expanding=True)),
        _E.received_at >= bindparam("b_since"),
    )
    .order_by(_E.id)
)
_SESSION_KEY = (_S.owner == bindparam("b_owner"), _S.session_key == bindparam("b_session_key"))
# Two IN lists, not a (owner, session_key) IN (...) of pairs: SQLite scans the whole table for
# a pair list but searches the primary key for each owner × session key (a few extra pairs of
# the cross product are simply not asked for).
_SESSION_STATES = core_select(_S.owner, _S.session_key, _S.state_json).where(
    _S.owner.in_(bindparam("b_owners", expanding=True)),
    _S.session_key.in_(bindparam("b_session_keys", expanding=True)),
)
_SESSION_UPDATE = SESSION_TABLE.update().where(*_SESSION_KEY)
# Inserts built once too: a new insert() object costs a cache-key walk on every execute.
_INSERT_EVENT_IDS = EVENT_TABLE.insert().returning(_E.id)
_INSERT_SESSION = SESSION_TABLE.insert()
_INSERT_PLAY_IDS = PLAY_TABLE.insert().returning(_P.id)
_INSERT_SCROBBLE = SCROBBLE_TABLE.insert()
_LATEST_PLAY = core_select(func.max(_P.watched_at)).where(_P.item_key == bindparam("b_item_key"))
_LATEST_PLAY_OF_USER = _LATEST_PLAY.where(_P.user_id == bindparam("b_user_id"))
_LATEST_PLAY_OF_IDENTITY = _LATEST_PLAY.where(
    _P.identity_id == bindparam("b_identity_id"), _P.user_id.is_(None)
)
_LATEST_NEW_PLAYBACK = core_select(func.max(_S.new_playback_at)).where(
    _S.owner == bindparam("b_owner"), _S.item_key == bindparam("b_item_key")
)
_CONNECTION_STATE = core_select(_C.state, _C.access_token.is_not(None)).where(
    _C.user_id == bindparam("b_user_id")
)
# Superseding looks the session's rows up by session key alone: with the user in the WHERE,
# SQLite picks ix_scrobble_user_status and walks every pending row of the user (a backlog makes
# every event slower); by session key it is ix_scrobble_session_status, a handful of rows.
_LIVE_OF_SESSIONS = core_select(_O.id, _O.user_id, _O.session_key).where(
    _O.session_key.in_(bindparam("b_session_keys", expanding=True)),
    _O.status == "pending",
    _O.completion.is_(False),
    # Two equalities, not IN (...): a literal IN list is re-rendered at every execution.
    or_(_O.action == "scrobble_start", _O.action == "scrobble_pause"),
)
_SUPERSEDE = (
    SCROBBLE_TABLE.update()
    .where(_O.id.in_(bindparam("b_ids", expanding=True)), _O.status == "pending")
    .values(status="skipped", last_error=bindparam("b_note"), next_attempt_at=None)
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


def find_duplicates(
    conn: Connection, *, body_hashes: Sequence[str], since: datetime
) -> dict[str, tuple[int, str, str | None, datetime]]:
    """For each of ``body_hashes`` seen since ``since``: its first event's ``id``, ``kind``,
    ``user_id`` and ``received_at`` (one query for a whole group-commit batch)."""
    found: dict[str, tuple[int, str, str | None, datetime]] = {}
    if not body_hashes:
        return found
    rows = conn.execute(_FIND_DUPLICATES, {"b_hashes": sorted(set(body_hashes)), "b_since": since})
    for row in rows:
        received_at = as_utc(row.received_at)
        if row.body_hash not in found and received_at is not None:
            found[row.body_hash] = (int(row.id), str(row.kind), row.user_id, received_at)
    return found


def insert_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert :class:`WebhookEvent` rows in one statement; their ids, in the rows' order."""
    return _insert_returning_ids(conn, _INSERT_EVENT_IDS, rows)


def _insert_returning_ids(
    conn: Connection, statement: Any, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Run a multi-row INSERT ... RETURNING id; the ids in the rows' order.

    One multi-row INSERT numbers its rows in VALUES order on both engines (SQLite's rowid and
    a PostgreSQL sequence count up row by row), so the returned ids sorted are the rows' ids in
    order. (SQLAlchemy's ``sort_by_parameter_order`` would send one INSERT per row on SQLite.)
    """
    ids = sorted(int(row_id) for row_id in conn.execute(statement, list(rows)).scalars())
    if len(ids) != len(rows):
        raise RuntimeError(f"{len(rows)} rows inserted, {len(ids)} ids returned")
    return ids


def recent_events(session: Session, *, limit: int = 50) -> Sequence[WebhookEvent]:
    return session.exec(
        select(WebhookEvent).order_by(col(WebhookEvent.id).desc()).limit(limit)
    ).all()


def purge_events(session: Session, *, before: datetime) -> int:
    result = session.execute(delete(WebhookEvent).where(col(WebhookEvent.received_at) < before))
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- sessions and dedupe


def session_states(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The stored policy states (JSON) of these (owner, session key) sessions, where they exist
    (one query for a whole batch)."""
    if not keys:
        return {}
    params = {
        "b_owners": sorted({owner for owner, _ in keys}),
        "b_session_keys": sorted({session_key for _, session_key in keys}),
    }
    return {
        (row.owner, row.session_key): str(row.state_json)
        for row in conn.execute(_SESSION_STATES, params)
    }


def save_sessions(
    conn: Connection, *, inserts: Sequence[Mapping[str, Any]], updates: Sequence[Mapping[str, Any]]
) -> None:
    """Insert new playback session rows (``owner``, ``session_key`` and values) and update
    existing ones (``b_owner``, ``b_session_key`` and the values to change)."""
    _execute_by_shape(conn, _INSERT_SESSION, inserts)
    _execute_by_shape(conn, _SESSION_UPDATE, updates)


def _execute_by_shape(conn: Connection, statement: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """One executemany per set of keys (an executemany takes its columns from the first row)."""
    shapes: dict[frozenset[str], list[Mapping[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(frozenset(row), []).append(row)
    for same in shapes.values():
        conn.execute(statement, same)


def latest_play_at(
    conn: Connection, *, user_id: str | None, identity_id: int | None, item_key: str
) -> datetime | None:
    """When the owner's latest ledger play of the item was watched."""
    if user_id is not None:
        params: dict[str, Any] = {"b_item_key": item_key, "b_user_id": user_id}
        return as_utc(conn.execute(_LATEST_PLAY_OF_USER, params).scalar())
    if identity_id is not None:
        params = {"b_item_key": item_key, "b_identity_id": identity_id}
        return as_utc(conn.execute(_LATEST_PLAY_OF_IDENTITY, params).scalar())
    return None


def latest_new_playback_at(conn: Connection, *, owner: str, item_key: str) -> datetime | None:
    params = {"b_owner": owner, "b_item_key": item_key}
    return as_utc(conn.execute(_LATEST_NEW_PLAYBACK, params).scalar())


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


def insert_ledger_plays(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk insert of ledger :class:`Play` rows (the bulk API): keys user_id, item, item_key,
    watched_at, source, trakt_history_id, runtime; the others take their defaults."""
    if rows:
        now = utcnow()
        conn.execute(
            PLAY_TABLE.insert(),
            [{"identity_id": None, "event_id": None, "created_at": now, **row} for row in rows],
        )


def plays_without_runtime(
    conn: Connection, *, before_id: int | None, limit: int
) -> list[Row[Any, Any, Any]]:
    """Up to ``limit`` plays (``id``, ``item``) whose runtime is unknown, newest id first,
    below ``before_id`` when given."""
    query = core_select(_P.id, _P.item).where(_P.runtime.is_(None))
    if before_id is not None:
        query = query.where(_P.id < before_id)
    return list(conn.execute(query.order_by(_P.id.desc()).limit(limit)))


def set_play_runtimes(conn: Connection, runtimes: Mapping[int, int]) -> int:
    """Store ``{play id: minutes}`` on plays whose runtime is still unknown; returns how many."""
    changed = 0
    for play_id, minutes in runtimes.items():
        result = conn.execute(
            update(PLAY_TABLE).where(_P.id == play_id, _P.runtime.is_(None)).values(runtime=minutes)
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


# ---------------------------------------------------------------- outbox


def queues_live_calls(conn: Connection, *, user_id: str) -> bool:
    """Whether live calls are queued for the user (SPEC §4: none without a connection)."""
    row = conn.execute(_CONNECTION_STATE, {"b_user_id": user_id}).first()
    if row is None:
        return False
    state, has_token = row
    return state in QUEUEING_STATES or (state == "pending" and bool(has_token))


def supersede_live(conn: Connection, sessions: Mapping[tuple[str, str], str]) -> int:
    """Mark unsent start/pause calls skipped: ``{(user id, session key): note}`` (a later
    event of the session replaces them).

    The UPDATE re-checks the status: a row sent meanwhile by the drain is left alone.
    """
    keys = sorted({session_key for _, session_key in sessions})
    rows = conn.execute(_LIVE_OF_SESSIONS, {"b_session_keys": keys}).all()
    by_note: dict[str, list[int]] = {}
    for row in rows:
        note = sessions.get((row.user_id, row.session_key))
        if note is not None:
            by_note.setdefault(note, []).append(row.id)
    changed = 0
    for note, ids in by_note.items():
        result = conn.execute(_SUPERSEDE, {"b_ids": ids, "b_note": note})
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


def insert_plays(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert ledger :class:`Play` rows in one statement; their ids, in the rows' order."""
    return _insert_returning_ids(conn, _INSERT_PLAY_IDS, rows)


def insert_scrobbles(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert outbox rows (:class:`Scrobble`), in order (rows of one shape: an executemany)."""
    _execute_by_shape(conn, _INSERT_SCROBBLE, rows)


def next_pending(session: Session, *, user_id: str) -> Scrobble | None:
    """The user's oldest pending row that is not parked (calls go out in event order).

    LIMIT 1: without it the ORM builds an object for every pending row before ``first()``
    keeps one, which made each drain step cost O(backlog) while webhooks pile rows up.
    """
    query = (
        select(Scrobble)
        .where(
            Scrobble.user_id == user_id,
            Scrobble.status == "pending",
            col(Scrobble.parked_at).is_(None),
        )
        .order_by(col(Scrobble.id))
        .limit(1)
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


def users_parked(session: Session, *, reason: str) -> list[str]:
    """Users with pending rows parked for ``reason`` (the ``last_error`` :func:`park_user` set)."""
    query = (
        select(Scrobble.user_id)
        .where(
            Scrobble.status == "pending",
            col(Scrobble.parked_at).is_not(None),
            Scrobble.last_error == reason,
        )
        .distinct()
    )
    return list(session.exec(query).all())


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
