"""The History page's read model: keyset pages, title search, filters, Trakt state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from trakt_plugin.sync import repo
from trakt_plugin.ui.history_query import (
    Cursor,
    HistoryFilter,
    history_page,
    item_title,
    like_pattern,
    sources,
)

START = datetime(2026, 1, 1, 20, 0)
USER, OTHER = "u-1", "u-2"


def movie(title: str, year: int = 2000) -> dict[str, Any]:
    return {"type": "movie", "movie": {"title": title, "year": year, "ids": {"trakt": 1}}}


def episode(show: str, season: int, number: int, title: str | None) -> dict[str, Any]:
    return {
        "type": "episode",
        "show": {"title": show, "year": 2008, "ids": {"trakt": 2}},
        "episode": {"season": season, "number": number, "title": title, "ids": {"trakt": 3}},
    }


@pytest.fixture
def engine(store_engine: Engine) -> Engine:
    """A migrated store (SQLite or PostgreSQL, TRAKT_PLUGIN_TEST_DB) with two people."""
    with store_engine.begin() as conn:
        for user in (USER, OTHER):
            conn.execute(
                sa.text('INSERT INTO "user" (id, display_name, created_at) VALUES (:i, :i, :t)'),
                {"i": user, "t": START},
            )
    return store_engine


def add(engine: Engine, item: dict[str, Any], minutes: int, **extra: Any) -> int:
    row = {
        "user_id": USER,
        "item": json.dumps(item),
        "item_key": f"k:{minutes}",
        "watched_at": START + timedelta(minutes=minutes),
        "source": "plex",
        "trakt_history_id": None,
        "sync_state": None,
        "created_at": START,
        **extra,
    }
    with engine.begin() as conn:
        return int(
            conn.execute(repo.PLAY.insert().values(row).returning(repo.PLAY.c.id)).scalar_one()
        )


def test_pages_newest_first_without_gaps_or_repeats(engine: Engine) -> None:
    for n in range(7):
        add(engine, movie(f"Film {n}"), n)
    add(engine, movie("Same minute"), 3)  # a tie on watched_at: ordered by id
    add(engine, movie("Someone else's"), 100, user_id=OTHER)
    seen: list[str] = []
    after: Cursor | None = None
    with engine.connect() as conn:
        while True:
            page = history_page(conn, user_id=USER, after=after, limit=3)
            seen += [row.title for row in page.rows]
            if page.next is None:
                break
            after = page.next
    assert seen == [
        "Film 6 (2000)", "Film 5 (2000)", "Film 4 (2000)", "Same minute (2000)",
        "Film 3 (2000)", "Film 2 (2000)", "Film 1 (2000)", "Film 0 (2000)",
    ]  # fmt: skip


def test_search_reads_titles_only(engine: Engine) -> None:
    add(engine, movie("The Matrix", 1999), 1)
    add(engine, episode("Breaking Bad", 1, 2, "Cat's in the Bag..."), 2)
    add(engine, movie("Amélie", 2001), 3)
    add(engine, movie("100% Wolf"), 4)
    add(engine, movie("Movie Night"), 5)

    def titles(text: str) -> list[str]:
        with engine.connect() as conn:
            page = history_page(conn, user_id=USER, filters=HistoryFilter(search=text))
        return [row.title for row in page.rows]

    assert titles("matrix") == ["The Matrix (1999)"]
    assert titles("  BREAKING  ") == ["Breaking Bad S01E02 Cat's in the Bag..."]
    assert titles("bag") == ["Breaking Bad S01E02 Cat's in the Bag..."]
    assert titles("amélie") == ["Amélie (2001)"]  # stored \u-escaped, read decoded
    assert titles("100%") == ["100% Wolf (2000)"]
    assert titles("movie") == ["Movie Night (2000)"]  # not every movie ("type": "movie")
    assert titles("trakt") == []  # ids and key names are not searched
    assert like_pattern("a_b%") == "%a\\_b\\%%"


def test_type_source_and_date_filters(engine: Engine) -> None:
    add(engine, movie("Old film"), 0, source="jellyfin")
    add(engine, episode("Show", 1, 1, None), 60 * 24)
    add(engine, movie("New film"), 60 * 48, source="trakt")

    def titles(**filters: Any) -> list[str]:
        with engine.connect() as conn:
            page = history_page(conn, user_id=USER, filters=HistoryFilter(**filters))
        return [row.title for row in page.rows]

    assert titles(type="movie") == ["New film (2000)", "Old film (2000)"]
    assert titles(type="episode") == ["Show S01E01"]
    assert titles(source="jellyfin") == ["Old film (2000)"]
    day_two = datetime(2026, 1, 2, tzinfo=UTC)
    assert titles(since=day_two) == ["New film (2000)", "Show S01E01"]
    assert titles(since=day_two, until=day_two + timedelta(days=1)) == ["Show S01E01"]
    with engine.connect() as conn:
        assert sources(conn, user_id=USER) == ["jellyfin", "plex", "trakt"]


def test_trakt_state_of_each_play(engine: Engine) -> None:
    ids = {
        "on_trakt": add(engine, movie("A"), 1, trakt_history_id=99),
        "sent": add(engine, movie("B"), 2, sync_state=repo.SENT),
        "not_found": add(engine, movie("C"), 3, sync_state=repo.NOT_FOUND),
        "discarded": add(engine, movie("D"), 4, sync_state=repo.DISCARDED),
        "pending": add(engine, movie("E"), 5),
        "dead": add(engine, movie("F"), 6),
        "export": add(engine, movie("G"), 7),
    }
    with engine.begin() as conn:
        for status, play in (("pending", ids["pending"]), ("dead", ids["dead"])):
            conn.execute(
                repo.SCROBBLE.insert().values(
                    user_id=USER, action="scrobble_stop", status=status, item="{}",
                    item_key="k", session_key="s", event_time=START.replace(tzinfo=UTC),
                    completion=True, play_id=play, attempts=1, ambiguous=False, ident=0,
                    created_at=START.replace(tzinfo=UTC),
                )
            )  # fmt: skip
    with engine.connect() as conn:
        page = history_page(conn, user_id=USER)
    states = {row.id: row.state_label for row in page.rows}
    assert states == {
        ids["on_trakt"]: "on Trakt",
        ids["sent"]: "on Trakt",
        ids["not_found"]: "not matched",
        ids["discarded"]: "local only",
        ids["pending"]: "waiting",
        ids["dead"]: "not matched",
        ids["export"]: "waiting",
    }


def test_item_titles() -> None:
    assert item_title(movie("Heat", 1995)) == "Heat (1995)"
    assert item_title(episode("Lost", 2, 10, "The 23rd Psalm")) == "Lost S02E10 The 23rd Psalm"
    assert item_title({"type": "episode", "show": {}, "episode": {}}) == "?"
