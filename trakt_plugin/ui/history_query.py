"""The History page's read model (SPEC §10): one person's plays, newest first, a page at a time.

Paging is keyset on ``(watched_at, id)`` descending (the ``ix_play_user_watched_at`` index), so a
page costs the same at the end of a long history as at its start and no page loads every play.

Search by title: the item is JSON text in the ledger, so the title fields are read with the
database's own JSON functions (SQLite ``json_extract``; PostgreSQL ``CAST(item AS json) #>>``)
and compared with ``lower(…) LIKE lower(pattern)``: a movie's title, an episode's show title or
its episode title contain the words as typed (``%``/``_`` in them match literally). A LIKE on
the raw text would also match ids, slugs and key names ("movie", "title"), and would miss
non-ASCII titles (the JSON keeps them ``\\u``-escaped). SQLite's ``lower`` folds ASCII only,
so case-insensitive matching of other letters holds on PostgreSQL only.

Trakt state of a play (shown on each row):

========== ================================================================================
on Trakt   it has a Trakt history id, or a sync run added it (its id is read back next)
not matched Trakt did not know the item or nothing named it (``not_found``/``no_ids``), or its
           live scrobble gave up (``dead``)
local only kept off Trakt on purpose: its scrobble was discarded, an undo removed it, or it
           duplicates another local play
waiting    not on Trakt yet: in the scrobble outbox, or for the next export
========== ================================================================================
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

from ..store.models import as_utc
from ..sync import repo
from ..sync.items import naive_utc

PAGE_SIZE = 25
# The longest search text taken (a title is at most 400 characters in the ledger).
MAX_SEARCH = 200

TraktState = Literal["on_trakt", "waiting", "not_matched", "local_only"]
STATE_LABELS: dict[TraktState, str] = {
    "on_trakt": "on Trakt",
    "waiting": "waiting",
    "not_matched": "not matched",
    "local_only": "local only",
}
_NOT_MATCHED = (repo.NOT_FOUND, repo.NO_IDS)
_LOCAL_ONLY = (repo.DISCARDED, repo.UNDONE, repo.DUPLICATE)

PLAY = repo.PLAY
SCROBBLE = repo.SCROBBLE


@dataclass(frozen=True)
class HistoryFilter:
    """What the page asks for; ``since`` inclusive, ``until`` exclusive (aware or naive UTC)."""

    search: str = ""
    type: Literal["movie", "episode"] | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Cursor:
    """The last row of a page: the next page starts after it."""

    watched_at: datetime  # naive UTC, as stored
    id: int


@dataclass(frozen=True)
class HistoryRow:
    id: int
    item_key: str
    type: str
    title: str
    watched_at: datetime  # aware UTC
    source: str
    state: TraktState

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass(frozen=True)
class HistoryPage:
    rows: list[HistoryRow]
    next: Cursor | None  # None: this is the last page


def item_title(item: dict[str, Any]) -> str:
    """``Title (year)`` for a movie, ``Show S01E02 Episode title`` for an episode."""
    if item.get("type") == "episode":
        show = item.get("show") or {}
        episode = item.get("episode") or {}
        season, number = episode.get("season"), episode.get("number")
        code = (
            f" S{season:02d}E{number:02d}"
            if isinstance(season, int) and isinstance(number, int)
            else ""
        )
        name = f" {episode['title']}" if episode.get("title") else ""
        return f"{show.get('title') or '?'}{code}{name}"
    media = item.get(str(item.get("type"))) or {}
    year = f" ({media['year']})" if media.get("year") else ""
    return f"{media.get('title') or '?'}{year}"


def _json_text(dialect: str, *path: str) -> sa.ColumnElement[Any]:
    """The item's value at ``path`` as text, NULL when absent (see the module docstring)."""
    if dialect == "postgresql":
        found: sa.ColumnElement[Any] = sa.cast(PLAY.c.item, postgresql.JSON)[path].astext
        return found
    return sa.func.json_extract(PLAY.c.item, "$." + ".".join(path))


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE … ESCAPE '\\'``, lower-cased, with the wildcards in it escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _conditions(dialect: str, user_id: str, filters: HistoryFilter) -> list[Any]:
    where: list[Any] = [PLAY.c.user_id == user_id]
    search = " ".join(filters.search.split())[:MAX_SEARCH]
    if search:
        pattern = like_pattern(search)
        where.append(
            sa.or_(
                *(
                    sa.func.lower(_json_text(dialect, *path)).like(pattern, escape="\\")
                    for path in (("movie", "title"), ("show", "title"), ("episode", "title"))
                )
            )
        )
    if filters.type is not None:
        where.append(_json_text(dialect, "type") == filters.type)
    if filters.source:
        where.append(PLAY.c.source == filters.source)
    if filters.since is not None:
        where.append(PLAY.c.watched_at >= naive_utc(filters.since))
    if filters.until is not None:
        where.append(PLAY.c.watched_at < naive_utc(filters.until))
    return where


