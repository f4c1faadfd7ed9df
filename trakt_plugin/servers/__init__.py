"""Media-server connectors (SPEC §12): one interface (:mod:`.base`), Plex (:mod:`.plex`),
Jellyfin and Emby (:mod:`.jellyfin`), ids read as the webhooks read them (:mod:`.ids`), and the
service that owns the store and runs every client call in a worker thread (:mod:`.service`)."""

from .base import (
    PAGE_SIZE,
    SERVER_KINDS,
    AccountIdentity,
    AccountNotWritable,
    LibraryItem,
    MediaServerClient,
    NotSupported,
    ServerAccount,
    ServerError,
    ServerInfo,
    ServerKind,
    ServerUnauthorized,
    ServerUnreachable,
)

__all__ = [
    "PAGE_SIZE",
    "SERVER_KINDS",
    "AccountIdentity",
    "AccountNotWritable",
    "LibraryItem",
    "MediaServerClient",
    "NotSupported",
    "ServerAccount",
    "ServerError",
    "ServerInfo",
    "ServerKind",
    "ServerUnauthorized",
    "ServerUnreachable",
]
