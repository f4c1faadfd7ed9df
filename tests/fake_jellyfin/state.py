"""State of the fake Jellyfin/Emby server and the control methods tests use to steer it.

Everything a test sets or inspects lives on `FakeJellyfin`; the HTTP side is in `app.py` and
`routes.py`. The semantics follow docs/media-server-apis.md §3-§4 (server code, not guesses):

* mark played (`mark_played`): `Played=true`, resume position 0, `LastPlayedDate = date ?? the
  old one ?? now`, `PlayCount + 1` only when a date is given, else `max(PlayCount, 1)`; a Series
  or Season marks its episodes. Unplayed: `PlayCount 0`, position 0, no date, `Played=false`.
* playback (`start_playback` / `report_progress` / `stop_playback`): a start counts a play and
  sets `LastPlayedDate` to now (the *start*); up to 10.11 (and on Emby) a start also clears
  `Played`; progress and stop mark `Played` past 90 % or within 1 s of the end (5 % for items
  under 300 s); a stop without a position counts as the full runtime.
* Series/Season user data is derived from their episodes (`Played` when every non-virtual
  episode is, `UnplayedItemCount`, Jellyfin's `PlayedPercentage`).

Times: `clock()` is wall time in epoch seconds (pass a callable to move it); `monotonic()` is
real elapsed time for the request log.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .query import ItemQuery, run_query

Flavour = Literal["jellyfin", "emby"]

TICKS_PER_SECOND = 10_000_000
TICKS_PER_MS = 10_000
# Jellyfin's resume thresholds (Dashboard → Playback → Resume), docs §3.3.
MAX_RESUME_PCT = 90.0
MIN_RESUME_PCT = 5.0
MIN_RESUME_DURATION_SECONDS = 300
DEFAULT_VERSIONS: dict[str, str] = {"jellyfin": "10.11.11", "emby": "4.9.1.80"}
PRODUCT_NAMES: dict[str, str] = {"jellyfin": "Jellyfin Server", "emby": "Emby Server"}
FOLDER_TYPES = ("Series", "Season", "CollectionFolder")
# Sort keys the fake implements (ItemSortBy names); others are skipped like unknown ones.
SORT_KEYS = (
    "SortName", "Name", "DateCreated", "ProductionYear", "PremiereDate", "DatePlayed",
    "PlayCount", "SeriesSortName", "ParentIndexNumber", "IndexNumber", "Runtime", "Random",
)  # fmt: skip


def dotnet_iso(ts: float) -> str:
    """A .NET UTC timestamp as these servers write it: 7 fractional digits and Z."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond * 10:07d}Z"


def parse_date_played(value: str, *, flavour: Flavour) -> float:
    """`datePlayed` as the servers read it: `yyyyMMddHHmmss` (UTC) everywhere; Jellyfin also
    takes ISO 8601 (naive = UTC). Raises ValueError for anything else."""
    text = value.strip()
    if re.fullmatch(r"\d{14}", text):
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()
    if flavour == "emby":  # documented format only: "Format = yyyyMMddHHmmss"
        raise ValueError(f"DatePlayed must be yyyyMMddHHmmss, got {value!r}")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_version(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:4])


@dataclass(slots=True, eq=False)
class User:
    id: str
    name: str
    is_admin: bool = False
    is_hidden: bool = False
    is_disabled: bool = False
    password: str = ""
    last_activity: float | None = None


@dataclass(slots=True, eq=False)
class Item:
    """A library entry: Movie, Series, Season, Episode, or a library folder (CollectionFolder).

    `provider_ids` is served exactly as stored (keys in whatever case the test put there)."""

    id: str
    name: str
    type: str
    order: int
    year: int | None = None
    runtime_ticks: int | None = None
    provider_ids: dict[str, str] = field(default_factory=dict)
    library_id: str | None = None
    parent_id: str | None = None
    series_id: str | None = None
    series_name: str | None = None
    season_id: str | None = None
    season_name: str | None = None
    season: int | None = None  # ParentIndexNumber (episodes)
    number: int | None = None  # IndexNumber (episodes; season number on seasons)
    date_created: float = 0.0
    location_type: str = "FileSystem"  # "Virtual": a missing-episode placeholder
    path: str | None = None
    collection_type: str | None = None  # library folders: "movies" | "tvshows"

    @property
    def is_folder(self) -> bool:
        return self.type in FOLDER_TYPES

    @property
    def sort_name(self) -> str:
        name = self.name.lower()
        for article in ("the ", "a ", "an "):
            if name.startswith(article):
                return name[len(article) :]
        return name


