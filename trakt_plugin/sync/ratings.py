"""The ratings step: Trakt's ratings into the local store and local ratings Trakt lacks out.

Ratings are not deleted by a sync. When both sides changed one item's rating since the last
sync, the later ``rated_at`` wins.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from ..store.models import RatingEntry, as_utc, utcnow
from ..trakt import errors
from ..trakt.client import Page
from ..trakt.models import LastActivities, RatedItem
from ..trakt.ratelimit import Priority
from .history import BATCH, limit_message
from .items import aware, build_body, dumps, from_trakt, iso, item_key, match_keys
from .items import write_object as _write_object
from .run import PLANNED, RunState, StopKind

KIND = "ratings"
ENTRY = RatingEntry.__table__  # type: ignore[attr-defined]


def marker(activities: LastActivities) -> str:
    groups = ("movies", "shows", "seasons", "episodes")
    return "|".join(str(getattr(activities, g).rated_at) for g in groups)


def local_changes(conn: Connection, user_id: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(ENTRY)
        .where(ENTRY.c.user_id == user_id, ENTRY.c.synced.is_(False))
    )
    return int(conn.execute(query).scalar_one())


async def run(state: RunState, direction: str) -> None:
    importing = direction in ("import", "bidirectional")
    exporting = direction in ("export", "bidirectional")
    remote: list[tuple[RatedItem, dict[str, Any]]] = []

    async def on_page(page: Page[RatedItem]) -> None:
        for entry in page.items:
            item = from_trakt(entry)
            if item is not None:
                remote.append((entry, item))

    await state.pages(
        lambda start: state.client.rating_pages(state.source, start_page=start), 1, on_page
    )
    local = await state.db(
        lambda conn: list(conn.execute(sa.select(ENTRY).where(ENTRY.c.user_id == state.user_id)))
    )
    by_key: dict[str, Any] = {}
    for row in local:
        for key in match_keys(json.loads(row.item)):
            by_key.setdefault(key, row)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    matched: set[int] = set()
    rows: list[dict[str, Any]] = []
    outcome = PLANNED if state.dry_run else "imported"
    for entry, item in remote:
        mine = next((by_key[k] for k in match_keys(item) if k in by_key), None)
        rated_at = entry.rated_at or utcnow()
        if mine is None:
            if importing:
                inserts.append(_new(state.user_id, item, entry.rating, rated_at))
                shown = {**item, "rating": entry.rating}
                rows.append(state.item_row(KIND, "import", outcome, shown))
            continue
        matched.add(mine.id)
        if mine.rating == entry.rating:
            if not mine.synced:
                updates.append({"rid": mine.id, "rating": mine.rating, "at": mine.rated_at})
            continue
        local_newer = not mine.synced and (as_utc(mine.rated_at) or rated_at) > rated_at
        if importing and not (exporting and local_newer):
            updates.append({"rid": mine.id, "rating": entry.rating, "at": aware(rated_at)})
            rows.append(state.item_row(KIND, "import", outcome, {**item, "rating": entry.rating}))
    pending = [r for r in local if not r.synced and r.id not in {u["rid"] for u in updates}]
    to_send = [r for r in pending if exporting]

    def apply(conn: Connection) -> None:
        if inserts:
            conn.execute(ENTRY.insert(), inserts)
        if updates:
            conn.execute(
                ENTRY.update()
                .where(ENTRY.c.id == sa.bindparam("rid"))
                .values(rating=sa.bindparam("rating"), rated_at=sa.bindparam("at"), synced=True),
                updates,
            )

    await state.commit(None if state.dry_run else apply, rows)
    await _export(state, to_send)


def _new(user_id: str, item: dict[str, Any], rating: int, rated_at: Any) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "type": item["type"],
        "item": dumps(item),
        "item_key": item_key(item),
        "rating": rating,
        "rated_at": aware(rated_at),
        "synced": True,
    }


async def _export(state: RunState, rows: list[Any]) -> None:
    ready = []
    for row in rows:
        item = json.loads(row.item)
        rated_at = as_utc(row.rated_at) or utcnow()
        obj = _write_object(item, rating=row.rating, rated_at=iso(rated_at))
        if obj is not None:
            ready.append((row.id, {**item, "rating": row.rating}, obj))
    for start in range(0, len(ready), BATCH):
        batch = ready[start : start + BATCH]
        if state.dry_run:
            items = [state.item_row(KIND, "add", PLANNED, item) for _, item, _ in batch]
            await state.commit(None, items)
            continue
        body = build_body([obj for _, _, obj in batch])
        try:
            await state.call(
                partial(state.client.add_ratings, state.source, body, priority=Priority.BULK)
            )
        except errors.AccountLimitExceeded as exc:
            raise StopKind(limit_message("ratings", exc)) from exc
        state.wrote = True
        ids = [rid for rid, _, _ in batch]
        items = [state.item_row(KIND, "add", "added", item) for _, item, _ in batch]

        def apply(conn: Connection, ids: list[int] = ids) -> None:
            conn.execute(ENTRY.update().where(ENTRY.c.id.in_(ids)).values(synced=True))

        await state.commit(apply, items)
