"""The watched step (SPEC §12): a person's watched state on their media servers and on Trakt.

Trakt's side is the ledger, brought up to date by the history import that runs before this step
in the same run (its planned imports in a dry run). For each linked account of each server:

* the library is read a page at a time (≥ 500 items per request) and every item is sorted:
  unmatched (no external ids), watched on both sides (``already``), to export, to mark;
* export (server → Trakt): an item watched on the server with no play at all in the ledger gets
  one ledger play (source: the server's kind, sync state ``server``) at the server's last-watched
  time; the history export then sends those plays in batches, reads their ids back (undo) and,
  resumed after a crash, first links what a lost answer may have added (never a duplicate);
* import (Trakt → server): an item with a play on Trakt, unwatched there for this account, is
  marked watched (Jellyfin/Emby dated with the latest Trakt time; Plex cannot back-date). Items
  with Trakt plays that the library lacks are ``not_in_library``; marks on an account without a
  token that may write are ``not_writable``. With ``sync.propagate_unwatched`` an import-only run
  marks unwatched what is watched on the server but has no play on Trakt.

The libraries are read on a worker thread from the run's start (:class:`LibraryReads`), while
the history import keeps the event loop busy; once Trakt's side is known they are sorted, the
plays to export stored, and the writes to the server (marks, unmarks, ratings) made on a few
threads (:class:`ServerWrites`) while those plays go to Trakt. Every write is a run item
carrying its server, account and key, which is what an undo reverses. Their outcomes are
committed in small batches; a run cut by a crash re-reads the library, so what was marked shows
as watched and is not marked twice (a mark whose outcome was not committed yet is then counted
``already`` and an undo does not see it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from ..config import Settings
from ..servers.base import AccountNotWritable, LibraryItem, MediaServerClient, ServerError
from ..servers.service import ServerServiceError
from ..store.models import utcnow
from . import history, ratings, repo
from .items import dumps, item_key, match_keys, naive_utc
from .run import PLANNED, RunState, StopKind

log = logging.getLogger(__name__)

KIND = "watched"
SCOPE = history.ExportScope(KIND, (repo.SERVER,))
# Write outcomes per commit (each write is one request to the server), and how many run at once:
# a write is tiny for the server, and with the export parsing Trakt's pages on the event loop
# meanwhile, each waits its turn for the interpreter too (8 did 28,000 marks in half the time 4
# took in bench/server_sync.py).
MARK_BATCH = 200
MARK_WORKERS = 8
# A write to the server: ("mark", item, Trakt's time) | ("unmark", item, None) |
# ("rate", item, rating 1-10).
Write = tuple[str, LibraryItem, Any]
DONE = {"mark": "marked", "unmark": "unmarked", "rate": "rated"}


@dataclass
class TraktSide:
    """The person's plays by match key: ``played`` any play in the ledger (a live scrobble still
    in the outbox included), ``latest`` the newest time of the plays Trakt has, per key."""

    played: set[str] = field(default_factory=set)
    latest: dict[str, datetime] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # item_key → item on Trakt
    keys_of: dict[str, frozenset[str]] = field(default_factory=dict)
    # Local ratings (Trakt's after the ratings import) by match key; None: deleted here.
    ratings: dict[str, int | None] = field(default_factory=dict)

    def add(self, item: dict[str, Any], watched_at: datetime, on_trakt: bool) -> None:
        keys = match_keys(item)
        self.played.update(keys)
        if not on_trakt:
            return
        latest = self.latest
        for match in keys:
            known = latest.get(match)
            if known is None or known < watched_at:
                latest[match] = watched_at
        canonical = item_key(item)
        if canonical in self.keys_of:
            self.keys_of[canonical] |= keys
        else:
            self.items[canonical] = item
            self.keys_of[canonical] = keys

    def rating(self, keys: frozenset[str]) -> tuple[bool, int | None]:
        """(known, rating): whether a local rating or a deletion exists, and the rating."""
        for key in keys:
            if key in self.ratings:
                return True, self.ratings[key]
        return False, None

    def last_on_trakt(self, keys: frozenset[str]) -> datetime | None:
        times = [self.latest[k] for k in keys if k in self.latest]
        return max(times) if times else None


@dataclass(frozen=True)
class Target:
    """One linked account of one server."""

    server_id: str
    server_kind: str
    server_name: str
    account_id: str
    writable: bool
    reason: str | None

    @property
    def step(self) -> str:
        return f"{KIND}:{self.server_id}:{self.account_id}"


@dataclass
class Plan:
    """What one account's library asks for."""

    plays: list[dict[str, Any]] = field(default_factory=list)  # ledger rows to export
    writes: list[Write] = field(default_factory=list)  # to the server (ratings: Trakt → Plex)
    rate_trakt: list[dict[str, Any]] = field(default_factory=list)  # Plex → local → Trakt
    rows: list[dict[str, Any]] = field(default_factory=list)  # outcomes known at planning
    seen: set[str] = field(default_factory=set)  # match keys the library holds
    already: int = 0


