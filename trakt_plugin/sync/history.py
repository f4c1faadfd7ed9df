"""The history step: import Trakt's plays into the ledger, export the ledger's plays Trakt lacks.

Plan → apply, page by page or batch by batch:

* import reads ``/sync/history?extended=full,images`` (pages of 250, up to the run's start time
  so the pages stay put while new plays arrive; each item's poster URL is recorded); a play
  whose history id the ledger knows is skipped, one that matches an unlinked local play links
  it, the rest become ledger plays. How much it
  reads (:func:`read_mode`, SPEC §7 cost rules): nothing when the only changes in
  last_activities are our own writes (the outbox's sent stops and history adds), else the newest
  pages up to the first one with nothing new, and every page at the first sync and, as a safety
  net, once ``sync.full_import_every`` has passed since the last full read;
* export reads Trakt's history over the candidates' time range (unless the import just read it
  all), links what Trakt already has, then adds the rest in batches of 250; a batch that may
  have landed without an answer re-plans (the read links what arrived: never a duplicate);
* read-back: ``POST /sync/history`` answers counts, not ids, so the added plays' history ids are
  read back over their time range (undo removes exactly those).
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from ..posters import images_given, poster_keys, poster_url
from ..posters import repo as poster_repo
from ..store.models import utcnow
from ..trakt import errors
from ..trakt.client import Page
from ..trakt.models import HistoryItem, LastActivities, SyncResponse
from ..trakt.ratelimit import Priority
from . import repo
from .items import (
    MATCH_WINDOW_MINUTES,
    build_body,
    dumps,
    echo_keys,
    from_trakt,
    iso,
    item_key,
    match_keys,
    minute,
    naive_utc,
    parse_time,
    write_object,
)
from .matching import Matcher
from .run import PLANNED, RunState, StopKind

log = logging.getLogger(__name__)

KIND = "history"
# Runtimes for the stats, and each item's poster (SPEC §10; downloaded by posters/service.py).
IMPORT_EXTENDED = "full,images"
# Writes go in batches of at most 250 items (SPEC §7; Trakt's practical body size, docs §4.8).
BATCH = 250
# Range reads reach this far past the candidates' first and last minute (the match window).
RANGE_MARGIN = timedelta(minutes=MATCH_WINDOW_MINUTES + 1)
# Candidates further apart than this are read in separate time ranges (a few plays from years
# ago and today's are two short reads, not every page in between), at most MAX_RANGES of them.
RANGE_SPLIT = timedelta(days=7)
MAX_RANGES = 10
# An add whose answer was lost (timeout, 5xx) re-plans at most this often before failing.
MAX_REPLANS = 3
# How much of Trakt's history an import reads.
FULL = "full"  # every page: the first sync, and the periodic safety net
RECENT = "recent"  # newest first, up to and including the first page with nothing new
# The marker row (kind) that keeps when the last full read started (ISO time).
FULL_MARKER = "history_full"
# The item type each part of the history marker belongs to (see marker()).
MARKER_TYPES = ("movie", "episode")
# Trakt stamps last_activities' watched_at when it handles a write; the outbox stamps sent_at when
# the answer arrives, a request (or two, a stop answered as a pause) later. A changed watched_at
# this close to a sent history write of the same type is taken as ours. Narrow on purpose: a
# foreign write taken for ours is only read at the next change or the next full read.
OWN_WRITE_SLACK = timedelta(seconds=60)


@dataclass(frozen=True)
class ExportScope:
    """Which unlinked plays an export sends (their ``sync_state``) and the kind its item rows
    carry: the history step sends plays without a state; the watched step its own."""

    kind: str
    states: tuple[str | None, ...]


HISTORY_SCOPE = ExportScope(KIND, (None,))


def trakt_time(moment: datetime) -> str:
    """A play's ``watched_at`` for a write: Trakt's "unknown" for :data:`repo.UNKNOWN_TIME`."""
    return "unknown" if naive_utc(moment) == repo.UNKNOWN_TIME else iso(moment)


def marker(activities: LastActivities) -> str:
    """The part of last_activities that changes when Trakt's history changes."""
    return f"{activities.movies.watched_at}|{activities.episodes.watched_at}"


