"""Plex Media Server webhooks (docs/media-server-webhooks.md §2) → PlaybackEvent."""

from __future__ import annotations

from collections.abc import Mapping
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
from trakt_plugin.events.parsers._common import (
    clean_id,
    ensure_utc,
    get_int,
    get_list,
    get_obj,
    get_str,
    key_part,
    progress_percent,
    year_from,
)

# media.scrobble is Plex's own "passed 90 %" signal: a completion within the playback, not a
# manual mark (Plex has none), so it is a progress event with completed=True; the policy then
# lets the position decide, or counts it as 100 % when there is no position (SPEC §6).
_KINDS: dict[str, tuple[EventKind, bool]] = {
    "media.play": ("start", False),
    "media.resume": ("resume", False),
    "media.pause": ("pause", False),
    "media.stop": ("stop", False),
    "media.scrobble": ("progress", True),
}

_AGENT_PREFIXES = ("com.plexapp.agents.", "tv.plex.agents.")
_SCHEME_ALIASES = {
    "imdb": "imdb",
    "tmdb": "tmdb",
    "themoviedb": "tmdb",
    "tvdb": "tvdb",
    "thetvdb": "tvdb",
    # DVD-order TVDB: the show id is right; season/number are in DVD order (docs §2.4).
    "thetvdbdvdorder": "tvdb",
}
# HAMA anime agent: the source is the prefix before '-'; tvdb2…tvdb5 are TVDB numbering variants.
_HAMA_SOURCES = {
    "tvdb": "tvdb",
    "tvdb2": "tvdb",
    "tvdb3": "tvdb",
    "tvdb4": "tvdb",
    "tvdb5": "tvdb",
    "tmdb": "tmdb",
    "imdb": "imdb",
}


class _GuidIds:
    """Ids read from one legacy guid: ``own`` name the item itself, ``show`` name its show."""

    def __init__(self) -> None:
        self.own: dict[str, object] = {}
        self.show: dict[str, object] = {}
        self.season: int | None = None
        self.number: int | None = None


def _split_value(value: str) -> list[str]:
    return [part for part in value.split("/") if part]


def _place(result: _GuidIds, kind: str, parts: list[str]) -> None:
    """Three numeric parts are show/season/episode (an episode named by its show id)."""
    if len(parts) >= 3 and all(p.isdigit() for p in parts[:3]):
        result.show[kind] = parts[0]
        result.season, result.number = int(parts[1]), int(parts[2])
    elif len(parts) == 2 and all(p.isdigit() for p in parts):
        result.show[kind] = parts[0]  # show/season: a season guid
    elif parts:
        result.own[kind] = parts[0]


def parse_legacy_guid(guid: str) -> _GuidIds:
    """Ids from a ``Metadata.guid`` string of a legacy (or NFO / HAMA) agent (docs §2.4)."""
    result = _GuidIds()
    text = guid.strip()
    if "://" not in text:
        if text.lower().startswith("tt"):  # very old items: a bare IMDb id
            result.own["imdb"] = text.split("?", 1)[0]
        return result
    scheme, _, value = text.partition("://")
    scheme = scheme.lower()
    for prefix in _AGENT_PREFIXES:
        if scheme.startswith(prefix):
            scheme = scheme[len(prefix) :]
            break
    value = value.split("?", 1)[0]
    parts = _split_value(value)
    if scheme in _SCHEME_ALIASES:
        _place(result, _SCHEME_ALIASES[scheme], parts)
    elif scheme == "hama" and parts:
        source, _, first = parts[0].partition("-")
        kind = _HAMA_SOURCES.get(source.lower())
        if kind and first:  # anidb and friends are not Trakt-usable
            _place(result, kind, [first, *parts[1:]])
    elif scheme == "xbmcnfo" and parts:
        _place(result, "imdb" if parts[0].lower().startswith("tt") else "tmdb", parts)
    elif scheme == "xbmcnfotv" and parts:
        _place(result, "tvdb", parts)
    elif scheme.startswith("nfo.") and parts:
        # tv.plex.agents.nfo.movie://movie/tmdb_383498 — "<source>_<id>" in the last segment
        source, _, ident = parts[-1].partition("_")
        kind = _SCHEME_ALIASES.get(source.lower())
        if kind and ident:
            target = result.show if scheme.startswith("nfo.series") else result.own
            target[kind] = ident
    # none, local, plex (without Guid[]), xmltv, youtube-like agents: no usable ids
    return result


def _guid_array_ids(entries: list[Any]) -> dict[str, object]:
    """New-agent ``Guid[]`` entries (``imdb://tt…`` …); the first value per scheme wins."""
    ids: dict[str, object] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BadPayload(f"Metadata.Guid[{index}]: expected an object")
        raw = entry.get("id")
        if not isinstance(raw, str) or "://" not in raw:
            continue
        scheme, _, value = raw.partition("://")
        kind = _SCHEME_ALIASES.get(scheme.strip().lower())
        value = value.split("?", 1)[0].strip()
        if kind and value and kind not in ids:
            ids[kind] = value
    return ids


