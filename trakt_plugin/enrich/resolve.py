"""Asking Trakt about one item: its ids (summary or id search) and its multi-source ratings.

Each lookup costs one GET for the ids and one for the ratings (docs §6). Requests go without a
user token, so they count against the app's GET budget (the client buckets them that way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..trakt import errors
from ..trakt.client import TraktClient
from ..trakt.models import Episode, Ids, Movie, Ratings, Show
from .ids import ID_TYPES, Lookup

# Ids that /movies/:id and /shows/:id accept directly (docs §6.2); others need /search.
SUMMARY_ID_TYPES = frozenset({"trakt", "slug", "imdb"})
# Extra fields of a source's rating worth passing on (links, Rotten Tomatoes' states).
RATING_EXTRAS = ("link", "state", "user_rating", "user_state")


@dataclass(frozen=True)
class Resolved:
    """What Trakt said about an item (no ratings)."""

    kind: str
    title: str | None
    year: int | None
    ids: dict[str, Any]
    runtime: int | None = None
    show: dict[str, Any] | None = None
    season: int | None = None
    number: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trakt_id(self) -> int | None:
        value = self.ids.get("trakt")
        return value if isinstance(value, int) else None

    def aliases(self) -> list[tuple[str, str]]:
        """Every ``(id_type, value)`` this item can be looked up by."""
        ids = self.ids
        return [(t, str(ids[t]).lower()) for t in ID_TYPES if ids.get(t) not in (None, "")]


def _ids(ids: Ids) -> dict[str, Any]:
    return {k: v for k, v in ids.model_dump().items() if v not in (None, "")}


def _from_media(kind: str, media: Movie | Show) -> Resolved:
    return Resolved(kind, media.title, media.year, _ids(media.ids), media.runtime)


def _from_episode(episode: Episode, show: Show | None) -> Resolved:
    return Resolved(
        "episode",
        episode.title,
        episode.first_aired.year if episode.first_aired else None,
        _ids(episode.ids),
        episode.runtime,
        show={"title": show.title, "year": show.year, "ids": _ids(show.ids)} if show else None,
        season=episode.season,
        number=episode.number,
    )


async def resolve(client: TraktClient, lookup: Lookup) -> Resolved | None:
    """The item ``lookup`` names, or None when Trakt does not know it."""
    try:
        if lookup.kind != "episode" and lookup.id_type in SUMMARY_ID_TYPES:
            media = await client.summary(lookup.kind, lookup.value)
            return _from_media(lookup.kind, media)
        if lookup.id_type == "slug":
            return None  # only movies and shows have slugs (checked before)
        hits = await client.search_id(lookup.id_type, lookup.value, lookup.kind)
    except errors.NotFound:
        return None
    for hit in hits:
        if hit.type != lookup.kind:
            continue
        if lookup.kind == "episode" and hit.episode is not None:
            return _from_episode(hit.episode, hit.show)
        found: Movie | Show | None = hit.movie if lookup.kind == "movie" else hit.show
        if found is not None:
            return _from_media(lookup.kind, found)
    return None


def _public_ratings(ratings: Ratings) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for source, block in ratings.by_source().items():
        entry: dict[str, Any] = {"rating": block.rating, "votes": block.votes}
        entry.update({k: getattr(block, k) for k in RATING_EXTRAS if getattr(block, k) is not None})
        out[source] = entry
    return out


async def fetch_ratings(client: TraktClient, item: Resolved) -> dict[str, dict[str, Any]]:
    """Every source's rating of ``item`` (``extended=all``); empty when Trakt has none."""
    try:
        if item.kind == "episode":
            show_id = (item.show or {}).get("ids", {}).get("trakt")
            if show_id is None or item.season is None or item.number is None:
                return {}
            ratings = await client.episode_ratings(show_id, item.season, item.number)
        else:
            key = item.trakt_id or item.ids.get("slug")
            if key is None:
                return {}
            ratings = await client.ratings("movie" if item.kind == "movie" else "show", key)
    except errors.NotFound:
        return {}
    return _public_ratings(ratings)
