"""State of the fake Plex Media Server and the control methods tests use to steer it.

Everything a test can set or inspect lives on `FakePlex`; the HTTP side is in `app.py`.

Model (docs/media-server-apis.md §2):

* accounts: the owner (server account id 1, the server token) plus home/shared accounts, each
  with its own server token; a token reads and changes only its account's state;
* sections of type `movie` or `show`; items `movie`, `show` → `season` → `episode`, each with a
  `ratingKey`, a `guid` (new agent `plex://…`, a legacy agent string, or none) and `Guid` children
  (`imdb://`, `tmdb://`, `tvdb://`) for new-agent items;
* per account and item a `UserState` (viewCount, lastViewedAt, viewOffset, userRating,
  lastRatedAt); play history rows (real plays only: marking watched writes none);
* live sessions (`/status/sessions`) and the notifications websocket (`socket.py`: a
  `playing` notification to every open socket at each session change); a request log; injected
  faults.

Times are epoch seconds from `clock` (pass a callable to steer it). All state changes take
`lock`, so a test may change state while the server thread answers requests.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

OWNER_ID = 1
LIBRARY_IDENTIFIER = "com.plexapp.plugins.library"
# Plex marks a video watched once playback passes its "video played threshold" (90 % default).
WATCHED_THRESHOLD = 0.9
# Plex's search types (`type=` on /library/sections/{id}/all).
TYPE_NUMBERS = {"movie": 1, "show": 2, "season": 3, "episode": 4}
TYPE_NAMES = {number: name for name, number in TYPE_NUMBERS.items()}
LEAF_TYPES = ("movie", "episode")
DEFAULT_VERSION = "1.41.9.9961-46083195d"
DEFAULT_OWNER_TOKEN = "fake-plex-owner-token"
# Agents a test may give an item; the guid forms follow docs/media-server-webhooks.md §2.4.
MOVIE_AGENTS = ("plex", "imdb", "themoviedb", "none", "local")
SHOW_AGENTS = ("plex", "thetvdb", "themoviedb", "none", "local")
SECTION_AGENTS = {"movie": "tv.plex.agents.movie", "show": "tv.plex.agents.series"}
CACHE_ENTRIES = 64


@dataclass(eq=False)
class Account:
    """A server account (`/accounts`). `token` is its own server token (None: it has none)."""

    id: int
    name: str
    token: str | None
    kind: str = "home"  # owner | home | shared
    sections: frozenset[int] | None = None  # a shared account sees only these; None: all

    @property
    def is_owner(self) -> bool:
        return self.id == OWNER_ID


@dataclass(slots=True, eq=False)
class PlexItem:
    """A library item. Episodes hang under a season, seasons under a show (`parent`)."""

    rating_key: int
    type: str  # movie | show | season | episode
    title: str
    section: int
    guid: str
    guids: tuple[str, ...] = ()
    year: int | None = None
    duration: int | None = None  # ms
    added_at: int = 0
    index: int | None = None  # season number, episode number
    agent: str = "plex"
    parent: PlexItem | None = None
    children: list[PlexItem] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # the ids its guid(s) carry (test truth)
    removed: bool = False

    @property
    def key(self) -> str:
        return f"/library/metadata/{self.rating_key}"

    @property
    def season(self) -> PlexItem | None:
        return self.parent if self.type == "episode" else None

    @property
    def show(self) -> PlexItem | None:
        if self.type == "episode":
            return self.parent.parent if self.parent else None
        if self.type == "season":
            return self.parent
        return None

    def leaves(self) -> list[PlexItem]:
        """The movies/episodes this item stands for (itself for a movie or an episode)."""
        if self.type in LEAF_TYPES:
            return [self]
        if self.type == "season":
            return list(self.children)
        return [episode for season in self.children for episode in season.children]


@dataclass(slots=True)
class UserState:
    """One account's state of one item (what PMS returns for that account's token)."""

    view_count: int = 0
    last_viewed_at: int | None = None
    view_offset: int = 0  # ms
    user_rating: float | None = None
    last_rated_at: int | None = None


@dataclass(slots=True, eq=False)
class HistoryEntry:
    id: int
    account_id: int
    item: PlexItem
    viewed_at: int
    device_id: int = 1


@dataclass(eq=False)
class PlaySession:
    """A playback in progress, as `/status/sessions` shows it."""

    session_key: int
    account: Account
    item: PlexItem
    view_offset: int = 0  # ms
    state: str = "playing"  # playing | paused | buffering
    player_title: str = "Living Room TV"
    product: str = "Plex for Android (TV)"
    platform: str = "Android"
    machine_identifier: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    address: str = "192.168.1.50"
    local: bool = True
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    recorded: bool = False  # the play passed the threshold and was recorded
    play_queue_item_id: int = 0


@dataclass
class Section:
    key: int
    title: str
    type: str  # movie | show
    agent: str
    uuid: str
    created_at: int
    location: str
    items: dict[str, list[PlexItem]] = field(default_factory=dict)  # by item type, in order


@dataclass
class Fault:
    kind: int | str  # a status code or "hang"
    method: str | None = None
    path: str | None = None  # exact path
    prefix: str | None = None  # path prefix


@dataclass
class LoggedRequest:
    t: float  # monotonic
    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: dict[str, str]
    token: str | None
    account_id: int | None = None  # the token's account; None for no/unknown token
    status: int | None = None
    json: bool = False  # answered in JSON

    @property
    def is_write(self) -> bool:
        return self.method in ("PUT", "POST", "DELETE") or self.path in WRITE_PATHS


# GET is accepted on these too, and they change state (docs §2.7).
WRITE_PATHS = frozenset({"/:/scrobble", "/:/unscrobble", "/:/rate", "/:/progress", "/:/timeline"})


class FakePlex:
    """An in-memory Plex Media Server: accounts, library, per-account state, history, faults."""

    def __init__(
        self,
        *,
        friendly_name: str = "Fake Plex",
        version: str = DEFAULT_VERSION,
        machine_identifier: str | None = None,
        owner_name: str = "owner",
        owner_token: str = DEFAULT_OWNER_TOKEN,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.friendly_name = friendly_name
        self.version = version
        self.machine_identifier = machine_identifier or uuid.uuid4().hex + "0" * 8
        self.clock = clock
        self.monotonic = monotonic
        self.lock = threading.RLock()
        # behaviour switches
        self.latency = 0.0  # seconds every answer waits
        self.hang_seconds = 3600.0  # how long a "hang" fault holds the request
        self.page_cap: int | None = None  # PMS may answer fewer than asked (docs §2.3)
        self.watched_threshold = WATCHED_THRESHOLD
        self.list_account_zero = True  # /accounts also lists PMS's nameless id 0 (docs §2.5)
        # state
        self.accounts: dict[int, Account] = {}
        self.sections: dict[int, Section] = {}
        self.items: dict[int, PlexItem] = {}
        self.user_state: dict[int, dict[int, UserState]] = {}
        self.history: list[HistoryEntry] = []
        self.sessions: dict[int, PlaySession] = {}
        self.requests: list[LoggedRequest] = []
        self._tokens: dict[str, int] = {}
        self._faults: list[Fault] = []
        self._hang_release = 0
        self._keys = itertools.count(1)
        self._section_keys = itertools.count(1)
        self._account_ids = itertools.count(20_000_001)
        self._history_ids = itertools.count(1)
        self._session_keys = itertools.count(1)
        self._play_queue_ids = itertools.count(4821)
        # notifications websocket (socket.py): open connections, and every container pushed
        self.sockets: list[Any] = []
        self.notifications: list[dict[str, Any]] = []
        self._version = 0  # bumped by every change; listing caches check it
        self._cache: dict[tuple[Any, ...], tuple[int, list[Any]]] = {}
        self.add_account(owner_name, id=OWNER_ID, token=owner_token, kind="owner")

    # ------------------------------------------------------------------ accounts and tokens

    @property
    def owner(self) -> Account:
        return self.accounts[OWNER_ID]

    @property
    def owner_token(self) -> str:
        token = self.owner.token
        assert token is not None
        return token

    def add_account(
        self,
        name: str,
        *,
        id: int | None = None,
        token: str | None = "",
        kind: str = "home",
        sections: Iterable[int | Section] | None = None,
    ) -> Account:
        """A home (or `kind="shared"`) account with its own server token (generated unless given;
        `token=None`: none). `sections` limits what a shared account sees."""
        with self.lock:
            account_id = id if id is not None else next(self._account_ids)
            if token == "":
                token = f"fake-plex-token-{account_id}-{uuid.uuid4().hex[:12]}"
            visible = None
            if sections is not None:
                visible = frozenset(s.key if isinstance(s, Section) else s for s in sections)
            account = Account(account_id, name, token, kind, visible)
            self.accounts[account_id] = account
            if token:
                self._tokens[token] = account_id
            self._bump()
            return account

    def account(self, ref: Account | int | str) -> Account:
        """An account by object, id or name."""
        if isinstance(ref, Account):
            return ref
        if isinstance(ref, int):
            return self.accounts[ref]
        for account in self.accounts.values():
            if account.name == ref:
                return account
        raise KeyError(ref)

    def token_account(self, token: str | None) -> Account | None:
        if not token:
            return None
        account_id = self._tokens.get(token)
        return None if account_id is None else self.accounts.get(account_id)

    def set_token(self, account: Account | int | str, token: str | None) -> None:
        """Give an account a new server token; its old one stops working (401)."""
        with self.lock:
            acc = self.account(account)
            if acc.token:
                self._tokens.pop(acc.token, None)
            acc.token = token
            if token:
                self._tokens[token] = acc.id

    def add_token(self, account: Account | int | str, token: str) -> None:
        """One more token for the account (PMS accepts every device token of an account); its
        other tokens keep working."""
        with self.lock:
            self._tokens[token] = self.account(account).id

    def revoke_token(self, token: str) -> None:
        """The token stops working (401) without a replacement."""
        with self.lock:
            account_id = self._tokens.pop(token, None)
            if account_id is not None:
                self.accounts[account_id].token = None

    # ------------------------------------------------------------------ library

    def add_section(
        self, title: str, type: str, *, key: int | None = None, agent: str | None = None
    ) -> Section:
        if type not in ("movie", "show"):
            raise ValueError(f"section type {type!r}: the fake serves movie and show sections")
        with self.lock:
            section_key = key if key is not None else next(self._section_keys)
            section = Section(
                key=section_key,
                title=title,
                type=type,
                agent=agent or SECTION_AGENTS[type],
                uuid=str(uuid.uuid4()),
                created_at=int(self.clock()),
                location=f"/data/{title.lower().replace(' ', '-')}",
                items={name: [] for name in TYPE_NUMBERS},
            )
            self.sections[section_key] = section
            self._bump()
            return section

    def section(self, ref: Section | int | str) -> Section:
        if isinstance(ref, Section):
            return ref
        if isinstance(ref, int):
            return self.sections[ref]
        for section in self.sections.values():
            if section.title == ref:
                return section
        raise KeyError(ref)

    def next_rating_key(self) -> int:
        return next(self._keys)

    def next_history_id(self) -> int:
        return next(self._history_ids)

    def attach(self, item: PlexItem) -> PlexItem:
        """Register a fully built item (the builder's fast path; `add_*` use it too)."""
        self.items[item.rating_key] = item
        self.sections[item.section].items[item.type].append(item)
        if item.parent is not None:
            item.parent.children.append(item)
        return item

    def add_movie(
        self,
        section: Section | int | str,
        title: str,
        *,
        year: int | None = None,
        ids: dict[str, str | int] | None = None,
        agent: str = "plex",
        guid: str | None = None,
        guids: Iterable[str] | None = None,
        duration: int = 7_200_000,
        added_at: int | None = None,
    ) -> PlexItem:
        """A movie. `ids` (imdb/tmdb) become its guid(s) the way `agent` writes them: "plex"
        (new agent: `plex://movie/…` + Guid children), "imdb"/"themoviedb" (legacy agents: only
        `com.plexapp.agents.imdb://tt…?lang=en` / `…themoviedb://603?lang=en`), "none"
        (`com.plexapp.agents.none://…`) or "local" (`local://…`). `guid`/`guids` override."""
        if agent not in MOVIE_AGENTS:
            raise ValueError(f"movie agent {agent!r} not one of {MOVIE_AGENTS}")
        with self.lock:
            sec = self.section(section)
            rk = self.next_rating_key()
            tag, tags, own = movie_guids(agent, rk, _clean(ids))
            item = PlexItem(
                rk,
                "movie",
                title,
                sec.key,
                guid if guid is not None else tag,
                tuple(guids) if guids is not None else tags,
                year,
                duration,
                self._added(added_at),
                None,
                agent,
                ids=own,
            )
            self.attach(item)
            self._bump()
            return item

    def add_show(
        self,
        section: Section | int | str,
        title: str,
        *,
        year: int | None = None,
        ids: dict[str, str | int] | None = None,
        agent: str = "plex",
        guid: str | None = None,
        guids: Iterable[str] | None = None,
        added_at: int | None = None,
    ) -> PlexItem:
        """A show; its `agent` ("plex", legacy "thetvdb"/"themoviedb", "none", "local") also
        decides its seasons' and episodes' guids."""
        if agent not in SHOW_AGENTS:
            raise ValueError(f"show agent {agent!r} not one of {SHOW_AGENTS}")
        with self.lock:
            sec = self.section(section)
            rk = self.next_rating_key()
            tag, tags, own = show_guids(agent, rk, _clean(ids))
            item = PlexItem(
                rk,
                "show",
                title,
                sec.key,
                guid if guid is not None else tag,
                tuple(guids) if guids is not None else tags,
                year,
                None,
                self._added(added_at),
                None,
                agent,
                ids=own,
            )
            self.attach(item)
            self._bump()
            return item

    def add_season(self, show: PlexItem | int, index: int) -> PlexItem:
        with self.lock:
            parent = self.item(show)
            for season in parent.children:
                if season.index == index:
                    return season
            rk = self.next_rating_key()
            item = PlexItem(
                rk,
                "season",
                f"Season {index}",
                parent.section,
                season_guid(parent, rk, index),
                (),
                parent.year,
                None,
                parent.added_at,
                index,
                parent.agent,
                parent,
            )
            self.attach(item)
            self._bump()
            return item

    def add_episode(
        self,
        show: PlexItem | int,
        season: int,
        number: int,
        title: str | None = None,
        *,
        ids: dict[str, str | int] | None = None,
        guid: str | None = None,
        guids: Iterable[str] | None = None,
        duration: int = 2_700_000,
        year: int | None = None,
        added_at: int | None = None,
    ) -> PlexItem:
        """Episode S`season`E`number` of `show` (the season is made when missing). New agent:
        `plex://episode/…` + Guid children from `ids` (the episode's own ids); legacy agents:
        `com.plexapp.agents.thetvdb://<show id>/<season>/<episode>?lang=en`, no Guid children."""
        with self.lock:
            parent = self.add_season(show, season)
            show_item = parent.parent
            assert show_item is not None
            rk = self.next_rating_key()
            tag, tags, own = episode_guids(show_item, rk, season, number, _clean(ids))
            item = PlexItem(
                rk,
                "episode",
                title or f"Episode {number}",
                parent.section,
                guid if guid is not None else tag,
                tuple(guids) if guids is not None else tags,
                year or show_item.year,
                duration,
                self._added(added_at),
                number,
                parent.agent,
                parent,
                ids=own,
            )
            self.attach(item)
            self._bump()
            return item

    def _added(self, added_at: int | None) -> int:
        return int(added_at if added_at is not None else self.clock())

    def remove_item(self, item: PlexItem | int) -> None:
        """Delete an item (and what hangs under it): gone from the library, its history rows
        stay (without a `key`, as for deleted media)."""
        with self.lock:
            target = self.item(item)
            stack = [target]
            while stack:
                current = stack.pop()
                stack.extend(current.children)
                current.removed = True
                self.items.pop(current.rating_key, None)
                listing = self.sections[current.section].items[current.type]
                listing.remove(current)
            if target.parent is not None:
                target.parent.children.remove(target)
            self._bump()

    def item(self, ref: PlexItem | int) -> PlexItem:
        if isinstance(ref, PlexItem):
            return ref
        return self.items[ref]

    def visible(self, account: Account, item: PlexItem) -> bool:
        return account.sections is None or item.section in account.sections

    # ------------------------------------------------------------------ per-account state

    def state(self, account: Account | int | str, item: PlexItem | int) -> UserState:
        """The account's state of the item (a fresh default when it has none: not stored)."""
        acc = self.account(account)
        key = item.rating_key if isinstance(item, PlexItem) else item
        return self.user_state.get(acc.id, {}).get(key) or UserState()

    def _state(self, account_id: int, item: PlexItem) -> UserState:
        states = self.user_state.setdefault(account_id, {})
        state = states.get(item.rating_key)
        if state is None:
            state = states[item.rating_key] = UserState()
        return state

    def set_state(
        self,
        account: Account | int | str,
        item: PlexItem | int,
        *,
        view_count: int | None = None,
        last_viewed_at: int | None = None,
        view_offset: int | None = None,
        user_rating: float | None = None,
        last_rated_at: int | None = None,
    ) -> UserState:
        """Set state directly (no history row), e.g. "watched on the server long ago"."""
        with self.lock:
            state = self._state(self.account(account).id, self.item(item))
            if view_count is not None:
                state.view_count = view_count
            if last_viewed_at is not None:
                state.last_viewed_at = last_viewed_at
            if view_offset is not None:
                state.view_offset = view_offset
            if user_rating is not None:
                state.user_rating = user_rating
                state.last_rated_at = last_rated_at or int(self.clock())
            self._bump()
            return state

    def add_play(
        self,
        account: Account | int | str,
        item: PlexItem | int,
        viewed_at: int | None = None,
        *,
        device_id: int = 1,
    ) -> HistoryEntry:
        """A real play: a history row, viewCount + 1, lastViewedAt = the latest play."""
        with self.lock:
            acc, target = self.account(account), self.item(item)
            if target.type not in LEAF_TYPES:
                raise ValueError("plays are of movies and episodes")
            when = int(viewed_at if viewed_at is not None else self.clock())
            entry = HistoryEntry(next(self._history_ids), acc.id, target, when, device_id)
            self.history.append(entry)
            state = self._state(acc.id, target)
            state.view_count += 1
            state.last_viewed_at = max(state.last_viewed_at or 0, when)
            state.view_offset = 0
            self._bump()
            return entry

    def mark_watched(self, account: Account | int | str, item: PlexItem | int) -> None:
        """What `/:/scrobble` does: each leaf gets viewCount + 1 and lastViewedAt = now (Plex
        cannot back-date); no history row."""
        with self.lock:
            acc, now = self.account(account), int(self.clock())
            for leaf in self.item(item).leaves():
                state = self._state(acc.id, leaf)
                state.view_count += 1
                state.last_viewed_at = now
                state.view_offset = 0
            self._bump()

    def mark_unwatched(self, account: Account | int | str, item: PlexItem | int) -> None:
        """What `/:/unscrobble` does: viewCount, lastViewedAt and viewOffset cleared."""
        with self.lock:
            acc = self.account(account)
            for leaf in self.item(item).leaves():
                state = self._state(acc.id, leaf)
                state.view_count, state.last_viewed_at, state.view_offset = 0, None, 0
            self._bump()

    def rate(
        self,
        account: Account | int | str,
        item: PlexItem | int,
        rating: float | None,
        rated_at: int | None = None,
    ) -> None:
        """What `/:/rate` does (None or -1 clears)."""
        with self.lock:
            state = self._state(self.account(account).id, self.item(item))
            if rating is None or rating == -1:
                state.user_rating, state.last_rated_at = None, None
            else:
                state.user_rating = float(rating)
                state.last_rated_at = int(rated_at if rated_at is not None else self.clock())
            self._bump()

    def set_progress(self, account: Account | int | str, item: PlexItem | int, ms: int) -> None:
        with self.lock:
            self._state(self.account(account).id, self.item(item)).view_offset = ms
            self._bump()

    def watched_keys(self, account: Account | int | str) -> set[int]:
        """Rating keys of the items the account has watched (viewCount > 0)."""
        acc = self.account(account)
        with self.lock:
            return {k for k, s in self.user_state.get(acc.id, {}).items() if s.view_count > 0}

    def history_of(self, account: Account | int | str | None = None) -> list[HistoryEntry]:
        with self.lock:
            if account is None:
                return list(self.history)
            acc = self.account(account)
            return [entry for entry in self.history if entry.account_id == acc.id]

    # ------------------------------------------------------------------ live sessions

    def start_session(
        self,
        account: Account | int | str,
        item: PlexItem | int,
        *,
        offset: int = 0,
        state: str = "playing",
        **player: Any,
    ) -> PlaySession:
        """Someone starts playing `item` (player fields: player_title, product, platform,
        machine_identifier, address, local); open sockets get a `playing` notification."""
        with self.lock:
            target = self.item(item)
            if target.type not in LEAF_TYPES:
                raise ValueError("sessions play movies and episodes")
            session = PlaySession(
                next(self._session_keys), self.account(account), target, offset, state, **player
            )
            session.play_queue_item_id = next(self._play_queue_ids)
            self.sessions[session.session_key] = session
            self._record_if_watched(session)
            self._bump()
            self._notify(session, session.state)
            return session

    def session(self, ref: PlaySession | int) -> PlaySession:
        """A live session by object or sessionKey (KeyError when it is gone)."""
        key = ref.session_key if isinstance(ref, PlaySession) else ref
        return self.sessions[key]

    def update_session(
        self,
        session_key: PlaySession | int,
        *,
        offset: int | None = None,
        state: str | None = None,
    ) -> PlaySession:
        """Progress or a pause; passing the watched threshold records the play once."""
        with self.lock:
            session = self.session(session_key)
            if offset is not None:
                session.view_offset = offset
            if state is not None:
                session.state = state
            self._record_if_watched(session)
            self._bump()
            self._notify(session, session.state)
            return session

    def pause(self, session: PlaySession | int, offset: int | None = None) -> PlaySession:
        """The player pauses (at `offset` ms, else where it is)."""
        return self.update_session(session, offset=offset, state="paused")

    def resume(self, session: PlaySession | int, offset: int | None = None) -> PlaySession:
        return self.update_session(session, offset=offset, state="playing")

    def progress(self, session: PlaySession | int, offset: int) -> PlaySession:
        """A playing client's heartbeat at `offset` ms (its state unchanged)."""
        return self.update_session(session, offset=offset)

    def stop_session(
        self, session_key: PlaySession | int, *, offset: int | None = None
    ) -> PlaySession:
        """Playback stops: the session disappears (a `stopped` notification with the final
        offset); below the threshold the resume point is kept on the item, above it the play
        was recorded (history row + viewCount)."""
        with self.lock:
            session = self.sessions.pop(self.session(session_key).session_key)
            if offset is not None:
                session.view_offset = offset
            self._record_if_watched(session)
            if not session.recorded:
                self._state(session.account.id, session.item).view_offset = session.view_offset
            self._bump()
            self._notify(session, "stopped")
            return session

    def end_session(self, session: PlaySession | int) -> PlaySession:
        """The session disappears without any notification (a client that crashed, a lost
        frame): only a fresh read of `/status/sessions` shows it is gone."""
        with self.lock:
            gone = self.sessions.pop(self.session(session).session_key)
            self._bump()
            return gone

    # ------------------------------------------------------------------ notifications

    def play_notification(self, session: PlaySession, state: str) -> dict[str, Any]:
        """The `playing` container PMS pushes for a session (docs/media-server-apis.md §2.8)."""
        entry = {
            "sessionKey": str(session.session_key),
            "clientIdentifier": session.machine_identifier,
            "guid": "",
            "ratingKey": str(session.item.rating_key),
            "url": "",
            "key": session.item.key,
            "viewOffset": session.view_offset,
            "playQueueItemID": session.play_queue_item_id,
            "state": state,
        }
        return {
            "NotificationContainer": {
                "type": "playing",
                "size": 1,
                "PlaySessionStateNotification": [entry],
            }
        }

    def _notify(self, session: PlaySession, state: str) -> None:
        self.push_notification(self.play_notification(session, state))

    def push_notification(self, message: dict[str, Any]) -> int:
        """Send `message` (a `{"NotificationContainer": …}` dict) to every open socket, e.g. a
        `timeline` or `activity` notification; returns how many sockets got it."""
        with self.lock:
            self.notifications.append(message)
            open_now = list(self.sockets)
            for connection in open_now:
                connection.push(message)
            return len(open_now)

    def drop_sockets(self) -> int:
        """Close every open notifications socket (code 1001, going away), as a restart does;
        returns how many were open."""
        with self.lock:
            open_now = list(self.sockets)
            for connection in open_now:
                connection.drop()
            return len(open_now)

    def _record_if_watched(self, session: PlaySession) -> None:
        duration = session.item.duration or 0
        passed = duration and session.view_offset >= duration * self.watched_threshold
        if passed and not session.recorded:
            session.recorded = True
            self.add_play(session.account, session.item)

    # ------------------------------------------------------------------ faults and log

    def fail_next(
        self,
        n: int = 1,
        kind: int | str = 500,
        *,
        method: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
    ) -> None:
        """The next `n` matching requests fail: a status (500, 503, 401, …) or "hang" (held for
        `hang_seconds`, or until `release_hangs()`); `path` exact, `prefix` a path prefix."""
        with self.lock:
            self._faults.extend(Fault(kind, method, path, prefix) for _ in range(n))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def release_hangs(self) -> None:
        """Requests held by "hang" faults go on (and are answered normally)."""
        self._hang_release += 1

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if (
                    (fault.method is None or fault.method == method)
                    and (fault.path is None or fault.path == path)
                    and (fault.prefix is None or path.startswith(fault.prefix))
                ):
                    self._faults.remove(fault)
                    return fault
        return None

    def requests_to(
        self, path: str | None = None, method: str | None = None, *, prefix: str | None = None
    ) -> list[LoggedRequest]:
        return [
            r
            for r in list(self.requests)
            if (path is None or r.path == path)
            and (method is None or r.method == method)
            and (prefix is None or r.path.startswith(prefix))
        ]

    def writes(self) -> list[LoggedRequest]:
        """Logged requests that would change state (scrobble, unscrobble, rate, progress, …)."""
        return [r for r in list(self.requests) if r.is_write]

    def clear_log(self) -> None:
        self.requests.clear()

    # ------------------------------------------------------------------ queries for the app

    def _bump(self) -> None:
        self._version += 1

    def cached(self, key: tuple[Any, ...], build: Callable[[], list[Any]]) -> list[Any]:
        """A listing computed once per state version (filtered or sorted pages stay O(page))."""
        with self.lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == self._version:
                return hit[1]
            result = build()
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = (self._version, result)
            return result


_SHORT = {"thetvdb": "tvdb", "themoviedb": "tmdb"}
GuidParts = tuple[str, tuple[str, ...], dict[str, str]]


def _clean(ids: dict[str, str | int] | None) -> dict[str, str]:
    return {k: str(v) for k, v in (ids or {}).items()}


def guid_tags(ids: dict[str, str]) -> tuple[str, ...]:
    """New-agent Guid children, in PMS's order."""
    return tuple(
        [f"{scheme}://{ids[scheme]}" for scheme in ("imdb", "tmdb", "tvdb") if scheme in ids]
    )


def movie_guids(agent: str, rk: int, ids: dict[str, str]) -> GuidParts:
    """(guid, Guid children, the ids they carry) of a movie written by `agent`."""
    if agent == "plex":
        return f"plex://movie/5d{rk:022x}", guid_tags(ids), ids
    if agent in ("imdb", "themoviedb"):
        scheme = "imdb" if agent == "imdb" else "tmdb"
        if scheme not in ids:
            raise ValueError(f"a movie of the legacy {agent} agent needs a {scheme} id")
        value = ids[scheme]
        return f"com.plexapp.agents.{agent}://{value}?lang=en", (), {scheme: value}
    return _no_id_guid(agent, rk), (), {}


def show_guids(agent: str, rk: int, ids: dict[str, str]) -> GuidParts:
    if agent == "plex":
        return f"plex://show/5d{rk:022x}", guid_tags(ids), ids
    if agent in _SHORT:
        show_id = _legacy_show_id(agent, ids)
        return f"com.plexapp.agents.{agent}://{show_id}?lang=en", (), {_SHORT[agent]: show_id}
    return _no_id_guid(agent, rk), (), {}


def season_guid(show: PlexItem, rk: int, index: int) -> str:
    if show.agent == "plex":
        return f"plex://season/5d{rk:022x}"
    if show.agent in _SHORT:
        show_id = _legacy_show_id(show.agent, show.ids)
        return f"com.plexapp.agents.{show.agent}://{show_id}/{index}?lang=en"
    return _no_id_guid(show.agent, rk)


def episode_guids(
    show: PlexItem, rk: int, season: int, number: int, ids: dict[str, str]
) -> GuidParts:
    """New agent: the episode's own ids as Guid children; legacy: show id + S/E in the guid."""
    agent = show.agent
    if agent == "plex":
        return f"plex://episode/5d{rk:022x}", guid_tags(ids), ids
    if agent in _SHORT:
        show_id = _legacy_show_id(agent, show.ids)
        return f"com.plexapp.agents.{agent}://{show_id}/{season}/{number}?lang=en", (), {}
    return _no_id_guid(agent, rk), (), {}


def _legacy_show_id(agent: str, ids: dict[str, str]) -> str:
    scheme = _SHORT[agent]
    if scheme not in ids:
        raise ValueError(f"a {agent} legacy show needs a {scheme} id")
    return ids[scheme]


def _no_id_guid(agent: str, rating_key: int) -> str:
    if agent == "local":
        return f"local://{rating_key}"
    return f"com.plexapp.agents.none://{rating_key:x}{'0' * 8}?lang=xn"