@dataclass(slots=True)
class UserData:
    played: bool = False
    play_count: int = 0
    last_played: float | None = None
    is_favorite: bool = False
    position_ticks: int = 0
    rating: float | None = None
    likes: bool | None = None


@dataclass(eq=False)
class Session:
    id: str
    user_id: str
    device_id: str
    device_name: str = "Living Room TV"
    client: str = "Jellyfin Web"
    app_version: str = "10.11.11"
    item: Item | None = None
    position_ticks: int = 0
    is_paused: bool = False
    last_activity: float = 0.0
    last_playback_check_in: float | None = None
    supports_remote_control: bool = True
    is_theme_media: bool = False  # theme songs/videos show up as sessions (docs §6.15)
    additional_user_ids: list[str] = field(default_factory=list)
    play_method: str = "DirectPlay"


@dataclass
class Caller:
    """Who a request authenticated as: an API key (admin, no user) or a user's access token."""

    kind: Literal["api_key", "user"]
    token: str
    via: str  # where the token came from: "Authorization", "X-Emby-Token", "api_key", …
    user: User | None = None
    device_id: str | None = None
    device_name: str | None = None
    client: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "api_key" or (self.user is not None and self.user.is_admin)


@dataclass
class LoggedRequest:
    t: float  # monotonic seconds
    wall: float  # the fake's clock
    method: str
    path: str  # as received, prefix included
    local_path: str  # without the /emby or /mediabrowser prefix
    query: dict[str, str]  # as received (last value of repeated keys)
    headers: dict[str, str]  # lower-case names
    body: Any = None
    route: str | None = None  # the matched template, e.g. "/Users/{userId}/Items"
    caller: str | None = None  # "api_key" | "user" | None (no or bad token)
    auth_via: str | None = None
    user: str | None = None  # the user id the request acted for
    status: int | None = None


@dataclass
class Fault:
    kind: int | str  # a status code, "hang" or "drop"
    method: str | None = None
    path: str | None = None


@dataclass
class Change:
    """One user-data change made through the API (the journal tests assert on)."""

    wall: float
    user_id: str
    item_id: str
    action: str  # "played" | "unplayed" | "userdata" | "favorite" | "unfavorite"
    date: float | None = None


