"""Stats: local numbers from the play ledger, and Trakt's own user stats (cached an hour).

The ledger's numbers are computed by the database (:mod:`.stats_sql`): days are UTC dates, weeks
ISO weeks (``2026-W47``). Watch time uses each item's runtime: the play's own, else the one in its
item, else the cached metadata of the item (or, for an episode, of its show); a play with no known
runtime counts 0 minutes and is counted apart. The runtime helpers here serve the runtime backfill
(:mod:`.runtimes`), which follows the same order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..connections import ConnectionService, TraktGateway
from ..context import AppContext
from ..store import enrich_repo
from ..store.models import User, as_utc, utcnow
from ..trakt import errors
from .ids import ID_TYPES
from .stats_sql import StatsRange, ledger_stats

log = logging.getLogger(__name__)

# SPEC §8: Trakt's user stats are cached for one hour.
TRAKT_STATS_TTL = timedelta(hours=1)
TRAKT_STATS_CACHE = "stats"
AliasKey = tuple[str, str, str]


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

    def local(self, user_id: str, stats_range: StatsRange = "all") -> dict[str, Any]:
        """The ledger's numbers over ``stats_range`` (store only, computed by the database)."""
        with self._ctx.session() as session:
            return ledger_stats(session, user_id, stats_range)

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

    async def stats(self, user_id: str, stats_range: StatsRange = "all") -> dict[str, Any]:
        """The API answer (SPEC §9.1 Stats)."""
        await asyncio.to_thread(self._require_user, user_id)
        trakt, fetched_at = await self.trakt(user_id)
        local = await asyncio.to_thread(self.local, user_id, stats_range)
        return {"trakt": trakt, "trakt_cached_at": fetched_at, "local": local}
