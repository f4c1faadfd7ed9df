"""SQLModel tables.

Portable column types only (no SQLite-only SQL) so a PostgreSQL URL works. Secret columns hold
Fernet ciphertexts produced by :class:`trakt_plugin.crypto.SecretBox`, never plaintext.
Schema changes ship as Alembic migrations in ``migrations/versions``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

IdentitySource = Literal["revenge", "plex", "jellyfin", "emby"]
IDENTITY_SOURCES: tuple[str, ...] = ("revenge", "plex", "jellyfin", "emby")
ConnectionState = Literal["disconnected", "pending", "connected", "reauth_required"]


def utcnow() -> datetime:
    """Aware UTC now (SQLite returns naive values; see :func:`as_utc`)."""
    return datetime.now(UTC)


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
