"""History page (SPEC §10): one person's plays, newest first, paged on the server.

Search by title, filters (type, source, date range), a poster thumbnail per row, the watched time
in the browser's time zone, the source and the play's Trakt state. Every read is one page of the
store (:mod:`.history_query`); nothing here waits on Trakt or a media server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi.responses import RedirectResponse
from nicegui import run, ui
from sqlmodel import col, select

from ..context import AppContext
from ..posters import poster_src
from ..store.models import User
from .auth import guarded, login_redirect
from .history_query import Cursor, HistoryFilter, HistoryPage, history_page, sources
from .theme import frame

# Thumbnails keep the 2:3 poster shape; width and height are set so rows never jump.
THUMB_WIDTH, THUMB_HEIGHT = 46, 69
STATE_COLOURS = {
    "on_trakt": "positive",
    "waiting": "warning",
    "not_matched": "negative",
    "local_only": "grey-7",
}
TYPE_OPTIONS = {"": "All types", "movie": "Movies", "episode": "Episodes"}
ALL_SOURCES = ""
# Waiting this long for the browser's time zone; UTC after that.
TZ_TIMEOUT = 3.0
CONTROL = "w-full sm:w-44"


@dataclass
class _View:
    """The page's state: who, what filters, and the cursors of the pages shown so far."""

    user_id: str
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    filters: HistoryFilter = field(default_factory=HistoryFilter)
    # cursors[i] starts page i (None: the newest); the last entry is the page on screen.
    cursors: list[Cursor | None] = field(default_factory=lambda: [None])
    next: Cursor | None = None  # where the next (older) page starts; None: no older page


def _people(ctx: AppContext) -> dict[str, str]:
    with ctx.session() as session:
        rows = session.exec(select(User).order_by(col(User.display_name))).all()
        return {u.id: u.display_name for u in rows}


def _page(ctx: AppContext, view: _View) -> tuple[HistoryPage, list[str]]:
    with ctx.engine.connect() as conn:
        page = history_page(
            conn, user_id=view.user_id, filters=view.filters, after=view.cursors[-1]
        )
        return page, sources(conn, user_id=view.user_id)


def _day_start(text: str | None, zone: ZoneInfo) -> datetime | None:
    """The start of a ``YYYY-MM-DD`` day in ``zone`` (None when empty or not a date)."""
    try:
        day = date.fromisoformat(text or "")
    except ValueError:
        return None
    return datetime.combine(day, time(), tzinfo=zone)


def _when(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a %d %b %Y, %H:%M}"


async def _browser_zone() -> ZoneInfo:
    try:
        await ui.context.client.connected(timeout=TZ_TIMEOUT)
        name = await ui.run_javascript(
            "Intl.DateTimeFormat().resolvedOptions().timeZone", timeout=TZ_TIMEOUT
        )
        return ZoneInfo(str(name))
    except (TimeoutError, ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def poster(item_key: str, classes: str = "") -> None:
    """An item's poster thumbnail (the service serves it, or a placeholder)."""
    img = ui.element("img").classes(f"rounded bg-grey-4 shrink-0 {classes}")
    img.props.update(
        src=poster_src(item_key),
        width=str(THUMB_WIDTH),
        height=str(THUMB_HEIGHT),
        loading="lazy",
        alt="",  # decorative: the title stands next to it
    )
    img.style(f"width: {THUMB_WIDTH}px; height: {THUMB_HEIGHT}px; object-fit: cover")


def register(ctx: AppContext) -> None:
    @ui.page("/history", title="trakt-plugin · history")
    async def history_page_view() -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        people = await run.io_bound(_people, ctx) or {}
        with frame(ctx, "History"):
            ui.label("History").classes("text-h6").mark("history-title")
            if not people:
                ui.label("Nobody here yet: add a person on the Users page.").classes("text-grey-7")
                return None
            view = _View(user_id=next(iter(people)))
            with ui.row().classes("w-full items-end gap-2"):
                person = ui.select(people, value=view.user_id, label="Person").classes(CONTROL)
                person.props("outlined dense data-test=history-person")
                search = ui.input("Search by title").classes(CONTROL)
                search.props("outlined dense clearable debounce=400 data-test=history-search")
                kind = ui.select(TYPE_OPTIONS, value="", label="Type").classes(CONTROL)
                kind.props("outlined dense data-test=history-type")
                source = ui.select({ALL_SOURCES: "All sources"}, value=ALL_SOURCES, label="Source")
                source.classes(CONTROL).props("outlined dense data-test=history-source")
                since = ui.input("From").classes(CONTROL)
                since.props("outlined dense stack-label type=date data-test=history-from")
                until = ui.input("To").classes(CONTROL)
                until.props("outlined dense stack-label type=date data-test=history-to")
            rows_box = ui.column().classes("w-full gap-1").classes("history-rows")
            with ui.row().classes("w-full items-center justify-between"):
                newer = ui.button("Newer", icon="chevron_left").props(
                    "flat dense data-test=history-newer"
                )
                position = ui.label("").classes("text-sm text-grey-7")
                position.props("data-test=history-position")
                older = ui.button("Older").props(
                    "flat dense icon-right=chevron_right data-test=history-older"
                )

        def show(page: HistoryPage, known_sources: list[str]) -> None:
            options = {ALL_SOURCES: "All sources", **{s: s for s in known_sources}}
            if source.options != options:
                source.set_options(options, value=source.value if source.value in options else "")
            rows_box.clear()
            with rows_box:
                if not page.rows:
                    ui.label("No plays match.").classes("text-grey-7").classes("history-empty")
                for row in page.rows:
                    state_colour = STATE_COLOURS.get(row.state, "grey")
                    with (
                        ui.row()
                        .classes("w-full no-wrap items-center gap-3 py-1")
                        .props(f"data-test=history-row-{row.id}")
                        .classes("history-row")
                    ):
                        poster(row.item_key)
                        with ui.column().classes("min-w-0 grow gap-0"):
                            ui.label(row.title).classes("font-medium truncate w-full").classes(
                                "history-row-title"
                            )
                            ui.label(f"{_when(row.watched_at, view.zone)} · {row.source}").classes(
                                "text-xs text-grey-7 truncate w-full"
                            )
                        ui.badge(row.state_label, color=state_colour).classes("shrink-0").classes(
                            "history-row-state"
                        )
            number = len(view.cursors)
            position.set_text(f"Page {number}")
            newer.set_enabled(number > 1)
            older.set_enabled(page.next is not None)

        async def load() -> None:
            page, known = await run.io_bound(_page, ctx, view) or (HistoryPage([], None), [])
            view.next = page.next
            show(page, known)

        async def refilter(*_: Any) -> None:
            zone = view.zone
            start = _day_start(since.value, zone)
            end = _day_start(until.value, zone)
            view.user_id = str(person.value or view.user_id)
            view.filters = HistoryFilter(
                search=str(search.value or ""),
                type=kind.value or None,
                source=source.value or None,
                since=start,
                until=end + timedelta(days=1) if end else None,  # "to" includes that day
            )
            view.cursors = [None]
            await load()

        async def go_older(*_: Any) -> None:
            if view.next is not None:
                view.cursors.append(view.next)
                await load()

        async def go_newer(*_: Any) -> None:
            if len(view.cursors) > 1:
                view.cursors.pop()
                await load()

        for control in (person, search, kind, source, since, until):
            control.on_value_change(guarded(ctx, refilter))
        older.on_click(guarded(ctx, go_older))
        newer.on_click(guarded(ctx, go_newer))
        view.zone = await _browser_zone()
        await load()
        return None
