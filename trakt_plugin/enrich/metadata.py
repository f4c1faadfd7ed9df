"""Metadata lookups with a store cache: ids kept ``metadata.ids_ttl``, ratings
``metadata.ratings_ttl`` (SPEC §8). A fresh cached answer makes no Trakt request; a stale part
is refetched alone (stale ratings cost one GET, not two).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..connections import NotConfigured, TraktGateway
from ..context import AppContext
from ..store import enrich_repo
from ..store.models import MetadataItem, as_utc, utcnow
from ..trakt import errors
from .ids import InvalidLookup, Lookup
from .resolve import Resolved, fetch_ratings, resolve

log = logging.getLogger(__name__)

# Lookups of one batch in flight at once: fast, yet gentle with the shared app GET budget.
BATCH_CONCURRENCY = 8
# SPEC §8: a batch takes at most this many lookups.
BATCH_LIMIT = 100


class EnrichmentOff(Exception):
    """``metadata.use_for_enrichment`` is false."""


class NotKnown(LookupError):
    """Trakt knows no item for the lookup."""


class UpstreamFailed(Exception):
    """Trakt (or the proxy) failed; the message is safe to show."""


class TraktNotConfigured(UpstreamFailed):
    """The Trakt app credentials are missing, and the answer is not cached."""


@dataclass(frozen=True)
class Metadata:
    """A metadata answer (SPEC §9.1 shape via :meth:`public`)."""

    item: Resolved
    ratings: dict[str, dict[str, Any]] | None
    cached_at: datetime

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.item.kind,
            "title": self.item.title,
            "year": self.item.year,
            "ids": self.item.ids,
            "ratings": self.ratings,
            "cached_at": self.cached_at,
            "runtime": self.item.runtime,
        }
        if self.item.kind == "episode":
            out.update(show=self.item.show, season=self.item.season, number=self.item.number)
        return out


def _fresh(fetched_at: datetime | None, ttl: int, now: datetime) -> bool:
    moment = as_utc(fetched_at)
    return moment is not None and now - moment < timedelta(seconds=ttl)


def _resolved_of(row: MetadataItem) -> Resolved:
    return Resolved(
        row.kind,
        row.title,
        row.year,
        json.loads(row.ids),
        row.runtime,
        show=json.loads(row.show) if row.show else None,
        season=row.season,
        number=row.number,
    )


def _row_of(
    item: Resolved,
    lookup: Lookup,
    ids_at: datetime,
    ratings: dict[str, Any] | None,
    ratings_at: datetime | None,
) -> MetadataItem:
    key = f"{item.kind}:{item.trakt_id}" if item.trakt_id else ":".join(lookup.alias)
    return MetadataItem(
        key=key[:60],
        kind=item.kind,
        trakt_id=item.trakt_id,
        title=item.title,
        year=item.year,
        ids=json.dumps(item.ids),
        runtime=item.runtime,
        show=json.dumps(item.show) if item.show else None,
        season=item.season,
        number=item.number,
        ids_fetched_at=ids_at,
        ratings=json.dumps(ratings) if ratings is not None else None,
        ratings_fetched_at=ratings_at,
    )


class MetadataService:
    """Cached id and ratings lookups (see the module docstring)."""

    def __init__(self, ctx: AppContext, gateway: TraktGateway) -> None:
        self._ctx = ctx
        self._gateway = gateway
        self._write = asyncio.Lock()

    def _check_enabled(self) -> None:
        if not self._ctx.settings.metadata.use_for_enrichment:
            raise EnrichmentOff(
                "metadata enrichment is turned off (metadata.use_for_enrichment: false)"
            )

    def _cached(self, lookup: Lookup) -> MetadataItem | None:
        kind, id_type, value = lookup.alias
        with self._ctx.session() as session:
            return enrich_repo.find_metadata(session, kind=kind, id_type=id_type, value=value)

    def _save(self, row: MetadataItem, item: Resolved, lookup: Lookup) -> None:
        # The asked id usually is one of the item's own; each alias once.
        aliases = list(dict.fromkeys([*item.aliases(), (lookup.id_type, str(lookup.value))]))
        with self._ctx.session() as session, session.begin():
            enrich_repo.save_metadata(session, item=row, aliases=aliases)

    async def lookup(self, lookup: Lookup, *, ratings: bool = True) -> Metadata:
        """Ids (and, with ``fetch_ratings``, ratings) of one item, from the cache when fresh.

        ``ratings=False``: only the ids part (title, year, ids, runtime) is fetched when stale;
        cached ratings are kept as they are (the runtime filler needs no ratings).
        """
        self._check_enabled()
        settings = self._ctx.settings.metadata
        want_ratings = settings.fetch_ratings and ratings
        row = await asyncio.to_thread(self._cached, lookup)
        now = utcnow()
        ids_fresh = row is not None and _fresh(row.ids_fetched_at, settings.ids_ttl, now)
        ratings_fresh = (
            row is not None
            and row.ratings is not None
            and _fresh(row.ratings_fetched_at, settings.ratings_ttl, now)
        )
        if row is not None and ids_fresh and (ratings_fresh or not want_ratings):
            return self._answer(row, lookup)
        try:
            new_row, item = await self._fetch(
                lookup, row, ids_fresh, ratings_fresh or not want_ratings, now
            )
        except NotConfigured as exc:
            raise TraktNotConfigured(str(exc)) from None
        except errors.TraktError as exc:
            log.warning("metadata lookup failed: %s", type(exc).__name__)
            raise UpstreamFailed(_describe(exc)) from None
        async with self._write:
            await asyncio.to_thread(self._save, new_row, item, lookup)
        return self._answer(new_row, lookup)

    async def _fetch(
        self,
        lookup: Lookup,
        cached: MetadataItem | None,
        ids_fresh: bool,
        ratings_fresh: bool,
        now: datetime,
    ) -> tuple[MetadataItem, Resolved]:
        """Ask Trakt for the stale parts only; the fresh parts come from ``cached``."""
        client = self._gateway.client()
        if cached is not None and ids_fresh:
            item, ids_at = _resolved_of(cached), as_utc(cached.ids_fetched_at) or now
        else:
            found = await resolve(client, lookup)
            if found is None:
                raise NotKnown(f"Trakt knows no {lookup.kind} with {lookup.id_type} {lookup.value}")
            item, ids_at = found, now
        ratings = json.loads(cached.ratings) if cached is not None and cached.ratings else None
        ratings_at = as_utc(cached.ratings_fetched_at) if cached is not None else None
        if self._ctx.settings.metadata.fetch_ratings and not ratings_fresh:
            ratings, ratings_at = await fetch_ratings(client, item), now
        return _row_of(item, lookup, ids_at, ratings, ratings_at), item

    def _answer(self, row: MetadataItem, lookup: Lookup) -> Metadata:
        item = _resolved_of(row)
        settings = self._ctx.settings.metadata
        if not settings.fetch_ids:
            # Cross-referencing is off: answer only the id that was asked for.
            item = Resolved(
                item.kind, item.title, item.year, {lookup.id_type: lookup.value}, item.runtime,
                show=item.show, season=item.season, number=item.number,
            )  # fmt: skip
        ratings = json.loads(row.ratings) if settings.fetch_ratings and row.ratings else None
        if settings.fetch_ratings and ratings is None:
            ratings = {}
        moments = [as_utc(row.ids_fetched_at)]
        if ratings is not None:
            moments.append(as_utc(row.ratings_fetched_at))
        cached_at = min(m for m in moments if m is not None)  # the oldest part of the answer
        return Metadata(item, ratings, cached_at)

    async def batch(self, lookups: Sequence[Lookup | InvalidLookup]) -> list[Metadata | str]:
        """Up to :data:`BATCH_LIMIT` lookups, answered in order; failures become messages."""
        self._check_enabled()
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)
        unique = {entry for entry in lookups if isinstance(entry, Lookup)}

        async def one(entry: Lookup) -> Metadata | str:
            async with gate:
                try:
                    return await self.lookup(entry)
                except (NotKnown, UpstreamFailed) as exc:
                    return str(exc)

        # One call per distinct lookup: repeats in a batch cost nothing extra.
        answers = dict(zip(unique, await asyncio.gather(*(one(u) for u in unique)), strict=True))
        return [
            entry.message if isinstance(entry, InvalidLookup) else answers[entry]
            for entry in lookups
        ]


def _describe(exc: errors.TraktError) -> str:
    if isinstance(exc, errors.ProxyError):
        return "the proxy failed while asking Trakt"
    if isinstance(exc, errors.RateLimited):
        return "Trakt's rate limit was reached; try again later"
    status = getattr(exc, "status", None)
    return f"Trakt failed ({status})" if status else "Trakt could not be reached"
