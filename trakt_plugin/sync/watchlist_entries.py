"""The local watchlist's own changes (SPEC §7): list, add and remove one person's entries.

Shared by ``/api/v1/users/{id}/watchlist`` and the dashboard's Watchlist page, so both change
the list the same way; the watchlist sync (:mod:`.watchlist`) carries the changes to Trakt.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Row

from ..store.models import WatchlistEntry, as_utc, utcnow
from .items import dumps, iso, item_key, match_keys

ENTRY = WatchlistEntry.__table__  # type: ignore[attr-defined]


def entry_public(row: Row[Any]) -> dict[str, Any]:
    """An entry in the §9.1 shape: ``{"id", "type", "movie" | "show", "added_at"}``."""
    item = json.loads(row.item)
    added = as_utc(row.added_at)
    assert added is not None
    return {"id": row.id, **item, "added_at": iso(added)}


def list_entries(conn: Connection, *, user_id: str, limit: int, after: int = 0) -> list[Row[Any]]:
    """Up to ``limit`` entries on the list (not deleted), oldest first, with ids above ``after``."""
    query = (
        sa.select(ENTRY)
        .where(ENTRY.c.user_id == user_id, ENTRY.c.deleted_at.is_(None), ENTRY.c.id > after)
        .order_by(ENTRY.c.id)
        .limit(limit)
    )
    return list(conn.execute(query))


def add_entry(
    conn: Connection, *, user_id: str, item: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Put ``item`` (§9.1 movie or show with ids) on the list: (the entry, whether it is new).

    An item already there (sharing any id) is answered as it is; one deleted and re-added before
    a sync never left.
    """
    keys = match_keys(item)
    rows = conn.execute(sa.select(ENTRY).where(ENTRY.c.user_id == user_id)).all()
    for row in rows:
        if keys & match_keys(json.loads(row.item)):
            if row.deleted_at is not None:
                conn.execute(ENTRY.update().where(ENTRY.c.id == row.id).values(deleted_at=None))
            return entry_public(row), row.deleted_at is not None
    now = utcnow()
    result = conn.execute(
        ENTRY.insert().values(
            user_id=user_id,
            type=item["type"],
            item=dumps(item),
            item_key=item_key(item),
            added_at=now,
            hold=False,
        )
    )
    new_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    return {"id": new_id, **item, "added_at": iso(now)}, True


def remove_entry(conn: Connection, *, user_id: str, entry_id: int) -> bool:
    """Take an entry off the list; False when it is not there. One Trakt also has (synced) keeps
    a tombstone until the next sync removes it from Trakt."""
    row = conn.execute(
        sa.select(ENTRY).where(
            ENTRY.c.id == entry_id, ENTRY.c.user_id == user_id, ENTRY.c.deleted_at.is_(None)
        )
    ).first()
    if row is None:
        return False
    if row.synced_at is not None:
        conn.execute(ENTRY.update().where(ENTRY.c.id == entry_id).values(deleted_at=utcnow()))
    else:
        conn.execute(ENTRY.delete().where(ENTRY.c.id == entry_id))
    return True
