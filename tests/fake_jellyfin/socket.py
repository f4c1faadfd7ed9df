"""The fake's websocket: `SessionsStart` → `Sessions` pushes, keep-alives, refusal and drops.

As the real servers (docs/media-server-apis.md §3.6, §4):

* where: Jellyfin upgrades on any path (clients use `/socket`); Emby on `/embywebsocket` (its JS
  client's form) and on the root (its docs' form); another Emby path is refused (404);
* auth: the REST rules (`app.authenticate`): Jellyfin the `MediaBrowser … Token=` header or
  `?ApiKey=` (`?api_key=` only while `legacy_auth` is on); Emby `?api_key=`, `X-Emby-Token`…;
  no or a wrong token: refused (401); `socket_refused`: every handshake refused (403);
* on connect the server sends `{"MessageType": "ForceKeepAlive", "Data": 60}`; a client's
  `KeepAlive` is answered with `KeepAlive`; a socket silent for 3/4 of the period gets another
  `ForceKeepAlive`, one silent for the whole period is closed;
* `SessionsStart` with `Data: "initialDelayMs,intervalMs"` subscribes: nothing is sent at
  subscribe time; the list (the `GET /Sessions` JSON, `MessageId` set) is pushed on every
  session change and, while `socket_periodic` is on (the default), every interval (the real
  servers push only on changes and on playing clients' progress; turn it off to model a
  server that is silent while everyone is paused); `SessionsStop` ends it;
* who gets data: Jellyfin 10.9 admin users only, 10.10 admin users (an API key is accepted but
  gets nothing, jellyfin/jellyfin#13479), 10.11+ anyone (plain users their own sessions); Emby
  API keys and admins everything, plain users their own sessions;
* `drop_sockets()` closes every socket with code 1001 (a restart); stopping the `LiveServer`
  closes them too.

Not modelled: the session a socket registers for its own device, other message types
(`UserDataChanged`, `LibraryChanged`, `Play`…), binary frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .app import authenticate, strip_prefix
from .routes import session_dto
from .state import Caller, FakeJellyfin, LoggedRequest, Session

EMBY_SOCKET_PATHS = ("/embywebsocket", "/")
MIN_INTERVAL_MS = 10


class Connection:
    """One open websocket. `wake()` and `drop()` may be called from any thread."""

    def __init__(self, fake: FakeJellyfin, ws: WebSocket, caller: Caller) -> None:
        self.fake = fake
        self.ws = ws
        self.caller = caller
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        self.subscribed: tuple[int, int] | None = None  # (initial delay, interval) in ms
        self.next_push = 0.0  # loop time
        self.dropped = False
        self.changes = 0  # session changes seen (wake-ups that are not changes count nothing)
        self.last_heard = self.loop.time()
        self.forced_at = self.loop.time()
        self.sent: list[dict[str, Any]] = []
        self._send_lock = asyncio.Lock()

    def wake(self) -> None:
        """The sessions changed: push them (to a subscriber)."""
        with contextlib.suppress(RuntimeError):  # the loop is gone: so is the socket
            self.loop.call_soon_threadsafe(self._changed)

    def _changed(self) -> None:
        self.changes += 1
        self.event.set()

    def drop(self) -> None:
        self.dropped = True
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.event.set)

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            self.sent.append(message)
            await self.ws.send_text(json.dumps(message))


def _period(fake: FakeJellyfin) -> int | float:
    seconds = fake.keepalive_seconds
    return int(seconds) if float(seconds).is_integer() else seconds


def sessions_for(fake: FakeJellyfin, caller: Caller) -> list[Session] | None:
    """The sessions a subscriber is sent, or None when its subscription gets no data."""
    if fake.flavour == "jellyfin":
        version = fake.version_info
        admin_user = caller.kind == "user" and caller.is_admin
        if version < (10, 11) and not admin_user:
            return None  # 10.9: admin users only; 10.10: API keys get nothing (#13479)
    listed = list(fake.sessions)
    if not caller.is_admin:
        listed = [s for s in listed if caller.user is not None and s.user_id == caller.user.id]
    return listed


async def serve(fake: FakeJellyfin, scope: Scope, receive: Receive, send: Send) -> None:
    """Handle one websocket connection to the fake."""
    ws = WebSocket(scope, receive, send)
    headers = {k.lower(): v for k, v in ws.headers.items()}
    query: dict[str, list[str]] = {}
    for key, value in ws.query_params.multi_items():
        query.setdefault(key.lower(), []).append(value)
    path = ws.url.path or "/"
    if fake.flavour == "emby":
        path_ok = path.rstrip("/").lower() in (p.rstrip("/") for p in EMBY_SOCKET_PATHS)
        local_path = path
    else:
        path_ok = True
        local_path = strip_prefix(path)
    caller, presented, _fields = authenticate(fake, headers, query)
    entry = LoggedRequest(
        t=fake.monotonic(),
        wall=fake.clock(),
        method="GET",
        path=path,
        local_path=local_path,
        query=dict(ws.query_params),
        headers=headers,
        route="websocket",
        caller=caller.kind if caller else None,
        auth_via=caller.via if caller else None,
        user=caller.user.id if caller and caller.user else None,
    )
    if not path_ok:
        status, reason = 404, "Not Found"
    elif caller is None:
        status, reason = 401, "Access token is invalid or expired." if presented else ""
    elif fake.socket_refused:
        status, reason = 403, "websocket refused (socket_refused)"
    else:
        status, reason = 101, ""
    entry.status = status
    with fake.lock:
        fake.requests.append(entry)
    if status != 101 or caller is None:
        await _refuse(ws, scope, status, reason)
        return
    await ws.accept()
    connection = Connection(fake, ws, caller)
    with fake.lock:
        fake.sockets.append(connection)
    try:
        await connection.send({"MessageType": "ForceKeepAlive", "Data": _period(fake)})
        reader = asyncio.create_task(_read(connection))
        pusher = asyncio.create_task(_push(connection))
        _done, pending = await asyncio.wait({reader, pusher}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(reader, pusher, return_exceptions=True)
    finally:
        with fake.lock:
            if connection in fake.sockets:
                fake.sockets.remove(connection)


async def _refuse(ws: WebSocket, scope: Scope, status: int, reason: str) -> None:
    """An HTTP answer instead of the upgrade (where the server can send one), else a 403."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await ws.send_denial_response(PlainTextResponse(reason, status_code=status))
    else:
        await ws.close(code=1008)


