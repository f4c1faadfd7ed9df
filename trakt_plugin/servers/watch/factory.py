"""The watcher for a server's kind."""

from __future__ import annotations

from typing import Any

from ..base import NotSupported
from .base import Watcher


def make_watcher(connection: Any, interval: float) -> Watcher:
    """A watcher for ``connection`` (a :class:`~trakt_plugin.servers.service.Connection`);
    ``interval``: how often to poll where the server's websocket is not available."""
    if connection.kind == "plex":
        from .plex import PlexWatcher

        return PlexWatcher(connection, interval)
    if connection.kind in ("jellyfin", "emby"):
        from .jellyfin import JellyfinWatcher

        return JellyfinWatcher(connection, interval)
    raise NotSupported(f"a {connection.kind} server cannot be watched")
