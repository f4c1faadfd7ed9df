"""The items query: which items a `GET /Items` selects and in what order.

`ItemQuery` holds the selecting parameters (hashable, so `FakeJellyfin.query` caches results
until the items or that user's data change: paging through a library is O(page) per request).
Semantics as the real servers': without `Recursive=true` a query lists only the direct
children of `ParentId` (or of the user's root: the libraries); `IsPlayed`/`IsUnplayed` of a
Series or Season follow its episodes; without `SortBy` items come in library order.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import FakeJellyfin, Item, User


@dataclass(frozen=True)
class ItemQuery:
    """The parts of an items query that select and order items (hashable: a cache key)."""

    parent_id: str | None = None
    recursive: bool = False
    include_types: tuple[str, ...] = ()
    exclude_types: tuple[str, ...] = ()
    ids: tuple[str, ...] | None = None
    filters: tuple[str, ...] = ()  # IsPlayed, IsUnplayed, IsFavorite, IsResumable, IsFolder…
    is_played: bool | None = None
    is_favorite: bool | None = None
    location_types: tuple[str, ...] = ()
    exclude_location_types: tuple[str, ...] = ()
    has_ids: tuple[tuple[str, bool], ...] = ()  # (("imdb", True), …)
    any_provider_id: tuple[tuple[str, str], ...] = ()  # Emby AnyProviderIdEquals
    search: str | None = None
    sort_by: tuple[str, ...] = ()
    descending: bool = False

    @property
    def needs_user_data(self) -> bool:
        return bool(
            set(self.filters) & {"IsPlayed", "IsUnplayed", "IsFavorite", "IsResumable"}
            or self.is_played is not None
            or self.is_favorite is not None
            or set(self.sort_by) & {"DatePlayed", "PlayCount"}
        )


def _candidates(fake: FakeJellyfin, query: ItemQuery) -> Iterable[Item]:
    if query.ids is not None:
        wanted = [fake.items.get(i) for i in query.ids]
        return [i for i in wanted if i is not None]
    parent = fake.items.get(query.parent_id) if query.parent_id else None
    if query.parent_id and parent is None:
        return []
    if query.any_provider_id:
        index = provider_index(fake)
        found: dict[int, Item] = {}
        for key in query.any_provider_id:
            for hit in index.get(key, []):
                found[hit.order] = hit
        return [found[k] for k in sorted(found)]
    if parent is None:
        return fake._content if query.recursive else list(fake.libraries)
    if not query.recursive:
        return fake._children.get(parent.id, [])
    if parent.type == "CollectionFolder":
        return [i for i in fake._content if i.library_id == parent.id]
    if parent.type == "Series":
        return [i for i in fake._content if i.series_id == parent.id]
    return fake._children.get(parent.id, [])


def run_query(fake: FakeJellyfin, user: User | None, query: ItemQuery) -> list[Item]:
    include = set(query.include_types)
    exclude = set(query.exclude_types)
    filters = set(query.filters)
    per_user = fake._user_data.get(user.id, {}) if user else {}
    played_wanted: bool | None = query.is_played
    if "IsPlayed" in filters:
        played_wanted = True
    if "IsUnplayed" in filters:
        played_wanted = False if played_wanted is None else played_wanted
    result: list[Item] = []
    for item in _candidates(fake, query):
        if include and item.type not in include:
            continue
        if exclude and item.type in exclude:
            continue
        if query.location_types and item.location_type not in query.location_types:
            continue
        if item.location_type in query.exclude_location_types:
            continue
        if "IsFolder" in filters and not item.is_folder:
            continue
        if "IsNotFolder" in filters and item.is_folder:
            continue
        if query.search and query.search.lower() not in item.name.lower():
            continue
        if query.has_ids and not _has_ids(item, query.has_ids):
            continue
        if user is not None and (
            played_wanted is not None
            or filters & {"IsFavorite", "IsResumable"}
            or query.is_favorite is not None
        ):
            data = per_user.get(item.id)
            if played_wanted is not None:
                if item.type in ("Series", "Season"):
                    played = fake.user_data(user, item).played
                else:
                    played = data is not None and data.played
                if played != played_wanted:
                    continue
            favorite = data is not None and data.is_favorite
            if ("IsFavorite" in filters or query.is_favorite) and not favorite:
                continue
            if query.is_favorite is False and favorite:
                continue
            if "IsResumable" in filters and (data is None or data.position_ticks <= 0):
                continue
        result.append(item)
    if query.sort_by:
        result = _sorted(fake, result, user, query)
    return result


def _sorted(
    fake: FakeJellyfin, items: list[Item], user: User | None, query: ItemQuery
) -> list[Item]:
    per_user = fake._user_data.get(user.id, {}) if user else {}

    def key(item: Item) -> tuple[Any, ...]:
        parts: list[Any] = []
        for name in query.sort_by:
            if name in ("SortName", "Name"):
                parts.append(item.sort_name if name == "SortName" else item.name.lower())
            elif name == "DateCreated":
                parts.append(item.date_created)
            elif name in ("ProductionYear", "PremiereDate"):
                parts.append(item.year or 0)
            elif name == "DatePlayed":
                data = per_user.get(item.id)
                parts.append(data.last_played or 0.0 if data else 0.0)
            elif name == "PlayCount":
                data = per_user.get(item.id)
                parts.append(data.play_count if data else 0)
            elif name == "SeriesSortName":
                parts.append((item.series_name or "").lower())
            elif name == "ParentIndexNumber":
                parts.append(item.season or 0)
            elif name == "IndexNumber":
                parts.append(item.number or 0)
            elif name == "Runtime":
                parts.append(item.runtime_ticks or 0)
        parts.append(item.order)
        return tuple(parts)

    if "Random" in query.sort_by:
        shuffled = list(items)
        random.Random(len(items)).shuffle(shuffled)
        return shuffled
    return sorted(items, key=key, reverse=query.descending)


def provider_index(fake: FakeJellyfin) -> dict[tuple[str, str], list[Item]]:
    """(provider name, value), both lower-case → items (rebuilt when items change)."""
    version, index = fake._provider_index
    if version != fake.items_version:
        index = {}
        for item in fake._content:
            for name, value in item.provider_ids.items():
                index.setdefault((name.lower(), str(value).lower()), []).append(item)
        fake._provider_index = (fake.items_version, index)
    return index


def _has_ids(item: Item, wanted: tuple[tuple[str, bool], ...]) -> bool:
    present = {k.lower() for k, v in item.provider_ids.items() if v}
    return all((name in present) == flag for name, flag in wanted)
