"""Keeps one watcher running per server with ``live: "watch"``, and records what it sees.

Each watcher runs as a task of the service's event loop, started with the service and whenever
a server is added or switched to watch, stopped when it is removed or switched off
(:meth:`WatchManager.refresh`), all cancelled at shutdown. A watcher that loses its server is
started again after a pause that doubles from 1 s up to 60 s, reset once it is connected again;
meanwhile the server shows ``reconnecting``. Stopping a watcher (shutdown, switched off)
records nothing: a playback it was following ends when the server says so, through the next
watcher or webhook — never a stop made up by us.

What a watcher sees goes through :class:`~.tracker.SessionTracker` and then through the same
recorder, policy and outbox as a webhook event (source: the server's kind), so every SPEC §6
rule holds; the tracker is kept across reconnections, so a session that vanished while the
server was away stops at its last position once the server answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...events.model import PlaybackEvent
from ...scrobble.outbox import Accepted
from ...store.models import utcnow
from .base import SessionSnapshot, Watcher
from .tracker import SessionTracker

log = logging.getLogger(__name__)

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0

# (connection, poll interval in seconds) → the watcher for that server's kind.
WatcherFactory = Callable[[Any, float], Watcher]


@dataclass
class WatchState:
    """What a server card shows: ``connected`` / ``reconnecting`` (``off`` when not watched)."""

    state: str = "reconnecting"
    last_message_at: datetime | None = None
    last_error: str | None = None


@dataclass
class _Running:
    task: asyncio.Task[None]
    state: WatchState
    tracker: SessionTracker
    url: str
    token_hash: str


class WatchManager:
    """The watchers of this process."""

    def __init__(
        self,
        *,
        servers: Any,
        scrobbling: Any,
        factory: WatcherFactory,
        interval: Callable[[], float],
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._servers = servers  # ServerService: the rows and their decrypted connections
        self._scrobbling = scrobbling  # ScrobbleService: recorder and drain
        self._factory = factory
        self._interval = interval
        self._sleep = sleep
        self._running: dict[str, _Running] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.refresh()

    async def stop(self) -> None:
        self._closed = True
        async with self._lock:
            for server_id in list(self._running):
                await self._cancel(server_id)

    async def refresh(self, server_id: str | None = None) -> None:
        """Bring the watchers in line with the servers' ``live`` settings (one server, or all):
        start the missing ones, stop those no longer wanted, restart one whose URL or token
        changed."""
        if self._closed:
            return
        wanted = await asyncio.to_thread(self._wanted)
        async with self._lock:
            ids = [server_id] if server_id is not None else list({*wanted, *self._running})
            for sid in ids:
                target = wanted.get(sid)
                running = self._running.get(sid)
                if running is not None and (
                    target is None or (running.url, running.token_hash) != target[1:]
                ):
                    await self._cancel(sid)
                    running = None
                if target is not None and running is None and not self._closed:
                    self._launch(sid, target[0], target[1], target[2])

    def status(self, server_id: str) -> WatchState | None:
        """The watcher's state, or None when the server is not watched."""
        running = self._running.get(server_id)
        return running.state if running is not None else None

    def reconnecting(self) -> dict[str, WatchState]:
        """The watched servers that are not connected right now, by id."""
        return {sid: r.state for sid, r in self._running.items() if r.state.state != "connected"}

    # ------------------------------------------------------------ one server

    def _wanted(self) -> dict[str, tuple[str, str, str]]:
        """Watched servers: id → (kind, url, hash of the token) (the hash tells a new token)."""
        out: dict[str, tuple[str, str, str]] = {}
        for server in self._servers.watched_servers():
            digest = hashlib.sha256(server.token.encode()).hexdigest()
            out[server.id] = (server.kind, server.url, digest)
        return out

    def _launch(self, server_id: str, kind: str, url: str, token_hash: str) -> None:
        tracker = SessionTracker(kind, server_id)  # type: ignore[arg-type]
        state = WatchState()
        task = asyncio.get_running_loop().create_task(
            self._follow(server_id, tracker, state), name=f"watch-{server_id}"
        )
        self._running[server_id] = _Running(task, state, tracker, url, token_hash)

    async def _cancel(self, server_id: str) -> None:
        running = self._running.pop(server_id, None)
        if running is None:
            return
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running.task

    async def _follow(self, server_id: str, tracker: SessionTracker, state: WatchState) -> None:
        """Run the server's watcher for as long as it is wanted, reconnecting with backoff."""
        backoff = FIRST_BACKOFF

        def connected() -> None:
            nonlocal backoff
            backoff = FIRST_BACKOFF
            state.state, state.last_error = "connected", None
            state.last_message_at = utcnow()

        async def sink(sessions: list[SessionSnapshot]) -> None:
            state.last_message_at = utcnow()
            if state.state != "connected":
                connected()
            await self._record(tracker.update(sessions))

        while True:
            try:
                connection = await asyncio.to_thread(self._servers.connection, server_id)
                watcher = self._factory(connection, self._interval())
                await watcher.run(sink, connected)
                state.last_error = "the server closed the connection"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is a reason to reconnect, never to stop
                state.last_error = _reason(exc)
            state.state = "reconnecting"
            log.info(
                "media server %s: watching paused (%s); again in %.0f s",
                server_id,
                state.last_error,
                backoff,
            )
            await self._sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _record(self, events: list[PlaybackEvent]) -> None:
        """Store the events like webhook events (in a worker thread) and wake the drains."""
        for event in events:
            accepted: Accepted = await asyncio.to_thread(
                self._scrobbling.recorder.record, event, _digest(event), event.occurred_at
            )
            if accepted.wake:
                self._scrobbling.drain.wake(accepted.wake)


def _digest(event: PlaybackEvent) -> str:
    """A unique delivery hash per event (a watcher never delivers one event twice)."""
    text = f"watch\0{event.session_key}\0{event.kind}\0{event.occurred_at.isoformat()}"
    return hashlib.sha256(f"{text}\0{event.position_ms}".encode()).hexdigest()


def _reason(exc: Exception) -> str:
    """A readable reason without secrets (our errors carry redacted reasons)."""
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else type(exc).__name__
