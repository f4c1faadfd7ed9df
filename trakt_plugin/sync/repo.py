"""Store work of the sync: plain functions over a SQLAlchemy connection, bulk where it counts.

The ``play`` table belongs to the scrobbler; the sync reads and writes it through a lightweight
table clause that also names the two columns migration 0005 added (``sync_state``,
``sync_run_id``), so the scrobbler's model stays untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from ..store.models import (
    ACTIVE_RUN_STATUSES,
    Identity,
    MediaServer,
    Scrobble,
    SyncMarker,
    SyncRun,
    SyncRunItem,
    as_utc,
    utcnow,
)
from .items import aware, naive_utc

PLAY = sa.table(
    "play",
    sa.column("id", sa.Integer),
    sa.column("user_id", sa.String),
    sa.column("identity_id", sa.Integer),
    sa.column("item", sa.Text),
    sa.column("item_key", sa.String),
    sa.column("watched_at", sa.DateTime),
    sa.column("source", sa.String),
    sa.column("event_id", sa.Integer),
    sa.column("trakt_history_id", sa.BigInteger),
    sa.column("created_at", sa.DateTime),
    sa.column("sync_state", sa.String),
    sa.column("sync_run_id", sa.String),
    sa.column("runtime", sa.Integer),
)
RUN = SyncRun.__table__  # type: ignore[attr-defined]
RUN_ITEM = SyncRunItem.__table__  # type: ignore[attr-defined]
MARKER = SyncMarker.__table__  # type: ignore[attr-defined]
IDENTITY = Identity.__table__  # type: ignore[attr-defined]
SCROBBLE = Scrobble.__table__  # type: ignore[attr-defined]
SERVER_TABLE = MediaServer.__table__  # type: ignore[attr-defined]

# A play whose live call is still waiting in the scrobble outbox belongs to the outbox: exporting
# it too would add it to Trakt twice (the outbox does not re-check a first attempt). A play whose
# live call a person discarded is never exported (SPEC §7); the discard also marks the play
# (DISCARDED), this catches the plays of rows discarded before it did.
_OUTBOX_HOLDS = ("pending", "discarded")
_NOT_IN_OUTBOX = ~sa.exists().where(
    SCROBBLE.c.play_id == PLAY.c.id, SCROBBLE.c.status.in_(_OUTBOX_HOLDS)
)
# Outbox actions that write Trakt's history: a completing stop adds a play (or, answered as a
# pause, a history add does), history adds and removes. Their answers move last_activities.
HISTORY_WRITES = ("scrobble_stop", "history_add", "history_remove")

# Export states of a play (column play.sync_state). None: to export unless it has a history id.
SENT = "sent"  # added by a run; its history id is read back next
NOT_FOUND = "not_found"  # Trakt did not know the item
NO_IDS = "no_ids"  # nothing to name the item with
DUPLICATE = "duplicate"  # the same play as another local play
UNDONE = "undone"  # removed from Trakt by an undo: not exported again
DISCARDED = "discarded"  # its live scrobble was discarded by a person: never exported
SERVER = "server"  # made from a media server's watched state: the watched step sends it
# A play whose time the server did not know (Trakt's "unknown", which Trakt keeps as the epoch).
UNKNOWN_TIME = datetime(1970, 1, 1)
# Source of plays imported from Trakt.
TRAKT_SOURCE = "trakt"


@dataclass(frozen=True)
class LocalPlay:
    id: int
    item: dict[str, Any]
    watched_at: datetime
    sync_state: str | None
    sync_run_id: str | None


# ------------------------------------------------------------------ plays


def adopt_identity_plays(conn: Connection, *, user_id: str) -> int:
    """Plays of identities linked to the user since they were recorded become theirs (SPEC §4)."""
    identity_ids = sa.select(IDENTITY.c.id).where(IDENTITY.c.user_id == user_id)
    result = conn.execute(
        PLAY.update()
        .where(PLAY.c.user_id.is_(None), PLAY.c.identity_id.in_(identity_ids))
        .values(user_id=user_id)
    )
    return int(result.rowcount or 0)


def has_server_identity(conn: Connection, *, user_id: str, server_id: str | None = None) -> bool:
    """Whether the user has an identity of a configured server's kind (a linked account there,
    as far as the store can tell without asking the server)."""
    kinds = sa.select(SERVER_TABLE.c.kind)
    if server_id is not None:
        kinds = kinds.where(SERVER_TABLE.c.id == server_id)
    query = sa.select(
        sa.exists().where(IDENTITY.c.user_id == user_id, IDENTITY.c.source.in_(kinds))
    )
    return bool(conn.execute(query).scalar())


def known_history_ids(conn: Connection, *, user_id: str) -> set[int]:
    query = sa.select(PLAY.c.trakt_history_id).where(
        PLAY.c.user_id == user_id, PLAY.c.trakt_history_id.is_not(None)
    )
    return {int(row[0]) for row in conn.execute(query)}


def unlinked_plays(
    conn: Connection, *, user_id: str, states: Sequence[str | None] = (None,)
) -> list[LocalPlay]:
    """Plays without a Trakt history id whose export state is one of ``states``."""
    named = [s for s in states if s is not None]
    condition: sa.ColumnElement[bool] = PLAY.c.sync_state.in_(named) if named else sa.false()
    if None in states:
        condition = sa.or_(condition, PLAY.c.sync_state.is_(None))
    query = (
        sa.select(PLAY.c.id, PLAY.c.item, PLAY.c.watched_at, PLAY.c.sync_state, PLAY.c.sync_run_id)
        .where(
            PLAY.c.user_id == user_id,
            PLAY.c.trakt_history_id.is_(None),
            condition,
            _NOT_IN_OUTBOX,
        )
        .order_by(PLAY.c.watched_at, PLAY.c.id)
    )
    return [
        LocalPlay(row[0], json.loads(row[1]), _aware(row[2]), row[3], row[4])
        for row in conn.execute(query)
    ]


def count_unlinked(conn: Connection, *, user_id: str) -> int:
    """Plays still to export or to read back (what makes the local side "changed")."""
    query = (
        sa.select(sa.func.count())
        .select_from(PLAY)
        .where(
            PLAY.c.user_id == user_id,
            PLAY.c.trakt_history_id.is_(None),
            sa.or_(PLAY.c.sync_state.is_(None), PLAY.c.sync_state == SENT),
            _NOT_IN_OUTBOX,
        )
    )
    return int(conn.execute(query).scalar_one())


def mark_play_discarded(conn: Connection, *, play_id: int) -> None:
    """The play's live scrobble was discarded: the sync never exports it (SPEC §7)."""
    conn.execute(
        PLAY.update()
        .where(PLAY.c.id == play_id, PLAY.c.trakt_history_id.is_(None))
        .values(sync_state=DISCARDED)
    )


