"""Media items as the sync sees them: Trakt's §9.1 shape, match keys, and write bodies.

Two plays are the same when they share an id of the item (episodes also by show ids +
season/number) and their ``watched_at`` minutes are at most :data:`MATCH_WINDOW_MINUTES` apart
(SPEC §7). :func:`match_keys` turns an item into the set of strings such a comparison needs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from ..events.model import (
    EPISODE_ID_KINDS,
    MOVIE_ID_KINDS,
    SHOW_ID_KINDS,
    ShowInfo,
    make_item_key,
)
from ..trakt.models import Episode, HistoryItem, ListItem, Movie, RatedItem, Show

# Trakt keeps watched_at at minute precision (docs §4.3); plays within 2 minutes are one (§7).
MATCH_WINDOW_MINUTES = 2
# Trakt's write bodies identify episodes by trakt/tvdb/tmdb only (docs §6.4).
EPISODE_WRITE_IDS = ("trakt", "tvdb", "tmdb")

Item = dict[str, Any]


def _norm(value: object) -> str:
    return str(value).strip().lower()


def _ids(raw: Any, kinds: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    return {k: raw[k] for k in kinds if raw.get(k) not in (None, "")}


def match_keys(item: Item) -> frozenset[str]:
    """Every id of the item as ``kind:id`` strings (episodes also ``show-id:season:number``)."""
    if item.get("type") == "movie":
        ids = _ids((item.get("movie") or {}).get("ids"), MOVIE_ID_KINDS)
        return frozenset(f"m:{k}:{_norm(v)}" for k, v in ids.items())
    if item.get("type") in ("show", "season"):
        ids = _ids((item.get("show") or {}).get("ids"), SHOW_ID_KINDS)
        return frozenset(f"s:{k}:{_norm(v)}" for k, v in ids.items())
    episode = item.get("episode") or {}
    keys = {f"e:{k}:{_norm(v)}" for k, v in _ids(episode.get("ids"), EPISODE_ID_KINDS).items()}
    season, number = episode.get("season"), episode.get("number")
    if season is not None and number is not None:
        show_ids = _ids((item.get("show") or {}).get("ids"), SHOW_ID_KINDS)
        keys |= {f"s:{k}:{_norm(v)}:{season}:{number}" for k, v in show_ids.items()}
    return frozenset(keys)


def show_keys(item: Item) -> frozenset[str]:
    """The show's ids of an episode or show item (for "watched since added to the watchlist")."""
    ids = _ids((item.get("show") or {}).get("ids"), SHOW_ID_KINDS)
    return frozenset(f"s:{k}:{_norm(v)}" for k, v in ids.items())


def minute(moment: datetime) -> int:
    """Minutes since the epoch (Trakt's precision)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() // 60)


def naive_utc(moment: datetime) -> datetime:
    """What the store keeps: UTC without tzinfo (SQLite compares the text)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def aware(moment: datetime) -> datetime:
    """What SQLModel's datetime columns take: aware UTC (a naive value counts as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_time(value: str) -> datetime:
    """An ISO 8601 time as aware UTC (a value without zone counts as UTC)."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def item_key(item: Item) -> str:
    """The ledger's canonical key (:func:`events.model.make_item_key`) of a §9.1 item."""
    kind = item.get("type")
    if kind == "movie":
        movie = item.get("movie") or {}
        return make_item_key(
            "movie",
            _ids(movie.get("ids"), MOVIE_ID_KINDS),
            title=movie.get("title"),
            year=movie.get("year"),
        )
    if kind == "show":
        show = item.get("show") or {}
        ids = _ids(show.get("ids"), SHOW_ID_KINDS)
        for name in ("trakt", "tvdb", "tmdb", "imdb", "slug"):
            if name in ids:
                return f"show:{name}:{_norm(ids[name])}"
        return f"title:show:{_norm(show.get('title') or '')}:{show.get('year')}"
    show = item.get("show") or {}
    episode = item.get("episode") or {}
    return make_item_key(
        "episode",
        _ids(episode.get("ids"), EPISODE_ID_KINDS),
        show=ShowInfo(show.get("title"), show.get("year"), _ids(show.get("ids"), SHOW_ID_KINDS)),
        season=episode.get("season"),
        number=episode.get("number"),
        title=episode.get("title"),
    )