def steps_for(
    direction: str, steps: list[tuple[str, str]], settings: Settings
) -> list[tuple[str, str]]:
    """``steps`` with the watched step added, preceded by a history import (Trakt's side) and,
    with ``sync.server_ratings``, a ratings import."""
    out = list(steps)
    if settings.sync.server_ratings and all(kind != ratings.KIND for kind, _ in out):
        out.append((ratings.KIND, "import"))
    history_steps = [i for i, (kind, _) in enumerate(out) if kind == history.KIND]
    if not history_steps:
        out.insert(0, (history.KIND, "import"))
    else:
        index = history_steps[0]
        if out[index][1] == "export":
            out[index] = (history.KIND, "bidirectional")
    out.append((KIND, direction))
    return out


# ------------------------------------------------------------------ the step


@dataclass(frozen=True)
class Options:
    direction: str
    propagate_unwatched: bool = False  # an import-only run unmarks what Trakt has no play of
    server_ratings: bool = True  # Plex ratings and Trakt's fill each other's gaps

    @property
    def exporting(self) -> bool:
        return self.direction in ("export", "bidirectional")

    @property
    def importing(self) -> bool:
        return self.direction in ("import", "bidirectional")


class LibraryReads:
    """The linked accounts' libraries, read on a worker thread from the run's start: the
    history import before the watched step keeps the event loop busy for a long while, and the
    reads wait on the server meanwhile (sorting them needs Trakt's side, known only after it).
    Every item is held until the step takes them."""

    def __init__(self, state: RunState) -> None:
        self._state = state
        self._stopped = threading.Event()
        self._task = asyncio.create_task(self._read_all())

    async def take(self) -> list[tuple[Target, list[list[LibraryItem]] | ServerError]]:
        """Each account to plan with its library's pages (or why it could not be read)."""
        return await self._task

    def stop(self) -> None:
        self._stopped.set()
        self._task.cancel()

    async def _read_all(self) -> list[tuple[Target, list[list[LibraryItem]] | ServerError]]:
        read: list[tuple[Target, list[list[LibraryItem]] | ServerError]] = []
        for target in await _targets(self._state):
            if self._state.step_done(target.step):
                continue
            try:
                read.append((target, await asyncio.to_thread(self._read, target)))
            except ServerError as exc:
                read.append((target, exc))
        return read

    def _read(self, target: Target) -> list[list[LibraryItem]]:
        pages: list[list[LibraryItem]] = []
        with self._state.servers.client(target.server_id) as client:
            for page in client.library(target.account_id):
                if self._stopped.is_set():  # the run ended without the step: let go at once
                    break
                pages.append(page)
        return pages


def read_ahead(state: RunState, steps: list[tuple[str, str]]) -> LibraryReads | None:
    """Start reading the libraries when the run has a watched step still to plan."""
    if state.servers is None or state.step_done(KIND) or all(kind != KIND for kind, _ in steps):
        return None
    if state.checkpoint.get("steps", {}).get(KIND, {}).get("planned"):
        return None
    return LibraryReads(state)


async def run(state: RunState, options: Options, reads: LibraryReads | None) -> None:
    """Plan every linked account (sorting its library, storing the plays to export) while its
    writes to the server begin, then record those while the plays go to Trakt: the two wait
    on different servers."""
    if state.servers is None:
        return
    checkpoint = state.phase(KIND)
    exporting = options.exporting and not state.dry_run
    if not checkpoint.get("planned"):  # (history.export keeps its own "phase" in here)
        side = await state.db(lambda conn: _trakt_side(conn, state.user_id))
        for item, when in state.planned_imports:
            side.add(item, when, on_trakt=True)
        for item, rating in state.planned_ratings:
            for key in match_keys(item):
                if rating is None:
                    side.ratings.pop(key, None)
                else:
                    side.ratings[key] = rating
        accounts: list[ServerWrites] = []
        export: asyncio.Task[None] | None = None
        reads = reads or LibraryReads(state)  # (the run's steps start one: see read_ahead)
        try:
            for target, pages in await reads.take():
                accounts.append(await _account(state, target, side, options, pages))
            # The plays to export are stored: they go to Trakt while the writes end.
            export = asyncio.create_task(_export(state, checkpoint)) if exporting else None
            for writes in accounts:
                await writes.record()
                await state.finish_step(writes.target.step, None)
        except BaseException:
            if export is not None:
                export.cancel()
                with contextlib.suppress(BaseException):
                    await export
            raise
        finally:
            reads.stop()  # (nothing once taken)
            for writes in accounts:
                writes.close()
        if export is not None:
            await export
        checkpoint["planned"] = True
        await state.commit()
    elif exporting:
        await _export(state, checkpoint)
    if checkpoint.get("rated") and not checkpoint.get("ratings_sent") and not state.dry_run:
        await ratings.run(state, "export")  # the Plex ratings now stored here, to Trakt
        checkpoint["ratings_sent"] = True
        await state.commit()


