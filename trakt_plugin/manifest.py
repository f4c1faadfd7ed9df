"""Builds ``plugin.json``, the integration manifest. Regenerate with
``python -m trakt_plugin.manifest > plugin.json``; a test keeps the file in step."""

from __future__ import annotations

import json
from typing import Any

from . import __version__
from .config import settings_schema
from .store.models import IDENTITY_SOURCES

DEFAULT_PORT = 8765


def manifest() -> dict[str, Any]:
    return {
        "id": "trakt",
        "name": "Trakt",
        "version": __version__,
        "description": "Scrobbles playback from Revenge, Plex, Jellyfin and Emby to Trakt.tv for "
        "every person in the household, syncs history and watchlist both ways, shows stats and "
        "serves Trakt ids and multi-source ratings.",
        "start": {"command": ["trakt-plugin", "serve"], "module": "trakt_plugin"},
        "default_port": DEFAULT_PORT,
        "health": "/healthz",
        "dashboard": "/",
        "api": {"base": "/api/v1", "openapi": "/api/v1/openapi.json"},
        "webhooks": {source: f"/webhooks/{source}" for source in IDENTITY_SOURCES},
        "config": {"yaml_path": "integrations.trakt", "schema": settings_schema()},
    }


def render() -> str:
    return json.dumps(manifest(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
