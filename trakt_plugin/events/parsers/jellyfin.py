"""Jellyfin webhooks (jellyfin-plugin-webhook, docs §3) → PlaybackEvent.

Both renderings are read the same way: "Send All Properties" JSON (real types, 32-hex GUIDs) and
the all-strings template form (``"True"``, ``""`` for missing keys, dashed GUIDs, digit strings).
Keys are matched case-insensitively, as the plugin's own dictionary is. A payload in the
alternative shemanaev plugin's shape (``Event`` + ``Item`` objects, docs §3.6) is read too.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from trakt_plugin.events.model import (
    EPISODE_ID_KINDS,
    MOVIE_ID_KINDS,
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
from trakt_plugin.events.parsers import emby
from trakt_plugin.events.parsers._common import (
    TICKS_PER_MS,
    clean_ids,
    ensure_utc,
    get_bool,
    get_int,
    get_str,
    key_part,
    lower_keys,
    normalise_guid,
    parse_server_time,
    progress_percent,
    year_from,
    year_from_date,
)

_PLAYBACK: dict[str, EventKind] = {
    "playbackstart": "start",
    "playbackprogress": "progress",
    "playbackstop": "stop",
}
# UserDataSaved fires continuously during playback; only a manual toggle is a mark (docs §3.5).
_MANUAL_TOGGLE = "toggleplayed"

# The alternative shemanaev/jellyfin-plugin-webhooks events (docs §3.6); "Scrobble" is its 90 %
# signal, a completion inside the playback like Plex's media.scrobble.
_SHEMANAEV_KINDS: dict[str, tuple[EventKind, bool]] = {
    "play": ("start", False),
    "pause": ("pause", False),
    "resume": ("resume", False),
    "stop": ("stop", False),
    "progress": ("progress", False),
    "scrobble": ("progress", True),
    "markplayed": ("watched", False),
    "markunplayed": ("unwatched", False),
}


def _text(data: dict[str, Any], key: str, path: str) -> str | None:
    """Template mode HTML-escapes ``{{X}}`` (``&amp;``…); undo that for display text."""
    value = get_str(data, key, path)
    if value and "&" in value:
        value = html.unescape(value)
    return value


def _provider_ids(data: dict[str, Any], prefix: str, allowed: tuple[str, ...]) -> Ids:
    raw = {key[len(prefix) :]: value for key, value in data.items() if key.startswith(prefix)}
    return clean_ids(raw, allowed)


def parse(payload: dict[str, Any], *, received_at: datetime) -> PlaybackEvent | Ignored:
    """Normalise one decoded Jellyfin webhook body."""
    data = lower_keys(payload)
    notification = get_str(data, "notificationtype", "NotificationType")
    if notification is None:
        if isinstance(data.get("event"), str) and isinstance(data.get("item"), dict):
            return _parse_shemanaev(payload, received_at=received_at)
        raise BadPayload("NotificationType: missing")
    note = notification.lower()

    if note in _PLAYBACK:
        kind = _PLAYBACK[note]
    elif note == "userdatasaved":
        reason = (get_str(data, "savereason", "SaveReason") or "").lower()
        played = get_bool(data, "played", "Played")
        if reason != _MANUAL_TOGGLE or played is None:
            return Ignored("jellyfin user data change that is not a manual (un)played mark")
        kind = "watched" if played else "unwatched"
    else:
        return Ignored(f"jellyfin notification {notification[:60]!r} is not playback")

    item_type = get_str(data, "itemtype", "ItemType")
    if item_type is None:
        raise BadPayload("ItemType: missing")
    if item_type.lower() not in ("movie", "episode"):
        return Ignored(f"not a movie or episode: {item_type[:40]}")
    media_type: MediaType = "movie" if item_type.lower() == "movie" else "episode"

    user_id_raw = get_str(data, "userid", "UserId")
    user_id = normalise_guid(user_id_raw) if user_id_raw else None
    user_name = _text(data, "notificationusername", "NotificationUsername")
    item_id_raw = get_str(data, "itemid", "ItemId")
    item_id = normalise_guid(item_id_raw) if item_id_raw else None
    server_id = get_str(data, "serverid", "ServerId")
    session_id = get_str(data, "sessionid", "SessionId") or get_str(data, "id", "Id")
    device_id = get_str(data, "deviceid", "DeviceId")

    title = _text(data, "name", "Name")
    reported_year = year_from(get_int(data, "year", "Year"))
    runtime_ticks = get_int(data, "runtimeticks", "RunTimeTicks")
    position_ticks = get_int(data, "playbackpositionticks", "PlaybackPositionTicks")
    if position_ticks is not None and position_ticks < 0:
        raise BadPayload("PlaybackPositionTicks: negative")
    completed = bool(get_bool(data, "playedtocompletion", "PlayedToCompletion"))
    is_paused = get_bool(data, "ispaused", "IsPaused")

    if kind in ("watched", "unwatched"):
        # UserDataSaved carries the stored resume point (reset to 0 once played), not a position.
        position_ticks = None
    elif kind == "stop" and not position_ticks:
        # The plugin writes 0 for "no position" (docs §3.6): with PlayedToCompletion the server
        # counted the full runtime; without it the session's last known position decides.
        position_ticks = None
    position_ms = position_ticks // TICKS_PER_MS if position_ticks is not None else None
    duration_ms = runtime_ticks // TICKS_PER_MS if runtime_ticks else None
    progress = progress_percent(position_ms, duration_ms)

    if kind == "progress" and is_paused:
        kind = "pause"  # docs §3.5: IsPaused true is a pause; the policy drops repeats
    paused: bool | None = None
    if kind in ("start", "pause", "progress", "resume"):
        paused = is_paused if is_paused is not None else {"pause": True, "start": False}.get(kind)

    show: ShowInfo | None = None
    season = number = None
    episode_title = None
    if media_type == "episode":
        # Year on an episode is the series' production year; the air date is PremiereDate.
        show = ShowInfo(
            title=_text(data, "seriesname", "SeriesName"),
            year=reported_year,
            # Not sent by the plugin itself; read when a template adds them.
            ids=_provider_ids(data, "seriesprovider_", SHOW_ID_KINDS)
            or _provider_ids(data, "series_provider_", SHOW_ID_KINDS),
        )
        year = year_from_date(data.get("premieredate"))
        season = get_int(data, "seasonnumber", "SeasonNumber")
        number = get_int(data, "episodenumber", "EpisodeNumber")
        episode_title = title
        ids = _provider_ids(data, "provider_", EPISODE_ID_KINDS)
    else:
        year = reported_year
        ids = _provider_ids(data, "provider_", MOVIE_ID_KINDS)

    local = f"jellyfin:{key_part(server_id)}:{item_id}" if item_id else None
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
    user_part = key_part(user_id or (user_name or "").lower())
    if kind in ("watched", "unwatched"):
        session_part = "userdata"
    else:
        session_part = key_part(session_id or device_id or "nosession")
    session_key = ":".join(
        ["jellyfin", key_part(server_id), user_part, session_part, key_part(item_id or item_key)]
    )
    user_ids = tuple(v for v in (user_id, user_name) if v)
    return PlaybackEvent(
        source="jellyfin",
        kind=kind,
        media_type=media_type,
        session_key=session_key,
        item_key=item_key,
        occurred_at=ensure_utc(received_at),
        raw_event=notification,
        user_external_ids=user_ids,
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
        server_time=parse_server_time(data.get("utctimestamp")),
        server_id=server_id,
    )


def _parse_shemanaev(payload: dict[str, Any], *, received_at: datetime) -> PlaybackEvent | Ignored:
    """The shemanaev plugin's Emby-like shape: reuse the Emby reader with its event names."""
    event = str(payload.get("Event", payload.get("event", ""))).strip()
    mapped = _SHEMANAEV_KINDS.get(event.lower())
    if mapped is None:
        return Ignored(f"jellyfin event {event[:60]!r} is not playback")
    return emby.parse_item_event(
        payload,
        received_at=received_at,
        source="jellyfin",
        raw_event=event,
        kind=mapped[0],
        completed_signal=mapped[1],
    )
