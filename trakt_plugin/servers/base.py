"""One interface for a media server's own API (Plex, Jellyfin, Emby), its records and errors.

A client is synchronous (python-plexapi is; the Jellyfin/Emby client matches it): callers run it
in a worker thread (:mod:`trakt_plugin.servers.service`), never on the event loop. Clients keep
nothing durable; the service owns the store.

Error tree (every message is readable and never contains a token)::

    ServerError               the server did not do what was asked (bad answer, 5xx, 404 …)
     ├── ServerUnauthorized   the token was refused (401/403), or is not the owner's
     ├── ServerUnreachable    no answer: connection refused, DNS, TLS, timeout
     ├── AccountNotWritable   no token that may change this account's state (Plex)
     └── NotSupported         the server kind has no such operation (ratings off Plex)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias, get_args

from trakt_plugin.events.model import Ids, MediaType, ShowInfo

ServerKind: TypeAlias = Literal["plex", "jellyfin", "emby"]
SERVER_KINDS: tuple[ServerKind, ...] = get_args(ServerKind)

# Libraries are read in pages of at least this many items (SPEC §12 "Cost"): never one request
# per item. 500 keeps a page's answer small enough to parse quickly on a Raspberry Pi.
PAGE_SIZE = 500
# Seconds before a request to a media server gives up (a LAN server answers in milliseconds),
# and before a connection attempt does (a stopped or blackholed host must not hold an API call).
DEFAULT_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
# Reasons go into the store and API answers: bounded.
MAX_REASON_CHARS = 300
MASK = "****"
# A runtime longer than a week is a server's placeholder, never a movie or an episode.
MAX_RUNTIME_MINUTES = 7 * 24 * 60


def runtime_from_ms(duration_ms: int | None) -> int | None:
    """Whole minutes (at least 1 for anything positive); None when unknown or absurd."""
    if duration_ms is None or duration_ms <= 0:
        return None
    minutes = max(1, round(duration_ms / 60_000))
    return minutes if minutes <= MAX_RUNTIME_MINUTES else None


def redact(text: str, *secrets: str | None) -> str:
    """``text`` without any of ``secrets`` in it, on one line and bounded in length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = " ".join(text.split())
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 1] + "…"
    return text


class ServerError(Exception):
    """A media server failed an operation; ``reason`` says what happened, readably."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        self.reason = redact(reason)
        self.status = status
        super().__init__(self.reason)


class ServerUnauthorized(ServerError):
    """The server refused the token (or it lacks the rights the operation needs)."""


class ServerUnreachable(ServerError):
    """The server could not be reached at all."""


def status_error(label: str, status: int | None, what: str) -> ServerError:
    """The error for a refused request (``what``: method and path), named the same way for
    every server kind and client: 401/403 → :class:`ServerUnauthorized`."""
    if status == 401:
        return ServerUnauthorized(f"{label} refused the token ({what}: HTTP 401)", status=401)
    if status == 403:
        return ServerUnauthorized(
            f"{label} does not allow this with the token ({what}: HTTP 403)", status=403
        )
    shown = f"HTTP {status}" if status else "a bad request"
    return ServerError(f"{label} answered {shown} ({what})", status=status)


class AccountNotWritable(ServerError):
    """No token is known that may change this account's watched state or rating."""


class NotSupported(ServerError):
    """This kind of server has no such operation."""


@dataclass(frozen=True)
class ServerInfo:
    """Who the server says it is. ``server_id``: Plex ``machineIdentifier``, Jellyfin/Emby
    ``Id``; stable across renames and URL changes."""

    server_id: str
    name: str | None
    version: str | None


@dataclass(frozen=True)
class AccountIdentity:
    """The SPEC §4 identity of an account: what webhooks name it by."""

    source: str
    external_id: str


@dataclass(frozen=True)
class ServerAccount:
    """A user account on the server; ``writable``: the service may change its watched state
    (with ``reason`` saying why not, when it may not)."""

    account_id: str
    name: str
    identity: AccountIdentity
    writable: bool
    reason: str | None = None
    owner: bool = False


@dataclass(frozen=True)
class LibraryItem:
    """One movie or episode of a server's library, as one account sees it.

    ``ids``: the movie's or episode's own ids (Trakt id kinds only); ``show``: the show an
    episode belongs to, with its ids; ``season``/``number``: the episode's place. ``watched`` and
    ``last_watched_at`` are the account's (Plex ``viewCount``/``lastViewedAt``; Jellyfin/Emby
    ``UserData.Played``/``LastPlayedDate`` — the *start* of the last playback there).
    ``runtime`` in minutes; ``user_rating`` 0-10 (Plex only).
    """

    key: str
    type: MediaType
    title: str | None
    year: int | None
    ids: Ids
    show: ShowInfo | None = None
    season: int | None = None
    number: int | None = None
    watched: bool = False
    last_watched_at: datetime | None = None
    play_count: int = 0
    runtime: int | None = None
    user_rating: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def matched(self) -> bool:
        """True when external ids identify the item (SPEC §12 "Matching"); never by title."""
        if self.ids:
            return True
        return bool(
            self.type == "episode"
            and self.show is not None
            and self.show.ids
            and self.season is not None
            and self.number is not None
        )

    def trakt_item(self) -> dict[str, Any]:
        """The item in Trakt's shape (SPEC §9.1)."""
        if self.type == "movie":
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
                "title": self.title,
                "ids": dict(self.ids),
            },
        }


class MediaServerClient(Protocol):
    """What every connector offers. All methods block: run them in a worker thread."""

    kind: ServerKind

    def info(self) -> ServerInfo:
        """Name, version and id; raises when the token is refused (this is the check)."""
        ...

    def accounts(self) -> list[ServerAccount]:
        """Every user account of the server."""
        ...

    def library(self, account_id: str) -> Iterator[list[LibraryItem]]:
        """The account's movies and episodes, a page (at least :data:`PAGE_SIZE` items per
        request) at a time."""
        ...

    def mark_watched(self, account_id: str, key: str, at: datetime | None = None) -> None:
        """Mark an item watched for one account (at ``at`` where the server can back-date)."""
        ...

    def mark_unwatched(self, account_id: str, key: str) -> None:
        """Mark an item unwatched for one account."""
        ...

    def set_rating(self, account_id: str, key: str, rating: float | None) -> None:
        """Set (0-10) or clear (None) the account's rating of an item (Plex only)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
