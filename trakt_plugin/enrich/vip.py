"""VIP features: a user's personal Trakt lists (imported into the store) and recommendations
(cached), both gated on the VIP flag of the user's Trakt connection (SPEC §8).

Trakt itself serves lists and recommendations to everyone (docs §5.4); the design this product
follows gates both on VIP, and the refusal says so. The VIP flag is the one the connection row
holds: read at connect, re-read by the periodic VIP check and by ``POST …/trakt/verify``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel import select

from ..connections import ConnectionService, NotConfigured, TraktGateway
from ..context import AppContext
from ..store import enrich_repo
from ..store.models import (
    TraktConnection,
    TraktList,
    TraktListItem,
    User,
    as_utc,
    utcnow,
)
from ..trakt import errors
from ..trakt.models import ListItem, Recommendation
from .metadata import UpstreamFailed

log = logging.getLogger(__name__)

Feature = Literal["lists", "recommendations"]
FEATURES: tuple[Feature, ...] = ("lists", "recommendations")
# Marker rows in the per-user cache: when lists were imported, the recommendations themselves.
LISTS_CACHE = "lists"
RECOMMENDATIONS_CACHE = "recommendations"
# Recommendations follow what a person watches; a day old is still useful and costs 2 GETs.
RECOMMENDATIONS_TTL = timedelta(hours=24)
# Trakt answers at most 100 recommendations per call (docs §5.4).
RECOMMENDATIONS_LIMIT = 100
# The design this product follows: lists and recommendations are VIP features.
VIP_DESIGN = "the design this product follows gates Trakt lists and recommendations on Trakt VIP"
LABELS = {"lists": "Personal lists", "recommendations": "Recommendations"}
SETTINGS_KEYS = {"lists": "vip.enable_lists", "recommendations": "vip.enable_recommendations"}


class FeatureUnavailable(Exception):
    """The feature is not available to this user; the message is the reason.

    ``why``: ``off`` (settings), ``not_connected`` or ``not_vip``.
    """

    def __init__(self, message: str, why: str = "not_connected") -> None:
        super().__init__(message)
        self.why = why


def media_item(item: ListItem) -> dict[str, Any] | None:
    """A list entry in Trakt's media-item shape (SPEC §9.1); None for people and the like."""

    def brief(media: Any) -> dict[str, Any]:
        return {"title": media.title, "year": media.year, "ids": _ids(media.ids)}

    if item.type == "movie" and item.movie is not None:
        return {"type": "movie", "movie": brief(item.movie)}
    if item.type == "show" and item.show is not None:
        return {"type": "show", "show": brief(item.show)}
    if item.type == "episode" and item.episode is not None and item.show is not None:
        episode = item.episode
        return {
            "type": "episode",
            "show": brief(item.show),
            "episode": {
                "season": episode.season,
                "number": episode.number,
                "title": episode.title,
                "ids": _ids(episode.ids),
            },
        }
    if item.type == "season" and item.season is not None and item.show is not None:
        return {"type": "season", "show": brief(item.show), "season": item.season}
    return None


def _ids(ids: Any) -> dict[str, Any]:
    return {k: v for k, v in ids.model_dump().items() if v not in (None, "")}


def _recommendation(rec: Recommendation) -> dict[str, Any]:
    data = rec.model_dump(mode="json")
    data["ids"] = _ids(rec.ids)
    return data


