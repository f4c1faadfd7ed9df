"""Following a Plex server's playback (SPEC §12 ``live: "watch"``), without webhooks or Plex Pass.

Facts from docs/media-server-apis.md §2.8 and §6 (pitfalls 4-6):

* the notifications websocket ``<url>/:/websockets/notifications`` (the token in the
  ``X-Plex-Token`` header, never in the URL) pushes ``playing`` containers whose
  ``PlaySessionStateNotification`` entries carry ``sessionKey``, ``ratingKey``, ``viewOffset``
  and ``state`` (playing, paused, buffering, stopped) — no user, no duration, no ids;
* ``GET /status/sessions`` (owner token only) names each session's account (``User``), player
  (``Player.machineIdentifier``, ``state``), item and offset; a stopped session is gone from it;
* ids: ``GET /library/metadata/{ratingKey}?includeGuids=1`` (``Guid`` tags or a legacy ``guid``),
  read once per rating key; a new-agent episode's show ids from its show
  (``grandparentRatingKey``), once per show.

So the watcher reads ``/status/sessions`` right after connecting (the seed; after a reconnection
this is what stops the playbacks that ended meanwhile), after every ``playing`` notification,
and again whenever the socket was silent for ``interval`` seconds while a playback was listed
(a client that crashes never sends ``stopped``; Tautulli polls for the same reason). It hands
over the whole list of movie and episode sessions each time. A session reported ``stopped`` is
handed over once more with ``state="stopped"`` and the notification's offset (its last
snapshot says who and what) when it has left the list; one that leaves the list without a
``stopped`` simply drops out, and the tracker stops it at its last known position.

Keys are the Plex webhook parser's: ``plex:<machineIdentifier>:<account id>:<account title,
lower case>:<player machineIdentifier>:<ratingKey>`` (``Player.uuid`` of a webhook is the
player's machine identifier), so a playback seen both ways is one session. A ``sessionKey``
that moves to another item (autoplay) ends the old playback and starts a new one.

``run`` raises :class:`~trakt_plugin.servers.base.ServerError` when the server is lost
(unreachable, token refused, socket closed); the manager reconnects. The token travels only in
headers, and the websocket library's debug log of them goes through a masking filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from trakt_plugin import __version__
from trakt_plugin.events.model import BadPayload, MediaType, ShowInfo
from trakt_plugin.events.parsers._common import get_int, get_list, get_str, key_part, year_from

from ..base import (
    CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    LibraryItem,
    ServerError,
    ServerUnauthorized,
    ServerUnreachable,
    runtime_from_ms,
)
from ..ids import plex_ids, plex_show_ids
from .base import Connected, PlayState, SessionSink, SessionSnapshot
from .masking import websockets_logger

log = logging.getLogger(__name__)

PRODUCT = "trakt-plugin"
NOTIFICATIONS_PATH = "/:/websockets/notifications"
# Notification containers are small; an activity or timeline burst of a busy server stays far
# below this.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# While nothing plays, a missed frame costs little (a playing client's heartbeat comes about
# every 10 s, docs §2.8): the list is read again after this long a silence.
IDLE_RESYNC_SECONDS = 60.0
_VIDEO_TYPES: dict[str, MediaType] = {"movie": "movie", "episode": "episode"}
_PLAYING_STATES: dict[str, PlayState] = {
    "playing": "playing",
    "buffering": "playing",
    "paused": "paused",
}


@dataclass(frozen=True)
class _Stop:
    """A ``stopped`` notification: which item, and the final offset when one was sent."""

    rating_key: str | None
    offset: int | None


@dataclass(frozen=True)
class _Item:
    """What the library says about a rating key (read once): the item and its duration."""

    item: LibraryItem
    duration_ms: int | None


class PlexWatcher:
    """Follows one Plex server (``connection``: url and the owner's token) until cancelled or
    lost. ``interval``: seconds of socket silence after which a listed playback's list is
    read again."""

    def __init__(self, connection: Any, interval: float) -> None:
        self._url: str = str(connection.url).rstrip("/")
        self._token: str = connection.token
        self._interval = max(float(interval), 0.01)
        self._client_id = f"{PRODUCT}-watch-{str(connection.server_id)[:8]}"
        self._machine: str | None = None
        self._items: dict[str, _Item] = {}  # by rating key
        self._shows: dict[str, ShowInfo] = {}  # by the show's rating key
        self._last: dict[str, SessionSnapshot] = {}  # by Plex sessionKey: the latest list
        self._stops: dict[str, _Stop] = {}  # by Plex sessionKey: reported stopped, still listed

    # ------------------------------------------------------------ the Watcher protocol

    async def run(self, sink: SessionSink, connected: Connected) -> None:
        async with self._http() as http:
            self._machine = await self._identify(http)
            socket = await self._open_socket()
            try:
                connected()
                await sink(await self._sessions(http))
                await self._follow(socket, http, sink)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                detail = f" (code {code})" if code is not None else ""
                raise ServerUnreachable(
                    f"the Plex notifications websocket closed{detail}"
                ) from None
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(socket.close())

    # ------------------------------------------------------------ websocket

    async def _follow(
        self, socket: ClientConnection, http: httpx.AsyncClient, sink: SessionSink
    ) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self._resync_after()
        while True:
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                # that races with a message arriving.
                async with asyncio.timeout_at(due):
                    raw = await socket.recv()
            except TimeoutError:
                await sink(await self._sessions(http))
                due = loop.time() + self._resync_after()
                continue
            notes = _play_notifications(raw)
            if notes is None:
                continue  # timeline, activity, status …: not playback
            for session_key, stop in notes.items():
                if stop is None:
                    self._stops.pop(session_key, None)
                else:
                    self._stops[session_key] = stop
            await sink(await self._sessions(http))
            due = loop.time() + self._resync_after()

    def _resync_after(self) -> float:
        return self._interval if self._last else max(self._interval, IDLE_RESYNC_SECONDS)

    def _socket_url(self) -> str:
        parts = urlsplit(self._url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = parts.path.rstrip("/") + NOTIFICATIONS_PATH
        return urlunsplit((scheme, parts.netloc, path, "", ""))

    async def _open_socket(self) -> ClientConnection:
        try:
            return await connect(
                self._socket_url(),
                additional_headers=self._headers(json_answers=False),
                user_agent_header=f"{PRODUCT}/{__version__}",
                proxy=None,  # like trust_env=False: a LAN server is reached directly
                open_timeout=DEFAULT_TIMEOUT,
                max_size=MAX_MESSAGE_BYTES,
                logger=websockets_logger(self._secrets()),
            )
        except asyncio.CancelledError:
            raise
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise ServerUnauthorized(
                    f"Plex refused the token on the notifications websocket (HTTP {status}); "
                    "watching needs the server owner's token",
                    status=status,
                ) from None
            raise ServerError(
                f"Plex refused the notifications websocket (HTTP {status})", status=status
            ) from None
        except TimeoutError:
            raise ServerUnreachable(
                "cannot open the Plex notifications websocket: timed out"
            ) from None
        except OSError as exc:
            problem = "connection refused" if "refused" in str(exc).lower() else "no connection"
            raise ServerUnreachable(
                f"cannot open the Plex notifications websocket: {problem}"
            ) from None
        except Exception as exc:  # not a websocket, a bad handshake: the name of it only
            raise ServerUnreachable(
                f"cannot open the Plex notifications websocket: {type(exc).__name__}"
            ) from None

    # ------------------------------------------------------------ REST

    def _headers(self, *, json_answers: bool = True) -> dict[str, str]:
        headers = {
            "X-Plex-Token": self._token,
            "X-Plex-Client-Identifier": self._client_id,
            "X-Plex-Product": PRODUCT,
            "X-Plex-Version": __version__,
        }
        if json_answers:
            headers["Accept"] = "application/json"
        return headers

    def _http(self) -> httpx.AsyncClient:
        headers = {**self._headers(), "User-Agent": f"{PRODUCT}/{__version__}"}
        timeout = httpx.Timeout(DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT)
        return httpx.AsyncClient(
            base_url=self._url, headers=headers, timeout=timeout, trust_env=False
        )

    def _secrets(self) -> tuple[str, ...]:
        return tuple(s for s in {self._token, quote(self._token, safe="")} if s)

    async def _get(self, http: httpx.AsyncClient, path: str, params: Mapping[str, Any]) -> Any:
        """One GET answered in JSON; every failure becomes one of our errors (never naming the
        token)."""
        try:
            response = await http.get(path, params=dict(params))
        except httpx.TimeoutException:
            raise ServerUnreachable("cannot reach the Plex server: timed out") from None
        except (httpx.TransportError, httpx.InvalidURL, UnicodeError) as exc:
            problem = "connection refused" if "refused" in str(exc).lower() else "no connection"
            raise ServerUnreachable(f"cannot reach the Plex server: {problem}") from None
        status = response.status_code
        if status == 401:
            raise ServerUnauthorized(
                f"Plex refused the token (GET {path}: HTTP 401)", status=status
            )
        if status == 403:
            raise ServerUnauthorized(
                f"Plex does not allow this with the token (GET {path}: HTTP 403); watching "
                "needs the server owner's token",
                status=status,
            )
        if status >= 400:
            raise ServerError(f"Plex answered HTTP {status} (GET {path})", status=status)
        try:
            data = response.json()
        except ValueError:
            raise ServerError(f"the answer is not JSON (GET {path})") from None
        container = data.get("MediaContainer") if isinstance(data, dict) else None
        if not isinstance(container, dict):
            raise ServerError(f"the answer has no MediaContainer (GET {path})")
        return container

    async def _identify(self, http: httpx.AsyncClient) -> str:
        """The server's ``machineIdentifier`` (``GET /``, which also checks the token)."""
        container = await self._get(http, "/", {})
        machine = container.get("machineIdentifier")
        if not isinstance(machine, str) or not machine.strip():
            raise ServerError("the answer has no machineIdentifier: is this a Plex server?")
        return machine.strip()

    async def _sessions(self, http: httpx.AsyncClient) -> list[SessionSnapshot]:
        """The server's video sessions now, plus a last ``stopped`` snapshot of each session
        reported stopped that has left the list."""
        container = await self._get(http, "/status/sessions", {})
        rows = container.get("Metadata")
        listed: dict[str, SessionSnapshot] = {}
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict):
                continue
            try:
                found = await self._snapshot(http, row)
            except BadPayload as exc:  # one odd session must not hide the others
                log.warning("Plex watcher: a session skipped: %s", exc.reason)
                continue
            if found is not None:
                listed[found[0]] = found[1]
        out = list(listed.values())
        for plex_key, last in self._last.items():
            now = listed.get(plex_key)
            if now is not None and now.session_key == last.session_key:
                continue
            stop = self._stops.get(plex_key)
            if stop is not None and stop.rating_key in (None, last.item.key):
                out.append(replace(last, state="stopped", position_ms=stop.offset))
        # a stop is kept only while its session is still listed (PMS may lag behind)
        self._stops = {k: v for k, v in self._stops.items() if k in listed}
        self._last = listed
        return out

    async def _snapshot(
        self, http: httpx.AsyncClient, row: dict[str, Any]
    ) -> tuple[str, SessionSnapshot] | None:
        """(Plex sessionKey, the playback) of one ``/status/sessions`` entry; None when it
        plays no movie or episode of the library."""
        media_type = _VIDEO_TYPES.get((get_str(row, "type", "Metadata.type") or "").lower())
        rating_key = get_str(row, "ratingKey", "Metadata.ratingKey")
        plex_key = get_str(row, "sessionKey", "Metadata.sessionKey")
        if media_type is None or not rating_key or not plex_key:
            return None
        user = _child(row, "User")
        player = _child(row, "Player")
        title = get_str(user, "title", "User.title")
        account_id = get_str(user, "id", "User.id")
        player_id = get_str(player, "machineIdentifier", "Player.machineIdentifier")
        state = _PLAYING_STATES.get((get_str(player, "state", "Player.state") or "").lower())
        known = await self._item(http, row, media_type, rating_key)
        offset = get_int(row, "viewOffset", "Metadata.viewOffset")
        duration = get_int(row, "duration", "Metadata.duration") or known.duration_ms
        assert self._machine is not None
        session_key = ":".join(
            [
                "plex",
                key_part(self._machine),
                key_part(account_id),
                key_part((title or "").lower()),
                key_part(player_id),
                key_part(rating_key),
            ]
        )
        return plex_key, SessionSnapshot(
            session_key=session_key,
            user_external_ids=(title,) if title else (),
            user_name=title,
            item=known.item,
            state=state or "playing",
            position_ms=offset if offset is not None and offset >= 0 else None,
            duration_ms=duration if duration and duration > 0 else None,
            local_key=f"plex:{key_part(self._machine)}:{key_part(rating_key)}",
        )

    # ------------------------------------------------------------ items (cached)

    async def _item(
        self, http: httpx.AsyncClient, row: dict[str, Any], media_type: MediaType, rating_key: str
    ) -> _Item:
        """The item with its ids, read once per rating key (``/status/sessions`` entries may
        lack the ``Guid`` tags)."""
        known = self._items.get(rating_key)
        if known is not None:
            return known
        meta = row
        try:
            container = await self._get(
                http, f"/library/metadata/{quote(rating_key, safe='')}", {"includeGuids": 1}
            )
        except (ServerUnreachable, ServerUnauthorized):
            raise
        except ServerError as exc:  # still reported, with what the session shows
            log.warning("Plex watcher: item %s not read: %s", rating_key, exc.reason)
        else:
            found = container.get("Metadata")
            for entry in found if isinstance(found, list) else []:
                if isinstance(entry, dict) and get_str(entry, "ratingKey", "ratingKey") == (
                    rating_key
                ):
                    meta = {**row, **entry}
                    break
        known = await self._build(http, meta, media_type, rating_key)
        self._items[rating_key] = known
        return known

    async def _build(
        self, http: httpx.AsyncClient, meta: dict[str, Any], media_type: MediaType, key: str
    ) -> _Item:
        related = (
            get_str(meta, "grandparentGuid", "Metadata.grandparentGuid"),
            get_str(meta, "parentGuid", "Metadata.parentGuid"),
        )
        ids = plex_ids(
            media_type, _guid_entries(meta), get_str(meta, "guid", "Metadata.guid"), related
        )
        duration = get_int(meta, "duration", "Metadata.duration")
        show = None
        season = number = None
        if media_type == "episode":
            show_title = get_str(meta, "grandparentTitle", "Metadata.grandparentTitle")
            show_key = get_str(meta, "grandparentRatingKey", "Metadata.grandparentRatingKey")
            if ids.show or not show_key:
                show = ShowInfo(title=show_title, ids=ids.show)
            else:
                show = await self._show(http, show_key, show_title)
            season = get_int(meta, "parentIndex", "Metadata.parentIndex")
            number = get_int(meta, "index", "Metadata.index")
            season = ids.season if season is None else season
            number = ids.number if number is None else number
        item = LibraryItem(
            key=key,
            type=media_type,
            title=get_str(meta, "title", "Metadata.title"),
            year=year_from(get_int(meta, "year", "Metadata.year")),
            ids=ids.own,
            show=show,
            season=season,
            number=number,
            runtime=runtime_from_ms(duration),
        )
        return _Item(item, duration if duration and duration > 0 else None)

    async def _show(self, http: httpx.AsyncClient, show_key: str, title: str | None) -> ShowInfo:
        """A new-agent episode's show ids (its own ``Guid`` tags name only the episode), read
        once per show."""
        known = self._shows.get(show_key)
        if known is not None:
            return known
        show = ShowInfo(title=title)
        try:
            container = await self._get(
                http, f"/library/metadata/{quote(show_key, safe='')}", {"includeGuids": 1}
            )
        except (ServerUnreachable, ServerUnauthorized):
            raise
        except ServerError as exc:  # the episode is still reported, with its own ids
            log.warning("Plex watcher: show %s not read: %s", show_key, exc.reason)
        else:
            found = container.get("Metadata")
            for entry in found if isinstance(found, list) else []:
                if isinstance(entry, dict) and get_str(entry, "ratingKey", "ratingKey") == (
                    show_key
                ):
                    try:
                        show = ShowInfo(
                            title=get_str(entry, "title", "title") or title,
                            year=year_from(get_int(entry, "year", "year")),
                            ids=plex_show_ids(_guid_entries(entry), get_str(entry, "guid", "guid")),
                        )
                    except BadPayload as exc:
                        log.warning("Plex watcher: show %s unreadable: %s", show_key, exc.reason)
                    break
        self._shows[show_key] = show
        return show


