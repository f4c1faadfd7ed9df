"""Pydantic models of the Trakt payloads the plugin reads (docs §2-§6).

Lenient on purpose: unknown fields are ignored and almost everything is optional, because Trakt
adds and drops fields over time; only what the API guarantees is required.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TraktModel(BaseModel):
    """Base: ignore unknown fields."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# --------------------------------------------------------------------------- OAuth


class TokenResponse(TraktModel):
    """Answer of /oauth/token and an approved /oauth/device/token."""

    access_token: str = Field(repr=False)
    refresh_token: str = Field(repr=False)
    expires_in: int
    created_at: int
    token_type: str = "bearer"
    scope: str | None = None


class DeviceCode(TraktModel):
    """Answer of /oauth/device/code."""

    device_code: str = Field(repr=False)
    user_code: str
    verification_url: str
    expires_in: int
    # Trakt sends whole seconds; a fraction is taken as it is (a test server polls faster).
    interval: float = Field(default=5, gt=0, le=3600)


# --------------------------------------------------------------------------- media


class Ids(TraktModel):
    """Ids of a movie, show, season or episode; only trakt (and slug) is guaranteed."""

    trakt: int | None = None
    slug: str | None = None
    imdb: str | None = None
    tmdb: int | None = None
    tvdb: int | None = None


class Movie(TraktModel):
    title: str | None = None
    year: int | None = None
    ids: Ids = Field(default_factory=Ids)
    runtime: int | None = None
    overview: str | None = None
    released: str | None = None
    # extended=images: {"poster": ["host/path.webp"], "fanart": [...], ...} (docs §6.2)
    images: dict[str, Any] | None = None


class Show(TraktModel):
    title: str | None = None
    year: int | None = None
    ids: Ids = Field(default_factory=Ids)
    runtime: int | None = None
    overview: str | None = None
    first_aired: datetime | None = None
    images: dict[str, Any] | None = None


class Episode(TraktModel):
    season: int | None = None
    number: int | None = None
    title: str | None = None
    ids: Ids = Field(default_factory=Ids)
    number_abs: int | None = None
    runtime: int | None = None
    first_aired: datetime | None = None
    images: dict[str, Any] | None = None


# --------------------------------------------------------------------------- users


class UserIds(TraktModel):
    slug: str | None = None
    uuid: str | None = None


class User(TraktModel):
    username: str
    private: bool | None = None
    name: str | None = None
    vip: bool = False
    vip_ep: bool = False
    vip_og: bool = False
    vip_years: int | None = None
    ids: UserIds = Field(default_factory=UserIds)


class UserSettings(TraktModel):
    """Answer of /users/settings (only what the plugin uses)."""

    user: User
    account: dict[str, Any] | None = None
    limits: dict[str, Any] | None = None


# --------------------------------------------------------------------------- scrobble / sync


class ScrobbleResponse(TraktModel):
    """Answer of /scrobble/*; `id` is the history id when a stop became a play (else 0)."""

    id: int = 0
    action: str
    progress: float | None = None
    movie: Movie | None = None
    show: Show | None = None
    episode: Episode | None = None


class HistoryItem(TraktModel):
    """One play in /sync/history."""

    id: int
    watched_at: datetime
    action: str | None = None
    type: str
    movie: Movie | None = None
    show: Show | None = None
    episode: Episode | None = None


class MediaCounts(TraktModel):
    movies: int = 0
    shows: int = 0
    seasons: int = 0
    episodes: int = 0


class NotFound(TraktModel):
    """Items of a write that Trakt could not match (echoes what was sent)."""

    movies: list[dict[str, Any]] = Field(default_factory=list)
    shows: list[dict[str, Any]] = Field(default_factory=list)
    seasons: list[dict[str, Any]] = Field(default_factory=list)
    episodes: list[dict[str, Any]] = Field(default_factory=list)
    people: list[dict[str, Any]] = Field(default_factory=list)
    ids: list[int] = Field(default_factory=list)