class FakeJellyfin:
    """An in-memory Jellyfin (or Emby, with `flavour="emby"`): users, API keys and user
    tokens, libraries with ids, per-user watched state, sessions, a request log and faults."""

    def __init__(
        self,
        flavour: Flavour = "jellyfin",
        *,
        version: str | None = None,
        server_name: str | None = None,
        api_key: str | None = "fake-jellyfin-api-key-0123456789ab",
        clock: Callable[[], float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        seed: int = 0,
    ) -> None:
        if flavour not in ("jellyfin", "emby"):
            raise ValueError(f"flavour must be 'jellyfin' or 'emby', not {flavour!r}")
        self.flavour: Flavour = flavour
        self.version = version or DEFAULT_VERSIONS[flavour]
        self.product_name = PRODUCT_NAMES[flavour]
        self.server_name = server_name or f"{flavour}-den"
        self.clock: Callable[[], float] = clock or time.time
        self.monotonic = monotonic
        self._rng = random.Random(seed)
        self.server_id = self._hex_id()
        # behaviour switches
        # Jellyfin's EnableLegacyAuthorization: X-Emby-Token, X-MediaBrowser-Token,
        # X-Emby-Authorization, the `Emby` scheme and `api_key` work only while it is on
        # (default on up to 10.11, off from 12.0). Emby always takes them.
        self.legacy_auth = flavour == "emby" or self.version_info < (12,)
        # Emby answers 403 to GET /Users with an API key (reported 2024-25, docs §4):
        # clients should ask /Users/Query. Off: /Users lists users like Jellyfin.
        self.users_forbidden_for_api_keys = flavour == "emby"
        self.hang_seconds = 3600.0
        self.latency = 0.0  # seconds every answer waits
        # websocket (socket.py): refuse every handshake (403) to make clients poll; push the
        # session list at the interval asked in SessionsStart as well as on every change (the
        # real servers push on changes and on playing clients' progress only); the
        # ForceKeepAlive period (a socket silent that long is dropped).
        self.socket_refused = False
        self.socket_periodic = True
        self.keepalive_seconds = 60.0
        self.sockets: list[Any] = []  # open socket.Connection objects
        self.socket_messages: list[tuple[str, Any]] = []  # (MessageType, Data) clients sent
        self.lock = threading.RLock()
        # state
        self.api_keys: dict[str, str] = {}  # token → app name
        self.user_tokens: dict[str, tuple[str, str | None]] = {}  # token → (user id, device)
        self.users: dict[str, User] = {}
        self.items: dict[str, Item] = {}
        self.libraries: list[Item] = []
        self._content: list[Item] = []  # every non-library item, in insertion order
        self._children: dict[str, list[Item]] = {}
        self._episodes: dict[str, list[Item]] = {}  # series id → episodes
        self._user_data: dict[str, dict[str, UserData]] = {}
        self.sessions: list[Session] = []
        self.requests: list[LoggedRequest] = []
        self.changes: list[Change] = []
        self._faults: deque[Fault] = deque()
        self._emby_ids = itertools.count(30_000)
        self._order = itertools.count()
        self.items_version = 0
        self._user_versions: dict[str, int] = {}
        self._query_cache: dict[tuple[Any, ...], list[Item]] = {}
        self._provider_index: tuple[int, dict[tuple[str, str], list[Item]]] = (-1, {})
        self.api_key = self.add_api_key(api_key) if api_key else ""
        self.movies_library = self.add_library("Movies", "movies")
        self.shows_library = self.add_library("Shows", "tvshows")

    # ------------------------------------------------------------------ identity

    @property
    def version_info(self) -> tuple[int, ...]:
        return parse_version(self.version)

    def _hex_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def _item_id(self) -> str:
        """Jellyfin: a GUID as 32 hex; Emby: a numeric string."""
        return str(next(self._emby_ids)) if self.flavour == "emby" else self._hex_id()

    def normalize_id(self, value: str) -> str:
        """Ids as routes accept them: GUIDs with or without dashes, any case."""
        return value.replace("-", "").lower()

    # ------------------------------------------------------------------ keys, users, tokens

    def add_api_key(self, token: str | None = None, app: str = "trakt-plugin") -> str:
        """An API key made in the admin dashboard: admin rights, no user of its own."""
        token = token or self._hex_id()
        self.api_keys[token] = app
        return token

    def revoke_api_key(self, token: str) -> None:
        self.api_keys.pop(token, None)

    def add_user(
        self,
        name: str,
        *,
        admin: bool = False,
        hidden: bool = False,
        disabled: bool = False,
        password: str = "",
        user_id: str | None = None,
    ) -> User:
        with self.lock:
            user = User(
                id=user_id or self._hex_id(),
                name=name,
                is_admin=admin,
                is_hidden=hidden,
                is_disabled=disabled,
                password=password,
            )
            self.users[user.id] = user
            return user

    def user(self, name_or_id: str) -> User:
        found = self.users.get(self.normalize_id(name_or_id))
        if found is not None:
            return found
        for user in self.users.values():
            if user.name == name_or_id:
                return user
        raise KeyError(name_or_id)

    def issue_user_token(self, user: User | str, device_id: str | None = None) -> str:
        """An access token as `POST /Users/AuthenticateByName` returns (that user's rights)."""
        user = self._as_user(user)
        token = self._hex_id()
        self.user_tokens[token] = (user.id, device_id)
        return token

    def _as_user(self, user: User | str) -> User:
        return user if isinstance(user, User) else self.user(user)

    # ------------------------------------------------------------------ library

    def add_library(self, name: str, collection_type: str) -> Item:
        with self.lock:
            folder = Item(
                id=self._item_id(),
                name=name,
                type="CollectionFolder",
                order=next(self._order),
                collection_type=collection_type,
                date_created=self.clock(),
            )
            self.items[folder.id] = folder
            self.libraries.append(folder)
            self.items_version += 1
            return folder

    def _add(self, item: Item) -> Item:
        with self.lock:
            self.items[item.id] = item
            self._content.append(item)
            if item.parent_id is not None:
                self._children.setdefault(item.parent_id, []).append(item)
            if item.type == "Episode" and item.series_id is not None:
                self._episodes.setdefault(item.series_id, []).append(item)
            self.items_version += 1
            return item

    def add_movie(
        self,
        name: str,
        year: int | None = None,
        provider_ids: dict[str, str] | None = None,
        *,
        runtime_minutes: float | None = 120,
        library: Item | None = None,
        date_created: float | None = None,
    ) -> Item:
        library = library or self.movies_library
        return self._add(
            Item(
                id=self._item_id(),
                name=name,
                type="Movie",
                order=next(self._order),
                year=year,
                runtime_ticks=_ticks(runtime_minutes),
                provider_ids=dict(provider_ids or {}),
                library_id=library.id,
                parent_id=library.id,
                date_created=self.clock() if date_created is None else date_created,
                path=f"/media/movies/{name} ({year})/{name}.mkv",
            )
        )

    def add_series(
        self,
        name: str,
        year: int | None = None,
        provider_ids: dict[str, str] | None = None,
        *,
        library: Item | None = None,
        date_created: float | None = None,
    ) -> Item:
        library = library or self.shows_library
        return self._add(
            Item(
                id=self._item_id(),
                name=name,
                type="Series",
                order=next(self._order),
                year=year,
                provider_ids=dict(provider_ids or {}),
                library_id=library.id,
                parent_id=library.id,
                date_created=self.clock() if date_created is None else date_created,
                path=f"/media/shows/{name}",
            )
        )

    def add_season(self, series: Item, number: int, *, date_created: float | None = None) -> Item:
        return self._add(
            Item(
                id=self._item_id(),
                name=f"Season {number}",
                type="Season",
                order=next(self._order),
                year=series.year,
                library_id=series.library_id,
                parent_id=series.id,
                series_id=series.id,
                series_name=series.name,
                number=number,
                date_created=self.clock() if date_created is None else date_created,
                path=f"{series.path}/Season {number:02d}",
            )
        )

    def season_of(self, series: Item, number: int) -> Item | None:
        for child in self._children.get(series.id, []):
            if child.type == "Season" and child.number == number:
                return child
        return None

    def add_episode(
        self,
        series: Item,
        season: int,
        number: int,
        name: str = "",
        provider_ids: dict[str, str] | None = None,
        *,
        runtime_minutes: float | None = 45,
        year: int | None = None,
        virtual: bool = False,
        date_created: float | None = None,
        season_item: Item | None = None,
    ) -> Item:
        """An episode (its season folder is made on first use). `virtual=True`: a "missing
        episode" placeholder (`LocationType: Virtual`, no file)."""
        season_folder = season_item or self.season_of(series, season)
        if season_folder is None:
            season_folder = self.add_season(series, season)
        return self._add(
            Item(
                id=self._item_id(),
                name=name or f"Episode {number}",
                type="Episode",
                order=next(self._order),
                year=year if year is not None else series.year,
                runtime_ticks=_ticks(runtime_minutes),
                provider_ids=dict(provider_ids or {}),
                library_id=series.library_id,
                parent_id=season_folder.id,
                series_id=series.id,
                series_name=series.name,
                season_id=season_folder.id,
                season_name=season_folder.name,
                season=season,
                number=number,
                date_created=self.clock() if date_created is None else date_created,
                location_type="Virtual" if virtual else "FileSystem",
                path=None if virtual else f"{season_folder.path}/S{season:02d}E{number:02d}.mkv",
            )
        )

    def item(self, item_id: str) -> Item:
        return self.items[self.normalize_id(item_id) if self.flavour == "jellyfin" else item_id]

    def children(self, item: Item) -> list[Item]:
        return list(self._children.get(item.id, []))

    def episodes_of(self, series: Item) -> list[Item]:
        return list(self._episodes.get(series.id, []))

    def _descendant_episodes(self, folder: Item) -> list[Item]:
        if folder.type == "Series":
            return self._episodes.get(folder.id, [])
        if folder.type == "Season":
            return [i for i in self._children.get(folder.id, []) if i.type == "Episode"]
        return []

    # ------------------------------------------------------------------ user data

    def stored_user_data(self, user: User | str, item: Item) -> UserData | None:
        return self._user_data.get(self._as_user(user).id, {}).get(item.id)

    def _record(self, user_id: str, item: Item) -> UserData:
        per_user = self._user_data.setdefault(user_id, {})
        data = per_user.get(item.id)
        if data is None:
            data = per_user[item.id] = UserData()
        return data

    def _touched(self, user_id: str) -> None:
        self._user_versions[user_id] = self._user_versions.get(user_id, 0) + 1

    def user_data(self, user: User | str, item: Item) -> UserData:
        """What the server reports for `item` and `user` (folders derived from episodes)."""
        user = self._as_user(user)
        stored = self._user_data.get(user.id, {}).get(item.id)
        data = UserData() if stored is None else _copy(stored)
        if item.type in ("Series", "Season"):
            total, unplayed = self.episode_counts(user, item)
            data.played = total > 0 and unplayed == 0
        return data

    def episode_counts(self, user: User | str, folder: Item) -> tuple[int, int]:
        """(episodes with a file, of which unplayed) under a Series or Season for `user`."""
        per_user = self._user_data.get(self._as_user(user).id, {})
        total = unplayed = 0
        for episode in self._descendant_episodes(folder):
            if episode.location_type == "Virtual":
                continue
            total += 1
            data = per_user.get(episode.id)
            if data is None or not data.played:
                unplayed += 1
        return total, unplayed

    def set_user_data(
        self,
        user: User | str,
        item: Item,
        *,
        played: bool | None = None,
        play_count: int | None = None,
        last_played: float | Literal["keep"] | None = "keep",
        position_ticks: int | None = None,
        is_favorite: bool | None = None,
    ) -> UserData:
        """Set stored values directly (test setup; no journal entry, no log)."""
        user = self._as_user(user)
        with self.lock:
            data = self._record(user.id, item)
            if played is not None:
                data.played = played
                if played and play_count is None and data.play_count == 0:
                    data.play_count = 1
            if play_count is not None:
                data.play_count = play_count
            if last_played != "keep":
                data.last_played = last_played
            if position_ticks is not None:
                data.position_ticks = position_ticks
            if is_favorite is not None:
                data.is_favorite = is_favorite
            self._touched(user.id)
            return data

    def set_played(
        self, user: User | str, item: Item, last_played: float | None = None, play_count: int = 1
    ) -> UserData:
        """Setup shortcut: `item` watched by `user` (`last_played` None: played without a date)."""
        return self.set_user_data(
            user, item, played=True, play_count=play_count, last_played=last_played
        )

    def played_items(self, user: User | str) -> list[Item]:
        per_user = self._user_data.get(self._as_user(user).id, {})
        return [self.items[i] for i, data in per_user.items() if data.played]

    def mark_played(self, user: User | str, item: Item, date: float | None = None) -> UserData:
        """The server's MarkPlayed (what POST …PlayedItems does); folders mark their episodes."""
        user = self._as_user(user)
        with self.lock:
            targets = [item]
            if item.is_folder:  # Folder.MarkPlayed: the episodes with a file, not the folder
                targets = [
                    e for e in self._descendant_episodes(item) if e.location_type != "Virtual"
                ]
            for target in targets:
                self._mark_one(user.id, target, date)
            self.changes.append(Change(self.clock(), user.id, item.id, "played", date))
            self._touched(user.id)
            return self.user_data(user, item)

    def _mark_one(self, user_id: str, item: Item, date: float | None) -> None:
        data = self._record(user_id, item)
        data.played = True
        data.position_ticks = 0
        if date is not None:
            data.last_played = date
            data.play_count += 1
        else:
            if data.last_played is None:
                data.last_played = self.clock()
            data.play_count = max(data.play_count, 1)

    def mark_unplayed(self, user: User | str, item: Item) -> UserData:
        """The server's MarkUnplayed (DELETE …PlayedItems); folders unmark their episodes."""
        user = self._as_user(user)
        with self.lock:
            targets = self._descendant_episodes(item) if item.is_folder else [item]
            for target in targets:
                data = self._record(user.id, target)
                data.played, data.play_count = False, 0
                data.position_ticks, data.last_played = 0, None
            self.changes.append(Change(self.clock(), user.id, item.id, "unplayed"))
            self._touched(user.id)
            return self.user_data(user, item)

    def update_user_data(self, user: User | str, item: Item, values: dict[str, Any]) -> UserData:
        """POST …/UserData: set the given fields as they are (keys as in UpdateUserItemDataDto)."""
        user = self._as_user(user)
        with self.lock:
            data = self._record(user.id, item)
            if "played" in values:
                data.played = bool(values["played"])
            if "playcount" in values:
                data.play_count = int(values["playcount"])
            if "lastplayeddate" in values:
                data.last_played = values["lastplayeddate"]
            if "playbackpositionticks" in values:
                data.position_ticks = int(values["playbackpositionticks"])
            if "isfavorite" in values:
                data.is_favorite = bool(values["isfavorite"])
            if "rating" in values:
                data.rating = values["rating"]
            if "likes" in values:
                data.likes = values["likes"]
            self.changes.append(Change(self.clock(), user.id, item.id, "userdata"))
            self._touched(user.id)
            return self.user_data(user, item)

    def set_favorite(self, user: User | str, item: Item, favorite: bool) -> UserData:
        user = self._as_user(user)
        with self.lock:
            self._record(user.id, item).is_favorite = favorite
            action = "favorite" if favorite else "unfavorite"
            self.changes.append(Change(self.clock(), user.id, item.id, action))
            self._touched(user.id)
            return self.user_data(user, item)

    # ------------------------------------------------------------------ sessions

    def start_playback(
        self,
        user: User | str,
        item: Item,
        *,
        position_ticks: int = 0,
        paused: bool = False,
        device_id: str | None = None,
        device_name: str = "Living Room TV",
        client: str | None = None,
        theme_media: bool = False,
        count_play: bool = True,
        position_ms: int | None = None,
    ) -> Session:
        """A client starts playing `item` (reusing that user's session on `device_id`). Like the
        server, the start counts a play and sets LastPlayedDate (unless `count_play=False`).
        The position is `position_ticks`, or `position_ms` when given."""
        user = self._as_user(user)
        if position_ms is not None:
            position_ticks = position_ms * TICKS_PER_MS
        with self.lock:
            now = self.clock()
            device_id = device_id or f"device-{user.name}-{device_name}".replace(" ", "-")
            session = self.session_for(user, device_id)
            if session is None:
                session = Session(
                    id=self._hex_id(),
                    user_id=user.id,
                    device_id=device_id,
                    device_name=device_name,
                    client=client or ("Emby Web" if self.flavour == "emby" else "Jellyfin Web"),
                    app_version=self.version,
                )
                self.sessions.append(session)
            session.item, session.position_ticks, session.is_paused = item, position_ticks, paused
            session.is_theme_media = theme_media
            session.last_activity = session.last_playback_check_in = now
            user.last_activity = now
            if count_play and not theme_media:
                data = self._record(user.id, item)
                data.play_count += 1
                data.last_played = now
                if self.flavour == "emby" or self.version_info < (12,):
                    data.played = False  # a re-watch un-marks it up to 10.11 (PR #15762)
                self._touched(user.id)
            self.sessions_changed()
            return session

    def session_for(self, user: User | str, device_id: str) -> Session | None:
        user = self._as_user(user)
        for session in self.sessions:
            if session.user_id == user.id and session.device_id == device_id:
                return session
        return None

    def report_progress(
        self, session: Session, position_ticks: int | None = None, *, paused: bool | None = None
    ) -> Session:
        """A progress report: moves the position, pauses/unpauses, may mark the item played."""
        with self.lock:
            if position_ticks is not None:
                session.position_ticks = position_ticks
            if paused is not None:
                session.is_paused = paused
            session.last_activity = session.last_playback_check_in = self.clock()
            if session.item is not None and not session.is_theme_media:
                self._update_play_state(session.user_id, session.item, session.position_ticks)
            self.sessions_changed()
            return session

    def progress(
        self, session: Session, position_ms: int, *, paused: bool | None = None
    ) -> Session:
        """A progress report at `position_ms` (milliseconds)."""
        return self.report_progress(session, position_ms * TICKS_PER_MS, paused=paused)

    def pause(self, session: Session, position_ms: int | None = None) -> Session:
        ticks = None if position_ms is None else position_ms * TICKS_PER_MS
        return self.report_progress(session, ticks, paused=True)

    def resume(self, session: Session, position_ms: int | None = None) -> Session:
        ticks = None if position_ms is None else position_ms * TICKS_PER_MS
        return self.report_progress(session, ticks, paused=False)

    def stop_playback(
        self,
        session: Session,
        position_ticks: int | None = None,
        *,
        position_ms: int | None = None,
    ) -> Session:
        """The client stops (at `position_ticks`, or `position_ms` when given): no position
        counts as the full runtime. The playback leaves the session list (no NowPlayingItem);
        the session itself stays, idle, as on the real servers (`end_session` removes it)."""
        if position_ms is not None:
            position_ticks = position_ms * TICKS_PER_MS
        with self.lock:
            item = session.item
            if item is not None and not session.is_theme_media:
                self._update_play_state(session.user_id, item, position_ticks)
            if position_ticks is not None:
                session.position_ticks = position_ticks
            session.item, session.is_paused = None, False
            session.last_activity = self.clock()
            self.sessions_changed()
            return session

    def end_session(self, session: Session) -> None:
        with self.lock:
            if session in self.sessions:
                self.sessions.remove(session)
            self.sessions_changed()

    # ------------------------------------------------------------------ websocket

    def sessions_changed(self) -> None:
        """Wake every subscribed socket: the server pushes the list on session events."""
        with self.lock:
            for connection in list(self.sockets):
                connection.wake()

    def drop_sockets(self) -> int:
        """Close every open websocket (code 1001, going away), as a server restart does;
        returns how many were open."""
        with self.lock:
            open_now = list(self.sockets)
            for connection in open_now:
                connection.drop()
            return len(open_now)

    def _update_play_state(self, user_id: str, item: Item, position: int | None) -> None:
        """UserDataManager.UpdatePlayState: where a reported position leaves the user data."""
        data = self._record(user_id, item)
        runtime = item.runtime_ticks or 0
        completed = False
        if position is None or runtime <= 0:
            completed, position = True, 0
        else:
            pct = 100.0 * position / runtime
            if pct < MIN_RESUME_PCT:
                position = 0
            elif (
                pct > MAX_RESUME_PCT
                or position >= runtime - TICKS_PER_SECOND
                or runtime / TICKS_PER_SECOND < MIN_RESUME_DURATION_SECONDS
            ):
                completed, position = True, 0
        data.position_ticks = position
        if completed:
            data.played = True
        self._touched(user_id)

    # ------------------------------------------------------------------ items query

    def query(self, user: User | None, query: ItemQuery) -> list[Item]:
        """The items `query` selects, in order (cached until items or that user's data change)."""
        user_version = self._user_versions.get(user.id, 0) if user else 0
        key = (
            query,
            user.id if user and query.needs_user_data else None,
            self.items_version,
            user_version if query.needs_user_data else 0,
        )
        cached = self._query_cache.get(key)
        if cached is not None:
            return cached
        with self.lock:
            result = run_query(self, user, query)
            if len(self._query_cache) > 64:
                self._query_cache.clear()
            self._query_cache[key] = result
            return result

    # ------------------------------------------------------------------ faults and log

    def fail_next(
        self,
        n: int = 1,
        kind: int | str = 500,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next `n` matching requests fail: a status (500, 502, 503, 401, …), "hang" (no
        answer for `hang_seconds`) or "drop" (the connection dies mid-answer). `path` is a route
        template ("/Users/{userId}/Items") or a concrete path, compared without the /emby prefix
        and case-insensitively."""
        for _ in range(n):
            self._faults.append(Fault(kind, method, path))

    def clear_faults(self) -> None:
        self._faults.clear()

    def take_fault(self, method: str, local_path: str, route: str | None) -> Fault | None:
        for fault in self._faults:
            if fault.method is not None and fault.method != method:
                continue
            if fault.path is not None and fault.path.lower() not in (
                local_path.lower(),
                (route or "").lower(),
            ):
                continue
            self._faults.remove(fault)
            return fault
        return None

    def requests_to(
        self, path: str | None = None, method: str | None = None
    ) -> list[LoggedRequest]:
        """Logged requests to a route template or a concrete path (no prefix, any case)."""
        wanted = path.lower() if path is not None else None
        return [
            r
            for r in self.requests
            if (
                wanted is None
                or wanted == r.local_path.lower()
                or (r.route is not None and wanted == r.route.lower())
            )
            and (method is None or r.method == method)
        ]

    @property
    def writes(self) -> list[LoggedRequest]:
        """Every request that could change state (POST, DELETE, …), answered or not."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD", "OPTIONS")]

    def clear_log(self) -> None:
        self.requests.clear()
        self.changes.clear()


def _ticks(minutes: float | None) -> int | None:
    return None if minutes is None else int(minutes * 60 * TICKS_PER_SECOND)


def _copy(data: UserData) -> UserData:
    return UserData(
        data.played, data.play_count, data.last_played, data.is_favorite,
        data.position_ticks, data.rating, data.likes,
    )  # fmt: skip
