"""Filling in the runtime of plays that do not know it (the stats' watch time, SPEC §8).

Webhooks and the bulk API store a play's runtime when the media server gives one. The rest
(imports, bulk plays without ``runtime``, events whose server sent no length) are filled here in
the background, a bounded slice per run, from the cheapest source that knows:

| source                                                          | cost                      |
|-----------------------------------------------------------------|---------------------------|
| the runtime carried in the play's item (imports keep Trakt's)   | none                      |
| the metadata cache: the item's entry, or for an episode its show's | store reads            |
| a Trakt lookup of the item, then of an episode's show           | one GET each (app budget) |

Lookups go through :class:`~.metadata.MetadataService` (ids only, no ratings), so their answers
land in the metadata cache and serve every later play of the item. At most
:data:`LOOKUPS_PER_RUN` per run, none while ``metadata.use_for_enrichment`` is off. An item
Trakt does not know, or knows without a runtime, is not asked about again for :data:`MISS_TTL`.

Plays are scanned newest first (this week's chart first), :data:`SCAN_PER_RUN` per run, each run
continuing below the last one and starting again from the newest once the end was reached. A
run whose lookup budget ran out, or whose Trakt failed, resumes at the play it stopped at.

Job: :func:`fill_play_runtimes` every :data:`FILL_INTERVAL` (failures are logged; the next run
tries again: a missing app credential or an unreachable Trakt only pauses the lookups).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..context import AppContext
from ..events.model import MAX_RUNTIME_MINUTES
from ..store import enrich_repo, scrobble_repo
from ..store.engine import write_lock
from ..store.models import utcnow
from .ids import InvalidLookup, Lookup, make_lookup
from .metadata import EnrichmentOff, MetadataService, NotKnown, UpstreamFailed
from .stats import AliasKey, item_runtime, runtime_keys

log = logging.getLogger(__name__)

# A run reads this many plays without a runtime: cache answers cost no request, so it can be
# generous; it bounds one run's store work to a few milliseconds.
SCAN_PER_RUN = 500
# Trakt lookups per run: 6 runs an hour × 20 = 120 GETs an hour against the app's budget of
# 1000 per 5 minutes — a library of thousands of unknown items fills within a day or two.
LOOKUPS_PER_RUN = 20
# An item Trakt did not know (or knew without a runtime) is asked about again after this long.
MISS_TTL = timedelta(days=1)
# Misses remembered at most (a huge unknown library must not grow the process without bound).
MAX_MISSES = 10_000
FILL_INTERVAL = timedelta(minutes=10)
FILL_FIRST_RUN = timedelta(minutes=2)

# Which id looks an item up best: ids Trakt's summary takes directly come first for movies and
# shows (one GET, no search); episodes are always found through /search.
_LOOKUP_ORDER: dict[str, tuple[str, ...]] = {
    "movie": ("trakt", "slug", "imdb", "tmdb"),
    "episode": ("trakt", "tvdb", "imdb", "tmdb"),
    "show": ("trakt", "slug", "imdb", "tvdb", "tmdb"),
}


@dataclass(frozen=True)
class FillReport:
    """What one run did: plays read, plays given a runtime, Trakt lookups made."""

    scanned: int
    filled: int
    lookups: int


def _first_lookup(kind: str, ids: Mapping[str, Any]) -> Lookup | None:
    for id_type in _LOOKUP_ORDER[kind]:
        if ids.get(id_type) in (None, ""):
            continue
        try:
            return make_lookup(kind, {id_type: ids[id_type]})
        except InvalidLookup:
            continue
    return None


def lookups_for(item: Mapping[str, Any]) -> list[Lookup]:
    """The lookups that may tell the item's runtime, best first (an episode, then its show)."""
    if item.get("type") == "episode":
        episode = item.get("episode") or {}
        show = item.get("show") or {}
        found = [
            _first_lookup("episode", episode.get("ids") or {}),
            _first_lookup("show", show.get("ids") or {}),
        ]
    else:
        found = [_first_lookup("movie", (item.get("movie") or {}).get("ids") or {})]
    return [lookup for lookup in found if lookup is not None]


def _plausible(minutes: int | None) -> int | None:
    if minutes is None or minutes <= 0 or minutes > MAX_RUNTIME_MINUTES:
        return None
    return minutes


