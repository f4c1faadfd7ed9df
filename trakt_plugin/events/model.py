"""The normalised playback event every webhook source is turned into, and its error types.

Parsers (``trakt_plugin.events.parsers``) build a :class:`PlaybackEvent` or an :class:`Ignored`
from a decoded webhook body; :class:`BadPayload` and :class:`UnsupportedMediaType` are the only
exceptions webhook parsing ever raises (the route maps them to 400 and 415).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeAlias, get_args

Source: TypeAlias = Literal["revenge", "plex", "jellyfin", "emby"]
EventKind: TypeAlias = Literal[
    "start", "pause", "resume", "progress", "stop", "watched", "unwatched"
]
MediaType: TypeAlias = Literal["movie", "episode"]
IdValue: TypeAlias = int | str
Ids: TypeAlias = dict[str, IdValue]

SOURCES: tuple[Source, ...] = get_args(Source)
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

# Id kinds Trakt accepts per item type (SPEC §8 / §9.1); anything else (tvrage, anidb…) is dropped.
MOVIE_ID_KINDS: tuple[str, ...] = ("trakt", "slug", "imdb", "tmdb")
SHOW_ID_KINDS: tuple[str, ...] = ("trakt", "slug", "imdb", "tmdb", "tvdb")
EPISODE_ID_KINDS: tuple[str, ...] = ("trakt", "imdb", "tmdb", "tvdb")
NUMERIC_ID_KINDS: frozenset[str] = frozenset({"trakt", "tmdb", "tvdb"})

# A runtime longer than a week is a server's placeholder or garbage, never a movie or episode:
# it is dropped rather than stored (and would not fit SQLite's INTEGER past ~1e19 anyway).
MAX_RUNTIME_MINUTES = 7 * 24 * 60
MS_PER_MINUTE = 60_000


def runtime_minutes(duration_ms: int | None) -> int | None:
    """Whole minutes of a duration (at least 1 for anything positive); None when unknown."""
    if duration_ms is None or duration_ms <= 0:
        return None
    minutes = max(1, round(duration_ms / MS_PER_MINUTE))
    return minutes if minutes <= MAX_RUNTIME_MINUTES else None


# Error messages go to the API answer and the rejected-deliveries log: keep them short so a
# hostile body can never be echoed back at length.
MAX_REASON_CHARS = 200


def _cap(reason: str) -> str:
    reason = " ".join(str(reason).split())
    if len(reason) > MAX_REASON_CHARS:
        return reason[: MAX_REASON_CHARS - 1] + "…"
    return reason


class BadPayload(Exception):
    """A webhook body that is malformed or structurally wrong (→ HTTP 400)."""

    def __init__(self, reason: str) -> None:
        self.reason = _cap(reason)
        super().__init__(self.reason)


class UnknownSource(BadPayload):
    """``source`` is not one of :data:`SOURCES` (the route may answer 404 instead of 400)."""


class UnsupportedMediaType(Exception):
    """The content type is not one the source sends (→ HTTP 415)."""

    def __init__(self, reason: str) -> None:
        self.reason = _cap(reason)
        super().__init__(self.reason)


@dataclass(frozen=True)
class Ignored:
    """A well-formed delivery that is not movie/episode playback (→ HTTP 200 ``{"ignored"}``)."""

    reason: str


@dataclass(frozen=True)
class ShowInfo:
    """The show an episode belongs to. ``year`` is only set when the source reports the show's."""

    title: str | None
    year: int | None = None
    ids: Ids = field(default_factory=dict)