class SyncResponse(TraktModel):
    """Answer of the sync writes (history, watchlist, ratings; add and remove)."""

    added: MediaCounts = Field(default_factory=MediaCounts)
    deleted: MediaCounts = Field(default_factory=MediaCounts)
    existing: MediaCounts = Field(default_factory=MediaCounts)
    updated: MediaCounts = Field(default_factory=MediaCounts)
    not_found: NotFound = Field(default_factory=NotFound)
    list_: dict[str, Any] | None = Field(default=None, alias="list")


class _Activity(TraktModel):
    model_config = ConfigDict(extra="allow")

    watched_at: datetime | None = None
    collected_at: datetime | None = None
    rated_at: datetime | None = None
    watchlisted_at: datetime | None = None
    paused_at: datetime | None = None
    updated_at: datetime | None = None


class LastActivities(TraktModel):
    """Answer of /sync/last_activities; every key optional."""

    all: datetime | None = None
    movies: _Activity = Field(default_factory=_Activity)
    episodes: _Activity = Field(default_factory=_Activity)
    shows: _Activity = Field(default_factory=_Activity)
    seasons: _Activity = Field(default_factory=_Activity)
    watchlist: _Activity = Field(default_factory=_Activity)
    lists: _Activity = Field(default_factory=_Activity)


class ListItem(TraktModel):
    """An item of the watchlist or of a personal list."""

    rank: int | None = None
    id: int | None = None
    listed_at: datetime | None = None
    notes: str | None = None
    type: str
    movie: Movie | None = None
    show: Show | None = None
    episode: Episode | None = None
    season: dict[str, Any] | None = None


class RatedItem(TraktModel):
    """An item of /sync/ratings."""

    rated_at: datetime | None = None
    rating: int
    type: str
    movie: Movie | None = None
    show: Show | None = None
    episode: Episode | None = None
    season: dict[str, Any] | None = None


class SearchResult(TraktModel):
    type: str
    score: float | None = None
    movie: Movie | None = None
    show: Show | None = None
    episode: Episode | None = None


# --------------------------------------------------------------------------- ratings


class SourceRating(TraktModel):
    """One source's rating under extended=all (every field nullable)."""

    rating: float | None = None
    votes: int | None = None
    link: str | None = None
    state: str | None = None
    user_rating: float | None = None
    user_state: str | None = None
    distribution: dict[str, int] | None = None


class Ratings(TraktModel):
    """/…/ratings, plain (`rating`, `votes`) or extended=all (`trakt`, `imdb`, …)."""

    rating: float | None = None
    votes: int | None = None
    distribution: dict[str, int] | None = None
    trakt: SourceRating | None = None
    imdb: SourceRating | None = None
    tmdb: SourceRating | None = None
    metascore: SourceRating | None = None
    rotten_tomatoes: SourceRating | None = None
    letterboxd: SourceRating | None = None
    mal: SourceRating | None = None

    def by_source(self) -> dict[str, SourceRating]:
        """Every source that has a block, Trakt's own score under "trakt" in both shapes."""
        out: dict[str, SourceRating] = {}
        if self.trakt is not None:
            out["trakt"] = self.trakt
        elif self.rating is not None:
            out["trakt"] = SourceRating(
                rating=self.rating, votes=self.votes, distribution=self.distribution
            )
        for name in ("imdb", "tmdb", "metascore", "rotten_tomatoes", "letterboxd", "mal"):
            block = getattr(self, name)
            if block is not None:
                out[name] = block
        return out


# --------------------------------------------------------------------------- lists / VIP


class ListIds(TraktModel):
    trakt: int | None = None
    slug: str | None = None


class TraktList(TraktModel):
    name: str
    description: str | None = None
    privacy: str | None = None
    item_count: int | None = None
    updated_at: datetime | None = None
    ids: ListIds = Field(default_factory=ListIds)


class Recommendation(TraktModel):
    """A recommended movie or show (a movie/show object plus who recommended it)."""

    model_config = ConfigDict(extra="allow")

    title: str | None = None
    year: int | None = None
    ids: Ids = Field(default_factory=Ids)
    favorited_by: list[dict[str, Any]] = Field(default_factory=list)
    recommended_by: list[dict[str, Any]] = Field(default_factory=list)
