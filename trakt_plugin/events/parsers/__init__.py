"""One pure parser per media server, and :func:`parse_event` tying body decoding to them.

Each ``parse(payload, *, received_at)`` returns a :class:`PlaybackEvent` or an :class:`Ignored`,
and raises :class:`BadPayload` naming the field for structurally wrong payloads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from trakt_plugin.events.bodies import extract_payload
from trakt_plugin.events.model import (
    BadPayload,
    Ignored,
    PlaybackEvent,
    UnknownSource,
    UnsupportedMediaType,
)
from trakt_plugin.events.parsers import emby, jellyfin, plex, revenge

__all__ = [
    "PARSERS",
    "BadPayload",
    "Ignored",
    "PlaybackEvent",
    "UnknownSource",
    "UnsupportedMediaType",
    "parse_event",
    "parse_payload",
]

PARSERS: dict[str, Callable[..., PlaybackEvent | Ignored]] = {
    "revenge": revenge.parse,
    "plex": plex.parse,
    "jellyfin": jellyfin.parse,
    "emby": emby.parse,
}


def parse_payload(
    source: str, payload: dict[str, Any], *, received_at: datetime
) -> PlaybackEvent | Ignored:
    """Normalise an already decoded payload of ``source``."""
    parser = PARSERS.get(source)
    if parser is None:
        raise UnknownSource(f"unknown source {source[:40]!r}")
    try:
        return parser(payload, received_at=received_at)
    except RecursionError:
        # Defensive: parsers do not recurse, but a 400 beats a 500 whatever happens.
        raise BadPayload("payload nested too deeply") from None


def parse_event(
    source: str, content_type: str | None, body: bytes, received_at: datetime
) -> PlaybackEvent | Ignored:
    """Decode a webhook body and normalise it (SPEC §5).

    Raises :class:`UnsupportedMediaType` (→ 415) or :class:`BadPayload` (→ 400; its subclass
    :class:`UnknownSource` when ``source`` is not a known one). ``received_at`` must be an aware
    datetime (naive is taken as UTC); it is the event time for Plex, Jellyfin and Emby.
    """
    payload = extract_payload(source, content_type, body)
    return parse_payload(source, payload, received_at=received_at)
