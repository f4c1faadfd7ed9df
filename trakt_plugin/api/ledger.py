"""The ledger (plays) and the local watchlist of a user (SPEC §9, shapes in §9.1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection

from ..events.model import MAX_RUNTIME_MINUTES
from ..store import scrobble_repo
from ..store.models import User, WatchlistEntry, as_utc, utcnow
from ..sync import repo, watchlist_entries
from ..sync.items import dumps, iso, item_key, naive_utc
from .common import (
    ERRORS,
    MAX_INTEGER_CURSOR,
    Ctx,
    Cursor,
    Limit,
    field_error,
    integer_cursor,
    not_found,
)

router = APIRouter(tags=["ledger"], responses=ERRORS)

# A media server reports at most this many plays in one request (SPEC §9.1).
MAX_PLAYS = 5000
# A play more than this far in the future is a clock or input error, not a play.
FUTURE_SLACK = timedelta(minutes=5)
ENTRY = WatchlistEntry.__table__  # type: ignore[attr-defined]
# The ledger as the history list reads it: the sync's lightweight view of ``play`` (naive UTC
# datetimes, as its cursors and ``since`` compare) plus the runtime.
_PLAY = sa.table(
    "play",
    *(sa.column(c.name, c.type) for c in repo.PLAY.columns if c.name != "runtime"),
    sa.column("runtime", sa.Integer),
)


class Ids(BaseModel):
    model_config = ConfigDict(extra="ignore")

    trakt: int | None = None
    slug: str | None = Field(default=None, max_length=200)
    imdb: str | None = Field(default=None, max_length=40)
    tmdb: int | None = None
    tvdb: int | None = None

    def present(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Media(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str | None = Field(default=None, max_length=400)
    year: int | None = Field(default=None, ge=1800, le=2200)
    ids: Ids = Field(default_factory=Ids)


class EpisodeRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    season: int | None = Field(default=None, ge=0)
    number: int | None = Field(default=None, ge=0)
    title: str | None = Field(default=None, max_length=400)
    ids: Ids = Field(default_factory=Ids)


class PlayIn(BaseModel):
    """One play: a Trakt-shaped item plus ``watched_at`` (and optionally its ``source`` and
    ``runtime``, the item's length in minutes: the stats count it as watch time)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["movie", "episode"]
    movie: Media | None = None
    show: Media | None = None
    episode: EpisodeRef | None = None
    watched_at: datetime
    source: Literal["revenge", "plex", "jellyfin", "emby", "api"] = "api"
    runtime: int | None = Field(
        default=None,
        ge=0,
        le=MAX_RUNTIME_MINUTES,
        description="the item's length in minutes (0 or absent: unknown, filled later from "
        "the metadata cache)",
    )

    @field_validator("watched_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _to_utc(value)

    def item(self) -> dict[str, Any]:
        """The item in §9.1 shape; ValueError when Trakt could not identify it."""
        if self.type == "movie":
            if self.movie is None or not self.movie.ids.present():
                raise ValueError("movie.ids: a movie needs at least one id")
            return {"type": "movie", "movie": _media(self.movie)}
        episode, show = self.episode, self.show
        if episode is None:
            raise ValueError("episode: required for type episode")
        numbered = episode.season is not None and episode.number is not None
        if not episode.ids.present() and not (show is not None and show.ids.present() and numbered):
            raise ValueError("episode.ids: an episode needs ids, or show ids + season/number")
        return {
            "type": "episode",
            "show": _media(show or Media()),
            "episode": {
                "season": episode.season,
                "number": episode.number,
                "title": episode.title,
                "ids": episode.ids.present(),
            },
        }


def _media(media: Media) -> dict[str, Any]:
    return {"title": media.title, "year": media.year, "ids": media.ids.present()}


class PlaysIn(BaseModel):
    plays: list[dict[str, Any]] = Field(
        max_length=MAX_PLAYS,
        description="each a media item (`type` + `movie` or `show` + `episode`) with "
        "`watched_at`, optionally `source` and `runtime` (minutes)",
    )


class Rejected(BaseModel):
    index: int
    error: str


class PlaysResult(BaseModel):
    added: int
    duplicates: int
    rejected: list[Rejected]


class HistoryPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class WatchlistIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["movie", "show"]
    movie: Media | None = None
    show: Media | None = None

    def item(self) -> dict[str, Any]:
        media = self.movie if self.type == "movie" else self.show
        if media is None or not media.ids.present():
            raise field_error("needs at least one id", f"{self.type}.ids")
        return {"type": self.type, self.type: _media(media)}


class WatchlistPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


def _require_user(conn: Connection, user_id: str) -> None:
    table = User.__table__  # type: ignore[attr-defined]
    if conn.execute(sa.select(table.c.id).where(table.c.id == user_id)).first() is None:
        raise not_found("user")


# ------------------------------------------------------------------ history


def _to_utc(value: datetime) -> datetime:
    """UTC, refusing times that cannot be expressed in UTC (e.g. year 1 with a +01:00 offset)."""
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("date out of range") from None


def _decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    when, _, ident = cursor.partition("_")
    try:
        moment = datetime.fromisoformat(when)
    except ValueError:
        raise field_error("not a cursor from this list", "cursor") from None
    row_id = integer_cursor(ident)  # 422 naming the cursor unless a row id we could hand out
    if row_id is None:
        raise field_error("not a cursor from this list", "cursor")
    return moment, row_id


@router.get("/users/{user_id}/history", response_model=HistoryPage)
def list_history(
    ctx: Ctx,
    user_id: str,
    since: Annotated[datetime | None, Query(description="plays watched at or after")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> HistoryPage:
    """The user's plays, newest first (``runtime``: minutes, null while unknown)."""
    after = _decode_cursor(cursor)
    play = _PLAY
    query = (
        sa.select(
            play.c.id,
            play.c.item,
            play.c.watched_at,
            play.c.source,
            play.c.trakt_history_id,
            play.c.runtime,
        )
        .where(play.c.user_id == user_id)
        .order_by(play.c.watched_at.desc(), play.c.id.desc())
        .limit(limit + 1)
    )
    if since is not None:
        try:
            since = _to_utc(since)
        except ValueError:
            raise field_error("date out of range", "since") from None
        query = query.where(play.c.watched_at >= naive_utc(since))
    if after is not None:
        when, ident = after
        query = query.where(
            sa.or_(
                play.c.watched_at < when,
                sa.and_(play.c.watched_at == when, play.c.id < ident),
            )
        )
    with ctx.engine.connect() as conn:
        _require_user(conn, user_id)
        rows = list(conn.execute(query))
    items = []
    for row in rows[:limit]:
        watched_at = as_utc(row.watched_at)
        assert watched_at is not None
        items.append(
            {
                **json.loads(row.item),
                "watched_at": iso(watched_at),
                "id": row.id,
                "source": row.source,
                "trakt_history_id": row.trakt_history_id,
                "runtime": row.runtime,
            }
        )
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = f"{last.watched_at.isoformat()}_{last.id}"
    return HistoryPage(items=items, next_cursor=next_cursor)


@router.post("/users/{user_id}/history", response_model=PlaysResult)
def add_history(ctx: Ctx, user_id: str, body: PlaysIn) -> PlaysResult:
    """Plays reported in bulk by the media server; same item + same minute is a duplicate.

    Each play may give its ``runtime`` in minutes (the stats' watch time); plays without one
    get it later from the metadata cache.
    """
    rejected: list[Rejected] = []
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    duplicates = 0
    latest = utcnow() + FUTURE_SLACK
    with ctx.engine.begin() as conn:
        _require_user(conn, user_id)
        for index, raw in enumerate(body.plays):
            try:
                play = PlayIn.model_validate(raw)
                item = play.item()
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ())) or "play"
                rejected.append(Rejected(index=index, error=f"{where}: {first.get('msg')}"))
                continue
            except ValueError as exc:
                rejected.append(Rejected(index=index, error=str(exc)))
                continue
            if play.watched_at > latest:
                rejected.append(Rejected(index=index, error="watched_at: in the future"))
                continue
            key = item_key(item)
            start = naive_utc(play.watched_at).replace(second=0, microsecond=0)
            marker = (key, int(start.timestamp()))
            if marker in seen or _in_minute(conn, user_id, key, start):
                duplicates += 1
                continue
            seen.add(marker)
            rows.append(
                {
                    "user_id": user_id,
                    "item": dumps(item),
                    "item_key": key,
                    "watched_at": play.watched_at,  # aware UTC: the model's column type
                    "source": play.source,
                    "trakt_history_id": None,
                    "runtime": play.runtime or None,
                }
            )
        scrobble_repo.insert_ledger_plays(conn, rows)
    return PlaysResult(added=len(rows), duplicates=duplicates, rejected=rejected)


def _in_minute(conn: Connection, user_id: str, key: str, start: datetime) -> bool:
    play = repo.PLAY
    query = (
        sa.select(play.c.id)
        .where(
            play.c.user_id == user_id,
            play.c.item_key == key,
            play.c.watched_at >= start,
            play.c.watched_at < start + timedelta(minutes=1),
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


# ------------------------------------------------------------------ watchlist


@router.get("/users/{user_id}/watchlist", response_model=WatchlistPage)
def list_watchlist(ctx: Ctx, user_id: str, limit: Limit = 100, cursor: Cursor = None) -> Any:
    after = integer_cursor(cursor) or 0
    with ctx.engine.connect() as conn:
        _require_user(conn, user_id)
        rows = watchlist_entries.list_entries(conn, user_id=user_id, limit=limit + 1, after=after)
    items = [watchlist_entries.entry_public(row) for row in rows[:limit]]
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return WatchlistPage(items=items, next_cursor=next_cursor)


@router.post("/users/{user_id}/watchlist", status_code=201)
def add_watchlist(ctx: Ctx, user_id: str, body: WatchlistIn, response: Response) -> Any:
    """Add one movie or show; an item already on the list answers 200 with its id."""
    item = body.item()
    with ctx.engine.begin() as conn:
        _require_user(conn, user_id)
        entry, created = watchlist_entries.add_entry(conn, user_id=user_id, item=item)
    if not created:
        response.status_code = 200
    return entry


@router.delete("/users/{user_id}/watchlist/{item_id}", status_code=204, response_class=Response)
def delete_watchlist(
    ctx: Ctx, user_id: str, item_id: Annotated[int, Path(ge=1, lt=MAX_INTEGER_CURSOR)]
) -> Response:
    """Remove an item; one Trakt also has keeps a tombstone until the next sync removes it."""
    with ctx.engine.begin() as conn:
        if not watchlist_entries.remove_entry(conn, user_id=user_id, entry_id=item_id):
            raise not_found("watchlist item")
    return Response(status_code=204)
