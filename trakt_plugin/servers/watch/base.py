"""What a watcher reports, and what it is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

from ..base import LibraryItem

PlayState: TypeAlias = Literal["playing", "paused", "stopped"]


@dataclass(frozen=True)
class SessionSnapshot:
    """One playback as the server shows it now.

    ``session_key``: stable for the whole playback and equal to what the server's webhook
    parser builds for it where possible (so a playback seen both ways is one session);
    ``user_external_ids``/``user_name``: the account as SPEC §4 names it (Plex: the account
    name; Jellyfin/Emby: the user id, then the name); ``item``: the movie or episode with its
    external ids; ``state`` "stopped" for a playback the server just reported ended (its last
    snapshot); ``position_ms``/``duration_ms`` where known.
    """

    session_key: str
    user_external_ids: tuple[str, ...]
    user_name: str | None
    item: LibraryItem
    state: PlayState
    position_ms: int | None = None
    duration_ms: int | None = None
    local_key: str | None = None


# A watcher hands over the server's whole list of sessions after every change it sees (a
# session missing from a list has ended); ``connected`` is called each time a connection (or,
# for polling, a first answer) is established, so the manager can show "connected".
SessionSink: TypeAlias = Callable[[list[SessionSnapshot]], Awaitable[None]]
Connected: TypeAlias = Callable[[], None]


class Watcher(Protocol):
    """Follows one server until cancelled. ``run`` returns or raises when the connection is
    lost (the manager reconnects with backoff); it never swallows cancellation."""

    async def run(self, sink: SessionSink, connected: Connected) -> None: ...
