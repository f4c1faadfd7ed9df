"""How an outbox row names its item to Trakt, and how to recognise it in Trakt's history.

Trakt's writes identify movies by trakt/slug/imdb/tmdb and episodes by trakt/tvdb/tmdb only
(docs/trakt-api.md §3, §6.4). An item can therefore be named several ways; :func:`identifications`
lists them best first, and the outbox moves to the next one after a 404 ("retry with the other
identification", SPEC §6). A :class:`Lookup` is resolved through ``/search`` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

from ..trakt.models import HistoryItem

# Episode id kinds Trakt accepts in writes (trakt-api.md §3): not imdb.
EPISODE_WRITE_IDS = ("trakt", "tvdb", "tmdb")
MOVIE_WRITE_IDS = ("trakt", "slug", "imdb", "tmdb")
# Id kinds /search/:id_type/:id accepts, in the order worth trying.
SEARCH_ID_KINDS: tuple[Literal["imdb", "tmdb", "tvdb"], ...] = ("imdb", "tvdb", "tmdb")

Media: TypeAlias = Literal["movie", "episode"]


@dataclass(frozen=True)
class Named:
    """A ready scrobble body part: ``{"movie": …}``, ``{"episode": …}`` or show + episode."""

    part: dict[str, Any]


@dataclass(frozen=True)
class Lookup:
    """Resolve the item through ``GET /search/{id_type}/{value}?type=…`` first."""

    id_type: Literal["imdb", "tmdb", "tvdb"]
    value: str | int
    media: Media


Identification: TypeAlias = Named | Lookup


def _pick(ids: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, Any]:
    return {kind: ids[kind] for kind in kinds if ids.get(kind) not in (None, "")}


def identifications(item: dict[str, Any]) -> list[Identification]:
    """Every way to name ``item`` (SPEC §9.1 shape) to Trakt, best first; empty: no ids."""
    if item.get("type") == "movie":
        movie = item.get("movie") or {}
        ids = _pick(movie.get("ids") or {}, MOVIE_WRITE_IDS)
        options: list[Identification] = [Named({"movie": {"ids": ids}})] if ids else []
        options += [Lookup(kind, ids[kind], "movie") for kind in ("imdb", "tmdb") if kind in ids]
        return options
    show = item.get("show") or {}
    episode = item.get("episode") or {}
    episode_ids = episode.get("ids") or {}
    options = []
    write_ids = _pick(episode_ids, EPISODE_WRITE_IDS)
    if write_ids:
        options.append(Named({"episode": {"ids": write_ids}}))
    show_ids = _pick(show.get("ids") or {}, ("trakt", "slug", "imdb", "tmdb", "tvdb"))
    season, number = episode.get("season"), episode.get("number")
    if show_ids and season is not None and number is not None:
        options.append(
            Named({"show": {"ids": show_ids}, "episode": {"season": season, "number": number}})
        )
    options += [
        Lookup(kind, episode_ids[kind], "episode")
        for kind in SEARCH_ID_KINDS
        if episode_ids.get(kind) not in (None, "")
    ]
    return options


def scrobble_body(part: dict[str, Any], progress: float) -> dict[str, Any]:
    return {**part, "progress": progress}


def history_body(part: dict[str, Any], watched_at: datetime | None) -> dict[str, Any]:
    """The ``/sync/history`` (or ``/remove`` when ``watched_at`` is None) body for one item."""
    when = {"watched_at": _iso(watched_at)} if watched_at is not None else {}
    if "movie" in part:
        return {"movies": [{**part["movie"], **when}]}
    if "show" in part:
        episode = part["episode"]
        season = {"number": episode["season"], "episodes": [{"number": episode["number"], **when}]}
        return {"shows": [{**part["show"], "seasons": [season]}]}
    return {"episodes": [{**part["episode"], **when}]}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _same_ids(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    for kind, value in ours.items():
        other = theirs.get(kind)
        if (
            value not in (None, "")
            and other is not None
            and str(other).lower() == str(value).lower()
        ):
            return True
    return False


def in_history(item: dict[str, Any], entry: HistoryItem) -> bool:
    """Whether a Trakt history entry is a play of ``item`` (by any shared id, or show + S/E)."""
    if item.get("type") == "movie":
        ours = (item.get("movie") or {}).get("ids") or {}
        return entry.movie is not None and _same_ids(ours, entry.movie.ids.model_dump())
    if entry.episode is None:
        return False
    episode = item.get("episode") or {}
    if _same_ids(episode.get("ids") or {}, entry.episode.ids.model_dump()):
        return True
    show_ids = (item.get("show") or {}).get("ids") or {}
    return (
        entry.show is not None
        and _same_ids(show_ids, entry.show.ids.model_dump())
        and entry.episode.season == episode.get("season")
        and entry.episode.number == episode.get("number")
    )


def resolved(lookup: Lookup, trakt_ids: dict[str, Any]) -> Named | None:
    """The body part for a search result's ids (None when it has no trakt id)."""
    trakt_id = trakt_ids.get("trakt")
    if trakt_id is None:
        return None
    return Named({lookup.media: {"ids": {"trakt": trakt_id}}})
