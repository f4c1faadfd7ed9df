"""State of the fake Trakt server and the control methods tests use to steer it.

Everything a test can set or inspect lives on `FakeTrakt`; the HTTP side is in `app.py`.
Times: `clock()` is wall time in epoch seconds (tokens, plays, device codes: a `FakeClock` lets a
test move it); `monotonic()` is real elapsed time used for the rate limits and the request log.
"""

from __future__ import annotations

import bisect
import itertools
import random
import secrets
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_CLIENT_ID = "fake-client-id-0123456789abcdef"
DEFAULT_CLIENT_SECRET = "fake-client-secret-fedcba9876543210"
API_HOSTNAMES = frozenset({"api.trakt.test"})
AUTH_HOSTNAMES = frozenset({"auth.trakt.test"})
# Trakt's current documented access-token lifetime: 7 days (docs §2.3).
DEFAULT_TOKEN_LIFETIME = 7 * 24 * 3600
# Device code defaults Trakt typically returns (docs §2.5).
DEVICE_EXPIRES_IN = 600
DEVICE_INTERVAL = 5
# Authorization codes are short-lived and single-use.
AUTH_CODE_LIFETIME = 600
# Paging: max 250 per page since 2026-06; 100 when no limit is sent (docs §8).
PAGE_CAP = 250
DEFAULT_PAGE_LIMIT = 100
# Rate limits (docs §7.1).
POST_INTERVAL = 1.0
GET_LIMIT = 1000
GET_WINDOW = 300.0
# How long Trakt answers 409 to a second stop of the same item (docs §3: `expires_at`). Trakt
# does not document it; clients retrying 409 re-scrobbled hourly (Taxel/PlexTraktSync#1882),
# so an hour, whatever the item's runtime.
SCROBBLE_WINDOW = 3600.0
# Free-account limits of 2026 (docs §0, §5.1), per kind of write; VIP limits are higher.
FREE_LIMITS = {
    "list": {"count": 5, "item_count": 250},
    "watchlist": {"item_count": 250},
    "ratings": {"item_count": 10_000},
    "history": {"item_count": 100_000},
}
UPGRADE_URL = "https://trakt.tv/vip"
# Endpoints Trakt answers 426 for non-VIP users (docs §5.5), as path patterns.
VIP_ONLY_PATHS = (
    r"^/users/saved_filters$",
    r"^/(movies|shows)/[^/]+/refresh(/justwatch)?$",
    r"^/shows/[^/]+/progress/watched/reset$",
)
# Library default User-Agents that Cloudflare in front of Trakt blocks like a missing one.
BLOCKED_USER_AGENTS = ("python-httpx/", "python-requests/", "python-urllib")


class FakeClock:
    """A wall clock a test moves by hand (epoch seconds)."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """An `asyncio.sleep` replacement that moves this clock instead of waiting."""
        import asyncio

        self.advance(seconds)
        await asyncio.sleep(0)


def iso(ts: float) -> str:
    """Trakt's timestamp format: UTC, milliseconds, Z."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class FakeUser:
    username: str
    slug: str
    vip: bool = False
    vip_ep: bool = False
    vip_og: bool = False
    name: str = ""
    uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    limits: dict[str, Any] = field(
        default_factory=lambda: {k: dict(v) for k, v in FREE_LIMITS.items()}
    )
    locked: bool = False  # 423 on every authed call (X-Account-Locked)
    deactivated: bool = False  # 423 with X-Account-Deactivated: true
    # kinds of write ("history", "ratings", "lists", "watchlist") refused with 420 whatever the
    # counts say: the account is over its plan's limit (read-only) until cleared
    over_limit: set[str] = field(default_factory=set)


@dataclass
class IssuedToken:
    access_token: str
    refresh_token: str
    username: str
    created_at: int
    expires_in: int
    revoked: bool = False
    refresh_used: bool = False
    rotated: bool = False  # refreshed: Trakt rotates, the old access token answers 401

    def response(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": "public",
            "created_at": self.created_at,
        }


