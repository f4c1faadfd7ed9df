"""Shared chrome: the header (menu button, product, page title, theme toggle, logout), the left
navigation drawer, light/dark theme and the global layout rules every page gets.

Layout (SPEC §10): the drawer is open on wide screens and closed below 1024 px, where the menu
button opens it over the page. The theme follows the browser (``prefers-color-scheme``) until the
header toggle picks one; the choice lives in the browser's localStorage (``assets/theme.js``), never
on the service, which keeps no per-browser storage. ``assets/layout.css`` keeps pages from
scrolling sideways at phone width (390 px): long words wrap, media and tables stay inside the page
(tables scroll in their own container).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nicegui import ui

from ..context import AppContext

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
ICON_URL = "/assets/icon.svg"

# Quasar's layout breakpoint: at this width and below the drawer is "mobile" (closed, over the
# page); above it the drawer is open beside the page. 1023 gives "closed below 1024 px".
DRAWER_BREAKPOINT = 1023

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

# A plain (blocking) script in <head>: the remembered theme is painted before the first frame.
HEAD_HTML = (
    '<link rel="stylesheet" href="/assets/layout.css">\n<script src="/assets/theme.js"></script>'
)


def theme_head() -> None:
    """The theme script and layout rules for a page drawn without ``frame()`` (login, setup)."""
    ui.add_head_html(HEAD_HTML)


@contextmanager
def frame(ctx: AppContext, title: str) -> Iterator[None]:
    """Header, navigation drawer and a content column; page content goes inside the block."""
    theme_head()
    ui.colors(primary="#9f42c6", secondary="#ed1c24")
    drawer = (
        ui.left_drawer(value=None)  # None: open above the breakpoint, closed at and below it
        .classes("tp-drawer")
        .props(f"width=200 bordered breakpoint={DRAWER_BREAKPOINT} data-test=nav-drawer")
    )
    with (
        ui.header()
        .classes("items-center bg-primary tp-header")
        .props("role=banner")
        .style("flex-wrap: nowrap; gap: 0.25rem; padding: 0.5rem")
    ):
        ui.button(icon="menu", on_click=drawer.toggle).props(
            'flat round dense color=white data-test=menu aria-label="Navigation menu"'
        ).tooltip("Menu")
        with ui.row().classes("items-center gap-2 no-wrap tp-brand"):
            ui.image(ICON_URL).classes("w-8 h-8 tp-logo").props('alt=""')
            ui.label("trakt-plugin").classes("text-xl font-bold").mark("product-name")
            ui.label(f"v{ctx.version}").classes("text-xs opacity-70 tp-version")
        ui.label(title).classes("text-lg tp-title").props("data-test=page-title")
        # Client side only: the choice is remembered in this browser (assets/theme.js).
        with (
            ui.button()
            .props('flat round dense color=white data-test=theme-toggle aria-label="Dark theme"')
            .on("click", js_handler="() => window.tpTheme && window.tpTheme.toggle()")
            .tooltip("Light or dark theme")
        ):
            ui.icon("dark_mode").classes("tp-when-light")
            ui.icon("light_mode").classes("tp-when-dark")
        # /logout ends the session in the store and clears the cookie.
        ui.button(icon="logout", on_click=lambda: ui.navigate.to("/logout")).props(
            'flat round dense color=white data-test=logout aria-label="Log out"'
        ).tooltip("Log out")
    with drawer, ui.element("nav").props('aria-label="Pages"').classes("w-full"):
        for label, target, icon in NAV:
            current = label == title
            link = (
                ui.link(target=target)
                .classes("tp-nav-link no-underline")
                .props(f"data-test=nav-{label.lower()}")
            )
            if current:
                link.classes("tp-nav-current").props('aria-current="page"')
            with link, ui.row().classes("items-center gap-3 py-2 px-3 no-wrap"):
                ui.icon(icon).props('aria-hidden="true"')
                ui.label(label)
    with ui.column().classes("w-full max-w-5xl mx-auto p-4 gap-4 tp-content"):
        yield