class VipService:
    """Lists and recommendations of VIP users (see the module docstring)."""

    def __init__(
        self, ctx: AppContext, gateway: TraktGateway, connections: ConnectionService
    ) -> None:
        self._ctx = ctx
        self._gateway = gateway
        self._connections = connections
        self._busy: dict[tuple[str, str], asyncio.Lock] = {}

    # ------------------------------------------------------------ the gate

    def _enabled(self, feature: Feature) -> bool:
        vip = self._ctx.settings.vip
        return vip.enable_lists if feature == "lists" else vip.enable_recommendations

    def check(self, user_id: str, feature: Feature) -> None:
        """Raise LookupError (no such user) or FeatureUnavailable (with the reason)."""
        label = LABELS[feature]
        with self._ctx.session() as session:
            if session.get(User, user_id) is None:
                raise LookupError("user not found")
            row = session.get(TraktConnection, user_id)
        if not self._enabled(feature):
            raise FeatureUnavailable(
                f"{label} are turned off ({SETTINGS_KEYS[feature]}: false)", "off"
            )
        if row is None or row.state != "connected":
            raise FeatureUnavailable(
                f"{label} need a connected Trakt VIP account ({VIP_DESIGN}); connect Trakt first"
            )
        if not row.vip:
            checked = as_utc(row.vip_checked_at)
            when = f", last checked {checked:%Y-%m-%d %H:%M} UTC" if checked else ""
            account = f"Trakt account {row.username}" if row.username else "Trakt account"
            raise FeatureUnavailable(
                f"{label} are a VIP feature: {VIP_DESIGN}, and the {account} is not VIP{when}",
                "not_vip",
            )

    def unavailable(self, user_id: str, feature: Feature) -> FeatureUnavailable | None:
        """Why the feature is unavailable, or None when it is available."""
        try:
            self.check(user_id, feature)
        except FeatureUnavailable as exc:
            return exc
        return None

    # ------------------------------------------------------------ store reads

    def _marker(self, user_id: str, name: str) -> tuple[Any, datetime | None]:
        with self._ctx.session() as session:
            row = enrich_repo.get_user_cache(session, user_id=user_id, name=name)
            return (json.loads(row.data), as_utc(row.fetched_at)) if row else (None, None)

    def lists_page(self, user_id: str, *, limit: int, after: int = 0) -> dict[str, Any]:
        """Imported lists with their items (store only), from the position ``after``."""
        with self._ctx.session() as session:
            page, more = enrich_repo.lists_page(session, user_id=user_id, after=after, limit=limit)
        items = [
            {
                "name": row.name,
                "trakt_id": row.trakt_id,
                "slug": row.slug,
                "description": row.description,
                "privacy": row.privacy,
                "item_count": row.item_count,
                "items": [
                    {
                        **json.loads(entry.item),
                        "rank": entry.rank,
                        "listed_at": as_utc(entry.listed_at),
                        "notes": entry.notes,
                    }
                    for entry in entries
                ],
            }
            for row, entries in page
        ]
        next_cursor = str(page[-1][0].position + 1) if more and page else None
        return {"items": items, "next_cursor": next_cursor}

    def stored_recommendations(self, user_id: str) -> dict[str, Any]:
        data, fetched_at = self._marker(user_id, RECOMMENDATIONS_CACHE)
        data = data or {"movies": [], "shows": []}
        return {**data, "fetched_at": fetched_at}

    # ------------------------------------------------------------ imports from Trakt

    def _lock(self, user_id: str, feature: str) -> asyncio.Lock:
        return self._busy.setdefault((user_id, feature), asyncio.Lock())

    async def _source_and_client(self, user_id: str) -> tuple[Any, Any]:
        source = await self._connections.token_source(user_id)
        if source is None:
            raise FeatureUnavailable("the Trakt connection needs attention; connect Trakt again")
        try:
            return source, self._gateway.client()
        except NotConfigured as exc:
            raise UpstreamFailed(str(exc)) from None

    async def import_lists(self, user_id: str) -> int:
        """Replace the stored lists with the user's lists on Trakt; returns how many."""
        source, client = await self._source_and_client(user_id)
        imported: list[tuple[TraktList, list[TraktListItem]]] = []
        for trakt_list in await client.user_lists(source, "me"):
            if trakt_list.ids.trakt is None:
                continue
            entries = await client.list_items(source, trakt_list.ids.trakt)
            items = [
                TraktListItem(
                    list_id=0,
                    rank=entry.rank or index,
                    type=entry.type,
                    item=json.dumps(shaped),
                    listed_at=entry.listed_at,
                    notes=entry.notes,
                )
                for index, entry in enumerate(entries, 1)
                if (shaped := media_item(entry)) is not None
            ]
            row = TraktList(
                user_id=user_id,
                trakt_id=trakt_list.ids.trakt,
                slug=trakt_list.ids.slug,
                name=trakt_list.name,
                description=trakt_list.description,
                privacy=trakt_list.privacy,
                item_count=trakt_list.item_count
                if trakt_list.item_count is not None
                else len(entries),
                updated_at=trakt_list.updated_at,
            )
            imported.append((row, items))
        await asyncio.to_thread(self._save_lists, user_id, imported)
        return len(imported)

    def _save_lists(self, user_id: str, lists: list[tuple[TraktList, list[TraktListItem]]]) -> None:
        with self._ctx.session() as session, session.begin():
            enrich_repo.replace_lists(session, user_id=user_id, lists=lists)
            enrich_repo.put_user_cache(
                session, user_id=user_id, name=LISTS_CACHE,
                data={"lists": len(lists)}, fetched_at=utcnow(),
            )  # fmt: skip

    async def fetch_recommendations(self, user_id: str) -> None:
        """Fetch movie and show recommendations and cache them."""
        source, client = await self._source_and_client(user_id)
        movies = await client.recommendations(source, "movies", RECOMMENDATIONS_LIMIT)
        shows = await client.recommendations(source, "shows", RECOMMENDATIONS_LIMIT)
        data = {
            "movies": [_recommendation(r) for r in movies],
            "shows": [_recommendation(r) for r in shows],
        }

        def save() -> None:
            with self._ctx.session() as session, session.begin():
                enrich_repo.put_user_cache(
                    session, user_id=user_id, name=RECOMMENDATIONS_CACHE,
                    data=data, fetched_at=utcnow(),
                )  # fmt: skip

        await asyncio.to_thread(save)

    async def _ensure(self, user_id: str, feature: Feature, refresh: bool) -> None:
        """Import now when nothing is stored, when asked, or (recommendations) when stale.

        A Trakt failure with something stored keeps serving what is stored.
        """
        marker = LISTS_CACHE if feature == "lists" else RECOMMENDATIONS_CACHE
        async with self._lock(user_id, feature):
            _, fetched_at = await asyncio.to_thread(self._marker, user_id, marker)
            stale = feature == "recommendations" and (
                fetched_at is None or utcnow() - fetched_at >= RECOMMENDATIONS_TTL
            )
            if fetched_at is not None and not stale and not refresh:
                return
            try:
                if feature == "lists":
                    await self.import_lists(user_id)
                else:
                    await self.fetch_recommendations(user_id)
            except errors.TraktError as exc:
                log.warning("importing Trakt %s failed: %s", feature, type(exc).__name__)
                if fetched_at is None:
                    raise UpstreamFailed(f"Trakt failed while reading {feature}") from None

    async def lists(
        self, user_id: str, *, limit: int, after: int = 0, refresh: bool = False
    ) -> dict[str, Any]:
        """The API answer for lists (gate, import if needed, page from the store)."""
        await asyncio.to_thread(self.check, user_id, "lists")
        await self._ensure(user_id, "lists", refresh)
        return await asyncio.to_thread(lambda: self.lists_page(user_id, limit=limit, after=after))

    async def recommendations(self, user_id: str, *, refresh: bool = False) -> dict[str, Any]:
        """The API answer for recommendations (gate, fetch when stale, serve the cache)."""
        await asyncio.to_thread(self.check, user_id, "recommendations")
        await self._ensure(user_id, "recommendations", refresh)
        return await asyncio.to_thread(self.stored_recommendations, user_id)

    # ------------------------------------------------------------ periodic refresh

    def _drop(self, user_id: str, feature: Feature) -> None:
        with self._ctx.session() as session, session.begin():
            if feature == "lists":
                enrich_repo.drop_lists(session, user_id=user_id)
                enrich_repo.drop_user_cache(session, user_id=user_id, name=LISTS_CACHE)
            else:
                enrich_repo.drop_user_cache(session, user_id=user_id, name=RECOMMENDATIONS_CACHE)

    async def refresh_user(self, user_id: str) -> None:
        """Re-import what the user may have; drop what they may no longer have.

        Failures are per feature and never raised: Trakt unreachable → the next run retries;
        a refused token → the connection service already marked the user for re-auth.
        """
        for feature in FEATURES:
            try:
                refusal = await asyncio.to_thread(self.unavailable, user_id, feature)
                if refusal is None:
                    await self._ensure(user_id, feature, refresh=True)
                elif refusal.why in ("off", "not_vip"):
                    await asyncio.to_thread(self._drop, user_id, feature)
            except (FeatureUnavailable, UpstreamFailed, LookupError) as exc:
                log.info("VIP %s refresh skipped: %s", feature, exc)

    def _users(self) -> list[str]:
        with self._ctx.session() as session:
            return list(session.exec(select(TraktConnection.user_id)).all())

    async def refresh_all(self) -> None:
        """Every user with a connection row (the periodic job)."""
        for user_id in await asyncio.to_thread(self._users):
            await self.refresh_user(user_id)
