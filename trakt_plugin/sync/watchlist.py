"""The watchlist step: both ways, with deletions since the last sync (SPEC §7).

A local entry with ``synced_at`` was on both sides after the last sync. So, after reading Trakt's
watchlist (pages of 250):

* on Trakt, not here: new on Trakt → imported (import, bidirectional);
* on Trakt, deleted here since the last sync (a tombstone) → removed from Trakt (export, bidir.);
* here and synced, not on Trakt: Trakt removed it (by hand, or because it was watched) →
  removed here (import, bidirectional); never re-added;
* here, not synced, not on Trakt: new here → added to Trakt (export, bidirectional), unless it
  was watched since it was added (Trakt would drop it at once) or it is held: by an undo, or
  because Trakt answered the add ``not_found`` (it does not know the item: sending it again every
  run would change nothing; removing and adding it here again sends it once more). A removal
  answered ``not_found`` is done: the item is not on Trakt.

A 420 stops the adds (the plan's watchlist limit) and the run ends partial naming the limit.
Every write's items are recorded as Trakt answered (:func:`answer_outcomes`): ``added`` or
``existing`` (already there: an undo leaves it), ``removed`` or ``not_found``.

Undo of an export (:func:`undo`) removes the items the run added, batch by batch, each batch
committed with its checkpoint: an undo cut by a crash resumes after the last finished batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from ..store.models import WatchlistEntry, as_utc, utcnow
from ..trakt import errors
from ..trakt.client import Page
from ..trakt.models import LastActivities, ListItem, MediaCounts, SyncResponse
from ..trakt.ratelimit import Priority
from . import repo
from .history import BATCH, limit_message
from .items import (
    aware,
    build_body,
    dumps,
    echo_keys,
    from_trakt,
    item_key,
    match_keys,
    naive_utc,
    show_keys,
)
from .items import write_object as _write_object
from .run import PLANNED, RunState, StopKind

KIND = "watchlist"
ENTRY = WatchlistEntry.__table__  # type: ignore[attr-defined]


def marker(activities: LastActivities) -> str:
    """The part of last_activities that changes when Trakt's watchlist changes."""
    parts = [activities.watchlist.updated_at]
    parts += [
        getattr(activities, group).watchlisted_at
        for group in ("movies", "shows", "seasons", "episodes")
    ]
    return "|".join(str(p) for p in parts)


@dataclass
class Local:
    id: int
    item: dict[str, Any]
    keys: frozenset[str]
    added_at: datetime
    synced: bool
    deleted: bool
    hold: bool


def _load(conn: Connection, user_id: str) -> list[Local]:
    rows = conn.execute(sa.select(ENTRY).where(ENTRY.c.user_id == user_id).order_by(ENTRY.c.id))
    out = []
    for row in rows:
        item = json.loads(row.item)
        added = as_utc(row.added_at)
        assert added is not None
        out.append(
            Local(row.id, item, match_keys(item), added, row.synced_at is not None,
                  row.deleted_at is not None, bool(row.hold))
        )  # fmt: skip
    return out


def local_changes(conn: Connection, user_id: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(ENTRY)
        .where(
            ENTRY.c.user_id == user_id,
            sa.or_(
                ENTRY.c.deleted_at.is_not(None),
                sa.and_(ENTRY.c.synced_at.is_(None), ENTRY.c.hold.is_(False)),
            ),
        )
    )
    return int(conn.execute(query).scalar_one())


def _watched_since(conn: Connection, user_id: str, entries: list[Local]) -> set[int]:
    """Entries with a play of the item (a show: any episode) after they were added."""
    if not entries:
        return set()
    since = min(e.added_at for e in entries)
    plays = conn.execute(
        sa.select(repo.PLAY.c.item, repo.PLAY.c.watched_at).where(
            repo.PLAY.c.user_id == user_id, repo.PLAY.c.watched_at >= naive_utc(since)
        )
    )
    last_seen: dict[str, datetime] = {}
    for raw, when in plays:
        item = json.loads(raw)
        moment = as_utc(when)
        assert moment is not None
        for key in match_keys(item) | show_keys(item):
            if key not in last_seen or last_seen[key] < moment:
                last_seen[key] = moment
    return {e.id for e in entries if any(last_seen.get(k, e.added_at) > e.added_at for k in e.keys)}