def own_history_writes(
    conn: Connection, *, user_id: str, start: datetime, end: datetime
) -> set[str]:
    """Item types ("movie", "episode") of the outbox's history writes Trakt answered (sent)
    between ``start`` and ``end``: what moved last_activities by our own doing."""
    query = sa.select(SCROBBLE.c.item).where(
        SCROBBLE.c.user_id == user_id,
        SCROBBLE.c.status == "sent",
        SCROBBLE.c.action.in_(HISTORY_WRITES),
        SCROBBLE.c.sent_at >= aware(start),  # the model's column type takes aware times
        SCROBBLE.c.sent_at <= aware(end),
    )
    types: set[str] = set()
    for (raw,) in conn.execute(query):
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("type"), str):
            types.add(item["type"])
    return types


def link_plays(conn: Connection, pairs: Iterable[tuple[int, int]]) -> None:
    """Give plays their Trakt history id: ``(play id, history id)``."""
    rows = [{"pid": pid, "hid": hid} for pid, hid in pairs]
    if rows:
        conn.execute(
            PLAY.update()
            .where(PLAY.c.id == sa.bindparam("pid"))
            .values(trakt_history_id=sa.bindparam("hid"), sync_state=None),
            rows,
        )


def set_play_state(
    conn: Connection, ids: Iterable[int], state: str | None, run_id: str | None = None
) -> None:
    ids = list(ids)
    for start in range(0, len(ids), 500):
        values: dict[str, Any] = {"sync_state": state}
        if run_id is not None:
            values["sync_run_id"] = run_id
        conn.execute(PLAY.update().where(PLAY.c.id.in_(ids[start : start + 500])).values(values))


