"""Emby native webhooks (docs §4) → PlaybackEvent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trakt_plugin.events.model import (
    EPISODE_ID_KINDS,
    MOVIE_ID_KINDS,
    SHOW_ID_KINDS,
    BadPayload,
    EventKind,
    Ignored,
    MediaType,
    PlaybackEvent,
    ShowInfo,
    Source,
    make_item_key,
)
from trakt_plugin.events.parsers._common import (
    TICKS_PER_MS,
    clean_ids,
    ensure_utc,
    get_bool,
    get_int,
    get_obj,
    get_str,
    key_part,
    lower_keys,
    normalise_guid,
    parse_server_time,
    progress_percent,
    year_from,
)

# playback.scrobble / playback.progress appear only in consumer code (docs §4.2, unverified):
# handled defensively; scrobble is a completion signal inside the playback, not a manual mark.
_KINDS: dict[str, tuple[EventKind, bool]] = {
    "playback.start": ("start", False),
    "playback.pause": ("pause", False),
    "playback.unpause": ("resume", False),
    "playback.stop": ("stop", False),
    "playback.progress": ("progress", False),
    "playback.scrobble": ("progress", True),
    "item.markplayed": ("watched", False),
    "item.markunplayed": ("unwatched", False),
}


def parse(payload: dict[str, Any], *, received_at: datetime) -> PlaybackEvent | Ignored:
    """Normalise one decoded Emby webhook body (raw JSON or the multipart ``data`` field)."""
    event = payload.get("Event")
    if event is None:
        event = lower_keys(payload).get("event")
    if not isinstance(event, str) or not event.strip():
        raise BadPayload("Event: missing or not a string")
    event = event.strip()
    mapped = _KINDS.get(event.lower())
    if mapped is None:
        return Ignored(f"emby event {event[:60]!r} is not playback")
    return parse_item_event(
        payload,
        received_at=received_at,
        source="emby",
        raw_event=event,
        kind=mapped[0],
        completed_signal=mapped[1],
    )


def parse_item_event(
    payload: dict[str, Any],
    *,
    received_at: datetime,
    source: Source,
    raw_event: str,
    kind: EventKind,
    completed_signal: bool,
) -> PlaybackEvent | Ignored:
    """Read an Emby-shaped body (``User``, ``Item``, ``Session``, ``PlaybackInfo`` objects).

    Also used for the shemanaev Jellyfin plugin, whose body has the same BaseItemDto shape plus
    a ``Series`` object carrying show ids.
    """
    data = lower_keys(payload)
    item = get_obj(data, "item", "Item")
    if item is None:
        raise BadPayload("Item: missing")
    item_l = lower_keys(item)
    item_type = get_str(item_l, "type", "Item.Type")
    if item_type is None:
        raise BadPayload("Item.Type: missing")
    if item_type.lower() not in ("movie", "episode"):
        return Ignored(f"not a movie or episode: {item_type[:40]}")
    media_type: MediaType = "movie" if item_type.lower() == "movie" else "episode"

    user = lower_keys(get_obj(data, "user", "User") or {})
    server = lower_keys(get_obj(data, "server", "Server") or {})
    session = lower_keys(get_obj(data, "session", "Session") or {})
    info = lower_keys(get_obj(data, "playbackinfo", "PlaybackInfo") or {})
    play_state = lower_keys(get_obj(session, "playstate", "Session.PlayState") or {})

    user_id = get_str(user, "id", "User.Id")
    if user_id and source == "jellyfin":
        user_id = normalise_guid(user_id)
    user_name = get_str(user, "name", "User.Name")
    server_id = get_str(server, "id", "Server.Id") or get_str(item_l, "serverid", "Item.ServerId")
    item_id = get_str(item_l, "id", "Item.Id")

    title = get_str(item_l, "name", "Item.Name")
    year = year_from(get_int(item_l, "productionyear", "Item.ProductionYear"))
    media_source = lower_keys(get_obj(info, "mediasource", "PlaybackInfo.MediaSource") or {})
    runtime = get_int(item_l, "runtimeticks", "Item.RunTimeTicks") or get_int(
        media_source, "runtimeticks", "PlaybackInfo.MediaSource.RunTimeTicks"
    )
    position = get_int(info, "positionticks", "PlaybackInfo.PositionTicks")
    if position is None:
        position = get_int(play_state, "positionticks", "Session.PlayState.PositionTicks")
    if position is not None and position < 0:
        raise BadPayload("PlaybackInfo.PositionTicks: negative")
    completed = completed_signal or bool(
        get_bool(info, "playedtocompletion", "PlaybackInfo.PlayedToCompletion")
    )
    is_paused = get_bool(info, "ispaused", "PlaybackInfo.IsPaused")
    if is_paused is None:
        is_paused = get_bool(play_state, "ispaused", "Session.PlayState.IsPaused")

    if kind in ("watched", "unwatched") or (kind == "stop" and not position):
        # Marks carry no playback position; a stop at 0 means "no position" (docs §6 rule 5).
        position = None
    position_ms = position // TICKS_PER_MS if position is not None else None
    duration_ms = runtime // TICKS_PER_MS if runtime else None
    progress = progress_percent(position_ms, duration_ms)

    show: ShowInfo | None = None
    season = number = None
    episode_title = None
    if media_type == "episode":
        series = lower_keys(get_obj(data, "series", "Series") or {})
        series_ids = get_obj(series, "providerids", "Series.ProviderIds") or get_obj(
            item_l, "seriesproviderids", "Item.SeriesProviderIds"
        )
        show = ShowInfo(
            title=get_str(item_l, "seriesname", "Item.SeriesName")
            or get_str(series, "name", "Series.Name"),
            year=year_from(get_int(series, "productionyear", "Series.ProductionYear")),
            ids=clean_ids(series_ids or {}, SHOW_ID_KINDS),
        )
        season = get_int(item_l, "parentindexnumber", "Item.ParentIndexNumber")
        number = get_int(item_l, "indexnumber", "Item.IndexNumber")
        episode_title = title
        allowed = EPISODE_ID_KINDS
    else:
        allowed = MOVIE_ID_KINDS
    ids = clean_ids(get_obj(item_l, "providerids", "Item.ProviderIds") or {}, allowed)

    local = f"{source}:{key_part(server_id)}:{key_part(item_id)}" if item_id else None
    item_key = make_item_key(
        media_type,
        ids,
        show=show,
        season=season,
        number=number,
        local_key=local,
        title=title,
        year=year,
    )
    if kind in ("watched", "unwatched"):
        session_part = "mark"
    else:
        session_part = key_part(
            get_str(info, "playsessionid", "PlaybackInfo.PlaySessionId")
            or get_str(session, "id", "Session.Id")
            or get_str(session, "deviceid", "Session.DeviceId")
            or "nosession"
        )
    user_part = key_part(user_id or (user_name or "").lower())
    session_key = ":".join(
        [source, key_part(server_id), user_part, session_part, key_part(item_id or item_key)]
    )

    paused: bool | None = None
    if kind in ("start", "pause", "resume", "progress"):
        default = {"pause": True, "start": False, "resume": False}.get(kind)
        paused = default if kind != "progress" else is_paused
        if kind == "progress" and is_paused:
            kind = "pause"  # an unverified progress event that says paused is a pause
    server_time = parse_server_time(data.get("date"))
    return PlaybackEvent(
        source=source,
        kind=kind,
        media_type=media_type,
        session_key=session_key,
        item_key=item_key,
        occurred_at=ensure_utc(received_at),
        raw_event=raw_event,
        user_external_ids=tuple(v for v in (user_id, user_name) if v),
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
        position_ms=position_ms,
        duration_ms=duration_ms,
        completed=completed,
        paused=paused,
        server_time=server_time,
        server_id=server_id,
    )
