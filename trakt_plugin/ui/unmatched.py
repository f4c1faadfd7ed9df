"""Unmatched page (SPEC §10): items that could not be identified; find them on Trakt and pin one.

The list is read from the store (``overrides.list_unmatched``); only "Find on Trakt" asks Trakt
(a title search, on the person's click). "Pin" stores the override, re-queues the calls that
waited on the item and wakes their drains (``overrides.pin_and_wake``).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from .. import overrides
from ..connections import NotConfigured
from ..context import AppContext
from ..trakt import errors
from .auth import guarded, login_redirect
from .theme import frame


def load(ctx: AppContext) -> list[overrides.Unmatched]:
    with ctx.engine.connect() as conn:
        return overrides.list_unmatched(conn)


def _waiting(entry: overrides.Unmatched) -> str:
    parts = []
    if entry.calls:
        parts.append(f"{entry.calls} call{'s' if entry.calls != 1 else ''} waiting")
    if entry.plays:
        parts.append(f"{entry.plays} play{'s' if entry.plays != 1 else ''} not on Trakt")
    return " · ".join(parts) or "nothing waiting"


def register(ctx: AppContext) -> None:
    @ui.page("/unmatched", title="trakt-plugin · unmatched")
    async def unmatched_page() -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        with frame(ctx, "Unmatched"):
            ui.label("Unmatched").classes("text-h6").mark("unmatched-title")
            ui.label(
                "Items no server id could name to Trakt, or that Trakt did not match. "
                "Find the right one on Trakt and pin it: the waiting calls go out, and the "
                "item is recognised from then on (webhooks, watch mode, sync)."
            ).classes("text-sm text-grey-7 break-words")
            listing = ui.column().classes("w-full gap-3").props("data-test=unmatched-list")

            async def show() -> None:
                entries = await run.io_bound(load, ctx) or []
                listing.clear()
                with listing:
                    if not entries:
                        ui.label("Nothing is unmatched.").classes("text-grey").props(
                            "data-test=unmatched-empty"
                        )
                    for index, entry in enumerate(entries):
                        _item_card(index, entry)

            def _item_card(index: int, entry: overrides.Unmatched) -> None:
                card = ui.card().classes("w-full min-w-0").props(f"data-test=unmatched-{index}")
                with card:
                    with ui.row().classes("w-full items-center gap-2 flex-wrap min-w-0"):
                        ui.icon("help_outline" if entry.reason == "no ids" else "link_off")
                        ui.label(entry.label).classes("font-bold break-all min-w-0").props(
                            "data-test=unmatched-label"
                        )
                        ui.badge(entry.type, color="grey-7")
                        if entry.source:
                            ui.badge(entry.source, color="primary")
                    ui.label(
                        f"{entry.reason} · {_waiting(entry)}"
                        + (" · pinned, but Trakt did not match it" if entry.pinned else "")
                    ).classes("text-sm text-grey-7 break-words")
                    ui.label(entry.source_key).classes("text-xs text-grey break-all")
                    results = ui.column().classes("w-full gap-1 min-w-0")
                    with ui.row().classes("w-full items-end gap-2 flex-wrap"):
                        query = (
                            ui.input("Title on Trakt", value=entry.search_title)
                            .classes("grow min-w-0")
                            .props("dense data-test=query")
                        )
                        year = (
                            ui.number("Year", value=entry.year, format="%d", min=1800, max=2200)
                            .classes("w-24")
                            .props("dense data-test=year")
                        )

                        async def find() -> None:
                            await _find(entry, query.value, year.value, results)

                        ui.button(
                            "Find on Trakt", icon="search", on_click=guarded(ctx, find)
                        ).props("data-test=find")

            async def _find(
                entry: overrides.Unmatched, text: Any, year: Any, results: ui.column
            ) -> None:
                results.clear()
                with results:
                    ui.spinner(size="sm")
                wanted_year = int(year) if isinstance(year, int | float) and year else None
                try:
                    found = await overrides.search_candidates(
                        ctx, entry, str(text or ""), wanted_year
                    )
                except NotConfigured as exc:
                    found, problem = [], str(exc)
                except errors.TraktError as exc:
                    found, problem = [], f"Trakt search failed: {exc}"
                else:
                    problem = ""
                results.clear()
                with results:
                    if problem:
                        ui.label(problem).classes("text-negative break-words")
                        return
                    if not found:
                        ui.label("No match on Trakt: change the title or the year.").classes(
                            "text-grey"
                        ).props("data-test=no-candidates")
                    for number, candidate in enumerate(found):
                        with (
                            ui.row()
                            .classes("w-full items-center gap-2 no-wrap min-w-0")
                            .props(f"data-test=candidate-{number}")
                        ):
                            ui.label(candidate.label).classes("grow min-w-0 break-words")

                            async def do_pin(chosen: overrides.Candidate = candidate) -> None:
                                await _pin(entry, chosen)

                            ui.button("Pin", icon="push_pin", on_click=guarded(ctx, do_pin)).props(
                                "dense data-test=pin"
                            )

            async def _pin(entry: overrides.Unmatched, candidate: overrides.Candidate) -> None:
                try:
                    result = await overrides.pin_and_wake(ctx, entry.source_key, candidate.item)
                except overrides.PinError as exc:
                    ui.notify(str(exc), type="warning")
                    return
                calls = f"{result.calls} waiting call{'s' if result.calls != 1 else ''} sent"
                ui.notify(f"Pinned {entry.label} to {candidate.label}: {calls}.", type="positive")
                await show()

            await show()
        return None
