"""Stats: local numbers from the play ledger, and Trakt's own user stats (cached an hour).

Days are UTC dates, weeks ISO weeks (``2026-W47``). Watch time uses each item's runtime: the
play's own, else the one in its item, else the cached metadata of the item (or, for an
episode, of its show); a play with no known runtime counts 0 minutes and is counted apart.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..connections import ConnectionService, TraktGateway
from ..context import AppContext
from ..store import enrich_repo
from ..store.models import User, as_utc, utcnow
from ..trakt import errors
from .ids import ID_TYPES

log = logging.getLogger(__name__)

# SPEC §8: Trakt's user stats are cached for one hour.
TRAKT_STATS_TTL = timedelta(hours=1)
TRAKT_STATS_CACHE = "stats"
# How many shows the "top shows" ranking keeps.
TOP_SHOWS = 10

AliasKey = tuple[str, str, str]


@dataclass(frozen=True)
class LedgerPlay:
    """What the stats need from one play."""

    item: dict[str, Any]
    watched_at: datetime
    source: str
    runtime: int | None = None


def _media(item: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    kind = "episode" if item.get("type") == "episode" else "movie"
    return kind, item.get(kind) or {}


def _alias_keys(kind: str, media: Mapping[str, Any]) -> list[AliasKey]:
    ids = media.get("ids") or {}
    return [(kind, t, str(ids[t]).lower()) for t in ID_TYPES if ids.get(t) not in (None, "")]


def runtime_keys(item: Mapping[str, Any]) -> list[AliasKey]:
    """Metadata-cache keys that may know the item's runtime (episode first, then its show)."""
    kind, media = _media(item)
    keys = _alias_keys(kind, media)
    if kind == "episode":
        keys += _alias_keys("show", item.get("show") or {})
    return keys


def item_runtime(item: Mapping[str, Any], known: Mapping[AliasKey, int]) -> int | None:
    """Minutes of an item: the runtime it carries, else a cached one (``known``), else None."""
    _, media = _media(item)
    runtime = media.get("runtime")
    if isinstance(runtime, int) and not isinstance(runtime, bool) and runtime > 0:
        return runtime
    for key in runtime_keys(item):
        if key in known:
            return known[key]
    return None


def runtime_of(play: LedgerPlay, known: Mapping[AliasKey, int]) -> int | None:
    """Minutes of one play (see the module docstring for the order)."""
    if play.runtime:
        return play.runtime
    return item_runtime(play.item, known)


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _show_key(show: Mapping[str, Any]) -> str:
    ids = show.get("ids") or {}
    for id_type in ("trakt", "tvdb", "tmdb", "imdb", "slug"):
        if ids.get(id_type) not in (None, ""):
            return f"{id_type}:{ids[id_type]}"
    return "title:" + str(show.get("title") or "?").lower()


def local_stats(plays: Iterable[LedgerPlay], known: Mapping[AliasKey, int]) -> dict[str, Any]:
    """Plays and minutes per UTC day, minutes per ISO week, top shows, plays per source."""
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    weeks: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    shows: Counter[str] = Counter()
    show_info: dict[str, Mapping[str, Any]] = {}
    sources: Counter[str] = Counter()
    total_minutes = unknown = count = 0
    for play in plays:
        count += 1
        moment = (as_utc(play.watched_at) or play.watched_at).astimezone(UTC)
        minutes = runtime_of(play, known)
        if minutes is None:
            unknown += 1
            minutes = 0
        total_minutes += minutes
        for bucket in (days[moment.date().isoformat()], weeks[iso_week(moment)]):
            bucket[0] += 1
            bucket[1] += minutes
        sources[play.source] += 1
        if play.item.get("type") == "episode":
            show = play.item.get("show") or {}
            key = _show_key(show)
            shows[key] += 1
            show_info.setdefault(key, show)
    top = sorted(shows.items(), key=lambda kv: (-kv[1], str(show_info[kv[0]].get("title"))))
    return {
        "plays_per_day": [
            {"date": day, "plays": v[0], "minutes": v[1]} for day, v in sorted(days.items())
        ],
        "minutes_per_week": [
            {"week": week, "minutes": v[1], "plays": v[0]} for week, v in sorted(weeks.items())
        ],
        "top_shows": [
            {
                "show": show_info[key].get("title") or "?",
                "plays": plays_count,
                "ids": show_info[key].get("ids") or {},
            }
            for key, plays_count in top[:TOP_SHOWS]
        ],
        "per_source": dict(sorted(sources.items())),
        "totals": {"plays": count, "minutes": total_minutes, "unknown_runtime": unknown},
    }


class StatsService:
    """Local stats from the store, Trakt's stats through a one-hour cache."""

    def __init__(
        self, ctx: AppContext, gateway: TraktGateway, connections: ConnectionService
    ) -> None:
        self._ctx = ctx
        self._gateway = gateway
        self._connections = connections

    def _require_user(self, user_id: str) -> None:
        with self._ctx.session() as session:
            if session.get(User, user_id) is None:
                raise LookupError("user not found")

    def local(self, user_id: str) -> dict[str, Any]:
        """The ledger's numbers (store only)."""
        with self._ctx.session() as session:
            plays = [
                LedgerPlay(json.loads(p.item), p.watched_at, p.source, p.runtime)
                for p in enrich_repo.plays_of(session, user_id=user_id)
            ]
            wanted = [k for p in plays if not p.runtime for k in runtime_keys(p.item)]
            known = enrich_repo.runtimes_by_alias(session, keys=wanted)
        return local_stats(plays, known)

    def cached_trakt(self, user_id: str) -> tuple[dict[str, Any] | None, datetime | None]:
        """Trakt's stats as last fetched (any age) and when; store only."""
        with self._ctx.session() as session:
            row = enrich_repo.get_user_cache(session, user_id=user_id, name=TRAKT_STATS_CACHE)
            if row is None:
                return None, None
            return json.loads(row.data), as_utc(row.fetched_at)

    def _store_trakt(self, user_id: str, data: dict[str, Any], at: datetime) -> None:
        with self._ctx.session() as session, session.begin():
            enrich_repo.put_user_cache(
                session, user_id=user_id, name=TRAKT_STATS_CACHE, data=data, fetched_at=at
            )

    async def trakt(
        self, user_id: str, *, refresh: bool = False
    ) -> tuple[dict[str, Any] | None, datetime | None]:
        """Trakt's stats for a connected user (cached an hour); None when not connected.

        A failing Trakt serves the last stored numbers, however old.
        """
        cached, fetched_at = await asyncio.to_thread(self.cached_trakt, user_id)
        fresh = fetched_at is not None and utcnow() - fetched_at < TRAKT_STATS_TTL
        if cached is not None and fresh and not refresh:
            return cached, fetched_at
        source = await self._connections.token_source(user_id)
        if source is None:
            return None, None
        try:
            data = await self._gateway.client().user_stats(source, "me")
        except errors.TraktError as exc:
            log.warning("reading Trakt stats failed: %s", type(exc).__name__)
            return cached, fetched_at
        now = utcnow()
        await asyncio.to_thread(self._store_trakt, user_id, data, now)
        return data, now

    async def stats(self, user_id: str) -> dict[str, Any]:
        """The API answer (SPEC §9.1 Stats)."""
        await asyncio.to_thread(self._require_user, user_id)
        trakt, fetched_at = await self.trakt(user_id)
        local = await asyncio.to_thread(self.local, user_id)
        return {"trakt": trakt, "trakt_cached_at": fetched_at, "local": local}