def read_mode(
    conn: Connection,
    *,
    user_id: str,
    current: str,
    stored: str | None,
    full_every: timedelta,
    now: datetime | None = None,
) -> str | None:
    """How much of Trakt's history to read now that its marker moved from ``stored`` to
    ``current``: FULL, RECENT, or None when every change is one of our own writes."""
    now = now or utcnow()
    last_full = repo.get_marker(conn, user_id=user_id, kind=FULL_MARKER)
    if stored is None or last_full is None or now - parse_time(last_full) >= full_every:
        return FULL
    parts, before = current.split("|"), stored.split("|")
    if len(parts) != len(MARKER_TYPES) or len(before) != len(parts):
        return FULL  # a marker of another shape (older version): start over
    for kind, part, old in zip(MARKER_TYPES, parts, before, strict=True):
        if part == old:
            continue
        when = _marker_time(part)
        if when is None:
            return RECENT
        ours = repo.own_history_writes(
            conn, user_id=user_id, start=when - OWN_WRITE_SLACK, end=when + OWN_WRITE_SLACK
        )
        if kind not in ours:
            return RECENT
    return None


def _marker_time(part: str) -> datetime | None:
    try:
        return parse_time(part)
    except ValueError:
        return None


def full_read_at(checkpoint: dict[str, Any]) -> str | None:
    """When the run's import that read every page started (None: it read less, or nothing)."""
    if checkpoint.get("did_import") and checkpoint.get("mode", FULL) == FULL:
        value = checkpoint.get("end_at")
        return str(value) if value else None
    return None


async def local_changes(state: RunState) -> int:
    def count(conn: Connection) -> int:
        repo.adopt_identity_plays(conn, user_id=state.user_id)
        return repo.count_unlinked(conn, user_id=state.user_id)

    return await state.db(count)


async def run(state: RunState, direction: str, mode: str | None) -> bool:
    """The history step; True when it read Trakt's history as ``mode`` asked (FULL or RECENT,
    see :func:`read_mode`): the marker may advance."""
    checkpoint = state.phase(KIND)
    phase = checkpoint.get("phase")  # set when resuming a run cut by a crash
    imported = bool(checkpoint.get("did_import"))
    read_all = False
    if direction in ("import", "bidirectional") and (
        phase == "import" or (phase is None and mode is not None)
    ):
        await _import(state, checkpoint, mode or FULL)
        checkpoint["did_import"] = imported = True
        # Only a full read saw every play Trakt has: the export need not read its range again.
        read_all = checkpoint.get("mode", FULL) == FULL
    if direction in ("export", "bidirectional") and phase != "exported":
        # resumed mid-export, a batch may have landed unanswered: read the range (read_all off)
        await export(state, checkpoint, read_all)
    return imported


# ------------------------------------------------------------------ import


def _new_play(state: RunState, entry: HistoryItem, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": state.user_id,
        "item": dumps(item),
        "item_key": item_key(item),
        "watched_at": naive_utc(entry.watched_at),
        "source": repo.TRAKT_SOURCE,
        "trakt_history_id": entry.id,
    }


async def _import(state: RunState, checkpoint: dict[str, Any], mode: str) -> None:
    if checkpoint.get("phase") != "import":
        checkpoint.update(phase="import", page=0, end_at=iso(utcnow()), mode=mode)
    end_at = parse_time(checkpoint["end_at"])
    recent = checkpoint.setdefault("mode", FULL) == RECENT  # a resumed run keeps its mode
    known, matcher, _ = await _ledger_view(state)

    async def on_page(page: Page[HistoryItem]) -> bool:
        """Take one page; True (stop reading) after a recent-mode page with nothing new."""
        rows: list[dict[str, Any]] = []
        links: list[tuple[int, int]] = []
        items: list[dict[str, Any]] = []
        posters = found_posters(page.items)
        for entry in page.items:
            if entry.id in known:
                continue
            known.add(entry.id)
            item = from_trakt(entry)
            if item is None:
                continue
            ref = matcher.take(match_keys(item), minute(entry.watched_at))
            if ref is not None:
                links.append((ref, entry.id))
                items.append(
                    state.item_row(KIND, "import", "linked", _with_time(item, entry.watched_at),
                                   play_id=ref, trakt_id=entry.id)
                )  # fmt: skip
                continue
            outcome = PLANNED if state.dry_run else "imported"
            if state.dry_run:
                state.planned_imports.append((item, entry.watched_at))
            else:
                rows.append(_new_play(state, entry, item))
            items.append(
                state.item_row(KIND, "import", outcome, _with_time(item, entry.watched_at),
                               trakt_id=entry.id)
            )  # fmt: skip
        done = recent and not items
        last = page.number >= page.page_count
        state.progress_total = max(
            state.progress_total,
            page.number + (0 if done or last else 1) if recent else page.page_count,
        )
        state.progress_done = page.number

        def work(conn: Connection) -> None:
            if not state.dry_run:
                repo.insert_plays(conn, rows)
                repo.link_plays(conn, links)
                poster_repo.stage(conn, posters)  # recorded after the run

        checkpoint["page"] = page.number
        await state.commit(work, items)
        return done

    await state.pages(
        lambda start: state.client.history_pages(
            state.source, end_at=end_at, extended=IMPORT_EXTENDED, start_page=start
        ),
        int(checkpoint.get("page", 0)) + 1,
        on_page,
    )
    checkpoint["phase"] = "imported"
    await state.commit()


