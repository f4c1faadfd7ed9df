"""Media servers (SPEC §12): add, check, change and remove servers; their accounts and links.

Thin: validate, call :class:`~trakt_plugin.servers.service.ServerService` (which runs every
request to a server in a worker thread), shape the answer. A token is accepted here and never
answered, logged or echoed in an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from ..config import (
    MAX_SERVER_NAME,
    MAX_SERVER_TOKEN,
    LiveMode,
    ServerKind,
    check_server_url,
)
from ..context import AppContext
from ..servers.service import AccountView, ServerService, ServerServiceError
from ..store.models import MediaServer, as_utc
from .common import ERRORS, Ctx, Cursor, Limit, StoredText, field_error, integer_cursor

router = APIRouter(tags=["servers"], responses=ERRORS)

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SERVER_NAME),
    StoredText,
]
Url = Annotated[
    str, StringConstraints(max_length=2000), StoredText, AfterValidator(check_server_url)
]
Token = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SERVER_TOKEN)
]


class ServerCreate(BaseModel):
    kind: ServerKind
    name: Name
    url: Url
    token: Token
    live: LiveMode = "webhook"


class ServerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ServerKind | None = None
    name: Name | None = None
    url: Url | None = None
    token: Token | None = None
    live: LiveMode | None = None


class AccountTokenBody(BaseModel):
    token: Token


class WatchPublic(BaseModel):
    state: str
    last_message_at: datetime | None


class ServerPublic(BaseModel):
    id: str
    kind: str
    name: str
    url: str
    live: str
    state: str
    server_name: str | None
    version: str | None
    last_error: str | None
    checked_at: datetime | None
    watch: WatchPublic
    source: str


class ServerList(BaseModel):
    items: list[ServerPublic]
    next_cursor: str | None


class IdentityRef(BaseModel):
    source: str
    external_id: str


class AccountPublic(BaseModel):
    account_id: str
    name: str
    identity: IdentityRef
    user_id: str | None
    writable: bool
    reason: str | None


class AccountList(BaseModel):
    items: list[AccountPublic]
    next_cursor: str | None


def _service(ctx: AppContext) -> ServerService:
    service = ctx.services.get("servers")
    if not isinstance(service, ServerService):
        raise HTTPException(503, "media servers are not set up in this service")
    return service


def _refused(exc: ServerServiceError) -> Exception:
    if exc.field and exc.status == 422:
        return field_error(exc.message, exc.field)
    return HTTPException(exc.status, exc.message)


def server_public(service: ServerService, server: MediaServer) -> ServerPublic:
    watch = service.watch_status(server.id)
    return ServerPublic(
        id=server.id,
        kind=server.kind,
        name=server.name,
        url=server.url,
        live=server.live,
        state=server.state,
        server_name=server.server_name,
        version=server.version,
        last_error=server.last_error,
        checked_at=as_utc(server.checked_at),
        watch=WatchPublic(state=watch.state, last_message_at=as_utc(watch.last_message_at)),
        source=server.source,
    )


def account_public(view: AccountView) -> AccountPublic:
    return AccountPublic(
        account_id=view.account_id,
        name=view.name,
        identity=IdentityRef(source=view.source, external_id=view.external_id),
        user_id=view.user_id,
        writable=view.writable,
        reason=view.reason,
    )


@router.get("/servers", response_model=ServerList)
async def list_servers(ctx: Ctx, limit: Limit = 100, cursor: Cursor = None) -> ServerList:
    service = _service(ctx)
    rows = await service.list_servers(after=cursor or None, limit=limit + 1)
    items = [server_public(service, row) for row in rows[:limit]]
    return ServerList(items=items, next_cursor=rows[limit - 1].id if len(rows) > limit else None)


@router.post("/servers", status_code=201, response_model=ServerPublic)
async def create_server(ctx: Ctx, body: ServerCreate) -> ServerPublic:
    """Add a server and check it at once: a refused token still answers 201, with
    ``state: "unauthorized"`` and the reason in ``last_error``."""
    service = _service(ctx)
    try:
        server = await service.create(
            kind=body.kind, name=body.name, url=body.url, token=body.token, live=body.live
        )
    except ServerServiceError as exc:
        raise _refused(exc) from None
    return server_public(service, server)


@router.get("/servers/{server_id}", response_model=ServerPublic)
async def get_server(ctx: Ctx, server_id: str) -> ServerPublic:
    service = _service(ctx)
    try:
        return server_public(service, await service.get(server_id))
    except ServerServiceError as exc:
        raise _refused(exc) from None


@router.patch("/servers/{server_id}", response_model=ServerPublic)
async def update_server(ctx: Ctx, server_id: str, body: ServerUpdate) -> ServerPublic:
    """Change a server; a new kind, URL or token is checked at once. Servers from the YAML file
    answer 409."""
    service = _service(ctx)
    try:
        server = await service.update(server_id, body.model_dump(exclude_none=True))
    except ServerServiceError as exc:
        raise _refused(exc) from None
    return server_public(service, server)


@router.delete("/servers/{server_id}", status_code=204, response_class=Response)
async def delete_server(ctx: Ctx, server_id: str) -> Response:
    service = _service(ctx)
    try:
        await service.delete(server_id)
    except ServerServiceError as exc:
        raise _refused(exc) from None
    return Response(status_code=204)


@router.post("/servers/{server_id}/test", response_model=ServerPublic)
async def test_server(ctx: Ctx, server_id: str) -> ServerPublic:
    """Check the server now: the answer carries the fresh state."""
    service = _service(ctx)
    try:
        return server_public(service, await service.test(server_id))
    except ServerServiceError as exc:
        raise _refused(exc) from None


@router.get("/servers/{server_id}/accounts", response_model=AccountList)
async def list_accounts(
    ctx: Ctx, server_id: str, limit: Limit = 100, cursor: Cursor = None
) -> AccountList:
    """The server's accounts, asked now, each with the person its identity is linked to.
    An unreachable server or a refused token answers 502 with the reason."""
    offset = integer_cursor(cursor) or 0
    service = _service(ctx)
    try:
        views = await service.accounts(server_id)
    except ServerServiceError as exc:
        raise _refused(exc) from None
    page = views[offset : offset + limit]
    more = len(views) > offset + limit
    return AccountList(
        items=[account_public(view) for view in page],
        next_cursor=str(offset + limit) if more else None,
    )


@router.patch("/servers/{server_id}/accounts/{account_id}", response_model=AccountPublic)
async def set_account_token(
    ctx: Ctx, server_id: str, account_id: str, body: AccountTokenBody
) -> AccountPublic:
    """Store a Plex account's own server token (encrypted): the account becomes writable."""
    service = _service(ctx)
    try:
        view = await service.set_account_token(server_id, account_id, body.token)
    except ServerServiceError as exc:
        raise _refused(exc) from None
    return account_public(view)
