"""Live updates for open dashboard pages (SPEC §10: now playing within 2 s of an event).

How a change reaches an open overview, and why this shape:

1. The event recorder (:class:`~trakt_plugin.scrobble.outbox.EventRecorder`) calls its
   ``listeners`` after each committed batch, from the worker thread it runs in. The listener
   here, :meth:`Changes.bump`, only increments a version number under a lock: no event loop,
   no store access, nothing that could slow the webhook's hot path.
2. Every open overview has a NiceGUI timer that compares that number with the one it last
   showed, :data:`CHECK_EVERY` seconds apart. The comparison costs nothing (no I/O); only when
   the number moved does the page re-read the store (one indexed query on the open sessions)
   and push the new cards over its websocket: no reload, and nothing read while nothing moved.
3. A few changes have no recorder event behind them (a session finalised for idleness, a call
   that went dead in the drain, a server that stopped answering): the page re-reads everything
   every :data:`REFRESH_EVERY` seconds as well.

A timer per page (rather than an ``asyncio.Event`` woken with ``call_soon_threadsafe``) keeps
the page's lifetime NiceGUI's business: the timer stops with its client, so there is no task
to cancel and no waiter to forget when a tab closes or reconnects. The price is at most
:data:`CHECK_EVERY` seconds of latency, well inside the 2 s the overview promises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from nicegui import app

from ..context import AppContext

# How often an open page looks at the version number (seconds): the latency bound.
CHECK_EVERY = 0.5
# How often an open page re-reads everything anyway (seconds): changes without an event.
REFRESH_EVERY = 30.0


class Changes:
    """A version number bumped (from any thread) after each change pages should show."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def bump(self) -> None:
        with self._lock:
            self._version += 1


def recorded_changes(ctx: AppContext) -> Changes:
    """A :class:`Changes` bumped after every batch the scrobbler's recorder commits.

    Subscribes at startup: pages register before the scrobbling service is built.
    """
    changes = Changes()

    def subscribe() -> None:
        scrobbling = ctx.services.get("scrobbling")
        if scrobbling is not None:
            listeners: list[Callable[[], None]] = scrobbling.recorder.listeners
            listeners.append(changes.bump)

    app.on_startup(subscribe)
    return changes