def found_posters(entries: list[HistoryItem]) -> dict[str, str | None]:
    """Each item's poster URL (None: Trakt has none) under every key the ledger may know it by;
    an episode shows its show's poster. Items of a page read without images are left out."""
    found: dict[str, str | None] = {}
    for entry in entries:
        media = entry.show if entry.type == "episode" else entry.movie
        images = media.images if media is not None else None
        if not images_given(images):
            continue
        item = from_trakt(entry)
        if item is None:
            continue
        url = poster_url(images)
        for key in poster_keys(item):
            found.setdefault(key, url)
    return found


async def _ledger_view(state: RunState) -> tuple[set[int], Matcher, dict[int, repo.LocalPlay]]:
    """Known history ids, and a matcher over the plays Trakt may have without our knowing."""

    def load(conn: Connection) -> tuple[set[int], list[repo.LocalPlay]]:
        known = repo.known_history_ids(conn, user_id=state.user_id)
        return known, repo.unlinked_plays(conn, user_id=state.user_id, states=(None, repo.SENT))

    known, unlinked = await state.db(load)
    matcher = Matcher()
    for play in unlinked:
        matcher.add(play.id, match_keys(play.item), minute(play.watched_at))
    return known, matcher, {p.id: p for p in unlinked}


# ------------------------------------------------------------------ export


async def export(
    state: RunState,
    checkpoint: dict[str, Any],
    read_all: bool,
    scope: ExportScope | None = None,
) -> None:
    """Send the ledger's plays in ``scope`` that Trakt lacks (see the module docstring)."""
    scope = scope or HISTORY_SCOPE
    checkpoint["phase"] = "export"
    for _attempt in range(MAX_REPLANS + 1):
        try:
            await _export_once(state, checkpoint, read_all, scope)
            break
        except errors.TraktError as exc:
            if not errors.is_ambiguous(exc):
                raise
            log.warning("a history add may have landed without an answer; re-planning")
            read_all = False
    else:
        raise errors.TraktError("Trakt kept failing to answer history adds; try again later")
    if not state.dry_run:
        await _read_back(state)
    checkpoint["phase"] = "exported"
    await state.commit()


async def _export_once(
    state: RunState, checkpoint: dict[str, Any], read_all: bool, scope: ExportScope
) -> None:
    candidates = await state.db(
        lambda conn: repo.unlinked_plays(conn, user_id=state.user_id, states=scope.states)
    )
    if not candidates:
        return
    if not read_all:
        candidates = await _link_existing(state, candidates, scope.kind)
    plan, skipped = _plan(state, candidates, scope.kind)
    batches = [plan[i : i + BATCH] for i in range(0, len(plan), BATCH)]
    state.progress_total += len(batches)
    await state.commit(
        (lambda conn: _apply_skips(conn, skipped)) if not state.dry_run else None,
        [row for _, (_, row) in skipped],
    )
    if state.dry_run:
        rows = [
            state.item_row(scope.kind, "add", PLANNED, _with_time(p.item, p.watched_at),
                           play_id=p.id)
            for p, _ in plan
        ]  # fmt: skip
        await state.commit(None, rows)
        return
    for batch in batches:
        await _send_batch(state, checkpoint, batch, scope.kind)