def _child(row: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A session's one ``User``/``Player``/``Session`` (an object in PMS's JSON; a one-element
    list accepted too)."""
    value = row.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def _guid_entries(meta: Mapping[str, Any]) -> list[str]:
    entries = get_list(meta, "Guid", "Metadata.Guid") or []
    return [str(e.get("id") or "") for e in entries if isinstance(e, dict)]


def _play_notifications(raw: str | bytes) -> dict[str, _Stop | None] | None:
    """The sessions a ``playing`` container names (a :class:`_Stop` for those reported
    ``stopped``, None for the others); None for any other message."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    container = data.get("NotificationContainer") if isinstance(data, dict) else None
    if not isinstance(container, dict) or container.get("type") != "playing":
        return None
    entries = container.get("PlaySessionStateNotification")
    notes: dict[str, _Stop | None] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        try:
            session_key = get_str(entry, "sessionKey", "sessionKey")
            state = (get_str(entry, "state", "state") or "").lower()
            rating_key = get_str(entry, "ratingKey", "ratingKey")
            offset = get_int(entry, "viewOffset", "viewOffset")
        except BadPayload:
            continue
        if not session_key:
            continue
        if state == "stopped":
            # an offset of 0 on a stop means "no position" (as the webhook parser reads it)
            notes[session_key] = _Stop(rating_key, offset if offset and offset > 0 else None)
        else:
            notes[session_key] = None
    return notes