def _clean(raw: Mapping[str, object], allowed: tuple[str, ...]) -> Ids:
    ids: Ids = {}
    for kind, value in raw.items():
        if kind in allowed:
            cleaned = clean_id(kind, value)
            if cleaned is not None:
                ids[kind] = cleaned
    return ids


def parse(payload: dict[str, Any], *, received_at: datetime) -> PlaybackEvent | Ignored:
    """Normalise one decoded Plex ``payload`` part."""
    event = payload.get("event")
    if not isinstance(event, str) or not event.strip():
        raise BadPayload("event: missing or not a string")
    event = event.strip()
    if event not in _KINDS:
        return Ignored(f"plex event {event[:60]!r} is not playback")
    kind, completed = _KINDS[event]

    meta = get_obj(payload, "Metadata", "Metadata")
    if meta is None:
        raise BadPayload("Metadata: missing")
    media = get_str(meta, "type", "Metadata.type")
    if media is None:
        raise BadPayload("Metadata.type: missing")
    if media not in ("movie", "episode"):
        return Ignored(f"not a movie or episode: {media[:40]}")
    media_type: MediaType = "movie" if media == "movie" else "episode"

    account = get_obj(payload, "Account", "Account") or {}
    server = get_obj(payload, "Server", "Server") or {}
    player = get_obj(payload, "Player", "Player") or {}
    user_title = get_str(account, "title", "Account.title")
    account_id = get_str(account, "id", "Account.id")
    server_uuid = get_str(server, "uuid", "Server.uuid")
    player_uuid = get_str(player, "uuid", "Player.uuid")

    rating_key = get_str(meta, "ratingKey", "Metadata.ratingKey")
    title = get_str(meta, "title", "Metadata.title")
    year = year_from(get_int(meta, "year", "Metadata.year"))
    duration = get_int(meta, "duration", "Metadata.duration")
    offset = get_int(meta, "viewOffset", "Metadata.viewOffset")
    if offset is not None and offset < 0:
        raise BadPayload("Metadata.viewOffset: negative")
    if kind == "stop" and offset == 0:
        # A stop at 0 is "no position" (docs §6 rule 5): the session's last value decides.
        offset = None
    progress = progress_percent(offset, duration)

    # Ids: Guid[] (new agents) first, else the legacy guid string (docs §2.4 rules 1-6).
    guid_array = get_list(meta, "Guid", "Metadata.Guid")
    own: dict[str, object] = {}
    show_raw: dict[str, object] = {}
    legacy = _GuidIds()
    if guid_array:
        own = _guid_array_ids(guid_array)
    else:
        guid = get_str(meta, "guid", "Metadata.guid")
        if guid:
            legacy = parse_legacy_guid(guid)
            own = legacy.own
            show_raw = dict(legacy.show)

    show: ShowInfo | None = None
    season = number = None
    episode_title = None
    if media_type == "episode":
        for key in ("grandparentGuid", "parentGuid"):
            related = get_str(meta, key, f"Metadata.{key}")
            if related and not related.startswith("plex://"):
                extra = parse_legacy_guid(related)
                for kind_name, value in {**extra.own, **extra.show}.items():
                    show_raw.setdefault(kind_name, value)
        show = ShowInfo(
            title=get_str(meta, "grandparentTitle", "Metadata.grandparentTitle"),
            year=None,  # Plex's year on an episode is the episode's own (docs §2.3)
            ids=_clean(show_raw, SHOW_ID_KINDS),
        )
        season = get_int(meta, "parentIndex", "Metadata.parentIndex")
        number = get_int(meta, "index", "Metadata.index")
        if season is None:
            season = legacy.season
        if number is None:
            number = legacy.number
        episode_title = title
        ids = _clean(own, EPISODE_ID_KINDS)
    else:
        ids = _clean(own, MOVIE_ID_KINDS)

    local = f"plex:{key_part(server_uuid)}:{key_part(rating_key)}" if rating_key else None
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
    # Plex sends no session id: owner ids are 1 on every server, so the key combines server,
    # account, player and item; it stays the same for every event of one playback.
    session_key = ":".join(
        [
            "plex",
            key_part(server_uuid),
            key_part(account_id),
            key_part((user_title or "").lower()),
            key_part(player_uuid),
            key_part(rating_key or item_key),
        ]
    )
    paused = {"pause": True, "start": False, "resume": False}.get(kind)
    return PlaybackEvent(
        source="plex",
        kind=kind,
        media_type=media_type,
        session_key=session_key,
        item_key=item_key,
        occurred_at=ensure_utc(received_at),
        raw_event=event,
        user_external_ids=(user_title,) if user_title else (),
        user_name=user_title,
        title=title,
        year=year,
        ids=ids,
        show=show,
        season=season,
        number=number,
        episode_title=episode_title,
        progress=progress,
        position_known=progress is not None,
        position_ms=offset,
        duration_ms=duration if duration and duration > 0 else None,
        completed=completed,
        paused=paused,
        server_time=None,
        server_id=server_uuid,
    )
