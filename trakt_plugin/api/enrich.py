"""Metadata lookups, stats and the VIP features (SPEC §8, shapes in §9.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..enrich import enrichment
from ..enrich.ids import InvalidLookup, Lookup, make_lookup
from ..enrich.metadata import (
    BATCH_LIMIT,
    EnrichmentOff,
    Metadata,
    NotKnown,
    TraktNotConfigured,
    UpstreamFailed,
)
from ..enrich.stats_sql import StatsRange
from ..enrich.vip import FeatureUnavailable
from .common import ERRORS, Ctx, Cursor, Limit, integer_cursor

router = APIRouter(tags=["enrichment"], responses=ERRORS)

UPSTREAM: dict[int | str, dict[str, Any]] = {
    409: {"description": "the Trakt app credentials are not configured"},
    502: {"description": "Trakt (or the proxy) failed; the error says which"},
}
VIP_ERRORS: dict[int | str, dict[str, Any]] = {
    **UPSTREAM,
    403: {"description": "not available to this user; the error gives the reason (VIP gate)"},
}
IdQuery = Annotated[str | None, Query(max_length=200)]
Refresh = Annotated[bool, Query(description="read Trakt now instead of the stored copy")]


# ---------------------------------------------------------------- shapes


class RatingOut(BaseModel):
    rating: float | None
    votes: int | None
    link: str | None = None
    state: str | None = None
    user_rating: float | None = None
    user_state: str | None = None


class ShowRef(BaseModel):
    title: str | None
    year: int | None
    ids: dict[str, int | str]


class MetadataOut(BaseModel):
    type: str
    title: str | None
    year: int | None
    ids: dict[str, int | str]
    ratings: dict[str, RatingOut] | None = Field(
        description="by source (trakt, imdb, tmdb, rotten_tomatoes, metascore, letterboxd, "
        "mal); null when metadata.fetch_ratings is off"
    )
    cached_at: datetime = Field(description="when the oldest part of this answer was fetched")
    runtime: int | None = None
    show: ShowRef | None = None
    season: int | None = None
    number: int | None = None


class BatchIn(BaseModel):
    # Entries are checked one by one: a bad entry answers `{"error"}` in its place.
    items: list[Any] = Field(
        max_length=BATCH_LIMIT, description='each `{"type": "movie", "imdb": "tt…"}`'
    )


class BatchError(BaseModel):
    error: str
    field: str | None = Field(default=None, description="the entry's field that is invalid")


class BatchOut(BaseModel):
    items: list[MetadataOut | BatchError]


class DayOut(BaseModel):
    date: str
    plays: int
    minutes: int


class WeekOut(BaseModel):
    week: str = Field(description="ISO week, e.g. 2026-W47")
    minutes: int
    plays: int


class TopShowOut(BaseModel):
    show: str
    plays: int
    ids: dict[str, Any]


class TotalsOut(BaseModel):
    plays: int
    minutes: int
    unknown_runtime: int = Field(description="plays whose runtime is not known (0 minutes)")


class BucketOut(BaseModel):
    bucket: str = Field(description="2026-11-23 (day), 2026-W48 (ISO week) or 2026-11 (month)")
    start: str = Field(description="the bucket's first day")
    plays: int
    minutes: int


class WeekdayOut(BaseModel):
    weekday: str = Field(description="Mon … Sun (UTC)")
    plays: int


class HourOut(BaseModel):
    hour: int = Field(description="0-23 (UTC)")
    plays: int


class WeekdayHourOut(BaseModel):
    weekday: int = Field(description="0 = Monday … 6 = Sunday (UTC)")
    hour: int
    plays: int


class TopMovieOut(BaseModel):
    movie: str
    year: int | None
    plays: int
    ids: dict[str, Any]


class LocalStatsOut(BaseModel):
    range: StatsRange = Field(description="the range counted (`all` unless `?range=` says)")
    bucket: Literal["day", "week", "month"] = Field(description="granularity of `buckets`")
    since: datetime | None = Field(description="first moment counted; null for all time")
    plays_per_day: list[DayOut]
    minutes_per_week: list[WeekOut]
    buckets: list[BucketOut] = Field(
        description="plays and minutes per bucket over the range, empty buckets included"
    )
    by_weekday: list[WeekdayOut]
    by_hour: list[HourOut]
    by_weekday_hour: list[WeekdayHourOut] = Field(description="non-zero cells only")
    top_shows: list[TopShowOut]
    top_movies: list[TopMovieOut]
    plays_by_type: dict[str, int] = Field(description='{"movie": n, "episode": n} over the range')
    per_source: dict[str, int]
    watch_minutes: int = Field(description="minutes watched over the range (known runtimes)")
    totals: TotalsOut


class StatsOut(BaseModel):
    trakt: dict[str, Any] | None = Field(
        description="Trakt's /users/:id/stats object (cached 1 h); null when not connected"
    )
    trakt_cached_at: datetime | None
    local: LocalStatsOut


class TraktListOut(BaseModel):
    name: str
    trakt_id: int
    slug: str | None
    description: str | None
    privacy: str | None
    item_count: int
    items: list[dict[str, Any]] = Field(
        description='media items like `{"type": "movie", "movie": {…}}` plus rank, listed_at'
    )


class ListsOut(BaseModel):
    items: list[TraktListOut]
    next_cursor: str | None


class RecommendationOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: str | None
    year: int | None
    ids: dict[str, int | str]
    favorited_by: list[dict[str, Any]] = []
    recommended_by: list[dict[str, Any]] = []


class RecommendationsOut(BaseModel):
    movies: list[RecommendationOut]
    shows: list[RecommendationOut]
    fetched_at: datetime | None


# ---------------------------------------------------------------- helpers


def _invalid(exc: InvalidLookup) -> JSONResponse:
    return JSONResponse({"error": f"{exc.field}: {exc.message}", "field": exc.field}, 422)


def _upstream(exc: UpstreamFailed) -> HTTPException:
    return HTTPException(409 if isinstance(exc, TraktNotConfigured) else 502, str(exc))


def _out(answer: Metadata) -> MetadataOut:
    return MetadataOut.model_validate(answer.public())


def _entry(raw: object) -> Lookup | InvalidLookup:
    if not isinstance(raw, dict):
        return InvalidLookup("type", "each item is an object with a type and one id")
    try:
        return make_lookup(raw.get("type"), raw)
    except InvalidLookup as exc:
        return exc


# ---------------------------------------------------------------- metadata


@router.get(
    "/metadata/{kind}",
    response_model=MetadataOut,
    response_model_exclude_unset=True,
    responses={**UPSTREAM, 404: {"description": "unknown item, or enrichment turned off"}},
)
async def metadata(
    ctx: Ctx,
    kind: Literal["movie", "show", "episode"],
    imdb: IdQuery = None,
    tmdb: IdQuery = None,
    tvdb: IdQuery = None,
    trakt: IdQuery = None,
    slug: IdQuery = None,
) -> MetadataOut | JSONResponse:
    """Title, year, every known id and (with fetch_ratings) each source's rating; cached."""
    given = {"imdb": imdb, "tmdb": tmdb, "tvdb": tvdb, "trakt": trakt, "slug": slug}
    try:
        lookup = make_lookup(kind, given)
    except InvalidLookup as exc:
        return _invalid(exc)
    try:
        return _out(await enrichment(ctx).metadata.lookup(lookup))
    except (EnrichmentOff, NotKnown) as exc:
        raise HTTPException(404, str(exc)) from None
    except UpstreamFailed as exc:
        raise _upstream(exc) from None