def insert_plays(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Bulk insert of ledger rows (keys: user_id, item, item_key, watched_at, source,
    trakt_history_id)."""
    if rows:
        now = naive_utc(utcnow())
        conn.execute(
            PLAY.insert(),
            [
                {
                    "identity_id": None,
                    "event_id": None,
                    "sync_state": None,
                    "sync_run_id": None,
                    "created_at": now,
                    **row,
                }
                for row in rows
            ],
        )


def run_added_history_ids(conn: Connection, *, run_id: str) -> list[int]:
    """History ids of the plays a run added (what its undo removes)."""
    query = sa.select(PLAY.c.trakt_history_id).where(
        PLAY.c.sync_run_id == run_id, PLAY.c.trakt_history_id.is_not(None)
    )
    return [int(row[0]) for row in conn.execute(query)]


def undo_plays(conn: Connection, *, run_id: str, removed: Iterable[int]) -> None:
    """After an undo: the removed plays lose their history id and are not exported again."""
    removed = list(removed)
    for start in range(0, len(removed), 500):
        conn.execute(
            PLAY.update()
            .where(
                PLAY.c.sync_run_id == run_id,
                PLAY.c.trakt_history_id.in_(removed[start : start + 500]),
            )
            .values(trakt_history_id=None, sync_state=UNDONE)
        )


# ------------------------------------------------------------------ runs


def interrupted_runs(conn: Connection) -> list[str]:
    query = (
        sa.select(RUN.c.id).where(RUN.c.status.in_(ACTIVE_RUN_STATUSES)).order_by(RUN.c.created_at)
    )
    return [str(row[0]) for row in conn.execute(query)]


def update_run(conn: Connection, run_id: str, **values: Any) -> None:
    conn.execute(RUN.update().where(RUN.c.id == run_id).values(**values))


def add_run_items(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(RUN_ITEM.insert(), rows)


def run_items(
    conn: Connection, *, run_id: str, after: int = 0, limit: int = 1000
) -> list[dict[str, Any]]:
    query = (
        sa.select(
            RUN_ITEM.c.id,
            RUN_ITEM.c.kind,
            RUN_ITEM.c.action,
            RUN_ITEM.c.outcome,
            RUN_ITEM.c.item,
            RUN_ITEM.c.detail,
            RUN_ITEM.c.trakt_id,
        )
        .where(RUN_ITEM.c.run_id == run_id, RUN_ITEM.c.id > after)
        .order_by(RUN_ITEM.c.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def run_list_items(
    conn: Connection, *, run_id: str, kind: str, action: str, outcome: str
) -> list[dict[str, Any]]:
    """Items of a run with the given action and outcome (undo reads the watchlist adds)."""
    query = sa.select(RUN_ITEM.c.item, RUN_ITEM.c.trakt_id).where(
        RUN_ITEM.c.run_id == run_id,
        RUN_ITEM.c.kind == kind,
        RUN_ITEM.c.action == action,
        RUN_ITEM.c.outcome == outcome,
    )
    return [{"item": json.loads(row[0]), "trakt_id": row[1]} for row in conn.execute(query)]


# ------------------------------------------------------------------ markers


def get_marker(conn: Connection, *, user_id: str, kind: str) -> str | None:
    query = sa.select(MARKER.c.marker).where(MARKER.c.user_id == user_id, MARKER.c.kind == kind)
    value = conn.execute(query).scalar_one_or_none()
    return str(value) if value is not None else None


def set_marker(conn: Connection, *, user_id: str, kind: str, marker: str) -> None:
    conn.execute(MARKER.delete().where(MARKER.c.user_id == user_id, MARKER.c.kind == kind))
    conn.execute(
        MARKER.insert().values(user_id=user_id, kind=kind, marker=marker, synced_at=utcnow())
    )


def _aware(value: datetime) -> datetime:
    result = as_utc(value)
    assert result is not None
    return result