@dataclass
class DeviceGrant:
    device_code: str
    user_code: str
    created_at: float
    expires_in: int
    interval: int
    status: str = "pending"  # pending | approved | denied | used
    username: str | None = None
    last_poll: float | None = None


@dataclass
class AuthCode:
    code: str
    username: str
    redirect_uri: str
    created_at: float
    used: bool = False


@dataclass
class Item:
    """A catalogue entry: movie, show or episode (episodes point at their show)."""

    type: str
    title: str
    year: int | None
    ids: dict[str, Any]
    runtime: int = 120  # minutes
    show: Item | None = None
    season: int | None = None
    number: int | None = None
    poster: bool = True  # False: Trakt has no poster (its images lists are empty)

    def image_path(self) -> str:
        """Where the fake serves this item's image (``GET /images/...``, counted)."""
        return f"/images/{self.type}s/{self.ids.get('trakt')}.webp"

    def images(self, base: str) -> dict[str, Any]:
        """``extended=images`` (docs §6.2): lists of URLs per kind; Trakt's come without a
        scheme, ``base`` (the fake's own ``http://host:port`` in tests) may carry one."""
        own = [f"{base}{self.image_path()}"] if self.poster else []
        if self.type == "episode":
            return {"screenshot": own}
        return {"poster": own, "fanart": [], "logo": [], "clearart": [], "banner": [],
                "thumb": []}  # fmt: skip

    def summary(self, images: str | None = None) -> dict[str, Any]:
        """The item's object; with ``images`` (the image base URL) its ``images`` block."""
        if self.type == "episode":
            data = {
                "season": self.season,
                "number": self.number,
                "title": self.title,
                "ids": dict(self.ids),
            }
        else:
            data = {"title": self.title, "year": self.year, "ids": dict(self.ids)}
        if images is not None:
            data["images"] = self.images(images)
        return data

    def media(self, images: str | None = None) -> dict[str, Any]:
        """The item as Trakt nests it in answers: {"movie": …} or {"episode": …, "show": …}."""
        if self.type == "episode":
            assert self.show is not None
            return {"episode": self.summary(images), "show": self.show.summary(images)}
        return {self.type: self.summary(images)}


@dataclass
class Play:
    id: int
    username: str
    item: Item
    watched_at: float
    action: str

    def as_json(self, full: bool = False, images: str | None = None) -> dict[str, Any]:
        data = {
            "id": self.id,
            "watched_at": iso(self.watched_at),
            "action": self.action,
            "type": self.item.type,
            **self.item.media(images),
        }
        if full:  # extended=full: runtimes (minutes) on the movie or episode
            data[self.item.type]["runtime"] = self.item.runtime
        return data


@dataclass
class ListEntry:
    """An item on the watchlist or a personal list."""

    id: int
    item: Item
    listed_at: float
    notes: str | None = None

    def as_json(self, rank: int) -> dict[str, Any]:
        return {
            "rank": rank,
            "id": self.id,
            "listed_at": iso(self.listed_at),
            "notes": self.notes,
            "type": self.item.type,
            **self.item.media(),
        }


@dataclass
class UserList:
    trakt: int
    name: str
    entries: list[ListEntry] = field(default_factory=list)
    privacy: str = "private"

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "-")


@dataclass
class LoggedRequest:
    t: float  # monotonic seconds
    wall: float  # fake clock
    host: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names, as received (tests need them)
    body: Any
    peer: tuple[str, int] | None
    user: str | None = None
    status: int | None = None


@dataclass
class Fault:
    kind: int | str  # status, "hang", "drop_after_processing", "cloudflare_html", "cloudflare_429"
    method: str | None = None
    path: str | None = None
    retry_after: float = 1