def _plan(
    state: RunState, candidates: list[repo.LocalPlay], kind: str
) -> tuple[list[tuple[repo.LocalPlay, tuple[str, dict[str, Any]]]], list[tuple[int, Any]]]:
    """Adds to make, and the plays skipped (no ids; the same play twice in the ledger)."""
    seen = Matcher()
    plan: list[tuple[repo.LocalPlay, tuple[str, dict[str, Any]]]] = []
    skipped: list[tuple[int, Any]] = []
    for play in candidates:
        keys, when = match_keys(play.item), minute(play.watched_at)
        shown = _with_time(play.item, play.watched_at)
        obj = write_object(play.item, watched_at=trakt_time(play.watched_at))
        if obj is None:
            row = state.item_row(kind, "add", "no_ids", shown, detail="no ids", play_id=play.id)
            skipped.append((play.id, (repo.NO_IDS, row)))
        elif seen.peek(keys, when):
            row = state.item_row(
                kind, "add", "duplicate", shown, detail="same play twice locally", play_id=play.id
            )
            skipped.append((play.id, (repo.DUPLICATE, row)))
        else:
            seen.add(play.id, keys, when)
            plan.append((play, obj))
    return plan, skipped


def _apply_skips(conn: Connection, skipped: list[tuple[int, Any]]) -> None:
    for play_id, (play_state, _row) in skipped:
        repo.set_play_state(conn, [play_id], play_state)


async def _link_existing(
    state: RunState, candidates: list[repo.LocalPlay], kind: str
) -> list[repo.LocalPlay]:
    """Read Trakt's history over the candidates' range; link the plays Trakt already has."""
    known = await state.db(lambda conn: repo.known_history_ids(conn, user_id=state.user_id))
    matcher = Matcher()
    for play in candidates:
        matcher.add(play.id, match_keys(play.item), minute(play.watched_at))
    by_id = {p.id: p for p in candidates}
    links: list[tuple[int, int]] = []
    items: list[dict[str, Any]] = []

    async def on_page(page: Page[HistoryItem]) -> None:
        for entry in page.items:
            if entry.id in known:
                continue
            item = from_trakt(entry)
            ref = matcher.take(match_keys(item), minute(entry.watched_at)) if item else None
            if ref is not None:
                known.add(entry.id)
                links.append((ref, entry.id))
                play = by_id.pop(ref)
                items.append(
                    state.item_row(kind, "add", "linked", _with_time(play.item, play.watched_at),
                                   detail="already on Trakt", play_id=ref, trakt_id=entry.id)
                )  # fmt: skip

    await _read_ranges(state, candidates, known, on_page)
    await state.commit((lambda conn: repo.link_plays(conn, links)) if not state.dry_run else None,
                       items)  # fmt: skip
    return [p for p in candidates if p.id in by_id]


async def _send_batch(
    state: RunState,
    checkpoint: dict[str, Any],
    batch: list[tuple[repo.LocalPlay, tuple[str, dict[str, Any]]]],
    kind: str,
) -> None:
    body = build_body([obj for _, obj in batch])
    try:
        answer = await state.call(
            lambda: state.client.add_history(state.source, body, priority=Priority.BULK)
        )
    except errors.AccountLimitExceeded as exc:
        raise StopKind(limit_message("history", exc)) from exc  # the limit is the history's
    state.wrote = True
    missing = _not_found(answer, batch)
    rows = []
    for play, _ in batch:
        shown = _with_time(play.item, play.watched_at)
        outcome = "not_found" if play.id in missing else "added"
        rows.append(state.item_row(kind, "add", outcome, shown, play_id=play.id))
    state.progress_done += 1
    sent = [p.id for p, _ in batch if p.id not in missing]

    def work(conn: Connection) -> None:
        repo.set_play_state(conn, sent, repo.SENT, state.run_id)
        repo.set_play_state(conn, missing, repo.NOT_FOUND)

    checkpoint["batch"] = int(checkpoint.get("batch", 0)) + 1
    await state.commit(work, rows)


