"""Webhook bodies as each media server sends them, built from one media description."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

# Runtime used for progress arithmetic (ms).
DURATION_MS = 100 * 60 * 1000
TICKS_PER_MS = 10_000
PLEX_EVENTS = {
    "start": "media.play",
    "pause": "media.pause",
    "resume": "media.resume",
    "stop": "media.stop",
    "scrobble": "media.scrobble",
}
EMBY_EVENTS = {
    "start": "playback.start",
    "pause": "playback.pause",
    "resume": "playback.unpause",
    "stop": "playback.stop",
}
JELLYFIN_EVENTS = {"start": "PlaybackStart", "progress": "PlaybackProgress", "stop": "PlaybackStop"}


@dataclass(frozen=True)
class Media:
    """A movie (imdb/tmdb) or an episode (episode tvdb/imdb, show tvdb, season/number)."""

    kind: str
    title: str
    year: int = 2000
    imdb: str | None = None
    tmdb: int | None = None
    tvdb: int | None = None
    show_title: str | None = None
    show_tvdb: int | None = None
    season: int | None = None
    number: int | None = None
    local_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


@dataclass(frozen=True)
class Body:
    content_type: str
    content: bytes


def _json(data: dict[str, Any]) -> Body:
    return Body("application/json", json.dumps(data).encode())


def revenge(
    event: str,
    user_id: str,
    media: Media,
    progress: float | None,
    *,
    session_id: str = "s1",
    occurred_at: str | None = None,
    runtime: float | None = None,
    duration: float | None = None,
) -> Body:
    """``runtime`` (minutes) and ``duration`` (seconds): the optional item length fields."""
    data: dict[str, Any] = {
        "event": event,
        "user_id": user_id,
        "session_id": session_id,
        "content_type": media.kind,
        "content_id": media.local_id,
        "progress": progress,
    }
    if occurred_at:
        data["occurred_at"] = occurred_at
    if runtime is not None:
        data["runtime"] = runtime
    if duration is not None:
        data["duration"] = duration
    ids = {k: v for k, v in (("imdb", media.imdb), ("tmdb", media.tmdb)) if v}
    if media.kind == "movie":
        data["movie"] = {"title": media.title, "year": media.year, "ids": ids}
    else:
        show_ids = {"tvdb": media.show_tvdb} if media.show_tvdb else {}
        episode_ids = dict(ids, **({"tvdb": media.tvdb} if media.tvdb else {}))
        data["show"] = {"title": media.show_title, "year": media.year, "ids": show_ids}
        data["episode"] = {
            "season": media.season,
            "number": media.number,
            "title": media.title,
            "ids": episode_ids,
        }
    return _json(data)


def plex(
    event: str,
    account: str,
    media: Media,
    progress: float | None,
    *,
    player: str = "p1",
    server: str = "server-1",
    account_id: int = 1,
) -> Body:
    guids = [
        {"id": f"{scheme}://{value}"}
        for scheme, value in (("imdb", media.imdb), ("tmdb", media.tmdb), ("tvdb", media.tvdb))
        if value
    ]
    meta: dict[str, Any] = {
        "type": media.kind,
        "ratingKey": media.local_id,
        "title": media.title,
        "year": media.year,
        "duration": DURATION_MS,
        "Guid": guids,
    }
    if progress is not None:
        meta["viewOffset"] = int(DURATION_MS * progress / 100)
    if media.kind == "episode":
        meta.update(
            grandparentTitle=media.show_title,
            parentIndex=media.season,
            index=media.number,
        )
    payload = {
        "event": PLEX_EVENTS[event],
        "user": True,
        "owner": True,
        "Account": {"id": account_id, "title": account},
        "Server": {"title": "srv", "uuid": server},
        "Player": {"local": True, "title": "tv", "uuid": player},
        "Metadata": meta,
    }
    boundary = "plexboundary" + uuid.uuid4().hex[:8]
    parts = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n'
        f"Content-Type: application/json\r\n\r\n{json.dumps(payload)}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="thumb"; filename="t.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0fake\r\n--{boundary}--\r\n"
    )
    return Body(f"multipart/form-data; boundary={boundary}", parts.encode("latin-1"))


def jellyfin(
    notification: str,
    user_id: str,
    user_name: str,
    media: Media,
    progress: float | None,
    *,
    paused: bool | None = None,
    session: str = "js1",
    completed: bool = False,
) -> Body:
    data: dict[str, Any] = {
        "NotificationType": JELLYFIN_EVENTS.get(notification, notification),
        "NotificationUsername": user_name,
        "UserId": user_id,
        "ServerId": "jf-server",
        "ItemId": media.local_id.ljust(32, "0"),
        "ItemType": "Movie" if media.kind == "movie" else "Episode",
        "Name": media.title,
        "Year": media.year,
        "RunTimeTicks": DURATION_MS * TICKS_PER_MS,
        "DeviceId": "dev1",
        "SessionId": session,
        "PlayedToCompletion": completed,
    }
    if progress is not None:
        data["PlaybackPositionTicks"] = int(DURATION_MS * progress / 100) * TICKS_PER_MS
    if paused is not None:
        data["IsPaused"] = paused
    if media.imdb:
        data["Provider_imdb"] = media.imdb
    if media.tmdb:
        data["Provider_tmdb"] = str(media.tmdb)
    if media.tvdb:
        data["Provider_tvdb"] = str(media.tvdb)
    if media.kind == "episode":
        data.update(
            SeriesName=media.show_title, SeasonNumber=media.season, EpisodeNumber=media.number
        )
    return Body("text/plain; charset=utf-8", json.dumps(data).encode())


def emby(
    event: str,
    user_id: str,
    user_name: str,
    media: Media,
    progress: float | None,
    *,
    session: str = "e1",
) -> Body:
    provider = {
        name: str(value)
        for name, value in (("Imdb", media.imdb), ("Tmdb", media.tmdb), ("Tvdb", media.tvdb))
        if value
    }
    item: dict[str, Any] = {
        "Name": media.title,
        "Id": media.local_id,
        "ServerId": "emby-server",
        "Type": "Movie" if media.kind == "movie" else "Episode",
        "ProductionYear": media.year,
        "RunTimeTicks": DURATION_MS * TICKS_PER_MS,
        "ProviderIds": provider,
    }
    if media.kind == "episode":
        item.update(
            SeriesName=media.show_title, ParentIndexNumber=media.season, IndexNumber=media.number
        )
    info: dict[str, Any] = {"PlaySessionId": session}
    if progress is not None:
        info["PositionTicks"] = int(DURATION_MS * progress / 100) * TICKS_PER_MS
    data = {
        "Title": f"{user_name} {event}",
        "Event": EMBY_EVENTS[event],
        "User": {"Name": user_name, "Id": user_id},
        "Item": item,
        "Server": {"Name": "emby", "Id": "emby-server"},
        "Session": {"Id": session, "DeviceId": "dev", "Client": "web"},
        "PlaybackInfo": info,
    }
    return _json(data)