async def _export(state: RunState, checkpoint: dict[str, Any]) -> None:
    """Send the plays made from the servers' watched state (history.export does the work)."""
    resumed = bool(checkpoint.get("exporting"))
    checkpoint["exporting"] = True
    await state.commit()
    try:
        # The history import just brought in every play Trakt has: nothing to link unless a
        # crash may have cut a batch whose answer was lost.
        await history.export(state, checkpoint, read_all=not resumed, scope=SCOPE)
    except StopKind as exc:  # the history's plan limit: the marks go on, the run ends partial
        state.partial_reasons.append(str(exc))


async def _targets(state: RunState) -> list[Target]:
    """The person's linked accounts on the run's server (or every server)."""
    servers = state.servers
    rows = await servers.list_servers(after=None, limit=1000)
    targets: list[Target] = []
    for server in rows:
        if state.server_id is not None and server.id != state.server_id:
            continue
        try:
            accounts = await servers.accounts(server.id)
        except ServerServiceError as exc:
            state.partial_reasons.append(f"server {server.name!r}: {exc}")
            continue
        targets.extend(
            Target(server.id, server.kind, server.name, a.account_id, a.writable, a.reason)
            for a in accounts
            if a.user_id == state.user_id
        )
    return targets


def _trakt_side(conn: Connection, user_id: str) -> TraktSide:
    side = TraktSide()
    plays = sa.select(repo.PLAY.c.item, repo.PLAY.c.watched_at, repo.PLAY.c.trakt_history_id)
    for raw, watched_at, history_id in conn.execute(plays.where(repo.PLAY.c.user_id == user_id)):
        side.add(json.loads(raw), _aware(watched_at), on_trakt=history_id is not None)
    rated = sa.select(ratings.ENTRY.c.item, ratings.ENTRY.c.rating, ratings.ENTRY.c.deleted_at)
    for raw, rating, deleted_at in conn.execute(rated.where(ratings.ENTRY.c.user_id == user_id)):
        for key in match_keys(json.loads(raw)):
            side.ratings[key] = None if deleted_at is not None else int(rating)
    return side


async def _account(
    state: RunState,
    target: Target,
    side: TraktSide,
    options: Options,
    pages: list[list[LibraryItem]] | ServerError,
) -> ServerWrites:
    """Plan one account: store its plays to export (and Plex ratings for Trakt), list its
    outcomes; answers its writes to the server, begun."""
    writes = ServerWrites(state, target)
    try:
        if isinstance(pages, ServerError):
            raise pages
        plan = await asyncio.to_thread(_plan, state, target, side, options, pages)
    except ServerError as exc:
        state.partial_reasons.append(f"server {target.server_name!r}: {exc.reason}")
        return writes
    if plan.rate_trakt:
        state.phase(KIND)["rated"] = True
    state.counts["already"] += plan.already
    if options.importing:
        plan.rows.extend(_not_in_library(state, target, side, plan.seen))

    def insert(conn: Connection) -> None:
        if not state.dry_run:
            repo.insert_plays(conn, plan.plays)
            if plan.rate_trakt:
                conn.execute(ratings.ENTRY.insert(), plan.rate_trakt)

    planned = []
    if state.dry_run:
        planned = [state.item_row(KIND, "add", PLANNED, _shown(play)) for play in plan.plays]
        planned += [
            state.item_row(KIND, "rate", PLANNED, {**json.loads(r["item"]), "rating": r["rating"]})
            for r in plan.rate_trakt
        ]
    await state.commit(insert, plan.rows + planned)
    await asyncio.to_thread(writes.begin, plan.writes)
    return writes


