"""A user's local ratings (SPEC §9, shapes in §9.1): rate here, the next ratings sync sends it.

A rating is an item written like Trakt's plus ``rating`` (an integer 1-10). Rating an item
again replaces its rating. A deleted rating leaves a tombstone (not listed) for the next
ratings sync: when Trakt has the rating, an export or bidirectional sync removes it there
(an earlier sync may have sent it even if it was re-rated since); otherwise the tombstone just
goes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from ..store.engine import begin_write
from ..store.models import RatingEntry, User, as_utc, utcnow
from ..sync.items import dumps, iso, item_key, match_keys, write_object
from .common import ERRORS, MAX_INTEGER_CURSOR, Ctx, Cursor, Limit, field_error, integer_cursor
from .common import not_found as not_found_error
from .ledger import EpisodeRef, Media

router = APIRouter(tags=["ratings"], responses=ERRORS)

ENTRY = RatingEntry.__table__  # type: ignore[attr-defined]
# Trakt's ratings are whole numbers 1-10 (docs §4.7).
MIN_RATING = 1
MAX_RATING = 10


class RatingIn(BaseModel):
    """A movie, show or episode written like Trakt's, and its rating."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["movie", "show", "episode"]
    movie: Media | None = None
    show: Media | None = None
    episode: EpisodeRef | None = None
    rating: Annotated[int, Field(strict=True, ge=MIN_RATING, le=MAX_RATING)]

    def item(self) -> dict[str, Any]:
        """The item in §9.1 shape; a 422 naming the field when Trakt could not be told which."""
        if self.type in ("movie", "show"):
            media = self.movie if self.type == "movie" else self.show
            if media is None:
                raise field_error(f"required for type {self.type}", self.type)
            item: dict[str, Any] = {"type": self.type, self.type: _media(media)}
            if write_object(item) is None:
                raise field_error("needs at least one id", f"{self.type}.ids")
            return item
        if self.episode is None:
            raise field_error("required for type episode", "episode")
        show = self.show or Media()
        item = {
            "type": "episode",
            "show": _media(show),
            "episode": {
                "season": self.episode.season,
                "number": self.episode.number,
                "title": self.episode.title,
                "ids": self.episode.ids.present(),
            },
        }
        if write_object(item) is None:
            raise field_error(
                "an episode needs a trakt, tvdb or tmdb id, or show ids + season and number",
                "episode.ids",
            )
        return item


def _media(media: Media) -> dict[str, Any]:
    return {"title": media.title, "year": media.year, "ids": media.ids.present()}


class RatingOut(BaseModel):
    """A local rating: the item (``type`` + ``movie`` | ``show`` | ``show`` and ``episode``),
    ``rating``, ``rated_at``; ``synced``: Trakt had this rating at the last sync;
    ``not_found_at``: Trakt answered that it does not know the item (rate again to retry)."""

    model_config = ConfigDict(extra="allow")

    id: int
    type: str
    rating: int
    rated_at: str
    synced: bool
    not_found_at: str | None


class RatingPage(BaseModel):
    items: list[RatingOut]
    next_cursor: str | None


def _require_user(conn: Connection, user_id: str) -> None:
    table = User.__table__  # type: ignore[attr-defined]
    if conn.execute(sa.select(table.c.id).where(table.c.id == user_id)).first() is None:
        raise not_found_error("user")


def _time(value: datetime | None) -> str | None:
    moment = as_utc(value)
    return iso(moment) if moment is not None else None


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        **json.loads(row.item),
        "rating": row.rating,
        "rated_at": _time(row.rated_at),
        "synced": bool(row.synced),
        "not_found_at": _time(row.not_found_at),
    }


@router.get("/users/{user_id}/ratings", response_model=RatingPage)
def list_ratings(ctx: Ctx, user_id: str, limit: Limit = 100, cursor: Cursor = None) -> Any:
    """The user's ratings, oldest entry first (deleted ones are not listed)."""
    after = integer_cursor(cursor) or 0
    query = (
        sa.select(ENTRY)
        .where(ENTRY.c.user_id == user_id, ENTRY.c.deleted_at.is_(None), ENTRY.c.id > after)
        .order_by(ENTRY.c.id)
        .limit(limit + 1)
    )
    with ctx.engine.connect() as conn:
        _require_user(conn, user_id)
        rows = list(conn.execute(query))
    items = [_public(row) for row in rows[:limit]]
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/users/{user_id}/ratings",
    status_code=201,
    response_model=RatingOut,
    responses={200: {"model": RatingOut, "description": "the item's rating was replaced"}},
)
def rate(ctx: Ctx, user_id: str, body: RatingIn, response: Response) -> Any:
    """Rate an item (201); an item already rated here gets the new rating (200, same id).

    The next ratings sync (export or bidirectional) sends it to Trakt. Rating an item Trakt did
    not know (``not_found_at``) again sends it again.
    """
    item = body.item()
    keys = match_keys(item)
    now = utcnow()
    with ctx.engine.connect() as conn:
        begin_write(conn)  # two requests rating one item at once: one row, not two
        _require_user(conn, user_id)
        rows = conn.execute(
            sa.select(ENTRY).where(ENTRY.c.user_id == user_id).order_by(ENTRY.c.id)
        ).all()
        mine = next((r for r in rows if keys & match_keys(json.loads(r.item))), None)
        unchanged = (
            mine is not None
            and mine.deleted_at is None
            and mine.rating == body.rating
            and mine.not_found_at is None
        )
        if mine is not None and unchanged:
            response.status_code = 200
            entry_id = mine.id
        elif mine is not None:
            conn.execute(
                ENTRY.update()
                .where(ENTRY.c.id == mine.id)
                .values(
                    rating=body.rating,
                    rated_at=now,
                    synced=False,
                    deleted_at=None,
                    not_found_at=None,
                )
            )
            if mine.deleted_at is None:
                response.status_code = 200
            entry_id = mine.id
        else:
            result = conn.execute(
                ENTRY.insert().values(
                    user_id=user_id,
                    type=item["type"],
                    item=dumps(item),
                    item_key=item_key(item),
                    rating=body.rating,
                    rated_at=now,
                    synced=False,
                )
            )
            entry_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        row = conn.execute(sa.select(ENTRY).where(ENTRY.c.id == entry_id)).one()
        conn.commit()
    return _public(row)


@router.delete("/users/{user_id}/ratings/{item_id}", status_code=204, response_class=Response)
def delete_rating(
    ctx: Ctx, user_id: str, item_id: Annotated[int, Path(ge=1, lt=MAX_INTEGER_CURSOR)]
) -> Response:
    """Delete a rating (204); the next ratings sync removes it from Trakt if Trakt has it."""
    with ctx.engine.begin() as conn:
        found = conn.execute(
            ENTRY.update()
            .where(ENTRY.c.id == item_id, ENTRY.c.user_id == user_id, ENTRY.c.deleted_at.is_(None))
            .values(deleted_at=utcnow())
        )
        if found.rowcount != 1:
            raise not_found_error("rating")
    return Response(status_code=204)
