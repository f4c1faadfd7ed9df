"""A watcher under test: run as a task, every list it hands over recorded, and a session
tracker turning the lists into events (shared by the Plex and Jellyfin/Emby watcher tests)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from trakt_plugin.events.model import PlaybackEvent
from trakt_plugin.servers.watch.base import SessionSnapshot, Watcher
from trakt_plugin.servers.watch.tracker import SessionTracker

WAIT = 10.0  # seconds a condition may take before the test fails


class WatchHarness:
    """Subclasses say how to build the watcher (:meth:`watcher`)."""

    def __init__(self, tracker: SessionTracker) -> None:
        self.lists: list[list[SessionSnapshot]] = []
        self.tracker = tracker
        self.events: list[PlaybackEvent] = []
        self.connections = 0
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def watcher(self) -> Watcher:
        raise NotImplementedError

    async def sink(self, sessions: list[SessionSnapshot]) -> None:
        self.lists.append(sessions)
        self.events.extend(self.tracker.update(sessions))
        self._wake.set()

    def connected(self) -> None:
        self.connections += 1
        self._wake.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self.watcher().run(self.sink, self.connected))
        self.task.add_done_callback(lambda _task: self._wake.set())

    async def until(self, predicate: Callable[[], bool], what: str = "condition") -> None:
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            self._wake.clear()
            if predicate():
                return
            if self.task is not None and self.task.done():
                self.task.result()  # raises what the watcher raised
                raise AssertionError(f"the watcher returned before: {what}")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for: {what}; events {self.kinds}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._wake.wait()

    async def ended(self) -> BaseException | None:
        """Wait for the watcher to end by itself; what it raised (None when it returned)."""
        assert self.task is not None
        done, _ = await asyncio.wait({self.task}, timeout=WAIT)
        assert done, "the watcher kept running"
        return self.task.exception()

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await self.task

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def latest(self) -> list[SessionSnapshot]:
        return self.lists[-1] if self.lists else []
