"""Machine endpoints skip the dashboard's middleware.

NiceGUI wraps every request in its session and storage middleware: a request without a cookie
gets a new browser session and per-user storage that is never freed. Media servers post webhooks
without cookies, so each delivery would leak a little memory and pay for three extra middleware
layers. Requests for the API, webhooks, OAuth callback, health and metrics therefore go through
the same application stack (error handling, exception handlers) minus the user middleware.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

MACHINE_PREFIXES = ("/webhooks/", "/api/", "/oauth/", "/healthz", "/metrics")


class MachineRoutesFirst:
    """Sends machine paths to ``lean``, everything else to ``full``."""

    def __init__(self, full: ASGIApp, lean: ASGIApp) -> None:
        self.full = full
        self.lean = lean

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(MACHINE_PREFIXES):
            await self.lean(scope, receive, send)
        else:
            await self.full(scope, receive, send)


def install(app: FastAPI, outer: Callable[[ASGIApp], ASGIApp] = lambda inner: inner) -> None:
    """Make ``app`` build both stacks when it starts (after NiceGUI added its middleware), with
    ``outer`` wrapped around the pair (it sees every request)."""
    build: Callable[[], ASGIApp] = app.build_middleware_stack

    def build_both() -> ASGIApp:
        full = build()
        user_middleware, app.user_middleware = app.user_middleware, []
        try:
            lean = build()
        finally:
            app.user_middleware = user_middleware
        return outer(MachineRoutesFirst(full, lean))

    app.build_middleware_stack = build_both  # type: ignore[method-assign]
