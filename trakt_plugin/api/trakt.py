"""Connecting a user's Trakt account, and the proxy check."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel

from ..connections import ConnectError, ConnectionService, NotConfigured, TraktGateway
from ..context import AppContext
from ..store.models import TraktConnection, User
from .common import ERRORS, Ctx
from .users import trakt_status

router = APIRouter(tags=["trakt"], responses=ERRORS)


class DeviceCodeAnswer(BaseModel):
    user_code: str
    verification_url: str
    expires_in: int


class AuthorizeAnswer(BaseModel):
    url: str


class ConnectionCheck(BaseModel):
    ok: bool
    via: str | None = None
    ms: int | None = None
    error: str | None = None


def connections(request: Request) -> ConnectionService:
    service: ConnectionService = request.app.state.context.services["connections"]
    return service


def gateway(request: Request) -> TraktGateway:
    service: TraktGateway = request.app.state.context.services["trakt"]
    return service


def _not_configured(exc: NotConfigured) -> HTTPException:
    return HTTPException(409, str(exc))


@router.post(
    "/users/{user_id}/trakt/device",
    status_code=202,
    response_model=DeviceCodeAnswer,
    responses={
        502: {"description": "Trakt or the proxy failed; the error names which"},
        409: {"description": "the Trakt app credentials are not configured"},
    },
)
async def start_device(ctx: Ctx, request: Request, user_id: str) -> dict[str, Any]:
    """Start the device-code flow; polling for approval runs in the background."""
    try:
        return await connections(request).start_device_flow(user_id)
    except LookupError:
        raise HTTPException(404, "user not found") from None
    except NotConfigured as exc:
        raise _not_configured(exc) from None
    except ConnectError as exc:
        raise HTTPException(502, str(exc)) from None


@router.get("/users/{user_id}/trakt/authorize", response_model=AuthorizeAnswer)
def authorize(ctx: Ctx, request: Request, user_id: str) -> AuthorizeAnswer:
    """A Trakt sign-in URL for the redirect flow (single-use state, valid 10 minutes)."""
    try:
        return AuthorizeAnswer(url=connections(request).authorize_url(user_id))
    except LookupError:
        raise HTTPException(404, "user not found") from None
    except NotConfigured as exc:
        raise _not_configured(exc) from None


@router.delete("/users/{user_id}/trakt", status_code=204, response_class=Response)
async def disconnect(ctx: Ctx, request: Request, user_id: str) -> Response:
    """Revoke the token at Trakt and delete it here."""
    try:
        await connections(request).disconnect(user_id)
    except LookupError:
        raise HTTPException(404, "user not found") from None
    return Response(status_code=204)


@router.post(
    "/settings/test-connection", response_model=ConnectionCheck, response_model_exclude_none=True
)
async def test_connection(ctx: Ctx, request: Request) -> dict[str, object]:
    """Reach Trakt through the configured proxy (or directly) and time it."""
    return await gateway(request).test_connection()


@router.post("/users/{user_id}/trakt/verify", status_code=200)
async def verify(ctx: Ctx, request: Request, user_id: str) -> dict[str, Any]:
    """Check the connection now: re-read the Trakt profile (username, VIP); answers the
    user's ``trakt`` status afterwards (a refused token refresh shows ``reauth_required``)."""
    if not await asyncio.to_thread(_user_exists, ctx, user_id):
        raise HTTPException(404, "user not found")
    await connections(request).refresh_profile(user_id)
    return await asyncio.to_thread(_status_of, ctx, user_id)


def _user_exists(ctx: AppContext, user_id: str) -> bool:
    with ctx.session() as session:
        return session.get(User, user_id) is not None


def _status_of(ctx: AppContext, user_id: str) -> dict[str, Any]:
    with ctx.session() as session:
        return trakt_status(session.get(TraktConnection, user_id)).model_dump(mode="json")