class ServerWrites:
    """One account's writes to its server, made on :data:`MARK_WORKERS` threads (only for an
    account that may write, outside a dry run) while the loop goes on; :meth:`record` commits
    their outcomes. It holds the account's client until :meth:`close`."""

    def __init__(self, state: RunState, target: Target) -> None:
        self._state = state
        self.target = target
        self._making = target.writable and not state.dry_run
        self._entries: list[Write] = []
        self._outcomes: list[Future[tuple[str, str | None]]] = []
        self._client_scope = contextlib.ExitStack()
        self._client: MediaServerClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._unreachable: str | None = None  # why no write could begin

    def begin(self, writes: list[Write]) -> None:
        """Connect and begin ``writes`` (worker thread)."""
        self._entries = writes
        if not self._making or not writes:
            return
        try:
            servers = self._state.servers
            self._client = self._client_scope.enter_context(servers.client(self.target.server_id))
        except ServerError as exc:
            self._unreachable = exc.reason
            return
        self._pool = ThreadPoolExecutor(MARK_WORKERS, thread_name_prefix="server-writes")
        self._outcomes = [self._pool.submit(self._make, entry) for entry in writes]

    def _make(self, entry: Write) -> tuple[str, str | None]:
        """One write (a pool thread): (outcome, detail)."""
        action, item, value = entry
        client, account = self._client, self.target.account_id
        assert client is not None
        try:
            if action == "mark":
                client.mark_watched(account, item.key, value)
            elif action == "unmark":
                client.mark_unwatched(account, item.key)
            else:
                client.set_rating(account, item.key, float(value))
        except AccountNotWritable as exc:
            return "not_writable", exc.reason
        except ServerError as exc:
            return "failed", exc.reason
        return DONE[action], None

    async def record(self) -> None:
        """Commit every write's outcome (waiting for those still under way), a batch at a
        time."""
        state, target = self._state, self.target
        failed = 0
        for start in range(0, len(self._entries), MARK_BATCH):
            batch = self._entries[start : start + MARK_BATCH]
            if not target.writable:
                results = [("not_writable", target.reason)] * len(batch)
            elif state.dry_run:
                results = [(PLANNED, None)] * len(batch)
            elif self._unreachable is not None:
                results = [("failed", self._unreachable)] * len(batch)
            else:
                futures = self._outcomes[start : start + MARK_BATCH]
                results = await asyncio.to_thread(_results, futures)
            rows = []
            for (action, item, value), (outcome, detail) in zip(batch, results, strict=True):
                failed += outcome == "failed"
                shown = _ref(item, target)
                if action == "rate" and self._making:
                    shown["rating"] = value
                rows.append(state.item_row(KIND, action, outcome, shown, detail=detail))
            await state.commit(None, rows)
        if failed:
            state.partial_reasons.append(
                f"server {target.server_name!r}: {failed} items could not be marked (see the items)"
            )

    def close(self) -> None:
        """Stop what has not begun and disconnect."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._client_scope.close()


def _results(futures: list[Future[tuple[str, str | None]]]) -> list[tuple[str, str | None]]:
    return [future.result() for future in futures]


def _plan(
    state: RunState,
    target: Target,
    side: TraktSide,
    options: Options,
    pages: Iterable[list[LibraryItem]],
) -> Plan:
    """Sort every item of the account's library (worker thread)."""
    plan = Plan()
    now = utcnow()
    rate = options.server_ratings and target.server_kind == "plex"  # the others keep no score
    for page in pages:
        for item in page:
            _sort(state, target, side, item, plan, now, options, rate)
    return plan


def _sort(
    state: RunState,
    target: Target,
    side: TraktSide,
    item: LibraryItem,
    plan: Plan,
    now: datetime,
    options: Options,
    rate: bool,
) -> None:
    if not item.matched:
        plan.rows.append(
            state.item_row(KIND, "match", "unmatched", _ref(item, target), detail="no external ids")
        )
        return
    shape = item.trakt_item()
    keys = match_keys(shape)
    plan.seen |= keys
    if rate:
        _sort_rating(state, side, item, shape, keys, plan, now)
    played = bool(keys & side.played)
    unmark = options.propagate_unwatched and options.direction == "import"
    if item.watched and played:
        plan.already += 1
    elif item.watched and options.exporting:
        when = _server_time(target.server_kind, item, now)
        plan.plays.append(
            {
                "user_id": state.user_id,
                "item": dumps(shape),
                "item_key": item_key(shape),
                "watched_at": naive_utc(when),
                "source": target.server_kind,
                "trakt_history_id": None,
                "sync_state": repo.SERVER,
                "runtime": item.runtime,
            }
        )
    elif item.watched and unmark:
        plan.writes.append(("unmark", item, None))
    elif not item.watched and options.importing:
        latest = side.last_on_trakt(keys)
        if latest is not None:
            plan.writes.append(("mark", item, latest))


