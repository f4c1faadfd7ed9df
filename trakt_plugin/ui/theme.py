"""Shared chrome: header with the product name and status, left navigation drawer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nicegui import ui

from ..context import AppContext

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
ICON_URL = "/assets/icon.svg"

NAV = [
    ("Overview", "/", "dashboard"),
    ("Users", "/users", "group"),
    ("History", "/history", "history"),
    ("Watchlist", "/watchlist", "bookmarks"),
    ("Servers", "/servers", "dns"),
    ("Sync", "/sync", "sync"),
    ("Stats", "/stats", "bar_chart"),
    ("Unmatched", "/unmatched", "help_center"),
    ("Metadata", "/metadata", "travel_explore"),
    ("Scrobbles", "/scrobbles", "playlist_play"),
    ("Settings", "/settings", "settings"),
]


@contextmanager
def frame(ctx: AppContext, title: str) -> Iterator[None]:
    """Header, navigation drawer and a content column; page content goes inside the block."""
    ui.colors(primary="#9f42c6", secondary="#ed1c24")
    with ui.header().classes("items-center justify-between bg-primary"):
        with ui.row().classes("items-center gap-2"):
            ui.image(ICON_URL).classes("w-8 h-8")
            ui.label("trakt-plugin").classes("text-xl font-bold").mark("product-name")
            ui.label(f"v{ctx.version}").classes("text-xs opacity-70")
        with ui.row().classes("items-center gap-2"):
            ui.label(title).classes("text-lg")
            # /logout ends the session in the store and clears the cookie.
            ui.button(icon="logout", on_click=lambda: ui.navigate.to("/logout")).props(
                "flat color=white data-test=logout"
            ).tooltip("Log out")
    with ui.left_drawer(value=True).classes("bg-grey-1").props("width=200 bordered"):
        for label, target, icon in NAV:
            with ui.link(target=target).classes("no-underline text-black"):
                with ui.row().classes("items-center gap-3 py-2 px-2"):
                    ui.icon(icon)
                    ui.label(label)
    with ui.column().classes("w-full max-w-5xl mx-auto p-4 gap-4"):
        yield