async def run(state: RunState, direction: str) -> None:
    importing = direction in ("import", "bidirectional")
    exporting = direction in ("export", "bidirectional")
    remote: list[tuple[ListItem, dict[str, Any]]] = []
    skipped_types: list[dict[str, Any]] = []

    async def on_page(page: Page[ListItem]) -> None:
        for entry in page.items:
            item = from_trakt(entry)
            if item is None or item["type"] not in ("movie", "show"):
                skipped_types.append({"type": entry.type})
            else:
                remote.append((entry, item))

    await state.pages(
        lambda start: state.client.watchlist_pages(state.source, start_page=start), 1, on_page
    )
    local = await state.db(lambda conn: _load(conn, state.user_id))
    by_key: dict[str, Local] = {}
    for entry in local:
        for key in entry.keys:
            by_key.setdefault(key, entry)

    matched: set[int] = set()
    imports: list[dict[str, Any]] = []
    to_remove: list[Local] = []
    for trakt_entry, item in remote:
        mine = next((by_key[k] for k in match_keys(item) if k in by_key), None)
        if mine is None:
            if importing:
                imports.append(
                    {"item": item, "trakt_id": trakt_entry.id, "listed_at": trakt_entry.listed_at}
                )
            continue
        matched.add(mine.id)
        if mine.deleted and exporting:
            to_remove.append(mine)
    unmatched = [e for e in local if e.id not in matched]
    gone_on_trakt = [e for e in unmatched if e.synced and not e.deleted]
    tombstones_done = [e.id for e in unmatched if e.deleted]
    fresh = [e for e in unmatched if not e.synced and not e.deleted and not e.hold]
    now_synced = [e.id for e in local if e.id in matched and not e.synced and not e.deleted]
    watched = await state.db(lambda conn: _watched_since(conn, state.user_id, fresh))
    to_add = [e for e in fresh if e.id not in watched] if exporting else []

    rows: list[dict[str, Any]] = []
    for spec in imports:
        rows.append(_row(state, "import", "imported", spec["item"], trakt_id=spec["trakt_id"]))
    deletes_here = [e.id for e in gone_on_trakt] if importing else []
    for entry in gone_on_trakt if importing else []:
        rows.append(_row(state, "remove", "removed", entry.item, detail="removed on Trakt"))
    watched_ids = [e.id for e in fresh if e.id in watched] if exporting else []
    for entry in fresh:
        if exporting and entry.id in watched:
            rows.append(_row(state, "add", "watched", entry.item, detail="watched since added"))

    def apply_local(conn: Connection) -> None:
        now = utcnow()
        if imports:
            conn.execute(
                ENTRY.insert(),
                [
                    {
                        "user_id": state.user_id,
                        "type": spec["item"]["type"],
                        "item": dumps(spec["item"]),
                        "item_key": item_key(spec["item"]),
                        "added_at": aware(spec["listed_at"] or utcnow()),
                        "trakt_list_id": spec["trakt_id"],
                        "synced_at": now,
                        "deleted_at": None,
                        "hold": False,
                    }
                    for spec in imports
                ],
            )
        doomed = deletes_here + tombstones_done + watched_ids
        if doomed:
            conn.execute(ENTRY.delete().where(ENTRY.c.id.in_(doomed)))
        if now_synced:
            conn.execute(ENTRY.update().where(ENTRY.c.id.in_(now_synced)).values(synced_at=now))

    await state.commit(None if state.dry_run else apply_local, rows)
    await _write(state, "remove", to_remove)
    await _write(state, "add", to_add)