def dumps(item: Item) -> str:
    return json.dumps(item, separators=(",", ":"), sort_keys=True)


# ------------------------------------------------------------------ from Trakt's models


def _media(model: Movie | Show | None, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    if model is None:
        return {"title": None, "year": None, "ids": {}}
    data: dict[str, Any] = {
        "title": model.title,
        "year": model.year,
        "ids": model.ids.model_dump(exclude_none=True),
    }
    for name in extra:
        value = getattr(model, name, None)
        if value is not None:
            data[name] = value
    return data


def _episode(model: Episode | None) -> dict[str, Any]:
    if model is None:
        return {"season": None, "number": None, "title": None, "ids": {}}
    data: dict[str, Any] = {
        "season": model.season,
        "number": model.number,
        "title": model.title,
        "ids": model.ids.model_dump(exclude_none=True),
    }
    if model.runtime is not None:
        data["runtime"] = model.runtime
    return data


def from_trakt(entry: HistoryItem | ListItem | RatedItem) -> Item | None:
    """A Trakt answer's item in §9.1 shape (runtime kept); None for seasons and others."""
    if entry.type == "movie" and entry.movie is not None:
        return {"type": "movie", "movie": _media(entry.movie, ("runtime",))}
    if entry.type == "show" and entry.show is not None:
        return {"type": "show", "show": _media(entry.show, ("runtime",))}
    if entry.type == "episode" and entry.episode is not None:
        return {"type": "episode", "show": _media(entry.show), "episode": _episode(entry.episode)}
    return None


# ------------------------------------------------------------------ write bodies


def write_object(item: Item, **extra: Any) -> tuple[str, dict[str, Any]] | None:
    """``(body key, object)`` naming the item in a sync write; None when it has no usable ids.

    Episodes without a trakt/tvdb/tmdb id go as show ids + season/number (docs §6.4).
    """
    kind = item.get("type")
    if kind == "movie":
        ids = _ids((item.get("movie") or {}).get("ids"), MOVIE_ID_KINDS)
        return ("movies", {"ids": ids, **extra}) if ids else None
    if kind == "show":
        ids = _ids((item.get("show") or {}).get("ids"), SHOW_ID_KINDS)
        return ("shows", {"ids": ids, **extra}) if ids else None
    episode = item.get("episode") or {}
    ids = _ids(episode.get("ids"), EPISODE_WRITE_IDS)
    if ids:
        return "episodes", {"ids": ids, **extra}
    show_ids = _ids((item.get("show") or {}).get("ids"), SHOW_ID_KINDS)
    season, number = episode.get("season"), episode.get("number")
    if show_ids and season is not None and number is not None:
        seasons = [{"number": season, "episodes": [{"number": number, **extra}]}]
        return "shows", {"ids": show_ids, "seasons": seasons}
    return None


def build_body(objects: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """One write body from ``write_object`` results."""
    body: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, obj in objects:
        body[key].append(obj)
    return dict(body)


def echo_keys(key: str, obj: dict[str, Any]) -> list[frozenset[str]]:
    """Match keys of an object Trakt echoed in ``not_found`` (to map it back to our items)."""
    if key == "movies":
        return [match_keys({"type": "movie", "movie": obj})]
    if key == "episodes":
        return [match_keys({"type": "episode", "episode": obj, "show": {}})]
    if key == "shows":
        out = [match_keys({"type": "show", "show": obj})]
        for season in obj.get("seasons") or []:
            for episode in season.get("episodes") or []:
                ep = {"season": season.get("number"), "number": episode.get("number")}
                out.append(match_keys({"type": "episode", "episode": ep, "show": obj}))
        return out
    return []