class RuntimeFiller:
    """Fills ``play.runtime`` in bounded runs (see the module docstring)."""

    def __init__(self, ctx: AppContext, metadata: MetadataService) -> None:
        self._ctx = ctx
        self._metadata = metadata
        self._cursor: int | None = None  # the next run reads plays below this id
        self._misses: dict[tuple[str, str, str], datetime] = {}
        self._running = asyncio.Lock()

    # ------------------------------------------------------------ store work (threads)

    def _scan(self, before_id: int | None, limit: int) -> list[tuple[int, dict[str, Any]]]:
        with self._ctx.engine.connect() as conn:
            rows = scrobble_repo.plays_without_runtime(conn, before_id=before_id, limit=limit)
        out: list[tuple[int, dict[str, Any]]] = []
        for row in rows:
            try:
                item = json.loads(row.item)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append((int(row.id), item))
        return out

    def _cached(self, items: Sequence[dict[str, Any]]) -> dict[AliasKey, int]:
        keys = [key for item in items for key in runtime_keys(item)]
        with self._ctx.session() as session:
            return enrich_repo.runtimes_by_alias(session, keys=keys)

    def _save(self, runtimes: Mapping[int, int]) -> int:
        if not runtimes:
            return 0
        with write_lock(self._ctx.engine), self._ctx.engine.begin() as conn:
            return scrobble_repo.set_play_runtimes(conn, runtimes)

    # ------------------------------------------------------------ misses

    def _missed(self, lookup: Lookup, now: datetime) -> bool:
        until = self._misses.get(lookup.alias)
        return until is not None and until > now

    def _miss(self, lookup: Lookup, now: datetime) -> None:
        if len(self._misses) >= MAX_MISSES:
            self._misses = {k: v for k, v in self._misses.items() if v > now}
            if len(self._misses) >= MAX_MISSES:
                self._misses.clear()
        self._misses[lookup.alias] = now + MISS_TTL

    # ------------------------------------------------------------ one run

    async def fill(
        self, *, scan: int = SCAN_PER_RUN, max_lookups: int = LOOKUPS_PER_RUN
    ) -> FillReport:
        """One bounded run: read up to ``scan`` plays without a runtime, fill what the items and
        the cache know, and look up to ``max_lookups`` items up on Trakt."""
        async with self._running:
            return await self._fill(scan, max_lookups)

    async def _fill(self, scan: int, max_lookups: int) -> FillReport:
        rows = await asyncio.to_thread(self._scan, self._cursor, scan)
        known = await asyncio.to_thread(self._cached, [item for _, item in rows])
        if not self._ctx.settings.metadata.use_for_enrichment:
            max_lookups = 0  # the user turned Trakt lookups off: the cache only
        found: dict[int, int] = {}
        stopped_at: int | None = None
        lookups = 0
        trakt_down = False
        now = utcnow()
        for play_id, item in rows:
            minutes = _plausible(item_runtime(item, known))
            if minutes is None:
                wanted = [u for u in lookups_for(item) if not self._missed(u, now)]
                if wanted and (trakt_down or lookups >= max_lookups):
                    if max_lookups > 0 and stopped_at is None:
                        stopped_at = play_id  # the next run comes back here
                    continue  # later plays may still be known to the cache
                remaining = list(wanted)
                while remaining and lookups < max_lookups:
                    lookups += 1
                    try:
                        runtime = await self._look_up(remaining[0], known, now)
                    except (UpstreamFailed, EnrichmentOff) as exc:
                        log.info("runtime lookups paused until the next run: %s", exc)
                        trakt_down = True
                        break
                    # Asked: a runtime ends the search; a miss is not asked again for a while.
                    remaining = [] if runtime is not None else remaining[1:]
                minutes = _plausible(item_runtime(item, known))
                if minutes is None and remaining and stopped_at is None:
                    stopped_at = play_id  # budget or Trakt ran out before every lookup was asked
            if minutes is not None:
                found[play_id] = minutes
        filled = await asyncio.to_thread(self._save, found)
        if stopped_at is not None:
            self._cursor = stopped_at + 1
        elif len(rows) < scan:
            self._cursor = None  # reached the oldest: the next run starts from the newest
        else:
            self._cursor = rows[-1][0]
        return FillReport(scanned=len(rows), filled=filled, lookups=lookups)

    async def _look_up(
        self, lookup: Lookup, known: dict[AliasKey, int], now: datetime
    ) -> int | None:
        """Ask (the cache, else Trakt) about one item; its runtime goes into ``known`` under
        every id it has. None (and a miss remembered) when Trakt does not know one."""
        try:
            answer = await self._metadata.lookup(lookup, ratings=False)
        except NotKnown:
            self._miss(lookup, now)
            return None
        runtime = _plausible(answer.item.runtime)
        if runtime is None:
            self._miss(lookup, now)
            return None
        known[lookup.alias] = runtime
        for id_type, value in answer.item.aliases():
            known[(lookup.kind, id_type, value)] = runtime
        return runtime


async def fill_play_runtimes(ctx: AppContext) -> None:
    """The periodic job: one bounded run of the context's :class:`RuntimeFiller`."""
    from .services import enrichment  # the services module builds the filler

    try:
        report = await enrichment(ctx).runtimes.fill()
    except Exception:
        log.exception("filling play runtimes failed; the next run tries again")
        return
    if report.filled:
        log.info(
            "filled the runtime of %d plays (%d read, %d Trakt lookups)",
            report.filled,
            report.scanned,
            report.lookups,
        )
