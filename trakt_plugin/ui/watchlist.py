"""Watchlist page (SPEC §10): being built."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import ui

from ..context import AppContext
from .auth import login_redirect
from .theme import frame


def register(ctx: AppContext) -> None:
    @ui.page("/watchlist", title="trakt-plugin · watchlist")
    async def watchlist_page() -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        with frame(ctx, "Watchlist"):
            ui.label("Watchlist").classes("text-h6").mark("watchlist-title")
        return None
