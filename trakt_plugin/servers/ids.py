"""External ids of library items, read exactly as the webhook parsers read them.

Plex: ``Guid[]`` entries (new agents) through the webhook parser's own reader, else the legacy
``guid`` string through :func:`~trakt_plugin.events.parsers.plex.parse_legacy_guid`; an episode
also takes show ids from legacy ``grandparentGuid``/``parentGuid`` values (docs §2.4), like a
webhook does. Jellyfin/Emby ``ProviderIds`` go through
:func:`~trakt_plugin.events.parsers._common.clean_ids` (keys case-insensitive). Only Trakt id
kinds survive; an item with none is unmatched and is never matched by title (SPEC §12).

``_guid_array_ids`` is private to the Plex webhook parser; it is imported here on purpose so that
the library and webhooks can never disagree about an item's ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from trakt_plugin.events.model import (
    EPISODE_ID_KINDS,
    MOVIE_ID_KINDS,
    SHOW_ID_KINDS,
    Ids,
    MediaType,
)
from trakt_plugin.events.parsers._common import clean_ids
from trakt_plugin.events.parsers.plex import _guid_array_ids, parse_legacy_guid

__all__ = ["PlexIds", "plex_ids", "plex_show_ids", "provider_ids"]


@dataclass(frozen=True)
class PlexIds:
    """An item's own ids, its show's ids (episodes) and the season/number a legacy guid gave."""

    own: Ids = field(default_factory=dict)
    show: Ids = field(default_factory=dict)
    season: int | None = None
    number: int | None = None


def _array(guid_entries: Iterable[str]) -> dict[str, object]:
    return _guid_array_ids([{"id": entry} for entry in guid_entries])


def plex_ids(
    media_type: MediaType,
    guid_entries: Iterable[str],
    guid: str | None,
    related_guids: Iterable[str | None] = (),
) -> PlexIds:
    """Ids of a Plex movie or episode: ``Guid[]`` first, else the legacy ``guid``.

    ``related_guids``: an episode's ``grandparentGuid`` and ``parentGuid`` (legacy ones name the
    show). The rules are the Plex webhook parser's (docs §2.4 rules 1-6).
    """
    entries = list(guid_entries)
    own: dict[str, object] = {}
    show: dict[str, object] = {}
    season = number = None
    if entries:
        own = _array(entries)
    elif guid:
        legacy = parse_legacy_guid(guid)
        own, show = dict(legacy.own), dict(legacy.show)
        season, number = legacy.season, legacy.number
    if media_type != "episode":
        return PlexIds(own=clean_ids(own, MOVIE_ID_KINDS))
    for related in related_guids:
        if related and not related.startswith("plex://"):
            extra = parse_legacy_guid(related)
            for kind, value in {**extra.own, **extra.show}.items():
                show.setdefault(kind, value)
    return PlexIds(
        own=clean_ids(own, EPISODE_ID_KINDS),
        show=clean_ids(show, SHOW_ID_KINDS),
        season=season,
        number=number,
    )


def plex_show_ids(guid_entries: Iterable[str], guid: str | None) -> Ids:
    """Ids of a Plex show (a ``type=2`` item): ``Guid[]`` first, else its legacy ``guid``."""
    entries = list(guid_entries)
    if entries:
        return clean_ids(_array(entries), SHOW_ID_KINDS)
    if guid:
        legacy = parse_legacy_guid(guid)
        return clean_ids({**legacy.show, **legacy.own}, SHOW_ID_KINDS)
    return {}


def provider_ids(raw: object, media_type: MediaType | None) -> Ids:
    """Jellyfin/Emby ``ProviderIds`` (``Imdb``, ``Tmdb``, ``Tvdb`` in any case) for a movie,
    an episode, or a series (``media_type`` None)."""
    if not isinstance(raw, Mapping):
        return {}
    allowed = {"movie": MOVIE_ID_KINDS, "episode": EPISODE_ID_KINDS, None: SHOW_ID_KINDS}[
        media_type
    ]
    return clean_ids({str(key): value for key, value in raw.items()}, allowed)