class FakeTrakt:
    """A strict in-memory Trakt: users, OAuth, catalogue, history, rate limits, faults."""

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        clock: Callable[[], float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
        seed: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock: Callable[[], float] = clock or time.time
        self.monotonic = monotonic
        self.token_lifetime = token_lifetime
        # behaviour switches
        self.api_hostnames: set[str] = set(API_HOSTNAMES)
        self.auth_hostnames: set[str] = set(AUTH_HOSTNAMES)
        self.auth_host_404 = False  # the auth host answers 404 to everything
        # OAuth only on the auth host (docs §1, Trakt since 2026-07); True: the API host too
        self.oauth_on_api_host = False
        self.rate_limits = False
        self.post_interval = POST_INTERVAL
        self.get_limit = GET_LIMIT
        self.get_window = GET_WINDOW
        self.page_cap = PAGE_CAP
        self.default_page_limit = DEFAULT_PAGE_LIMIT
        self.scrobble_window = SCROBBLE_WINDOW  # seconds a second stop of an item gets 409
        self.vip_only_paths: list[str] = list(VIP_ONLY_PATHS)  # regexes: 426 for non-VIP
        self.device_expires_in = DEVICE_EXPIRES_IN
        self.device_interval = DEVICE_INTERVAL
        self.enforce_poll_interval = False
        self.hang_seconds = 3600.0
        self.refresh_delay = 0.0  # seconds a refresh waits before Trakt checks the token
        self.blocked_user_agents: list[str] = list(BLOCKED_USER_AGENTS)
        # images: the base of image URLs (None: the fake's own http://host:port); answers that
        # replace an image (path → (content type, bytes)); downloads counted per path
        self.image_host: str | None = None
        self.image_answers: dict[str, tuple[str, bytes]] = {}
        self.image_downloads: Counter[str] = Counter()
        # state
        self.users: dict[str, FakeUser] = {}
        self.tokens: dict[str, IssuedToken] = {}  # by access token
        self.refresh_tokens: dict[str, IssuedToken] = {}
        self.device_grants: dict[str, DeviceGrant] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.items: list[Item] = []
        self.plays: list[Play] = []
        self.watchlists: dict[str, list[ListEntry]] = {}
        self.ratings: dict[str, dict[int, tuple[int, float]]] = {}  # user → id(item) → rating
        self.lists: dict[str, list[UserList]] = {}
        self.activities: dict[str, dict[str, Any]] = {}
        # (type, trakt id) → rating blocks that replace the generated ones (e.g. a "mal" score)
        self.extra_ratings: dict[tuple[str, int], dict[str, Any]] = {}
        self.requests: list[LoggedRequest] = []
        self.refresh_reuse: list[str] = []  # refresh tokens presented a second time
        self.refreshes = 0
        self.revoked: list[str] = []
        self._faults: deque[Fault] = deque()
        self._error_rate = 0.0
        self._error_kind: int | str = 503
        self._error_kinds: tuple[int | str, ...] = ()
        self._error_prefixes: tuple[str, ...] = ()
        self._rng = random.Random(seed)
        self._ids = itertools.count(1_000_000_001)
        # sync tests: large histories (seed_history), an indexed catalogue, response latency
        self.plays_version = 0
        self.latency = 0.0  # seconds every API answer waits (to cut a run mid-way)
        self._sorted_history: dict[str, tuple[tuple[int, int, int], list[Play]]] = {}
        self._history_times: dict[str, tuple[list[Play], list[float]]] = {}
        self._index: dict[tuple[str, str, Any], Item] = {}
        self._index_size = -1
        self._writes: dict[str, float] = {}
        self._gets: dict[str, deque[float]] = {}
        self.seed_catalogue()

    # ------------------------------------------------------------------ users and tokens

    def add_user(self, username: str, *, vip: bool = False, **extra: Any) -> FakeUser:
        user = FakeUser(username=username, slug=username.lower(), vip=vip, name=username, **extra)
        self.users[username] = user
        return user

    def set_vip(self, username: str, vip: bool = True) -> None:
        self.users[username].vip = vip

    def lock_account(
        self, username: str, locked: bool = True, *, deactivated: bool = False
    ) -> None:
        """Lock (or deactivate) an account: every authed call answers 423 until unlocked."""
        user = self.users[username]
        user.locked, user.deactivated = locked, deactivated and locked

    def set_over_limit(self, username: str, *kinds: str, over: bool = True) -> None:
        """Put the account over its limit for `kinds` of adds ("history", "ratings", "lists",
        "watchlist"): each such add answers 420 until cleared with ``over=False``."""
        unknown = set(kinds) - {"history", "ratings", "lists", "watchlist"}
        assert not unknown, unknown
        target = self.users[username].over_limit
        if over:
            target.update(kinds)
        else:
            target.difference_update(kinds)

    def limit_headers(self, username: str, limit: int) -> dict[str, str]:
        """Headers of a 420 (docs §7.2)."""
        user = self.users[username]
        return {
            "X-Account-Limit": str(limit),
            "X-VIP-User": "true" if user.vip else "false",
            "X-Upgrade-URL": UPGRADE_URL,
        }

    def issue_tokens(self, username: str, *, lifetime: int | None = None) -> IssuedToken:
        """Mint a token pair directly (tests that do not exercise OAuth)."""
        if username not in self.users:
            self.add_user(username)
        token = IssuedToken(
            access_token=secrets.token_hex(32),
            refresh_token=secrets.token_hex(32),
            username=username,
            created_at=int(self.clock()),
            expires_in=lifetime if lifetime is not None else self.token_lifetime,
        )
        self.tokens[token.access_token] = token
        self.refresh_tokens[token.refresh_token] = token
        return token

    def token_user(self, access_token: str) -> str | None:
        """The username of a valid access token, else None."""
        token = self.tokens.get(access_token)
        if token is None or token.revoked or token.rotated:
            return None
        if self.clock() >= token.created_at + token.expires_in:
            return None
        return token.username

    def expire_tokens(self, username: str | None = None) -> None:
        for token in self.tokens.values():
            if username is None or token.username == username:
                token.expires_in = 0

    # ------------------------------------------------------------------ device / code flows

    def new_device_grant(self) -> DeviceGrant:
        grant = DeviceGrant(
            device_code=secrets.token_hex(32),
            user_code=secrets.token_hex(4).upper(),
            created_at=self.clock(),
            expires_in=self.device_expires_in,
            interval=self.device_interval,
        )
        self.device_grants[grant.device_code] = grant
        return grant

    def _grant(self, user_code: str) -> DeviceGrant:
        for grant in self.device_grants.values():
            if grant.user_code == user_code:
                return grant
        raise KeyError(user_code)

    def approve(self, user_code: str, username: str) -> None:
        """The user entered the code on trakt.tv/activate and clicked "Yes"."""
        if username not in self.users:
            self.add_user(username)
        grant = self._grant(user_code)
        grant.status, grant.username = "approved", username

    def deny(self, user_code: str) -> None:
        self._grant(user_code).status = "denied"

    def expire_device_code(self, user_code: str) -> None:
        self._grant(user_code).expires_in = 0

    def mint_auth_code(self, username: str, redirect_uri: str) -> str:
        """The user clicked "allow" on Trakt's authorize page: the code of the redirect."""
        if username not in self.users:
            self.add_user(username)
        code = secrets.token_hex(16)
        self.auth_codes[code] = AuthCode(code, username, redirect_uri, self.clock())
        return code

    # ------------------------------------------------------------------ catalogue

    def add_movie(self, title: str, year: int, ids: dict[str, Any], runtime: int = 120) -> Item:
        item = Item("movie", title, year, ids, runtime)
        self.items.append(item)
        return item

    def add_show(self, title: str, year: int, ids: dict[str, Any], runtime: int = 45) -> Item:
        item = Item("show", title, year, ids, runtime)
        self.items.append(item)
        return item

    def add_episode(
        self,
        show: Item,
        season: int,
        number: int,
        ids: dict[str, Any],
        title: str = "",
        runtime: int | None = None,
    ) -> Item:
        item = Item(
            "episode",
            title or f"Episode {number}",
            None,
            ids,
            runtime or show.runtime,
            show=show,
            season=season,
            number=number,
        )
        self.items.append(item)
        return item

    def seed_catalogue(self) -> None:
        """A few real-looking items every test can use."""
        self.add_movie(
            "The Matrix",
            1999,
            {"trakt": 481, "slug": "the-matrix-1999", "imdb": "tt0133093", "tmdb": 603},
            runtime=136,
        )
        self.add_movie(
            "Inception",
            2010,
            {"trakt": 16662, "slug": "inception-2010", "imdb": "tt1375666", "tmdb": 27205},
            runtime=148,
        )
        show = self.add_show(
            "Breaking Bad",
            2008,
            {"trakt": 1388, "slug": "breaking-bad", "imdb": "tt0903747", "tmdb": 1396,
             "tvdb": 81189},
            runtime=47,
        )  # fmt: skip
        self.add_episode(
            show, 1, 1, {"trakt": 73482, "tvdb": 349232, "imdb": "tt0959621", "tmdb": 62085},
            title="Pilot",
        )  # fmt: skip
        self.add_episode(
            show, 1, 2, {"trakt": 73483, "tvdb": 349235, "imdb": "tt1054724", "tmdb": 62086},
            title="Cat's in the Bag...",
        )  # fmt: skip

    def find(self, type: str, ids: dict[str, Any], keys: tuple[str, ...]) -> Item | None:
        """The catalogue item of `type` matching any of `ids` restricted to `keys`."""
        if len(self.items) > 1000:  # large seeded catalogues: by index
            index = self._catalogue_index()
            for key in keys:
                if key in ids and ids[key] is not None:
                    hit = index.get((type, key, ids[key]))
                    if hit is not None:
                        return hit
            return None
        for item in self.items:
            if item.type != type:
                continue
            for key in keys:
                if key in ids and ids[key] is not None and item.ids.get(key) == ids[key]:
                    return item
        return None

    def episodes_of(self, show: Item, season: int | None = None) -> list[Item]:
        return [
            i
            for i in self.items
            if i.type == "episode" and i.show is show and (season is None or i.season == season)
        ]

    # ------------------------------------------------------------------ watchlist, ratings, lists

    def add_to_watchlist(self, username: str, item: Item) -> ListEntry:
        entry = ListEntry(next(self._ids), item, self.clock())
        self.watchlists.setdefault(username, []).append(entry)
        self.touch(username, f"{item.type}s", "watchlisted_at")
        self.touch(username, "watchlist", "updated_at")
        return entry

    def rate(self, username: str, item: Item, rating: int) -> None:
        self.ratings.setdefault(username, {})[id(item)] = (rating, self.clock())
        self.touch(username, f"{item.type}s", "rated_at")

    def add_list(self, username: str, name: str, items: list[Item] | None = None) -> UserList:
        user_list = UserList(next(self._ids), name)
        for item in items or []:
            user_list.entries.append(ListEntry(next(self._ids), item, self.clock()))
        self.lists.setdefault(username, []).append(user_list)
        return user_list

    # ------------------------------------------------------------------ history

    def add_play(self, username: str, item: Item, watched_at: float, action: str = "watch") -> Play:
        play = Play(next(self._ids), username, item, float(int(watched_at) // 60 * 60), action)
        self.plays.append(play)
        self.plays_version += 1
        self.touch(username, f"{item.type}s", "watched_at")
        # Trakt drops watched items from the watchlist (a show/season on its first episode)
        watched = {id(item), id(item.show)} if item.show is not None else {id(item)}
        entries = self.watchlists.get(username, [])
        if any(id(e.item) in watched for e in entries):
            self.watchlists[username] = [e for e in entries if id(e.item) not in watched]
            self.touch(username, "watchlist", "updated_at")
        return play

    def history(self, username: str) -> list[Play]:
        return [p for p in self.plays if p.username == username]

    def sorted_history(self, username: str) -> list[Play]:
        """The user's plays newest first (cached until the plays change: 100k-play pages)."""
        version = (id(self.plays), len(self.plays), self.plays_version)
        cached = self._sorted_history.get(username)
        if cached is None or cached[0] != version:
            plays = self.history(username)
            plays.sort(key=lambda p: (p.watched_at, p.id), reverse=True)
            cached = self._sorted_history[username] = (version, plays)
        return cached[1]

    def history_between(self, username: str, start: float | None, end: float | None) -> list[Play]:
        """The user's plays newest first with ``start <= watched_at <= end`` (a bisection of the
        sorted history: a range read of a 100k-play history is not a scan of all of it)."""
        plays = self.sorted_history(username)
        cached = self._history_times.get(username)
        if cached is None or cached[0] is not plays:
            cached = self._history_times[username] = (plays, [-p.watched_at for p in plays])
        newest_first = cached[1]  # ascending: the negated times
        low = 0 if end is None else bisect.bisect_left(newest_first, -end)
        high = len(plays) if start is None else bisect.bisect_right(newest_first, -start)
        return plays[low:high]

    def remove_plays(self, doomed: list[Play]) -> None:
        gone = {id(p) for p in doomed}
        self.plays[:] = [p for p in self.plays if id(p) not in gone]
        self.plays_version += 1

    def _catalogue_index(self) -> dict[tuple[str, str, Any], Item]:
        if self._index_size != len(self.items):
            index: dict[tuple[str, str, Any], Item] = {}
            for item in reversed(self.items):  # the first item wins, as in the linear scan
                for key, value in item.ids.items():
                    if value is not None:
                        index[(item.type, key, value)] = item
            self._index, self._index_size = index, len(self.items)
        return self._index

    def seed_history(
        self,
        username: str,
        n: int,
        *,
        start: float = 1_600_000_000.0,
        step: float = 600.0,
        episodes_share: float = 0.5,
        catalogue: int | None = None,
    ) -> list[Play]:
        """`n` plays, `step` seconds apart from `start`, over a generated catalogue of movies
        and one show's episodes (fast: no per-play bookkeeping). Returns the plays, oldest first.
        """
        if username not in self.users:
            self.add_user(username)
        size = catalogue or max(1, min(n, 5000))
        base = 5_000_000 + len(self.items) * 10
        movies = [
            Item("movie", f"Movie {i}", 1950 + i % 70,
                 {"trakt": base + i, "slug": f"movie-{base + i}", "imdb": f"tt{base + i:08d}",
                  "tmdb": base + i}, 90 + i % 60)
            for i in range(size)
        ]  # fmt: skip
        show = Item("show", f"Show {base}", 2000, {"trakt": base + 9_999_999,
                    "slug": f"show-{base}", "tvdb": base, "tmdb": base, "imdb": f"tt9{base}"},
                    45)  # fmt: skip
        episodes = [
            Item("episode", f"Episode {i}", None,
                 {"trakt": base + 20_000_000 + i, "tvdb": base + 20_000_000 + i,
                  "tmdb": base + 20_000_000 + i}, 45, show=show, season=1 + i // 100,
                 number=1 + i % 100)
            for i in range(size)
        ]  # fmt: skip
        self.items.extend([*movies, show, *episodes])
        out = []
        for i in range(n):
            pool = episodes if (i * episodes_share) % 1 + episodes_share >= 1 else movies
            item = pool[i % len(pool)]
            when = float(int(start + i * step) // 60 * 60)
            out.append(Play(next(self._ids), username, item, when, "watch"))
        self.plays.extend(out)
        self.plays_version += 1
        self.touch(username, "movies", "watched_at")
        self.touch(username, "episodes", "watched_at")
        return out

    def seed_plays(
        self, username: str, items: Iterable[Item], plays: Iterable[tuple[Item, float]]
    ) -> list[Play]:
        """Bulk setup for benchmarks: `items` join the catalogue and `plays` (item, watched_at)
        join the user's history in one go (no per-play watchlist pruning; activities touched
        once): 120,000 items and 60,000 plays in well under a second."""
        if username not in self.users:
            self.add_user(username)
        self.items.extend(items)
        ids = self._ids
        out = [
            Play(next(ids), username, item, float(int(when) // 60 * 60), "watch")
            for item, when in plays
        ]
        self.plays.extend(out)
        self.plays_version += 1
        self.touch(username, "movies", "watched_at")
        self.touch(username, "episodes", "watched_at")
        return out

    def touch(self, username: str, group: str, key: str) -> None:
        now = iso(self.clock())
        acts = self.activities_of(username)
        acts.setdefault(group, {})[key] = now
        acts["all"] = now

    def activities_of(self, username: str) -> dict[str, Any]:
        if username not in self.activities:
            start = iso(0)
            self.activities[username] = {
                "all": start,
                "movies": {"watched_at": start, "watchlisted_at": start, "rated_at": start},
                "episodes": {"watched_at": start, "watchlisted_at": start, "rated_at": start},
                "shows": {"watchlisted_at": start, "rated_at": start},
                "watchlist": {"updated_at": start},
            }
        return self.activities[username]

    # ------------------------------------------------------------------ faults and limits

    def fail_next(
        self,
        n: int = 1,
        kind: int | str = 503,
        *,
        method: str | None = None,
        path: str | None = None,
        retry_after: float = 1,
    ) -> None:
        """The next `n` matching requests fail: a status, "hang", "drop_after_processing"
        (processed, then the connection drops), "cloudflare_html" (HTML 403) or
        "cloudflare_429" (a 429 from the edge: no Retry-After, no X-Ratelimit)."""
        for _ in range(n):
            self._faults.append(Fault(kind, method, path, retry_after))

    def set_error_rate(
        self,
        rate: float,
        kind: int | str = 503,
        seed: int = 0,
        *,
        kinds: tuple[int | str, ...] = (),
        paths: tuple[str, ...] = (),
    ) -> None:
        """Fail a random share of requests (seeded, so runs repeat).

        `kinds` mixes several faults (each failure picks one at random, e.g. 500, 502, 520,
        "hang", "drop_after_processing"); `paths` limits the faults to paths starting with one
        of these prefixes (e.g. the scrobble and history endpoints, not OAuth).
        """
        self._error_rate, self._error_kind = rate, kind
        self._error_kinds, self._error_prefixes = kinds, paths
        self._rng = random.Random(seed)

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if (fault.method is None or fault.method == method) and (
                fault.path is None or fault.path == path
            ):
                self._faults.remove(fault)
                return fault
        if self._error_prefixes and not path.startswith(self._error_prefixes):
            return None
        if self._error_rate and self._rng.random() < self._error_rate:
            if self._error_kinds:
                return Fault(self._rng.choice(self._error_kinds))
            return Fault(self._error_kind)
        return None

    def check_rate(self, username: str, method: str) -> tuple[float, dict[str, Any]] | None:
        """None when allowed, else (retry_after, X-Ratelimit info); records allowed calls."""
        if not self.rate_limits:
            return None
        now = self.monotonic()
        if method in ("POST", "PUT", "DELETE"):
            last = self._writes.get(username)
            if last is not None and now - last < self.post_interval:
                wait = self.post_interval - (now - last)
                return wait, self._limit_info("AUTHED_API_POST_LIMIT", self.post_interval, 1, wait)
            self._writes[username] = now
            return None
        gets = self._gets.setdefault(username, deque())
        while gets and gets[0] <= now - self.get_window:
            gets.popleft()
        if len(gets) >= self.get_limit:
            wait = gets[0] + self.get_window - now
            name = "UNAUTHED_API_GET_LIMIT" if username == "" else "AUTHED_API_GET_LIMIT"
            return wait, self._limit_info(name, self.get_window, self.get_limit, wait)
        gets.append(now)
        return None

    def _limit_info(self, name: str, period: float, limit: int, wait: float) -> dict[str, Any]:
        return {
            "name": name,
            "period": period,
            "limit": limit,
            "remaining": 0,
            "until": iso(self.clock() + wait),
        }

    # ------------------------------------------------------------------ log queries

    def requests_to(
        self, path: str | None = None, method: str | None = None
    ) -> list[LoggedRequest]:
        return [
            r
            for r in self.requests
            if (path is None or r.path == path) and (method is None or r.method == method)
        ]

    def clear_log(self) -> None:
        self.requests.clear()
