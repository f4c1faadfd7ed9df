"""Seeding the play ledger of a running service straight into its store (either engine)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tests import pg
from trakt_plugin.store.models import Play

BREAKING_BAD = {"title": "Breaking Bad", "year": 2008, "ids": {"trakt": 1388, "tvdb": 81189}}
MATRIX = {"title": "The Matrix", "year": 1999, "ids": {"trakt": 481, "imdb": "tt0133093"}}
# (item, watched_at, source, runtime in minutes)
SAMPLE_PLAYS: list[tuple[dict[str, Any], datetime, str, int]] = [
    ({"type": "movie", "movie": MATRIX}, datetime(2026, 11, 23, 21, tzinfo=UTC), "plex", 136),
    (
        {"type": "episode", "show": BREAKING_BAD,
         "episode": {"season": 1, "number": 1, "title": "Pilot", "ids": {"trakt": 73482}}},
        datetime(2026, 11, 24, 20, tzinfo=UTC), "jellyfin", 47,
    ),
    (
        {"type": "episode", "show": BREAKING_BAD,
         "episode": {"season": 1, "number": 2, "title": "Cat's", "ids": {"trakt": 73483}}},
        datetime(2026, 12, 1, 20, tzinfo=UTC), "plex", 48,
    ),
]  # fmt: skip


def seed_plays(
    service: pg.HasStore,
    user_id: str,
    plays: Sequence[tuple[dict[str, Any], datetime, str, int]] = SAMPLE_PLAYS,
) -> None:
    """Insert ``plays`` for ``user_id`` while the service runs (stored in UTC, as it stores
    them; on SQLite WAL lets the service keep going)."""
    rows = [
        {
            "user_id": user_id,
            "item": json.dumps(item),
            "item_key": f"seed:{n}",
            "watched_at": at.astimezone(UTC),
            "source": source,
            "runtime": runtime,
            "created_at": at.astimezone(UTC),
        }
        for n, (item, at, source, runtime) in enumerate(plays)
    ]
    pg.execute(pg.store_url(service), [(sa.insert(Play), row) for row in rows])
