"""The ratings step: Trakt's ratings into the local store and local ratings Trakt lacks out.

A local rating with ``synced`` was equal on both sides after the last sync. So, after reading
Trakt's ratings (pages of 250):

* on Trakt, not here: imported (import, bidirectional);
* on both, equal: synced; different: when both changed since the last sync the later
  ``rated_at`` wins, else the side that changed does (import wins only when importing, the
  local rating goes out only when exporting);
* on Trakt, deleted here (a tombstone) → removed from Trakt (export, bidirectional), unless
  Trakt re-rated it after the deletion (then imported when importing); a tombstone Trakt has
  no rating for just goes;
* here and synced, not on Trakt: Trakt removed it → removed here (import, bidirectional);
* here, not synced, not on Trakt: rated here → sent (export, bidirectional).

Items are recorded as Trakt answered (:func:`watchlist.answer_outcomes`): ``added``,
``existing`` (already rated so) or ``not_found``; an item Trakt does not know is not sent again
until it is rated again.
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
from .watchlist import answer_outcomes

KIND = "ratings"
ENTRY = RatingEntry.__table__  # type: ignore[attr-defined]


def marker(activities: LastActivities) -> str:
    groups = ("movies", "shows", "seasons", "episodes")
    return "|".join(str(getattr(activities, g).rated_at) for g in groups)


def local_changes(conn: Connection, user_id: str) -> int:
    """Ratings to send (rated here, Trakt not known to lack the item) or to remove."""
    query = (
        sa.select(sa.func.count())
        .select_from(ENTRY)
        .where(
            ENTRY.c.user_id == user_id,
            sa.or_(
                ENTRY.c.deleted_at.is_not(None),
                sa.and_(ENTRY.c.synced.is_(False), ENTRY.c.not_found_at.is_(None)),
            ),
        )
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
        lambda conn: list(
            conn.execute(
                sa.select(ENTRY).where(ENTRY.c.user_id == state.user_id).order_by(ENTRY.c.id)
            )
        )
    )
    by_key: dict[str, Any] = {}
    for row in local:
        for key in match_keys(json.loads(row.item)):
            by_key.setdefault(key, row)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    matched: set[int] = set()
    to_remove: list[Any] = []
    rows: list[dict[str, Any]] = []
    planned = PLANNED if state.dry_run else None
    for entry, item in remote:
        mine = next((by_key[k] for k in match_keys(item) if k in by_key), None)
        rated_at = aware(entry.rated_at or utcnow())
        shown = {**item, "rating": entry.rating}
        if mine is None:
            if importing:
                inserts.append(_new(state.user_id, item, entry.rating, rated_at))
                rows.append(state.item_row(KIND, "import", planned or "imported", shown))
            continue
        matched.add(mine.id)
        if mine.deleted_at is not None:
            deleted_at = as_utc(mine.deleted_at) or rated_at
            rerated = entry.rating != mine.rating and rated_at > deleted_at
            if importing and rerated:
                updates.append({"rid": mine.id, "rating": entry.rating, "at": rated_at})
                rows.append(state.item_row(KIND, "import", planned or "imported", shown))
            elif exporting:
                to_remove.append(mine)
            continue
        if mine.rating == entry.rating:
            if not mine.synced:
                updates.append({"rid": mine.id, "rating": mine.rating, "at": mine.rated_at})
            continue
        local_newer = not mine.synced and (as_utc(mine.rated_at) or rated_at) > rated_at
        if importing and not (exporting and local_newer):
            updates.append({"rid": mine.id, "rating": entry.rating, "at": rated_at})
            rows.append(state.item_row(KIND, "import", planned or "imported", shown))
    updated = {u["rid"] for u in updates}
    unmatched = [r for r in local if r.id not in matched]
    deletes_here = [r.id for r in unmatched if r.deleted_at is not None]  # gone on both sides
    for row in unmatched:
        if importing and row.deleted_at is None and row.synced:
            deletes_here.append(row.id)
            shown = {**json.loads(row.item), "rating": row.rating}
            rows.append(
                state.item_row(KIND, "remove", planned or "removed", shown,
                               detail="removed on Trakt")
            )  # fmt: skip
    skip = updated | set(deletes_here)
    to_send = [
        r
        for r in local
        if exporting
        and r.id not in skip
        and not r.synced
        and r.deleted_at is None
        and (r.not_found_at is None or r.id in matched)  # Trakt knows the item by now
    ]

    def apply(conn: Connection) -> None:
        if inserts:
            conn.execute(ENTRY.insert(), inserts)
        if updates:
            conn.execute(
                ENTRY.update()
                .where(ENTRY.c.id == sa.bindparam("rid"))
                .values(
                    rating=sa.bindparam("rating"),
                    rated_at=sa.bindparam("at"),
                    synced=True,
                    deleted_at=None,
                    not_found_at=None,
                ),
                updates,
            )
        if deletes_here:
            conn.execute(ENTRY.delete().where(ENTRY.c.id.in_(deletes_here)))

    if state.dry_run:  # what apply would store, for the watched step's Plex ratings
        by_id = {row.id: row for row in local}
        state.planned_ratings += [(json.loads(i["item"]), int(i["rating"])) for i in inserts]
        state.planned_ratings += [
            (json.loads(by_id[u["rid"]].item), int(u["rating"])) for u in updates
        ]
        state.planned_ratings += [(json.loads(by_id[rid].item), None) for rid in deletes_here]
    await state.commit(None if state.dry_run else apply, rows)
    await _remove(state, to_remove)
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
        "deleted_at": None,
        "not_found_at": None,
    }


def _ready(
    state: RunState, rows: list[Any], action: str, *, with_rating: bool
) -> tuple[list[tuple[int, dict[str, Any], tuple[str, dict[str, Any]]]], list[dict[str, Any]]]:
    """``(row id, item shown, write object)`` per row, and the rows without usable ids."""
    ready = []
    no_ids = []
    for row in rows:
        item = json.loads(row.item)
        extra: dict[str, Any] = {}
        if with_rating:
            extra = {"rating": row.rating, "rated_at": iso(as_utc(row.rated_at) or utcnow())}
        obj = _write_object(item, **extra)
        shown = {**item, "rating": row.rating}
        if obj is None:
            no_ids.append(state.item_row(KIND, action, "no_ids", shown, detail="no usable ids"))
        else:
            ready.append((row.id, shown, obj))
    return ready, no_ids


async def _remove(state: RunState, rows: list[Any]) -> None:
    """Remove the ratings deleted here from Trakt; the tombstones go with each batch."""
    ready, no_ids = _ready(state, rows, "remove", with_rating=False)
    if no_ids:
        await state.commit(None, no_ids)
    for start in range(0, len(ready), BATCH):
        batch = ready[start : start + BATCH]
        if state.dry_run:
            await state.commit(
                None, [state.item_row(KIND, "remove", PLANNED, i) for _, i, _ in batch]
            )
            continue
        body = build_body([obj for _, _, obj in batch])
        answer = await state.call(
            partial(state.client.remove_ratings, state.source, body, priority=Priority.BULK)
        )
        state.wrote = True
        answered = answer_outcomes(answer, [(item, obj) for _, item, obj in batch], "removed")
        items = [
            state.item_row(KIND, "remove", outcome, item, detail=detail)
            for (_, item, _), (outcome, detail) in zip(batch, answered, strict=True)
        ]
        ids = [rid for rid, _, _ in batch]  # removed, or Trakt has no such rating: gone both ways

        def apply(conn: Connection, ids: list[int] = ids) -> None:
            conn.execute(ENTRY.delete().where(ENTRY.c.id.in_(ids)))

        await state.commit(apply, items)


async def _export(state: RunState, rows: list[Any]) -> None:
    """Send the ratings made here; each item is recorded as Trakt's answer says."""
    ready, no_ids = _ready(state, rows, "add", with_rating=True)
    if no_ids:
        await state.commit(None, no_ids)
    for start in range(0, len(ready), BATCH):
        batch = ready[start : start + BATCH]
        if state.dry_run:
            await state.commit(None, [state.item_row(KIND, "add", PLANNED, i) for _, i, _ in batch])
            continue
        body = build_body([obj for _, _, obj in batch])
        try:
            answer = await state.call(
                partial(state.client.add_ratings, state.source, body, priority=Priority.BULK)
            )
        except errors.AccountLimitExceeded as exc:
            raise StopKind(limit_message("ratings", exc)) from exc
        state.wrote = True
        answered = answer_outcomes(answer, [(item, obj) for _, item, obj in batch], "added")
        items = [
            state.item_row(KIND, "add", outcome, item, detail=detail)
            for (_, item, _), (outcome, detail) in zip(batch, answered, strict=True)
        ]
        outcomes = [
            (rid, outcome) for (rid, _, _), (outcome, _) in zip(batch, answered, strict=True)
        ]
        synced = [rid for rid, outcome in outcomes if outcome in ("added", "existing")]
        unknown = [rid for rid, outcome in outcomes if outcome == "not_found"]

        def apply(
            conn: Connection, synced: list[int] = synced, unknown: list[int] = unknown
        ) -> None:
            if synced:
                conn.execute(
                    ENTRY.update()
                    .where(ENTRY.c.id.in_(synced))
                    .values(synced=True, not_found_at=None)
                )
            if unknown:
                conn.execute(
                    ENTRY.update().where(ENTRY.c.id.in_(unknown)).values(not_found_at=utcnow())
                )

        await state.commit(apply, items)
