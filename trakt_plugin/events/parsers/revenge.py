"""Revenge media server events (SPEC §5, the integration's ``ScrobblePayload``) → PlaybackEvent.

This is our own format, so it is read strictly: wrong types are a 400 naming the field.

Besides SPEC §5's fields the body may carry the item's length, which the ledger keeps as the
play's runtime (the stats' watch time, SPEC §8). Both are optional JSON numbers:

| field      | unit                              | example                      |
|------------|-----------------------------------|------------------------------|
| ``runtime``  | minutes (Trakt's unit)            | ``"runtime": 136``           |
| ``duration`` | seconds                           | ``"duration": 8160``         |

When both are given ``runtime`` wins. ``0`` or ``null`` means unknown; a negative value is a
400; a length past a week is taken as unknown. Without either, the runtime is filled later
from the metadata cache.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trakt_plugin.events.model import (
    EPISODE_ID_KINDS,
    EVENT_KINDS,
    MAX_RUNTIME_MINUTES,
    MOVIE_ID_KINDS,
    MS_PER_MINUTE,
    SHOW_ID_KINDS,
    BadPayload,
    EventKind,
    Ids,
    Ignored,
    MediaType,
    PlaybackEvent,
    ShowInfo,
    make_item_key,
)
from trakt_plugin.events.parsers._common import (
    clean_id,
    ensure_utc,
    get_bool,
    get_float,
    get_int,
    get_obj,
    get_str,
    key_part,
    type_name,
    year_from,
)

MS_PER_SECOND = 1000


def _ids(obj: dict[str, Any], path: str, allowed: tuple[str, ...]) -> Ids:
    raw = get_obj(obj, "ids", f"{path}.ids") or {}
    ids: Ids = {}
    for key, value in raw.items():
        kind = key.lower()
        if kind not in allowed or value is None:
            continue  # other id kinds are legal in the payload but not usable on Trakt
        cleaned = clean_id(kind, value)
        if cleaned is None:
            raise BadPayload(f"{path}.ids.{kind}: not a valid {kind} id ({type_name(value)})")
        ids[kind] = cleaned
    return ids


def _occurred_at(payload: dict[str, Any], received_at: datetime) -> datetime:
    value = payload.get("occurred_at")
    if value is None or value == "":
        return ensure_utc(received_at)
    if not isinstance(value, str) or len(value) > 64:
        raise BadPayload("occurred_at: expected an ISO 8601 timestamp")
    try:
        occurred = ensure_utc(datetime.fromisoformat(value.strip()))
    except (ValueError, OverflowError):
        raise BadPayload("occurred_at: expected an ISO 8601 timestamp") from None
    # Nothing was watched in the future: a sender's clock running ahead would otherwise hold
    # back every later call of that user (calls go out in event order, each when it is due).
    return min(occurred, ensure_utc(received_at))


def _length(payload: dict[str, Any], key: str, unit_ms: int) -> int | None:
    """``payload[key]`` (a JSON number in units of ``unit_ms``) in ms; None when absent or 0."""
    value = get_float(payload, key, key, strict=True)
    if value is None:
        return None
    if value < 0:
        raise BadPayload(f"{key}: must not be negative")
    if value > MAX_RUNTIME_MINUTES * MS_PER_MINUTE / unit_ms:
        return None  # a placeholder, not a length (see MAX_RUNTIME_MINUTES)
    return round(value * unit_ms) or None


def _duration_ms(payload: dict[str, Any]) -> int | None:
    """The item's length: ``runtime`` (minutes) first, else ``duration`` (seconds)."""
    runtime = _length(payload, "runtime", MS_PER_MINUTE)
    duration = _length(payload, "duration", MS_PER_SECOND)
    return runtime if runtime is not None else duration


def parse(payload: dict[str, Any], *, received_at: datetime) -> PlaybackEvent | Ignored:
    """Normalise one Revenge event body."""
    event = payload.get("event")
    if not isinstance(event, str):
        raise BadPayload("event: missing or not a string")
    if event not in EVENT_KINDS:
        raise BadPayload(f"event: must be one of {', '.join(EVENT_KINDS)}")
    kind: EventKind = event

    content_type = payload.get("content_type")
    if not isinstance(content_type, str) or not content_type:
        raise BadPayload("content_type: missing or not a string")
    if content_type not in ("movie", "episode"):
        return Ignored(f"not a movie or episode: {content_type[:40]}")
    media_type: MediaType = "movie" if content_type == "movie" else "episode"

    user_id = payload.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip():
        raise BadPayload("user_id: missing or not a string")
    user_id = user_id.strip()
    user_name = get_str(payload, "user_name", "user_name")
    session_id = get_str(payload, "session_id", "session_id")
    content_id = get_str(payload, "content_id", "content_id")

    progress = get_float(payload, "progress", "progress", strict=True)
    if progress is not None:
        if progress < 0:
            raise BadPayload("progress: must be between 0 and 100")
        progress = min(progress, 100.0)
    completed = bool(get_bool(payload, "completed", "completed"))
    duration_ms = _duration_ms(payload)
    occurred_at = _occurred_at(payload, received_at)

    show: ShowInfo | None = None
    season = number = None
    episode_title = None
    if media_type == "movie":
        movie = get_obj(payload, "movie", "movie")
        if movie is None:
            raise BadPayload("movie: required for content_type movie")
        title = get_str(movie, "title", "movie.title")
        year = year_from(get_int(movie, "year", "movie.year"))
        ids = _ids(movie, "movie", MOVIE_ID_KINDS)
    else:
        episode = get_obj(payload, "episode", "episode")
        if episode is None:
            raise BadPayload("episode: required for content_type episode")
        show_obj = get_obj(payload, "show", "show") or {}
        show = ShowInfo(
            title=get_str(show_obj, "title", "show.title"),
            year=year_from(get_int(show_obj, "year", "show.year")),
            ids=_ids(show_obj, "show", SHOW_ID_KINDS),
        )
        season = get_int(episode, "season", "episode.season")
        number = get_int(episode, "number", "episode.number")
        episode_title = get_str(episode, "title", "episode.title")
        title = episode_title
        year = year_from(get_int(episode, "year", "episode.year"))
        ids = _ids(episode, "episode", EPISODE_ID_KINDS)

    item_key = make_item_key(
        media_type,
        ids,
        show=show,
        season=season,
        number=number,
        local_key=f"revenge:{key_part(content_id)}" if content_id else None,
        title=title,
        year=year,
    )
    if kind in ("watched", "unwatched"):
        session_part = "mark"
    else:
        session_part = key_part(session_id or content_id or item_key)
    paused = {"pause": True, "start": False, "resume": False}.get(kind)
    return PlaybackEvent(
        source="revenge",
        kind=kind,
        media_type=media_type,
        session_key=f"revenge:{key_part(user_id.lower())}:{session_part}:{key_part(item_key)}",
        item_key=item_key,
        occurred_at=occurred_at,
        raw_event=event,
        user_external_ids=(user_id,),
        user_name=user_name,
        title=title,
        year=year,
        ids=ids,
        show=show,
        season=season,
        number=number,
        episode_title=episode_title,
        progress=progress,
        position_known=progress is not None,
        duration_ms=duration_ms,
        completed=completed,
        paused=paused,
        server_time=None,
        server_id=None,
    )
