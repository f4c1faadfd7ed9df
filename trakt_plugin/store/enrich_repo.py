"""Repository functions of the enrichment tables: metadata cache, per-user caches, VIP lists.

Keyword-only, each takes an open session; callers own the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, delete, select

from .models import (
    MetadataAlias,
    MetadataItem,
    Play,
    TraktList,
    TraktListItem,
    TraktUserCache,
)

# ---------------------------------------------------------------- metadata cache


def find_metadata(session: Session, *, kind: str, id_type: str, value: str) -> MetadataItem | None:
    """The cached item that ``kind``/``id_type``/``value`` points at, if any."""
    alias = session.get(MetadataAlias, (kind, id_type, value))
    if alias is None:
        return None
    return session.get(MetadataItem, alias.item_key)


def save_metadata(
    session: Session, *, item: MetadataItem, aliases: Iterable[tuple[str, str]]
) -> MetadataItem:
    """Insert or update ``item`` and point every ``(id_type, value)`` alias at it."""
    stored = session.get(MetadataItem, item.key)
    if stored is None:
        session.add(item)
        stored = item
    else:
        for name in MetadataItem.model_fields:
            setattr(stored, name, getattr(item, name))
    session.flush()
    for id_type, value in aliases:
        alias = session.get(MetadataAlias, (item.kind, id_type, value))
        if alias is None:
            session.add(
                MetadataAlias(kind=item.kind, id_type=id_type, value=value, item_key=item.key)
            )
        elif alias.item_key != item.key:
            alias.item_key = item.key
    return stored


def runtimes_by_alias(
    session: Session, *, keys: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], int]:
    """Known runtimes (minutes) of cached items, by ``(kind, id_type, value)``."""
    found: dict[tuple[str, str, str], int] = {}
    for key in set(keys):
        item = find_metadata(session, kind=key[0], id_type=key[1], value=key[2])
        if item is not None and item.runtime:
            found[key] = item.runtime
    return found


# ---------------------------------------------------------------- per-user caches


def get_user_cache(session: Session, *, user_id: str, name: str) -> TraktUserCache | None:
    return session.get(TraktUserCache, (user_id, name))


def put_user_cache(
    session: Session, *, user_id: str, name: str, data: Any, fetched_at: datetime
) -> None:
    """Insert or replace in one statement: two requests filling the cache at once must not
    collide on the key (a read-then-insert did, answering 500)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    values = {"user_id": user_id, "name": name, "data": json.dumps(data), "fetched_at": fetched_at}
    statement = insert(TraktUserCache).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "name"],
            set_={"data": values["data"], "fetched_at": fetched_at},
        )
    )


def drop_user_cache(session: Session, *, user_id: str, name: str) -> None:
    row = session.get(TraktUserCache, (user_id, name))
    if row is not None:
        session.delete(row)


# ---------------------------------------------------------------- the play ledger (read only)


def plays_of(session: Session, *, user_id: str) -> Sequence[Play]:
    query = select(Play).where(Play.user_id == user_id).order_by(col(Play.watched_at))
    return session.exec(query).all()


# ---------------------------------------------------------------- VIP lists


def replace_lists(
    session: Session, *, user_id: str, lists: Sequence[tuple[TraktList, list[TraktListItem]]]
) -> None:
    """Make the user's imported lists exactly ``lists`` (each with its items)."""
    old_ids = session.exec(select(TraktList.id).where(TraktList.user_id == user_id)).all()
    if old_ids:
        session.exec(delete(TraktListItem).where(col(TraktListItem.list_id).in_(old_ids)))
        session.exec(delete(TraktList).where(col(TraktList.id).in_(old_ids)))
        session.flush()
    for position, (row, items) in enumerate(lists):
        row.user_id, row.position = user_id, position
        session.add(row)
        session.flush()
        assert row.id is not None
        for item in items:
            item.list_id = row.id
            session.add(item)


def drop_lists(session: Session, *, user_id: str) -> None:
    replace_lists(session, user_id=user_id, lists=[])


def lists_page(
    session: Session, *, user_id: str, after: int, limit: int
) -> tuple[list[tuple[TraktList, list[TraktListItem]]], bool]:
    """Lists in Trakt's order from position ``after`` on, with items; and whether more follow."""
    query = (
        select(TraktList)
        .where(TraktList.user_id == user_id, col(TraktList.position) >= after)
        .order_by(col(TraktList.position))
        .limit(limit + 1)
    )
    rows = list(session.exec(query).all())
    more = len(rows) > limit
    rows = rows[:limit]
    out: list[tuple[TraktList, list[TraktListItem]]] = []
    for row in rows:
        items = session.exec(
            select(TraktListItem)
            .where(TraktListItem.list_id == row.id)
            .order_by(col(TraktListItem.rank), col(TraktListItem.id))
        ).all()
        out.append((row, list(items)))
    return out, more