def _sort_rating(
    state: RunState,
    side: TraktSide,
    item: LibraryItem,
    shape: dict[str, Any],
    keys: frozenset[str],
    plan: Plan,
    now: datetime,
) -> None:
    """Plex's rating (0-10) and Trakt's (1-10) fill each other's gap; neither overwrites, and a
    rating deleted here is not brought back."""
    known, rating = side.rating(keys)
    if item.user_rating is not None and not known:
        plan.rate_trakt.append(
            {
                "user_id": state.user_id,
                "type": shape["type"],
                "item": dumps(shape),
                "item_key": item_key(shape),
                "rating": max(1, min(10, math.floor(item.user_rating + 0.5))),
                "rated_at": now,
                "synced": False,
                "deleted_at": None,
                "not_found_at": None,
            }
        )
    elif item.user_rating is None and rating is not None:
        plan.writes.append(("rate", item, rating))


def _server_time(kind: str, item: LibraryItem, now: datetime) -> datetime:
    """When the server says the item was last watched: Plex's ``lastViewedAt``; Jellyfin/Emby's
    ``LastPlayedDate`` is the *start* of the last playback, so its runtime is added (capped at
    now); unknown → Trakt's "unknown" (never the time of the sync)."""
    when = item.last_watched_at
    if when is None:
        return repo.UNKNOWN_TIME.replace(tzinfo=UTC)
    if kind != "plex" and item.runtime:
        when = min(when + timedelta(minutes=item.runtime), now)
    return when


def _not_in_library(
    state: RunState, target: Target, side: TraktSide, seen: set[str]
) -> list[dict[str, Any]]:
    rows = []
    for canonical, item in side.items.items():
        if item.get("type") not in ("movie", "episode"):
            continue
        if not side.keys_of[canonical] & seen:
            shown = {**item, "server": {"id": target.server_id, "account": target.account_id}}
            rows.append(state.item_row(KIND, "mark", "not_in_library", shown))
    return rows


# ------------------------------------------------------------------ undo


async def undo(state: RunState, original: str) -> None:
    """Reverse the server marks of run ``original`` (its Trakt plays go with the history undo)."""
    if state.servers is None:
        return
    progress = state.phase("undo-watched")

    def load(conn: Connection) -> list[tuple[str, dict[str, Any]]]:
        marked = repo.run_list_items(
            conn, run_id=original, kind=KIND, action="mark", outcome="marked"
        )
        unmarked = repo.run_list_items(
            conn, run_id=original, kind=KIND, action="unmark", outcome="unmarked"
        )
        return [("unmark", r["item"]) for r in marked] + [("mark", r["item"]) for r in unmarked]

    todo = await state.db(load)
    for start in range(int(progress.get("done", 0)), len(todo), MARK_BATCH):
        batch = todo[start : start + MARK_BATCH]
        results = await asyncio.to_thread(_reverse, state, batch)
        rows = [
            state.item_row(KIND, action, outcome, item, detail=detail)
            for (action, item), (outcome, detail) in zip(batch, results, strict=True)
        ]
        progress["done"] = start + len(batch)
        await state.commit(None, rows)


def _reverse(
    state: RunState, batch: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, str | None]]:
    """Undo marks one by one (worker thread): (outcome, detail) for each."""
    out: list[tuple[str, str | None]] = []
    for action, item in batch:
        ref = item.get("server") or {}
        try:
            with state.servers.client(ref["id"]) as client:
                if action == "unmark":
                    client.mark_unwatched(ref["account"], ref["key"])
                else:
                    client.mark_watched(ref["account"], ref["key"])
        except ServerServiceError as exc:  # the server was removed since
            out.append(("failed", str(exc)))
        except ServerError as exc:
            out.append(("failed", exc.reason))
        except KeyError:
            out.append(("failed", "the run item does not say where it was marked"))
        else:
            out.append(("unmarked" if action == "unmark" else "marked", None))
    return out


# ------------------------------------------------------------------ helpers


def _ref(item: LibraryItem, target: Target) -> dict[str, Any]:
    """The item as a run row shows it, with what an undo needs to find it again."""
    return {
        **item.trakt_item(),
        "server": {"id": target.server_id, "account": target.account_id, "key": item.key},
    }


def _shown(play: dict[str, Any]) -> dict[str, Any]:
    return {**json.loads(play["item"]), "watched_at": history.trakt_time(play["watched_at"])}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
