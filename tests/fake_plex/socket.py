"""The fake's notifications websocket: `/:/websockets/notifications` (docs/media-server-apis.md
§2.8).

* where: `/:/websockets/notifications` (the form plexapi, Tautulli and PlexTraktSync use); any
  other websocket path is refused (404);
* auth: `X-Plex-Token` as a header (Tautulli) or a query parameter (plexapi's AlertListener);
  none or an unknown one is refused (401); another account's token too (403: the fake keeps the
  socket to the owner, whose token the service holds — what PMS sends other accounts is an open
  question, docs §7);
* frames: JSON `{"NotificationContainer": {"type": "playing", "size": 1,
  "PlaySessionStateNotification": [{sessionKey, clientIdentifier, guid, ratingKey, url, key,
  viewOffset, playQueueItemID, state}]}}`, pushed at every session change made through
  `FakePlex` (`start_session`, `update_session`/`pause`/`resume`/`progress`, `stop_session` →
  `state: "stopped"`); `end_session` sends nothing; `push_notification` sends any container
  (a `timeline`, an `activity` …); nothing is sent at connect time;
* `drop_sockets()` closes every socket with code 1001 (a restart); stopping the server closes
  them too. Each handshake is logged in `requests` (path `/:/websockets/notifications`, status
  101 when accepted).

Not modelled: heartbeats while playing (PMS forwards the players' ~10 s timeline updates; here a
test calls `progress`), the `filters=` parameter, the singular `/:/websocket/notifications` and
the SSE `/:/eventsource/notifications` forms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .state import FakePlex, LoggedRequest

NOTIFICATIONS_PATH = "/:/websockets/notifications"
_DROP = object()


class Connection:
    """One open socket. `push()` and `drop()` may be called from any thread."""

    def __init__(self, fake: FakePlex, ws: WebSocket, account_id: int) -> None:
        self.fake = fake
        self.ws = ws
        self.account_id = account_id
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []

    def push(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: so is the socket
            self.loop.call_soon_threadsafe(self.queue.put_nowait, message)

    def drop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, _DROP)


async def serve(fake: FakePlex, scope: Scope, receive: Receive, send: Send) -> None:
    """Handle one websocket connection to the fake."""
    ws = WebSocket(scope, receive, send)
    path = ws.url.path
    if len(path) > 1:
        path = path.rstrip("/")
    token = ws.headers.get("x-plex-token") or ws.query_params.get("X-Plex-Token")
    entry = LoggedRequest(
        t=fake.monotonic(),
        method="GET",
        path=path,
        query=dict(ws.query_params),
        raw_query=scope.get("query_string", b"").decode("latin-1"),
        headers={k.lower(): v for k, v in ws.headers.items()},
        token=token,
    )
    with fake.lock:
        account = fake.token_account(token)
        entry.account_id = account.id if account else None
        if path != NOTIFICATIONS_PATH:
            status, reason = 404, "Not Found"
        elif account is None:
            status, reason = 401, "Unauthorized"
        elif not account.is_owner:
            status, reason = 403, "Forbidden"
        else:
            status, reason = 101, ""
        entry.status = status
        fake.requests.append(entry)
    if status != 101 or account is None:
        await _refuse(ws, scope, status, reason)
        return
    await ws.accept()
    connection = Connection(fake, ws, account.id)
    with fake.lock:
        fake.sockets.append(connection)
    try:
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
    """An HTTP answer instead of the upgrade (where the server can send one), else a close."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await ws.send_denial_response(PlainTextResponse(reason, status_code=status))
    else:
        await ws.close(code=1008)


async def _read(connection: Connection) -> None:
    """PMS ignores what clients send; this only notices the client leaving."""
    while True:
        try:
            await connection.ws.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return


async def _push(connection: Connection) -> None:
    while True:
        message = await connection.queue.get()
        if message is _DROP:
            await connection.ws.close(code=1001)
            return
        connection.sent.append(message)
        await connection.ws.send_text(json.dumps(message, separators=(",", ":")))
