"""Items that could not be identified, Trakt candidates for them, and pinning (SPEC §10)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .. import overrides
from ..connections import NotConfigured
from ..trakt import errors
from .common import ERRORS, Ctx, not_found

router = APIRouter(tags=["unmatched"], responses=ERRORS)


class UnmatchedItem(BaseModel):
    """One unidentified item, grouped by the key the parsers gave it (``source_key``).
    ``reason``: ``no ids`` (nothing named it) or ``not matched`` (Trakt knew none of its ids);
    ``calls``: outbox rows waiting on it; ``plays``: ledger plays without a Trakt history id;
    ``pinned``: an override exists (shown again only when Trakt did not match the pinned ids)."""

    source_key: str
    type: str
    title: str | None
    year: int | None
    show_title: str | None
    season: int | None
    number: int | None
    source: str | None
    reason: str
    calls: int
    plays: int
    users: list[str]
    last_seen: str | None
    pinned: bool


class UnmatchedList(BaseModel):
    items: list[UnmatchedItem]
    next_cursor: str | None = None


class CandidateRow(BaseModel):
    """A Trakt search hit as the item a pin stores (``item``: Trakt's §9.1 shape)."""

    item: dict[str, Any]
    label: str
    score: float | None
    item_key: str


class CandidateList(BaseModel):
    items: list[CandidateRow]
    next_cursor: str | None = None


class PinRequest(BaseModel):
    source_key: str = Field(min_length=1, max_length=400)
    item: dict[str, Any] = Field(
        description="Trakt's item shape with ids: {type: movie, movie: {ids}} or "
        "{type: episode, show: {ids}, episode: {season, number}}"
    )


class PinAnswer(BaseModel):
    source_key: str
    calls: int = Field(description="outbox rows made pending again (sent at once)")
    plays: int = Field(description="ledger plays given the pinned item")


def _list(ctx: Any) -> list[overrides.Unmatched]:
    with ctx.engine.connect() as conn:
        return overrides.list_unmatched(conn)


@router.get("/unmatched", response_model=UnmatchedList)
async def list_unmatched(ctx: Ctx) -> UnmatchedList:
    """Every item that could not be identified, most recently seen first."""
    entries = await asyncio.to_thread(_list, ctx)
    return UnmatchedList(items=[UnmatchedItem(**e.to_dict()) for e in entries])


@router.get(
    "/unmatched/candidates",
    response_model=CandidateList,
    responses={
        409: {"description": "the Trakt app credentials are not configured"},
        502: {"description": "Trakt failed"},
    },
)
async def candidates(
    ctx: Ctx,
    source_key: str = Query(min_length=1, max_length=400),
    query: str | None = Query(default=None, max_length=200, description="title to search for"),
    year: int | None = Query(default=None, ge=1800, le=2200),
) -> CandidateList:
    """Trakt search by title and year (movies for a movie, shows for an episode)."""
    entries = await asyncio.to_thread(_list, ctx)
    entry = next((e for e in entries if e.source_key == source_key), None)
    if entry is None:
        raise not_found("unmatched item")
    try:
        found = await overrides.search_candidates(ctx, entry, query, year)
    except NotConfigured as exc:
        raise HTTPException(409, str(exc)) from None
    except errors.TraktError as exc:
        raise HTTPException(502, f"Trakt search failed: {exc}"[:300]) from None
    return CandidateList(items=[CandidateRow(**c.to_dict()) for c in found])


@router.post("/unmatched/pin", response_model=PinAnswer)
async def pin(ctx: Ctx, body: PinRequest) -> PinAnswer | JSONResponse:
    """Pin the item: the override is stored and used from then on (webhooks, watch mode,
    sync); the calls waiting on the key go out again and its plays are exported again."""
    try:
        result = await overrides.pin_and_wake(ctx, body.source_key, body.item)
    except overrides.PinError as exc:  # the item names nothing Trakt could find
        return JSONResponse({"error": f"item: {exc}", "field": "item"}, 422)
    return PinAnswer(source_key=result.source_key, calls=result.calls, plays=result.plays)