_STATE = sa.case(
    (
        sa.or_(PLAY.c.trakt_history_id.is_not(None), PLAY.c.sync_state == repo.SENT),
        sa.literal("on_trakt"),
    ),
    (PLAY.c.sync_state.in_(_NOT_MATCHED), sa.literal("not_matched")),
    (PLAY.c.sync_state.in_(_LOCAL_ONLY), sa.literal("local_only")),
    else_=sa.literal("waiting"),
)


def history_page(
    conn: Connection,
    *,
    user_id: str,
    filters: HistoryFilter = HistoryFilter(),
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> HistoryPage:
    """One page of ``user_id``'s plays matching ``filters``, newest first, after ``after``."""
    where = _conditions(conn.dialect.name, user_id, filters)
    if after is not None:
        where.append(
            sa.or_(
                PLAY.c.watched_at < after.watched_at,
                sa.and_(PLAY.c.watched_at == after.watched_at, PLAY.c.id < after.id),
            )
        )
    query = (
        sa.select(
            PLAY.c.id,
            PLAY.c.item,
            PLAY.c.item_key,
            PLAY.c.watched_at,
            PLAY.c.source,
            _STATE.label("state"),
        )
        .where(*where)
        .order_by(PLAY.c.watched_at.desc(), PLAY.c.id.desc())
        .limit(limit + 1)
    )
    found = list(conn.execute(query))
    page = found[:limit]
    dead = _dead_scrobbles(conn, [r.id for r in page if r.state == "waiting"])
    rows = []
    for r in page:
        item = json.loads(r.item)
        watched_at = as_utc(r.watched_at)
        assert watched_at is not None
        rows.append(
            HistoryRow(
                id=r.id,
                item_key=r.item_key,
                type=str(item.get("type") or ""),
                title=item_title(item),
                watched_at=watched_at,
                source=r.source,
                state="not_matched" if r.id in dead else r.state,
            )
        )
    if len(found) <= limit or not page:
        return HistoryPage(rows, None)
    last = page[-1]
    return HistoryPage(rows, Cursor(naive_utc(last.watched_at), last.id))


def _dead_scrobbles(conn: Connection, play_ids: Sequence[int]) -> set[int]:
    """The plays among ``play_ids`` whose live scrobble gave up."""
    if not play_ids:
        return set()
    query = sa.select(SCROBBLE.c.play_id).where(
        SCROBBLE.c.status == "dead", SCROBBLE.c.play_id.in_(list(play_ids))
    )
    return {row.play_id for row in conn.execute(query)}


def sources(conn: Connection, *, user_id: str) -> list[str]:
    """The sources ``user_id``'s plays came from (for the source filter)."""
    query = sa.select(PLAY.c.source).where(PLAY.c.user_id == user_id).distinct()
    return sorted(row.source for row in conn.execute(query))
