"""Seeding the play ledger of a running service straight into its SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

BREAKING_BAD = {"title": "Breaking Bad", "year": 2008, "ids": {"trakt": 1388, "tvdb": 81189}}
MATRIX = {"title": "The Matrix", "year": 1999, "ids": {"trakt": 481, "imdb": "tt0133093"}}
# (item, watched_at in UTC as SQLAlchemy stores it on SQLite, source, runtime in minutes)
SAMPLE_PLAYS: list[tuple[dict[str, Any], str, str, int]] = [
    ({"type": "movie", "movie": MATRIX}, "2026-11-23 21:00:00.000000", "plex", 136),
    (
        {"type": "episode", "show": BREAKING_BAD,
         "episode": {"season": 1, "number": 1, "title": "Pilot", "ids": {"trakt": 73482}}},
        "2026-11-24 20:00:00.000000", "jellyfin", 47,
    ),
    (
        {"type": "episode", "show": BREAKING_BAD,
         "episode": {"season": 1, "number": 2, "title": "Cat's", "ids": {"trakt": 73483}}},
        "2026-12-01 20:00:00.000000", "plex", 48,
    ),
]  # fmt: skip


def seed_plays(data_dir: Path, user_id: str) -> None:
    """Insert :data:`SAMPLE_PLAYS` for ``user_id`` (WAL lets the running service keep going)."""
    with sqlite3.connect(data_dir / "trakt-plugin.db", timeout=10) as db:
        db.executemany(
            "INSERT INTO play (user_id, item, item_key, watched_at, source, runtime, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (user_id, json.dumps(item), f"seed:{n}", at, source, runtime, at)
                for n, (item, at, source, runtime) in enumerate(SAMPLE_PLAYS)
            ],
        )
