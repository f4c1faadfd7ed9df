"""The dashboard's view of its sessions: who is signed in, and guards for event handlers.

Pages check the session cookie of the request that loaded them; event handlers that reveal a
secret or change a setting check it again when they run (SPEC §11), so a page left open after
logout, expiry or a password change can do nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import run, ui

from ..context import AppContext
from ..security.clients import client_address, has_forwarding_headers, is_loopback
from ..security.sessions import COOKIE_NAME


def page_request() -> Request:
    """The HTTP request that loaded the current page (also inside websocket event handlers)."""
    return ui.context.client.request


def client_of(ctx: AppContext, request: Request) -> str:
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers, ctx.trusted_proxies)


def is_local_browser(request: Request) -> bool:
    """A browser on this machine talking to us directly: loopback peer, no proxy headers."""
    peer = request.client.host if request.client else ""
    return bool(peer) and is_loopback(peer) and not has_forwarding_headers(request.headers)


async def signed_in(ctx: AppContext) -> bool:
    session_id = page_request().cookies.get(COOKIE_NAME)
    return bool(await run.io_bound(ctx.sessions.is_valid, session_id))


async def login_redirect(ctx: AppContext) -> RedirectResponse | None:
    """A redirect to the login page when the visitor is not signed in."""
    return None if await signed_in(ctx) else RedirectResponse("/login")


def guarded(ctx: AppContext, handler: Callable[..., Any]) -> Callable[..., Awaitable[None]]:
    """``handler`` runs only while the page's session is still valid."""

    @functools.wraps(handler)
    async def checked(*args: Any) -> None:
        if not await signed_in(ctx):
            ui.notify("Your session has ended: log in again.", type="warning")
            ui.navigate.to("/login")
            return
        result = handler(*args)
        if isinstance(result, Awaitable):
            await result

    return checked
