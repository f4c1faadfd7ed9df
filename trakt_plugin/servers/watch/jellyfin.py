"""Following a Jellyfin or Emby server's sessions (SPEC §12 ``live: "watch"``).

Facts from docs/media-server-apis.md §3.6 (Jellyfin), §4 (Emby) and §6 (pitfalls 11, 12, 15):

================  =========================================  ====================================
                  Jellyfin                                   Emby
================  =========================================  ====================================
websocket         ``<url>/socket`` with the ``MediaBrowser    ``<root>/embywebsocket?api_key=…
                  … Token=`` header (12.0 refuses             &deviceId=…`` (its JS client's form)
                  ``api_key`` in the query)
used from         10.11 (10.9: admin users only; 10.10:      every version
                  API keys get no ``Sessions`` data)
sessions          ``GET /Sessions?activeWithinSeconds=960``  same, under ``/emby``
series ids        ``GET /Items?ids=<SeriesId>&fields=ProviderIds``, once per series (cached)
================  =========================================  ====================================

On the websocket the watcher sends ``SessionsStart`` (``"0,<interval ms>"``) and hands over the
list of every ``Sessions`` message. The server sends nothing at subscribe time and stays silent
while every client is paused, so the list is also read once over REST as soon as the socket is
open, and again at every keep-alive (half the ``ForceKeepAlive`` period, 30 s by default) —
which also covers servers that accept the subscription but never send data. A socket that
cannot be opened (refused, not a websocket, an older Jellyfin) means polling ``GET /Sessions``
every ``interval`` seconds instead.

A session is reported when it plays a movie or an episode (not theme media, not audio) for a
user; our own socket's device is left out. Its key is the webhook parser's
(``<kind>:<server id>:<user id>:<session id>:<item id>``), so a playback seen both ways is one
session; a session watched by several users (``AdditionalUsers``) is reported once per user, as
the webhook plugin notifies once per user.

``run`` raises :class:`~trakt_plugin.servers.base.ServerError` (unreachable, refused token,
socket closed) when the server is lost; the manager reconnects. The token travels in a header,
except in Emby's socket URL: that URL is never logged, and the websocket library's own debug
log goes through a filter that masks the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from trakt_plugin import __version__
from trakt_plugin.events.model import BadPayload, MediaType, ShowInfo
from trakt_plugin.events.parsers._common import (
    TICKS_PER_MS,
    get_bool,
    get_int,
    get_obj,
    get_str,
    key_part,
    lower_keys,
    normalise_guid,
    year_from,
)

from ..base import (
    CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    LibraryItem,
    ServerError,
    ServerUnauthorized,
    ServerUnreachable,
    redact,
    runtime_from_ms,
)
from ..ids import provider_ids
from ..jellyfin import CLIENT_NAME, emby_base
from .base import Connected, SessionSink, SessionSnapshot
from .masking import websockets_logger

log = logging.getLogger(__name__)

# GET /Sessions lists sessions active within this many seconds (docs §3.6): a client gone without
# a stop drops out after that (the server itself ends idle playbacks after about 5 minutes).
ACTIVE_WITHIN_SECONDS = 960
# Jellyfin lets an API key subscribe to Sessions and get data from 10.11 (docs §3.6: 10.9 admin
# users only; 10.10 accepts API keys but sends them nothing, jellyfin/jellyfin#13479).
SOCKET_SINCE_JELLYFIN = (10, 11)
# The server drops a socket silent for its ForceKeepAlive period (60 s); clients send KeepAlive
# every half period (as jellyfin-apiclient-python does).
DEFAULT_KEEPALIVE_SECONDS = 60.0
MIN_KEEPALIVE_SECONDS = 1.0
# A Sessions message of a busy server with every field can be large; far below memory concerns.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
_VIDEO_TYPES: dict[str, MediaType] = {"movie": "movie", "episode": "episode"}


@dataclass(frozen=True)
class _Server:
    """Who answered ``GET /System/Info``: its own id (the key's server part) and version."""

    uid: str
    version: tuple[int, ...]


class _SocketUnavailable(Exception):
    """The websocket could not be opened: poll instead (the reason is already redacted)."""


class JellyfinWatcher:
    """Follows one Jellyfin or Emby server (``connection.kind``) until cancelled or lost."""

    def __init__(self, connection: Any, interval: float) -> None:
        self._kind: str = "emby" if connection.kind == "emby" else "jellyfin"
        self._label = "Emby" if self._kind == "emby" else "Jellyfin"
        self._url: str = str(connection.url).rstrip("/")
        self._token: str = connection.token
        self._interval = max(float(interval), 0.01)
        self._device_id = f"{CLIENT_NAME}-watch-{str(connection.server_id)[:8]}"
        self._series: dict[str, ShowInfo] = {}
        self._server: _Server | None = None
        # The playbacks of the last list, and whether each item was already played at its start.
        self._playing: dict[str, SessionSnapshot] = {}
        self._played_at_start: dict[str, bool] = {}

    # ------------------------------------------------------------ the Watcher protocol

    async def run(self, sink: SessionSink, connected: Connected) -> None:
        async with self._http() as http:
            self._server = await self._identify(http)
            if self._socket_wanted(self._server):
                try:
                    await self._follow_socket(http, sink, connected)
                    return
                except _SocketUnavailable as exc:
                    log.info(
                        "%s watcher: no websocket (%s); polling every %g s",
                        self._label,
                        exc,
                        self._interval,
                    )
            await self._poll(http, sink, connected)

    # ------------------------------------------------------------ websocket

    def _socket_wanted(self, server: _Server) -> bool:
        return self._kind == "emby" or server.version >= SOCKET_SINCE_JELLYFIN

    def _socket_url(self) -> str:
        parts = urlsplit(self._url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = parts.path.rstrip("/")
        if self._kind == "emby":
            if path.lower().endswith("/emby"):
                path = path[: -len("/emby")]
            query = urlencode({"api_key": self._token, "deviceId": self._device_id})
            return urlunsplit((scheme, parts.netloc, f"{path}/embywebsocket", query, ""))
        query = urlencode({"deviceId": self._device_id})
        return urlunsplit((scheme, parts.netloc, f"{path}/socket", query, ""))

    async def _open_socket(self) -> ClientConnection:
        headers: dict[str, str] = {}
        if self._kind == "jellyfin":
            headers["Authorization"] = self._authorization()
        try:
            return await connect(
                self._socket_url(),
                additional_headers=headers,
                user_agent_header=f"{CLIENT_NAME}/{__version__}",
                proxy=None,  # like trust_env=False: a LAN server is reached directly
                open_timeout=DEFAULT_TIMEOUT,
                max_size=MAX_MESSAGE_BYTES,
                logger=websockets_logger(self._secrets()),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # refused, not a websocket, timed out: poll instead
            status = getattr(getattr(exc, "response", None), "status_code", None)
            what = f"HTTP {status}" if status else type(exc).__name__
            raise _SocketUnavailable(self._mask(what)) from None

    async def _follow_socket(
        self, http: httpx.AsyncClient, sink: SessionSink, connected: Connected
    ) -> None:
        socket = await self._open_socket()
        try:
            interval_ms = max(int(self._interval * 1000), 1)
            await self._send(socket, "SessionsStart", f"0,{interval_ms}")
            connected()
            # Nothing comes at subscribe time: read the list now (and after a reconnection this
            # is what stops the playbacks that ended meanwhile).
            await self._deliver(http, sink, await self._sessions(http))
            keepalive = DEFAULT_KEEPALIVE_SECONDS / 2
            loop = asyncio.get_running_loop()
            beat = loop.time() + keepalive
            while True:
                try:
                    # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                    # that races with a message arriving.
                    async with asyncio.timeout_at(beat):
                        raw = await socket.recv()
                except TimeoutError:
                    await self._send(socket, "KeepAlive")
                    # paused clients are silent
                    await self._deliver(http, sink, await self._sessions(http))
                    beat = loop.time() + keepalive
                    continue
                message = _message(raw)
                kind = message.get("messagetype")
                if kind == "Sessions":
                    data = message.get("data")
                    sessions = await self._snapshots(http, data if isinstance(data, list) else [])
                    await self._deliver(http, sink, sessions)
                elif kind == "ForceKeepAlive":
                    period = message.get("data")
                    if isinstance(period, int | float) and not isinstance(period, bool):
                        keepalive = max(float(period) / 2, MIN_KEEPALIVE_SECONDS)
                    await self._send(socket, "KeepAlive")
                    beat = loop.time() + keepalive
                elif kind in ("ServerRestarting", "ServerShuttingDown"):
                    raise ServerUnreachable(f"the {self._label} server is restarting")
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            detail = f" (code {code})" if code is not None else ""
            raise ServerUnreachable(f"the {self._label} websocket closed{detail}") from None
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(socket.close())

    async def _send(self, socket: ClientConnection, kind: str, data: str | None = None) -> None:
        message: dict[str, Any] = {"MessageType": kind}
        if data is not None:
            message["Data"] = data
        await socket.send(json.dumps(message))

    async def _deliver(
        self, http: httpx.AsyncClient, sink: SessionSink, sessions: list[SessionSnapshot]
    ) -> None:
        """Hand over the list, plus a ``stopped`` snapshot for each playback that left it.

        A stopped playback leaves the list with no position (Jellyfin clears its PlayState),
        and the last message seen may be well before the stop. Where the stop left the item
        says more: a resume position is where it stopped; ``Played`` newly set means it ran
        past the server's 90 %; otherwise the tracker's last position stands."""
        current = {s.session_key: s for s in sessions}
        for key, snapshot in current.items():
            if key not in self._playing:
                data = await self._user_data(http, snapshot)
                self._played_at_start[key] = bool(data and data.get("played"))
        ended = [
            await self._stopped(http, snapshot)
            for key, snapshot in self._playing.items()
            if key not in current
        ]
        for snapshot in ended:
            self._played_at_start.pop(snapshot.session_key, None)
        self._playing = current
        await sink(sessions + ended)

    async def _stopped(self, http: httpx.AsyncClient, last: SessionSnapshot) -> SessionSnapshot:
        data = await self._user_data(http, last) or {}
        ticks = get_int(data, "playbackpositionticks", "UserData.PlaybackPositionTicks")
        position: int | None = None
        if ticks:
            position = ticks // TICKS_PER_MS
        elif (
            data.get("played")
            and not self._played_at_start.get(last.session_key)
            and last.duration_ms
        ):  # newly played: it ran past the server's MaxResumePct (90 % unless changed)
            position = max(last.position_ms or 0, last.duration_ms * 9 // 10)
        return replace(last, state="stopped", position_ms=position)

    async def _user_data(
        self, http: httpx.AsyncClient, snapshot: SessionSnapshot
    ) -> dict[str, Any] | None:
        """The item's ``UserData`` for the playback's user (None when it cannot be read)."""
        user_id = snapshot.user_external_ids[0] if snapshot.user_external_ids else None
        if not user_id:
            return None
        if self._kind == "emby":
            path, params = f"/Users/{quote(user_id, safe='')}/Items", {"Ids": snapshot.item.key}
        else:
            path, params = "/Items", {"userId": user_id, "ids": snapshot.item.key}
        try:
            answer = await self._get(http, path, params)
        except ServerUnreachable:
            raise
        except ServerError:
            return None  # an item removed meanwhile: the last position stands
        items = lower_keys(answer).get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            return None
        data = lower_keys(items[0]).get("userdata")
        return lower_keys(data) if isinstance(data, dict) else None

    # ------------------------------------------------------------ polling

    async def _poll(self, http: httpx.AsyncClient, sink: SessionSink, connected: Connected) -> None:
        first = True
        while True:
            sessions = await self._sessions(http)
            if first:
                connected()
                first = False
            await self._deliver(http, sink, sessions)
            await asyncio.sleep(self._interval)

    # ------------------------------------------------------------ REST

    def _http(self) -> httpx.AsyncClient:
        base = emby_base(self._url) if self._kind == "emby" else self._url
        headers = {"Accept": "application/json", "User-Agent": f"{CLIENT_NAME}/{__version__}"}
        if self._kind == "emby":
            headers["X-Emby-Token"] = self._token
        else:
            headers["Authorization"] = self._authorization()
        timeout = httpx.Timeout(DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT)
        return httpx.AsyncClient(base_url=base, headers=headers, timeout=timeout, trust_env=False)

    def _authorization(self) -> str:
        return (
            f'MediaBrowser Client="{CLIENT_NAME}", Device="{CLIENT_NAME}", '
            f'DeviceId="{self._device_id}", Version="{__version__}", Token="{self._token}"'
        )

    def _secrets(self) -> tuple[str, ...]:
        return tuple(s for s in {self._token, quote(self._token, safe="")} if s)

    def _mask(self, text: str) -> str:
        return redact(text, *self._secrets())

    async def _get(self, http: httpx.AsyncClient, path: str, params: Mapping[str, Any]) -> Any:
        """One GET; every failure becomes one of our errors (never naming the token)."""
        try:
            response = await http.get(path, params=dict(params))
        except httpx.TimeoutException:
            raise ServerUnreachable(f"cannot reach the {self._label} server: timed out") from None
        except (httpx.TransportError, httpx.InvalidURL, UnicodeError) as exc:
            problem = "connection refused" if "refused" in str(exc).lower() else "no connection"
            raise ServerUnreachable(f"cannot reach the {self._label} server: {problem}") from None
        status = response.status_code
        if status in (401, 403):
            raise ServerUnauthorized(
                f"{self._label} refused the token (GET {path}: HTTP {status})", status=status
            )
        if status >= 400:
            raise ServerError(f"{self._label} answered HTTP {status} (GET {path})", status=status)
        try:
            return response.json()
        except ValueError:
            raise ServerError(f"the answer is not JSON (GET {path})") from None

    async def _identify(self, http: httpx.AsyncClient) -> _Server:
        data = await self._get(http, "/System/Info", {})
        fields = lower_keys(data) if isinstance(data, dict) else {}
        uid, version = fields.get("id"), fields.get("version")
        if not isinstance(uid, str) or not uid.strip():
            raise ServerError(f"the answer has no server Id: is this a {self._label} server?")
        numbers = re.findall(r"\d+", version) if isinstance(version, str) else []
        return _Server(uid.strip(), tuple(int(n) for n in numbers[:4]))

    async def _sessions(self, http: httpx.AsyncClient) -> list[SessionSnapshot]:
        data = await self._get(http, "/Sessions", {"activeWithinSeconds": ACTIVE_WITHIN_SECONDS})
        return await self._snapshots(http, data if isinstance(data, list) else [])

    async def _show(self, http: httpx.AsyncClient, series_id: str, title: str | None) -> ShowInfo:
        """The series' ids, asked once per series and kept for as long as this watcher runs."""
        key = series_id.strip().replace("-", "").lower()
        known = self._series.get(key)
        if known is not None:
            return known
        show = ShowInfo(title=title)
        try:
            data = await self._get(
                http, "/Items", {"ids": series_id, "fields": "ProviderIds", "enableImages": "false"}
            )
        except (ServerUnreachable, ServerUnauthorized):
            raise
        except ServerError as exc:  # the episode is still reported, with its own ids
            log.warning("%s watcher: series %s not read: %s", self._label, key, exc.reason)
        else:
            items = lower_keys(data).get("items") if isinstance(data, dict) else None
            for raw in items if isinstance(items, list) else []:
                fields = lower_keys(raw) if isinstance(raw, dict) else {}
                found = fields.get("id")
                if isinstance(found, str) and found.replace("-", "").lower() == key:
                    name, year = fields.get("name"), fields.get("productionyear")
                    show = ShowInfo(
                        title=name.strip() or title if isinstance(name, str) else title,
                        year=year_from(year) if type(year) is int else None,
                        ids=provider_ids(fields.get("providerids"), None),
                    )
        self._series[key] = show
        return show

    # ------------------------------------------------------------ sessions → snapshots

    async def _snapshots(
        self, http: httpx.AsyncClient, sessions: list[Any]
    ) -> list[SessionSnapshot]:
        out: list[SessionSnapshot] = []
        for raw in sessions:
            if not isinstance(raw, dict):
                continue
            try:
                out.extend(await self._snapshot(http, lower_keys(raw)))
            except BadPayload as exc:  # one odd session must not hide the others
                log.warning("%s watcher: a session skipped: %s", self._label, exc.reason)
        return out

    async def _snapshot(
        self, http: httpx.AsyncClient, session: dict[str, Any]
    ) -> list[SessionSnapshot]:
        """The session's playback, once per user watching it; nothing when it plays no video."""
        now = get_obj(session, "nowplayingitem", "NowPlayingItem")
        if now is None or get_str(session, "deviceid", "DeviceId") == self._device_id:
            return []
        item_fields = lower_keys(now)
        if get_bool(item_fields, "isthememedia", "NowPlayingItem.IsThemeMedia"):
            return []
        media_type = _VIDEO_TYPES.get(
            (get_str(item_fields, "type", "NowPlayingItem.Type") or "").lower()
        )
        item_id = get_str(item_fields, "id", "NowPlayingItem.Id")
        if media_type is None or not item_id:
            return []
        users = self._users(session)
        if not users:
            return []
        assert self._server is not None
        server_id = (
            get_str(session, "serverid", "ServerId")
            or get_str(item_fields, "serverid", "NowPlayingItem.ServerId")
            or self._server.uid
        )
        if self._kind == "jellyfin":
            item_id = normalise_guid(item_id)
        item = await self._item(http, item_fields, media_type, item_id)
        play_state = lower_keys(get_obj(session, "playstate", "PlayState") or {})
        ticks = get_int(play_state, "positionticks", "PlayState.PositionTicks")
        runtime = get_int(item_fields, "runtimeticks", "NowPlayingItem.RunTimeTicks")
        paused = bool(get_bool(play_state, "ispaused", "PlayState.IsPaused"))
        session_part = key_part(self._session_id(session, play_state))
        if self._kind == "jellyfin":
            local = f"jellyfin:{key_part(server_id)}:{item_id}"
        else:
            local = f"emby:{key_part(server_id)}:{key_part(item_id)}"
        return [
            SessionSnapshot(
                session_key=":".join(
                    [
                        self._kind,
                        key_part(server_id),
                        key_part(user_id),
                        session_part,
                        key_part(item_id),
                    ]
                ),
                user_external_ids=tuple(v for v in (user_id, user_name) if v),
                user_name=user_name,
                item=item,
                state="paused" if paused else "playing",
                position_ms=ticks // TICKS_PER_MS if ticks is not None and ticks >= 0 else None,
                duration_ms=runtime // TICKS_PER_MS if runtime else None,
                local_key=local,
            )
            for user_id, user_name in users
        ]

    def _users(self, session: dict[str, Any]) -> list[tuple[str, str | None]]:
        """(id, name) of the session's user, then of its ``AdditionalUsers``."""
        found: list[tuple[str, str | None]] = []
        extra = session.get("additionalusers")
        entries = (
            [session, *(lower_keys(u) for u in extra if isinstance(u, dict))]
            if isinstance(extra, list)
            else [session]
        )
        for entry in entries:
            raw_id = get_str(entry, "userid", "UserId")
            if not raw_id or not raw_id.strip("0-"):  # an empty GUID is no user
                continue
            user_id = normalise_guid(raw_id) if self._kind == "jellyfin" else raw_id.strip()
            if user_id not in (known for known, _ in found):
                found.append((user_id, get_str(entry, "username", "UserName")))
        return found

    def _session_id(self, session: dict[str, Any], play_state: dict[str, Any]) -> str:
        """As the webhook parsers name the playback: Jellyfin the session ``Id``; Emby its
        ``PlaySessionId`` where the session shows one, else the session ``Id``."""
        candidates = [get_str(session, "id", "Id"), get_str(session, "deviceid", "DeviceId")]
        if self._kind == "emby":
            candidates.insert(0, get_str(play_state, "playsessionid", "PlayState.PlaySessionId"))
        return next((c for c in candidates if c), "nosession")

    async def _item(
        self,
        http: httpx.AsyncClient,
        fields: dict[str, Any],
        media_type: MediaType,
        item_id: str,
    ) -> LibraryItem:
        ticks = get_int(fields, "runtimeticks", "NowPlayingItem.RunTimeTicks")
        show = None
        season = number = None
        if media_type == "episode":
            series_name = get_str(fields, "seriesname", "NowPlayingItem.SeriesName")
            series_ids = provider_ids(fields.get("seriesproviderids"), None)
            series_id = get_str(fields, "seriesid", "NowPlayingItem.SeriesId")
            if series_ids or not series_id:
                show = ShowInfo(title=series_name, ids=series_ids)
            else:
                show = await self._show(http, series_id, series_name)
            season = get_int(fields, "parentindexnumber", "NowPlayingItem.ParentIndexNumber")
            number = get_int(fields, "indexnumber", "NowPlayingItem.IndexNumber")
        return LibraryItem(
            key=item_id,
            type=media_type,
            title=get_str(fields, "name", "NowPlayingItem.Name"),
            year=year_from(get_int(fields, "productionyear", "NowPlayingItem.ProductionYear")),
            ids=provider_ids(fields.get("providerids"), media_type),
            show=show,
            season=season,
            number=number,
            runtime=runtime_from_ms(ticks // TICKS_PER_MS) if ticks else None,
        )


def _message(raw: str | bytes) -> dict[str, Any]:
    """A websocket message with lower-case keys (anything unreadable is an empty message)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return lower_keys(data) if isinstance(data, dict) else {}
