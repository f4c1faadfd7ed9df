"""Watchlist page (SPEC §10): one person's local watchlist with posters; remove with one click,
add by searching Trakt.

Adds and removals go through :mod:`..sync.watchlist_entries`, the same code as
``POST``/``DELETE /api/v1/users/{id}/watchlist``; the watchlist sync takes them to Trakt. The
search asks Trakt only when the person presses "Search" (an event handler), never while the page
renders.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from nicegui import run, ui
from pydantic import ValidationError

from ..api.ledger import WatchlistIn
from ..connections import NotConfigured
from ..context import AppContext
from ..store.models import as_utc
from ..sync import watchlist_entries
from ..sync.items import item_key
from ..trakt import errors
from ..trakt.models import SearchResult
from .auth import guarded, login_redirect
from .history import CONTROL, poster
from .history import _people as people_of
from .theme import frame

# The local list is short (Trakt's plan limits are in the hundreds); one read shows it all.
MAX_ENTRIES = 1000
TYPE_OPTIONS = {"movie": "Movie", "show": "Show"}


def _entries(ctx: AppContext, user_id: str) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        rows = watchlist_entries.list_entries(conn, user_id=user_id, limit=MAX_ENTRIES)
    out = []
    for row in reversed(rows):  # newest first
        entry = watchlist_entries.entry_public(row)
        media = entry.get(entry["type"]) or {}
        added = as_utc(row.added_at)
        out.append(
            {
                "id": row.id,
                "item_key": row.item_key,
                "type": entry["type"],
                "title": media.get("title") or "?",
                "year": media.get("year"),
                "added": f"{added:%d %b %Y}" if added else "",
            }
        )
    return out


def _add(ctx: AppContext, user_id: str, item: dict[str, Any]) -> bool:
    with ctx.engine.begin() as conn:
        _, created = watchlist_entries.add_entry(conn, user_id=user_id, item=item)
    return created


def _remove(ctx: AppContext, user_id: str, entry_id: int) -> bool:
    with ctx.engine.begin() as conn:
        return watchlist_entries.remove_entry(conn, user_id=user_id, entry_id=entry_id)


def result_item(result: SearchResult) -> dict[str, Any] | None:
    """A search hit as the watchlist takes it (§9.1, validated like the API's body)."""
    media = result.movie if result.type == "movie" else result.show
    if result.type not in TYPE_OPTIONS or media is None:
        return None
    body = {
        "type": result.type,
        result.type: {
            "title": media.title,
            "year": media.year,
            "ids": media.ids.model_dump(exclude_none=True),
        },
    }
    try:
        return WatchlistIn.model_validate(body).item()
    except (ValidationError, RequestValidationError):  # no ids, or a field out of range
        return None


def _label(item: dict[str, Any]) -> str:
    media = item[item["type"]]
    year = f" ({media['year']})" if media.get("year") else ""
    return f"{media.get('title') or '?'}{year}"


def register(ctx: AppContext) -> None:
    @ui.page("/watchlist", title="trakt-plugin · watchlist")
    async def watchlist_page() -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        people = await run.io_bound(people_of, ctx) or {}
        with frame(ctx, "Watchlist"):
            ui.label("Watchlist").classes("text-h6").mark("watchlist-title")
            if not people:
                ui.label("Nobody here yet: add a person on the Users page.").classes("text-grey-7")
                return None
            state = {"user_id": next(iter(people))}
            person = ui.select(people, value=state["user_id"], label="Person").classes(CONTROL)
            person.props("outlined dense data-test=watchlist-person")
            with ui.card().classes("w-full").props("data-test=watchlist-add"):
                ui.label("Add from Trakt").classes("font-medium")
                with ui.row().classes("w-full items-end gap-2"):
                    title = ui.input("Title").classes(CONTROL)
                    title.props("outlined dense data-test=watchlist-search-title")
                    year = ui.number("Year (optional)", min=1800, max=2200, precision=0)
                    year.classes(CONTROL).props("outlined dense data-test=watchlist-search-year")
                    kind = ui.select(TYPE_OPTIONS, value="movie", label="Type").classes(CONTROL)
                    kind.props("outlined dense data-test=watchlist-search-type")
                    search_button = ui.button("Search Trakt", icon="search")
                    search_button.props("data-test=watchlist-search")
                results_box = ui.column().classes("w-full gap-1").classes("watchlist-results")
            entries_box = ui.column().classes("w-full gap-1").classes("watchlist-entries")

        async def load() -> None:
            entries = await run.io_bound(_entries, ctx, state["user_id"]) or []
            entries_box.clear()
            with entries_box:
                if not entries:
                    ui.label("The watchlist is empty.").classes("text-grey-7").classes(
                        "watchlist-empty"
                    )
                for entry in entries:
                    name = entry["title"] + (f" ({entry['year']})" if entry["year"] else "")
                    with (
                        ui.row()
                        .classes("w-full no-wrap items-center gap-3 py-1")
                        .props(f"data-test=watchlist-entry-{entry['id']}")
                        .classes("watchlist-entry")
                    ):
                        poster(entry["item_key"])
                        with ui.column().classes("min-w-0 grow gap-0"):
                            ui.label(name).classes("font-medium truncate w-full").classes(
                                "watchlist-entry-title"
                            )
                            ui.label(f"{entry['type']} · added {entry['added']}").classes(
                                "text-xs text-grey-7"
                            )
                        remove_button = ui.button(
                            icon="delete",
                            on_click=lambda _, e=entry["id"]: checked_remove(e),
                        ).props("flat round dense color=negative data-test=watchlist-remove")
                        remove_button.props["aria-label"] = f"Remove {name}"
                        remove_button.tooltip(f"Remove {name}")

        async def remove(entry_id: int) -> None:
            removed = await run.io_bound(_remove, ctx, state["user_id"], entry_id)
            if not removed:
                ui.notify("Already removed.", type="info")
            await load()

        async def add(item: dict[str, Any]) -> None:
            created = await run.io_bound(_add, ctx, state["user_id"], item)
            label = _label(item)
            ui.notify(f"Added {label}." if created else f"{label} is already on the list.")
            await load()

        async def search(*_: Any) -> None:
            query = str(title.value or "").strip()
            if not query:
                ui.notify("Type a title to search for.", type="warning")
                return
            wanted = year.value
            search_button.props("loading")
            try:
                client = ctx.services["trakt"].client()
                found = await client.search_text(
                    query, [kind.value], year=int(wanted) if wanted else None
                )
            except (errors.TraktError, NotConfigured) as exc:
                ui.notify(f"Trakt search failed: {exc}", type="negative")
                return
            finally:
                search_button.props(remove="loading")
            items = [i for i in (result_item(r) for r in found) if i is not None]
            results_box.clear()
            with results_box:
                if not items:
                    ui.label("Trakt found nothing by that title.").classes("text-grey-7").classes(
                        "watchlist-no-results"
                    )
                for item in items:
                    label = _label(item)
                    with (
                        ui.row()
                        .classes("w-full no-wrap items-center gap-2")
                        .props(f"data-test=watchlist-result-{item_key(item)}")
                        .classes("watchlist-result")
                    ):
                        ui.label(label).classes("min-w-0 grow truncate").classes(
                            "watchlist-result-title"
                        )
                        add_button = ui.button(
                            "Add", icon="add", on_click=lambda _, i=item: checked_add(i)
                        ).props("flat dense data-test=watchlist-result-add")
                        add_button.props["aria-label"] = f"Add {label}"

        async def switch(*_: Any) -> None:
            state["user_id"] = str(person.value or state["user_id"])
            await load()

        checked_remove, checked_add = guarded(ctx, remove), guarded(ctx, add)
        search_button.on_click(guarded(ctx, search))
        title.on("keydown.enter", guarded(ctx, search))
        person.on_value_change(guarded(ctx, switch))
        await load()
        return None