@dataclass(frozen=True)
class PlaybackEvent:
    """One normalised webhook event (SPEC §5).

    ``ids`` are the movie's or the episode's own ids (only Trakt id kinds, ints for
    trakt/tmdb/tvdb). Show ids live in ``show.ids`` — a legacy Plex episode has only those, plus
    ``season``/``number``. ``progress`` is a percent in [0, 100] or ``None`` when the event
    carries no usable position; ``position_known`` says whether it came from a position.
    ``completed`` is the server's own completion signal (Plex ``media.scrobble``,
    ``PlayedToCompletion``). ``paused`` is the playback's paused state when the event states it
    (Jellyfin ``IsPaused``; True for pause events, False for start/resume), else ``None``.
    ``occurred_at`` is always UTC: Revenge's ``occurred_at`` or the receipt time.
    ``duration_ms`` is the item's length as the server reports it (Plex ``Metadata.duration``,
    Jellyfin/Emby ``RunTimeTicks``, Revenge ``runtime``/``duration``); the ledger stores it as
    the play's runtime in minutes (:attr:`runtime`), which the stats count as watch time.
    """

    source: Source
    kind: EventKind
    media_type: MediaType
    session_key: str
    item_key: str
    occurred_at: datetime
    raw_event: str
    user_external_ids: tuple[str, ...] = ()
    user_name: str | None = None
    title: str | None = None
    year: int | None = None
    ids: Ids = field(default_factory=dict)
    show: ShowInfo | None = None
    season: int | None = None
    number: int | None = None
    episode_title: str | None = None
    progress: float | None = None
    position_known: bool = False
    position_ms: int | None = None
    duration_ms: int | None = None
    completed: bool = False
    paused: bool | None = None
    server_time: datetime | None = None
    server_id: str | None = None

    @property
    def runtime(self) -> int | None:
        """The item's runtime in whole minutes, from ``duration_ms`` (None when unknown)."""
        return runtime_minutes(self.duration_ms)

    def trakt_item(self) -> dict[str, Any]:
        """The item in Trakt's shape (SPEC §9.1), movie or show + episode."""
        if self.media_type == "movie":
            return {
                "type": "movie",
                "movie": {"title": self.title, "year": self.year, "ids": dict(self.ids)},
            }
        show = self.show or ShowInfo(title=None)
        return {
            "type": "episode",
            "show": {"title": show.title, "year": show.year, "ids": dict(show.ids)},
            "episode": {
                "season": self.season,
                "number": self.number,
                "title": self.episode_title,
                "ids": dict(self.ids),
            },
        }

    def has_ids(self) -> bool:
        """True when Trakt can identify the item (own ids, or show ids plus season/number)."""
        if self.ids:
            return True
        return bool(
            self.show and self.show.ids and self.season is not None and self.number is not None
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (datetimes as ISO 8601 strings) for storing the raw event."""
        # Field by field, not asdict(): that deep-copies every value, and this runs for every
        # webhook event in the writer thread. Only ``ids`` and ``show`` hold containers.
        data = {name: getattr(self, name) for name in _EVENT_FIELDS}
        data["ids"] = dict(self.ids)
        data["show"] = asdict(self.show) if self.show is not None else None
        data["user_external_ids"] = list(self.user_external_ids)
        data["occurred_at"] = self.occurred_at.isoformat()
        data["server_time"] = self.server_time.isoformat() if self.server_time else None
        return data


def _best_id(ids: Ids, order: tuple[str, ...]) -> str | None:
    for kind in order:
        if kind in ids:
            return f"{kind}:{str(ids[kind]).lower()}"
    return None


# Preference order for the dedupe key: ids that most servers report for the same item come
# first, so the same movie from Plex (imdb, tmdb) and Jellyfin (tmdb, imdb) gets one key.
_MOVIE_KEY_ORDER = ("trakt", "imdb", "tmdb", "slug")
_EPISODE_KEY_ORDER = ("trakt", "tvdb", "imdb", "tmdb")
_SHOW_KEY_ORDER = ("trakt", "tvdb", "tmdb", "imdb", "slug")


def make_item_key(
    media_type: MediaType,
    ids: Ids,
    *,
    show: ShowInfo | None = None,
    season: int | None = None,
    number: int | None = None,
    local_key: str | None = None,
    title: str | None = None,
    year: int | None = None,
) -> str:
    """A stable string naming the media item, for dedupe across sessions and sources.

    Built from external ids when there are any; otherwise from the server-local item id
    (``local_key``), and as a last resort from the title.
    """
    if media_type == "movie":
        best = _best_id(ids, _MOVIE_KEY_ORDER)
        if best:
            return f"movie:{best}"
    else:
        best = _best_id(ids, _EPISODE_KEY_ORDER)
        if best:
            return f"episode:{best}"
        if show is not None and season is not None and number is not None:
            show_best = _best_id(show.ids, _SHOW_KEY_ORDER)
            if show_best:
                return f"show:{show_best}:s{season}e{number}"
    if local_key:
        return f"local:{local_key}"
    name = " ".join((title or "").lower().split())
    if media_type == "episode":
        show_name = " ".join(((show.title if show else None) or "").lower().split())
        return f"title:episode:{show_name}:s{season}e{number}:{name}"
    return f"title:movie:{name}:{year}"


_EVENT_FIELDS = tuple(f.name for f in fields(PlaybackEvent))
