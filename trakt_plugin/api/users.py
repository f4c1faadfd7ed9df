"""Users and their media-server identities."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StringConstraints
from sqlmodel import Session

from ..events.parsers._common import normalise_guid
from ..store import repo
from ..store.models import Identity, TraktConnection, User, as_utc
from .common import ERRORS, Ctx, Cursor, Limit, StoredText, integer_cursor, not_found

router = APIRouter(tags=["users"], responses=ERRORS)

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), StoredText
]
ExternalId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), StoredText
]
Source = Literal["revenge", "plex", "jellyfin", "emby"]
_GUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


class UserCreate(BaseModel):
    display_name: Name


class UserUpdate(BaseModel):
    display_name: Name | None = None


class IdentityCreate(BaseModel):
    source: Source
    external_id: ExternalId
    name: Annotated[str, StoredText] | None = Field(default=None, max_length=200)


class IdentityPublic(BaseModel):
    source: str
    external_id: str
    name: str | None


class TraktStatus(BaseModel):
    state: str = "disconnected"
    username: str | None = None
    vip: bool = False
    expires_at: datetime | None = None
    last_error: str | None = None


class UserPublic(BaseModel):
    id: str
    display_name: str
    identities: list[IdentityPublic]
    trakt: TraktStatus


class UserList(BaseModel):
    items: list[UserPublic]
    next_cursor: str | None


class UnlinkedIdentity(BaseModel):
    source: str
    external_id: str
    name: str | None
    events: int
    last_seen: datetime | None


class UnlinkedList(BaseModel):
    items: list[UnlinkedIdentity]
    next_cursor: str | None


def normalise_external_id(source: str, external_id: str) -> str:
    """Jellyfin user ids are kept as 32 lower-case hex (its webhooks send them both ways)."""
    if source == "jellyfin" and _GUID.match(external_id.strip().strip("{}")):
        return normalise_guid(external_id)  # the same rule the Jellyfin parser applies
    return external_id


def trakt_status(connection: TraktConnection | None) -> TraktStatus:
    if connection is None:
        return TraktStatus()
    return TraktStatus(
        state=connection.state,
        username=connection.username,
        vip=connection.vip,
        expires_at=as_utc(connection.expires_at),
        last_error=connection.last_error,
    )


def _identity(identity: Identity) -> IdentityPublic:
    return IdentityPublic(
        source=identity.source, external_id=identity.external_id, name=identity.name
    )


def user_public(session: Session, user: User) -> UserPublic:
    return UserPublic(
        id=user.id,
        display_name=user.display_name,
        identities=[_identity(i) for i in repo.identities_of(session, user_id=user.id)],
        trakt=trakt_status(session.get(TraktConnection, user.id)),
    )


def _load(session: Session, user_id: str) -> User:
    user = repo.get_user(session, user_id=user_id)
    if user is None:
        raise not_found("user")
    return user


@router.get("/users", response_model=UserList)
def list_users(ctx: Ctx, limit: Limit = 100, cursor: Cursor = None) -> UserList:
    with ctx.session() as session:
        users = repo.list_users(session, after=cursor, limit=limit + 1)
        items = [user_public(session, user) for user in users[:limit]]
    return UserList(items=items, next_cursor=users[limit - 1].id if len(users) > limit else None)


@router.post("/users", status_code=201, response_model=UserPublic)
def create_user(ctx: Ctx, body: UserCreate) -> UserPublic:
    with ctx.session() as session, session.begin():
        user = repo.create_user(session, display_name=body.display_name)
        return user_public(session, user)


@router.get("/users/{user_id}", response_model=UserPublic)
def get_user(ctx: Ctx, user_id: str) -> UserPublic:
    with ctx.session() as session:
        return user_public(session, _load(session, user_id))


@router.patch("/users/{user_id}", response_model=UserPublic)
def update_user(ctx: Ctx, user_id: str, body: UserUpdate) -> UserPublic:
    with ctx.session() as session, session.begin():
        user = _load(session, user_id)
        if body.display_name is not None:
            user.display_name = body.display_name
        session.add(user)
        return user_public(session, user)


@router.delete("/users/{user_id}", status_code=204, response_class=Response)
def delete_user(ctx: Ctx, user_id: str) -> Response:
    with ctx.session() as session, session.begin():
        repo.delete_user(session, user=_load(session, user_id))
    return Response(status_code=204)


@router.post("/users/{user_id}/identities", status_code=201, response_model=IdentityPublic)
def add_identity(ctx: Ctx, user_id: str, body: IdentityCreate) -> IdentityPublic:
    """Link a media-server account to the user. An identity linked elsewhere is moved here."""
    external_id = normalise_external_id(body.source, body.external_id)
    with ctx.session() as session, session.begin():
        _load(session, user_id)
        identity = repo.link_identity(
            session, user_id=user_id, source=body.source, external_id=external_id, name=body.name
        )
        return _identity(identity)


@router.get("/identities/unlinked", response_model=UnlinkedList)
def unlinked(ctx: Ctx, limit: Limit = 100, cursor: Cursor = None) -> UnlinkedList:
    offset = integer_cursor(cursor) or 0
    with ctx.session() as session:
        rows = repo.unlinked_identities(session, limit=limit + 1, offset=offset)
    items = [
        UnlinkedIdentity(
            source=r.source,
            external_id=r.external_id,
            name=r.name,
            events=r.events,
            last_seen=as_utc(r.last_seen),
        )
        for r in rows[:limit]
    ]
    return UnlinkedList(items=items, next_cursor=str(offset + limit) if len(rows) > limit else None)