@router.post(
    "/metadata/batch",
    response_model=BatchOut,
    response_model_exclude_unset=True,
    responses={404: {"description": "enrichment turned off"}},
)
async def metadata_batch(ctx: Ctx, body: BatchIn) -> BatchOut:
    """Up to 100 lookups, answered in the same order; each a metadata object or `{error}`."""
    entries = [_entry(raw) for raw in body.items]
    try:
        answers = await enrichment(ctx).metadata.batch(entries)
    except EnrichmentOff as exc:
        raise HTTPException(404, str(exc)) from None
    return BatchOut(items=[_batch_item(e, a) for e, a in zip(entries, answers, strict=True)])


def _batch_item(entry: Lookup | InvalidLookup, answer: Metadata | str) -> MetadataOut | BatchError:
    if isinstance(entry, InvalidLookup):  # refused here: nothing was asked of Trakt
        return BatchError(error=f"{entry.field}: {entry.message}", field=entry.field)
    return BatchError(error=answer) if isinstance(answer, str) else _out(answer)


# ---------------------------------------------------------------- stats


@router.get("/users/{user_id}/stats", response_model=StatsOut)
async def stats(
    ctx: Ctx,
    user_id: str,
    stats_range: Annotated[
        StatsRange,
        Query(
            alias="range",
            description="plays counted: last 30 days (day buckets), 12 months (weeks) or all "
            "time (months, the default)",
        ),
    ] = "all",
) -> dict[str, Any]:
    """Trakt's user stats (cached 1 h) and local stats from the play ledger over a range."""
    try:
        return await enrichment(ctx).stats.stats(user_id, stats_range)
    except LookupError:
        raise HTTPException(404, "user not found") from None


# ---------------------------------------------------------------- VIP features


@router.get("/users/{user_id}/lists", response_model=ListsOut, responses=VIP_ERRORS)
async def lists(
    ctx: Ctx, user_id: str, limit: Limit = 100, cursor: Cursor = None, refresh: Refresh = False
) -> dict[str, Any]:
    """The user's personal Trakt lists with their items (VIP users, `vip.enable_lists`)."""
    after = integer_cursor(cursor) or 0  # a 422 naming the field for one we did not hand out
    try:
        return await enrichment(ctx).vip.lists(user_id, limit=limit, after=after, refresh=refresh)
    except LookupError:
        raise HTTPException(404, "user not found") from None
    except FeatureUnavailable as exc:
        raise HTTPException(403, str(exc)) from None
    except UpstreamFailed as exc:
        raise _upstream(exc) from None


@router.get(
    "/users/{user_id}/recommendations", response_model=RecommendationsOut, responses=VIP_ERRORS
)
async def recommendations(ctx: Ctx, user_id: str, refresh: Refresh = False) -> dict[str, Any]:
    """Movie and show recommendations (VIP users, `vip.enable_recommendations`; cached)."""
    try:
        return await enrichment(ctx).vip.recommendations(user_id, refresh=refresh)
    except LookupError:
        raise HTTPException(404, "user not found") from None
    except FeatureUnavailable as exc:
        raise HTTPException(403, str(exc)) from None
    except UpstreamFailed as exc:
        raise _upstream(exc) from None
