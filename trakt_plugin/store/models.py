"""SQLModel tables.

Portable column types only (no SQLite-only SQL) so a PostgreSQL URL works. Secret columns hold
Fernet ciphertexts produced by :class:`trakt_plugin.crypto.SecretBox`, never plaintext.
Schema changes ship as Alembic migrations in ``migrations/versions``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .. import clock

IdentitySource = Literal["revenge", "plex", "jellyfin", "emby"]
IDENTITY_SOURCES: tuple[str, ...] = ("revenge", "plex", "jellyfin", "emby")
ConnectionState = Literal["disconnected", "pending", "connected", "reauth_required"]


def utcnow() -> datetime:
    """Aware UTC now of the product's clock (SQLite returns naive values; see :func:`as_utc`)."""
    return clock.now()


def as_utc(value: datetime | None) -> datetime | None:
    """Stored datetimes come back naive from SQLite; they are always UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class User(SQLModel, table=True):
    """A person in the household."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    display_name: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class Identity(SQLModel, table=True):
    """An account on a media server. ``user_id`` is None while it is unlinked."""

    __table_args__ = (UniqueConstraint("source", "match_key", name="uq_identity_source_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str | None = Field(default=None, foreign_key="user.id", index=True, ondelete="CASCADE")
    source: str = Field(max_length=16)
    external_id: str = Field(max_length=200)
    # Lower-cased external_id: matching ignores case (SPEC §4).
    match_key: str = Field(max_length=200)
    name: str | None = Field(default=None, max_length=200)
    events: int = 0
    last_seen: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class AppSetting(SQLModel, table=True):
    """A value saved from the dashboard (JSON text), or internal state such as the password hash."""

    key: str = Field(primary_key=True, max_length=100)
    value: str
    updated_at: datetime = Field(default_factory=utcnow)


class AppSecret(SQLModel, table=True):
    """An encrypted secret: generated tokens, the client secret saved from the setup page."""

    name: str = Field(primary_key=True, max_length=100)
    ciphertext: str
    updated_at: datetime = Field(default_factory=utcnow)


class TraktConnection(SQLModel, table=True):
    """One user's Trakt authorisation. Token columns are ciphertexts."""

    user_id: str = Field(primary_key=True, foreign_key="user.id", ondelete="CASCADE")
    state: str = Field(default="disconnected", max_length=20)
    access_token: str | None = None
    refresh_token: str | None = None
    token_created_at: datetime | None = None
    expires_in: int | None = None
    expires_at: datetime | None = None
    username: str | None = Field(default=None, max_length=200)
    slug: str | None = Field(default=None, max_length=200)
    vip: bool = False
    vip_ep: bool = False
    vip_og: bool = False
    vip_checked_at: datetime | None = None
    last_error: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class OAuthState(SQLModel, table=True):
    """A pending redirect-flow ``state`` (random, single use, bound to one user)."""

    state: str = Field(primary_key=True, max_length=100)
    user_id: str = Field(foreign_key="user.id", ondelete="CASCADE")
    expires_at: datetime


# ---------------------------------------------------------------- scrobbling

# Outbox row statuses: pending (waiting or parked), sent, skipped, dead, discarded (by a person).
ScrobbleStatus = Literal["pending", "sent", "skipped", "dead", "discarded"]
SCROBBLE_STATUSES: tuple[str, ...] = ("pending", "sent", "skipped", "dead", "discarded")


class WebhookEvent(SQLModel, table=True):
    """One accepted webhook delivery, normalised (kept ``events.retention_days``).

    ``body_hash`` (source + raw body) detects a repeated delivery of the same webhook.
    """

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    source: str = Field(max_length=16)
    user_id: str | None = Field(default=None, max_length=36, index=True)
    identity_id: int | None = None
    kind: str = Field(max_length=16)
    raw_kind: str = Field(max_length=60)
    media_type: str = Field(max_length=16)
    session_key: str = Field(max_length=400)
    item_key: str = Field(max_length=400)
    title: str | None = Field(default=None, max_length=400)
    progress: float | None = None
    occurred_at: datetime
    body_hash: str = Field(max_length=64, index=True)
    note: str = Field(default="", max_length=200)
    event_json: str


class PlaybackSession(SQLModel, table=True):
    """Policy state of one playback session (``owner``: a user id or ``identity:<id>``)."""

    owner: str = Field(primary_key=True, max_length=60)
    session_key: str = Field(primary_key=True, max_length=400)
    item_key: str = Field(max_length=400, index=True)
    state_json: str
    item: str  # JSON, Trakt's shape: what an idle finalise records and sends
    title: str | None = Field(default=None, max_length=400)
    source: str = Field(max_length=16)
    # When a new playback with its own start began here (ends the dedupe of older completions).
    new_playback_at: datetime | None = None
    last_event_at: datetime | None = Field(default=None, index=True)
    # True while the session is open (not completed, not stopped): idle finalising looks here.
    open: bool = Field(default=True, index=True)


class Play(SQLModel, table=True):
    """The ledger: one completed playback of a user (``user_id`` None while unlinked)."""

    # Stats read one person's plays over a time range (migration 0012).
    __table_args__ = (Index("ix_play_user_watched_at", "user_id", "watched_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str | None = Field(default=None, foreign_key="user.id", index=True, ondelete="CASCADE")
    identity_id: int | None = Field(default=None, index=True)
    item: str  # JSON, Trakt's shape (SPEC §9.1)
    item_key: str = Field(max_length=400, index=True)
    watched_at: datetime
    source: str = Field(max_length=16)
    event_id: int | None = None
    trakt_history_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)
    # Minutes, when known (imports use extended=full); stats count watch time with it (§8).
    runtime: int | None = None


class Scrobble(SQLModel, table=True):
    """One Trakt call in the durable outbox, committed with the event that caused it."""

    __table_args__ = (
        Index("ix_scrobble_user_status", "user_id", "status", "id"),
        Index("ix_scrobble_session_status", "session_key", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="user.id", ondelete="CASCADE")
    action: str = Field(max_length=20)
    status: str = Field(default="pending", max_length=12, index=True)
    item: str  # JSON, Trakt's shape (SPEC §9.1)
    item_key: str = Field(max_length=400)
    session_key: str = Field(max_length=400)
    progress: float | None = None
    event_time: datetime
    watched_at: datetime | None = None
    completion: bool = False
    event_id: int | None = None
    play_id: int | None = None
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    # Give-up clock: starts at the first failure, stops while parked (SPEC §4).
    first_failed_at: datetime | None = None
    parked_at: datetime | None = None
    # A write may have reached Trakt without an answer: check the history before re-sending.
    ambiguous: bool = False
    # Which identification of the item to use next (advanced after a 404).
    ident: int = 0
    trakt_history_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class RejectedDelivery(SQLModel, table=True):
    """A webhook body that was refused (400/413/415), kept for diagnosis (bounded)."""

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow)
    source: str = Field(max_length=40)
    status: int
    reason: str = Field(max_length=300)
    content_type: str | None = Field(default=None, max_length=200)
    size: int
    body: bytes


# ---------------------------------------------------------------- enrichment, stats, VIP


class MetadataItem(SQLModel, table=True):
    """A cached metadata answer for one movie, show or episode (``key``: ``<kind>:<trakt id>``).

    Ids and ratings have their own fetch times because their TTLs differ (SPEC §8).
    """

    key: str = Field(primary_key=True, max_length=60)
    kind: str = Field(max_length=10)
    trakt_id: int | None = Field(default=None, sa_type=BigInteger)
    title: str | None = Field(default=None, max_length=400)
    year: int | None = None
    ids: str  # JSON: every id Trakt knows
    runtime: int | None = None
    show: str | None = None  # JSON {"title", "year", "ids"} for episodes
    season: int | None = None
    number: int | None = None
    ids_fetched_at: datetime
    ratings: str | None = None  # JSON {"<source>": {...}}; None until fetched
    ratings_fetched_at: datetime | None = None


class MetadataAlias(SQLModel, table=True):
    """Every id of a cached item points at it, so a lookup by any of them needs no request."""

    kind: str = Field(primary_key=True, max_length=10)
    id_type: str = Field(primary_key=True, max_length=8)
    value: str = Field(primary_key=True, max_length=200)
    item_key: str = Field(
        foreign_key="metadataitem.key", index=True, max_length=60, ondelete="CASCADE"
    )


class TraktUserCache(SQLModel, table=True):
    """A per-user Trakt answer kept as JSON: ``stats``, ``recommendations``, ``lists`` (marker)."""

    user_id: str = Field(primary_key=True, foreign_key="user.id", max_length=36, ondelete="CASCADE")
    name: str = Field(primary_key=True, max_length=40)
    data: str
    fetched_at: datetime


class TraktList(SQLModel, table=True):
    """A VIP user's personal Trakt list, imported."""

    __table_args__ = (UniqueConstraint("user_id", "trakt_id", name="uq_traktlist_user_trakt"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=36, ondelete="CASCADE")
    trakt_id: int = Field(sa_type=BigInteger)
    slug: str | None = Field(default=None, max_length=200)
    name: str = Field(max_length=400)
    description: str | None = None
    privacy: str | None = Field(default=None, max_length=20)
    item_count: int = 0
    position: int = 0
    updated_at: datetime | None = None
    imported_at: datetime = Field(default_factory=utcnow)


class TraktListItem(SQLModel, table=True):
    """One item of an imported list, in Trakt's media-item shape (SPEC §9.1)."""

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="traktlist.id", index=True, ondelete="CASCADE")
    rank: int = 0
    type: str = Field(max_length=16)
    item: str  # JSON
    listed_at: datetime | None = None
    notes: str | None = None


# ---------------------------------------------------------------- sync

# Run statuses (SPEC §7); queued and running are the "active" ones (one per user at a time).
SyncStatus = Literal["queued", "running", "succeeded", "partial", "failed"]
ACTIVE_RUN_STATUSES: tuple[str, ...] = ("queued", "running")


class SyncRun(SQLModel, table=True):
    """One sync run: what was asked, how it went, and the checkpoint it resumes from."""

    __table_args__ = (Index("ix_syncrun_user_created", "user_id", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="user.id", ondelete="CASCADE")
    kind: str = Field(max_length=12)
    direction: str = Field(max_length=16)
    dry_run: bool = False
    status: str = Field(default="queued", max_length=12, index=True)
    trigger: str = Field(default="api", max_length=16)
    undo_of: str | None = Field(default=None, max_length=36)
    steps: str = "[]"  # JSON [[kind, direction], ...]
    imported: int = 0
    added: int = 0
    removed: int = 0
    skipped: int = 0
    not_found: int = 0
    # The watched kind (SPEC §12): its server (None: every server with a linked account).
    server_id: str | None = Field(default=None, max_length=36)
    marked: int = 0
    unmarked: int = 0
    already: int = 0
    not_in_library: int = 0
    unmatched: int = 0
    not_writable: int = 0
    requests: int = 0
    progress_done: int = 0
    progress_total: int = 0
    error: str | None = None
    checkpoint: str = "{}"  # JSON: completed steps, current phase, page or batch
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class SyncRunItem(SQLModel, table=True):
    """Per-item outcome of a run (bulk-inserted a page or batch at a time)."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="syncrun.id", index=True, ondelete="CASCADE", max_length=36)
    kind: str = Field(max_length=12)
    action: str = Field(max_length=16)
    outcome: str = Field(max_length=16)
    item: str  # JSON, Trakt's shape (+ watched_at / rating where it applies)
    detail: str | None = Field(default=None, max_length=200)
    play_id: int | None = None
    trakt_id: int | None = Field(default=None, sa_type=BigInteger)


class SyncMarker(SQLModel, table=True):
    """Per user and kind: Trakt's last_activities fingerprint at the end of the last good sync."""

    user_id: str = Field(primary_key=True, foreign_key="user.id", ondelete="CASCADE")
    kind: str = Field(primary_key=True, max_length=12)
    marker: str
    synced_at: datetime = Field(default_factory=utcnow)


class WatchlistEntry(SQLModel, table=True):
    """The local watchlist. ``synced_at``: on both sides at the last sync; ``deleted_at``: a
    tombstone kept until the deletion reached Trakt; ``hold``: an undone export (not re-sent)."""

    __table_args__ = (Index("ix_watchlistentry_user_key", "user_id", "item_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="user.id", ondelete="CASCADE")
    type: str = Field(max_length=8)
    item: str  # JSON, Trakt's shape
    item_key: str = Field(max_length=400)
    added_at: datetime = Field(default_factory=utcnow)
    trakt_list_id: int | None = Field(default=None, sa_type=BigInteger)
    synced_at: datetime | None = None
    deleted_at: datetime | None = None
    hold: bool = False


class RatingEntry(SQLModel, table=True):
    """A local rating (1-10). ``synced``: equal to Trakt's at the last sync; ``deleted_at``:
    deleted here, a tombstone until the next ratings sync (which removes it from Trakt when
    Trakt has it); ``not_found_at``: Trakt did not know the item (not sent until re-rated)."""

    __table_args__ = (Index("ix_ratingentry_user_key", "user_id", "item_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="user.id", ondelete="CASCADE")
    type: str = Field(max_length=8)
    item: str
    item_key: str = Field(max_length=400)
    rating: int
    rated_at: datetime = Field(default_factory=utcnow)
    synced: bool = False
    deleted_at: datetime | None = None
    not_found_at: datetime | None = None


class DashboardSession(SQLModel, table=True):
    """A logged-in dashboard session. Only the SHA-256 of the cookie value is stored, and the
    admin-password epoch it was issued under: a password change ends every older session."""

    id_hash: str = Field(primary_key=True, max_length=64)
    password_epoch: int
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)


class LoginAttempt(SQLModel, table=True):
    """One password or setup-code attempt: ``pending`` while it is checked (it counts as a
    failure until then), then ``failed`` or ``ok``."""

    __table_args__ = (
        Index("ix_loginattempt_at", "at"),
        Index("ix_loginattempt_client_at", "client", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    client: str = Field(max_length=64)
    outcome: str = Field(max_length=10)
    at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- media servers (SPEC §12)

ServerState = Literal["ok", "unreachable", "unauthorized"]
SERVER_STATES: tuple[str, ...] = ("ok", "unreachable", "unauthorized")


class MediaServer(SQLModel, table=True):
    """A Plex, Jellyfin or Emby server reached by URL and token (``token``: a ciphertext).

    ``source`` ``yaml`` rows mirror ``integrations.trakt.servers`` (upserted by name at startup,
    read-only through the API); ``dashboard`` rows come from the dashboard or the API.
    ``server_name``/``version``/``server_uid`` are what the server said at ``checked_at``.
    """

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=100)
    url: str = Field(max_length=2000)
    token: str
    live: str = Field(default="webhook", max_length=16)
    state: str = Field(default="unreachable", max_length=16)
    server_name: str | None = Field(default=None, max_length=200)
    version: str | None = Field(default=None, max_length=100)
    server_uid: str | None = Field(default=None, max_length=200)
    last_error: str | None = Field(default=None, max_length=400)
    checked_at: datetime | None = None
    source: str = Field(default="dashboard", max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class ServerAccountToken(SQLModel, table=True):
    """A Plex account's own server token (a ciphertext): only it may change that account's
    watched state (docs/media-server-apis.md §2.5)."""

    server_id: str = Field(
        primary_key=True, foreign_key="mediaserver.id", max_length=36, ondelete="CASCADE"
    )
    account_id: str = Field(primary_key=True, max_length=100)
    token: str
    updated_at: datetime = Field(default_factory=utcnow)


class Poster(SQLModel, table=True):
    """A Trakt poster of an item (by the ledger's ``item_key``), downloaded once into the data
    directory and served by the service (SPEC §10). ``state``: ``pending`` (URL known, not
    fetched yet), ``ok`` (``path`` holds it), ``missing`` (Trakt has none), ``failed``."""

    # Rows are found by URL and state ("this URL's pending rows"): one index on both (0014).
    __table_args__ = (Index("ix_poster_url_state", "url", "state"),)

    item_key: str = Field(primary_key=True, max_length=400)
    url: str | None = Field(default=None, max_length=2000)
    state: str = Field(default="pending", max_length=12, index=True)
    path: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    next_attempt_at: datetime | None = None  # a failed download is tried again from then on
    updated_at: datetime = Field(default_factory=utcnow)


class PosterFound(SQLModel, table=True):
    """What one history page said about posters (JSON: item key → URL, or null when Trakt has
    none), stored with the page and turned into ``poster`` rows by the downloader once the
    run has ended (``posters.repo.stage`` / ``unstage``)."""

    id: int | None = Field(default=None, primary_key=True)
    found: str  # JSON; a TEXT column (migration 0015)
    created_at: datetime = Field(default_factory=utcnow)


class ItemOverride(SQLModel, table=True):
    """A person's answer for an item that could not be identified (SPEC §10 Unmatched): the
    key the parsers give it (``source_key``, e.g. ``local:plex:<server>:<rating key>`` or a
    title key) → the Trakt item chosen (``item``: JSON in the §9.1 shape, with its ids)."""

    id: int | None = Field(default=None, primary_key=True)
    source_key: str = Field(max_length=400, unique=True)
    item: str
    created_at: datetime = Field(default_factory=utcnow)


class JobLease(SQLModel, table=True):
    """Which process runs a periodic job this period (SPEC §13, several processes)."""

    name: str = Field(primary_key=True, max_length=80)
    holder: str = Field(max_length=64)
    expires_at: datetime