async def _read(connection: Connection) -> None:
    fake, ws = connection.fake, connection.ws
    while True:
        try:
            text = await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return
        connection.last_heard = connection.loop.time()
        try:
            message = json.loads(text)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        kind, data = message.get("MessageType"), message.get("Data")
        with fake.lock:
            fake.socket_messages.append((str(kind), data))
        if kind == "SessionsStart":
            initial, interval = _subscription(data)
            connection.subscribed = (initial, interval)
            # nothing at subscribe time: the first periodic push after the delay (or interval)
            connection.next_push = connection.loop.time() + (initial or interval) / 1000
            connection.event.set()  # re-plan the pusher's wait (nothing is sent now)
        elif kind == "SessionsStop":
            connection.subscribed = None
        elif kind == "KeepAlive":
            await connection.send({"MessageType": "KeepAlive"})


def _subscription(data: object) -> tuple[int, int]:
    """`"initialDelayMs,intervalMs"` (defaults 0 and 1500 for anything unreadable)."""
    parts = str(data or "").split(",")
    try:
        initial = max(int(parts[0]), 0)
        interval = max(int(parts[1]), MIN_INTERVAL_MS) if len(parts) > 1 else 1500
    except ValueError:
        return 0, 1500
    return initial, interval


async def _push(connection: Connection) -> None:
    fake, loop = connection.fake, connection.loop
    seen = 0
    while True:
        period = max(float(fake.keepalive_seconds), 0.01)
        deadlines = [connection.last_heard + period]
        if connection.forced_at < connection.last_heard:
            deadlines.append(connection.last_heard + period * 0.75)
        if connection.subscribed is not None and fake.socket_periodic:
            deadlines.append(connection.next_push)
        with contextlib.suppress(TimeoutError):  # asyncio.timeout: cancellation is kept
            async with asyncio.timeout_at(min(deadlines)):
                await connection.event.wait()
        connection.event.clear()
        changed, seen = connection.changes != seen, connection.changes
        if connection.dropped:
            await connection.ws.close(code=1001)
            return
        now = loop.time()
        silent = now - connection.last_heard
        if silent >= period:
            await connection.ws.close(code=1000, reason="no keep-alive")
            return
        if silent >= period * 0.75 and connection.forced_at < connection.last_heard:
            connection.forced_at = now
            await connection.send({"MessageType": "ForceKeepAlive", "Data": _period(fake)})
        if connection.subscribed is None:
            continue
        due = fake.socket_periodic and now >= connection.next_push
        if changed or due:
            with fake.lock:
                listed = sessions_for(fake, connection.caller)
                data = None if listed is None else [session_dto(fake, s) for s in listed]
            connection.next_push = now + connection.subscribed[1] / 1000
            if data is not None:
                await connection.send(
                    {"MessageType": "Sessions", "MessageId": uuid.uuid4().hex, "Data": data}
                )