def _row(
    state: RunState, action: str, outcome: str, item: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    planned = state.dry_run and outcome in ("imported", "added", "removed")
    return state.item_row(KIND, action, PLANNED if planned else outcome, item, **extra)


async def _write(state: RunState, action: str, entries: list[Local]) -> None:
    """Add or remove ``entries`` on Trakt in batches; local rows follow each batch."""
    objects = [(e, _write_object(e.item)) for e in entries]
    for entry, obj in objects:
        if obj is None:
            await state.commit(None, [_row(state, action, "no_ids", entry.item)])
    ready = [(e, obj) for e, obj in objects if obj is not None]
    if state.dry_run:
        await state.commit(None, [_row(state, action, PLANNED, e.item) for e, _ in ready])
        return
    for start in range(0, len(ready), BATCH):
        batch = ready[start : start + BATCH]
        body = build_body([obj for _, obj in batch])
        try:
            if action == "add":
                answer = await state.call(
                    partial(state.client.add_watchlist, state.source, body, priority=Priority.BULK)
                )
            else:
                answer = await state.call(
                    partial(
                        state.client.remove_watchlist, state.source, body, priority=Priority.BULK
                    )
                )
        except errors.AccountLimitExceeded as exc:
            rest = [_row(state, action, "limit", e.item, detail="account limit") for e, _ in ready]
            await state.commit(None, rest[start:])
            raise StopKind(limit_message("watchlist", exc)) from exc
        state.wrote = True
        success = "added" if action == "add" else "removed"
        answered = answer_outcomes(answer, [(e.item, obj) for e, obj in batch], success)
        rows = [
            _row(state, action, outcome, e.item, detail=detail)
            for (e, _), (outcome, detail) in zip(batch, answered, strict=True)
        ]
        # A removal Trakt answers "not found" is done too (the item is not on Trakt); an add it
        # answers so is held: Trakt does not know the item, sending it every run changes nothing.
        outcomes = [(e.id, outcome) for (e, _), (outcome, _) in zip(batch, answered, strict=True)]
        finished = {success, "existing"} | ({"not_found"} if action == "remove" else set())
        done = [entry_id for entry_id, outcome in outcomes if outcome in finished]
        unknown = [i for i, outcome in outcomes if action == "add" and outcome == "not_found"]

        def apply(
            conn: Connection,
            done: list[int] = done,
            unknown: list[int] = unknown,
            act: str = action,
        ) -> None:
            if act == "add":
                conn.execute(ENTRY.update().where(ENTRY.c.id.in_(done)).values(synced_at=utcnow()))
                conn.execute(ENTRY.update().where(ENTRY.c.id.in_(unknown)).values(hold=True))
            else:
                conn.execute(ENTRY.delete().where(ENTRY.c.id.in_(done)))

        await state.commit(apply, rows)


# ------------------------------------------------------------------ undo


async def undo(state: RunState, original: str) -> None:
    """Remove from Trakt the watchlist items run ``original`` added; they stay here, held.

    Batches go in a fixed order (by item key) and each is committed with the checkpoint
    ``steps.undo_watchlist.batch``, so a resumed undo starts at the first unfinished batch.
    """
    added = await state.db(
        lambda conn: repo.run_list_items(
            conn, run_id=original, kind=KIND, action="add", outcome="added"
        )
    )
    items = sorted((a["item"] for a in added), key=item_key)
    objects = [(item, _write_object(item)) for item in items]
    ready = [(item, obj) for item, obj in objects if obj is not None]
    progress = state.phase("undo_watchlist")
    done_batches = int(progress.get("batch", 0))
    batches = [ready[i : i + BATCH] for i in range(0, len(ready), BATCH)]
    state.progress_total += len(batches)
    for number, batch in enumerate(batches[done_batches:], done_batches + 1):
        body = build_body([obj for _, obj in batch])
        answer = await state.call(
            partial(state.client.remove_watchlist, state.source, body, priority=Priority.BULK)
        )
        state.wrote = True
        answered = answer_outcomes(answer, batch, "removed")
        rows = [
            state.item_row(KIND, "remove", outcome, item, detail=detail)
            for (item, _), (outcome, detail) in zip(batch, answered, strict=True)
        ]
        keys = [item_key(item) for item, _ in batch]
        progress["batch"] = number
        state.progress_done += 1

        def work(conn: Connection, keys: list[str] = keys) -> None:
            # removed or not on Trakt's list: either way it is not there now; not re-sent
            conn.execute(
                ENTRY.update()
                .where(ENTRY.c.user_id == state.user_id, ENTRY.c.item_key.in_(keys))
                .values(hold=True, synced_at=None)
            )

        await state.commit(work, rows)


# ------------------------------------------------------------------ Trakt's answers

Sent = tuple[dict[str, Any], tuple[str, dict[str, Any]]]


def answer_outcomes(
    answer: SyncResponse, sent: Sequence[Sent], success: str
) -> list[tuple[str, str | None]]:
    """``(outcome, detail)`` per item sent (``(item, write_object(item))``), in order.

    ``not_found`` when Trakt echoed the item under ``not_found``. The rest, per media type,
    follow Trakt's counters: ``success`` ("added"/"removed") as many as ``added``/``deleted``
    say, then ``existing`` (already there, not added) as many as ``existing`` says. The
    counters do not name items: when one type has both, which ones were already there is a
    guess, and the detail says so; the run's counts equal Trakt's either way. An item no
    counter covers was not confirmed: a removal counts it as ``not_found`` (not on Trakt), an
    add as ``skipped`` (it stays pending and goes again with the next sync).
    """
    echoed = [
        keys
        for key in ("movies", "shows", "episodes")
        for obj in getattr(answer.not_found, key)
        if (keys := _identity(key, obj))
    ]
    done_counts = answer.added if success == "added" else answer.deleted
    existing_counts = answer.existing if success == "added" else MediaCounts()
    done_left: dict[str, int] = {}
    existing_left: dict[str, int] = {}
    out: list[tuple[str, str | None]] = []
    pending: dict[str, list[int]] = {}
    for index, (item, (key, obj)) in enumerate(sent):
        mine = _identity(key, obj)
        if any(mine & keys for keys in echoed):
            out.append(("not_found", "Trakt does not know this item"))
            continue
        group = f"{item.get('type')}s"
        done_left.setdefault(group, getattr(done_counts, group, 0))
        existing_left.setdefault(group, getattr(existing_counts, group, 0))
        pending.setdefault(group, []).append(index)
        if done_left[group] > 0:
            done_left[group] -= 1
            out.append((success, None))
        elif existing_left[group] > 0:
            existing_left[group] -= 1
            out.append(("existing", "already on Trakt"))
        elif success == "removed":
            out.append(("not_found", "Trakt did not count it as removed"))
        else:
            out.append(("skipped", "not confirmed by Trakt's answer; sent again next sync"))
    for group, indexes in pending.items():
        outcomes = {out[i][0] for i in indexes}
        if {success, "existing"} <= outcomes:
            guess = f"Trakt counted {getattr(existing_counts, group, 0)} of these {group} as "
            guess += "already there without naming them"
            for i in indexes:
                if out[i][0] in (success, "existing"):
                    out[i] = (out[i][0], guess)
    return out


def _identity(key: str, obj: dict[str, Any]) -> frozenset[str]:
    """Match keys of one object of a write body or of Trakt's echo: an episode written as
    show + season/number is that episode only, not its show."""
    entries = echo_keys(key, obj)
    if key == "shows" and obj.get("seasons"):
        entries = entries[1:]
    return frozenset().union(*entries) if entries else frozenset()