def _not_found(
    answer: SyncResponse, batch: list[tuple[repo.LocalPlay, tuple[str, dict[str, Any]]]]
) -> set[int]:
    """Plays of the batch that Trakt echoed under ``not_found``."""
    echoed: list[frozenset[str]] = []
    for key in ("movies", "shows", "episodes"):
        for obj in getattr(answer.not_found, key):
            echoed.extend(k for k in echo_keys(key, obj) if k)
    if not echoed:
        return set()
    missing = set()
    for play, (key, obj) in batch:
        sent = set().union(*echo_keys(key, obj))
        if any(sent & keys for keys in echoed):
            missing.add(play.id)
    return missing


async def _read_back(state: RunState) -> None:
    """Give the plays added (this run or an interrupted one) their Trakt history ids."""
    pending = await state.db(
        lambda conn: repo.unlinked_plays(conn, user_id=state.user_id, states=(repo.SENT,))
    )
    if not pending:
        return
    known = await state.db(lambda conn: repo.known_history_ids(conn, user_id=state.user_id))
    matcher = Matcher()
    for play in pending:
        matcher.add(play.id, match_keys(play.item), minute(play.watched_at))
    links: list[tuple[int, int]] = []

    async def on_page(page: Page[HistoryItem]) -> None:
        for entry in page.items:
            if entry.id in known:
                continue
            item = from_trakt(entry)
            ref = matcher.take(match_keys(item), minute(entry.watched_at)) if item else None
            if ref is not None:
                known.add(entry.id)
                links.append((ref, entry.id))

    await _read_ranges(state, pending, known, on_page)
    linked = {pid for pid, _ in links}
    lost = [p.id for p in pending if p.id not in linked]
    if lost:
        log.warning("%d added plays were not found in Trakt's history afterwards", len(lost))

    def work(conn: Connection) -> None:
        repo.link_plays(conn, links)
        repo.set_play_state(conn, lost, repo.NOT_FOUND)

    await state.commit(work)


# ------------------------------------------------------------------ helpers


async def _read_ranges(
    state: RunState,
    plays: list[repo.LocalPlay],
    known: set[int],
    on_page: Callable[[Page[HistoryItem]], Awaitable[None]],
) -> None:
    """Every page of Trakt's history over the time ranges of ``plays``, entries with ``known``
    ids left out; the next page is asked while one is handled (every page is read)."""
    for start, end in ranges_of([p.watched_at for p in plays]):

        def pages(page: int, start: datetime = start, end: datetime = end) -> Any:
            return state.client.history_pages(
                state.source, start_at=start, end_at=end, start_page=page, skip_ids=known
            )

        await state.pages(pages, 1, on_page, read_ahead=True)


def ranges_of(times: list[datetime]) -> list[tuple[datetime, datetime]]:
    """The time ranges to read for plays at ``times``: split at the gaps longer than
    :data:`RANGE_SPLIT` (the longest :data:`MAX_RANGES` - 1 of them), with the match margin."""
    ordered = sorted(times)
    gaps = [
        (later - earlier, index)
        for index, (earlier, later) in enumerate(itertools.pairwise(ordered))
        if later - earlier > RANGE_SPLIT
    ]
    splits = sorted(index for _, index in heapq.nlargest(MAX_RANGES - 1, gaps))
    ranges, first = [], 0
    for index in splits:
        ranges.append((ordered[first], ordered[index]))
        first = index + 1
    ranges.append((ordered[first], ordered[-1]))
    return [(start - RANGE_MARGIN, end + RANGE_MARGIN) for start, end in ranges]


def _with_time(item: dict[str, Any], watched_at: datetime) -> dict[str, Any]:
    return {**item, "watched_at": iso(watched_at)}


def limit_message(what: str, exc: errors.AccountLimitExceeded) -> str:
    """A sentence naming the Trakt limit that was hit (SPEC §7)."""
    limit = f" of {exc.account_limit} items" if exc.account_limit else ""
    plan = "VIP" if exc.vip else "free"
    upgrade = f"; more with VIP: {exc.upgrade_url}" if exc.upgrade_url and not exc.vip else ""
    return (
        f"Trakt account limit reached: the {what} limit{limit} of the {plan} plan; "
        f"adds to the {what} stopped{upgrade}"
    )
