"""Stats page: plays and watch time from the ledger as charts, and Trakt's own numbers.

Renders from the store only (SPEC §10); Trakt's numbers are the cached copy, refreshed by the
button or in the background when older than their hour.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi.responses import RedirectResponse
from nicegui import background_tasks, run, ui
from sqlmodel import col, select

from ..context import AppContext
from ..enrich import enrichment
from ..enrich.stats import TRAKT_STATS_TTL
from ..store.models import TraktConnection, User, utcnow
from .auth import login_redirect
from .theme import frame

# ECharts' SVG renderer keeps the chart's data in the page (SPEC §10), unlike a canvas.
RENDERER: Literal["canvas", "svg"] = "svg"
CHART_CLASSES = "w-full h-72"
# Trakt's stats blocks and the numbers worth showing from each.
TRAKT_NUMBERS = (
    ("movies", ("plays", "watched", "minutes")),
    ("shows", ("watched",)),
    ("episodes", ("plays", "watched", "minutes")),
    ("ratings", ("total",)),
)


def _users(ctx: AppContext) -> dict[str, str]:
    with ctx.session() as session:
        rows = session.exec(select(User).order_by(col(User.display_name))).all()
        return {u.id: u.display_name for u in rows}


def _load(ctx: AppContext, user_id: str) -> dict[str, Any]:
    service = enrichment(ctx).stats
    trakt, fetched_at = service.cached_trakt(user_id)
    with ctx.session() as session:
        row = session.get(TraktConnection, user_id)
        connected = row is not None and row.state == "connected"
    return {
        "local": service.local(user_id),
        "trakt": trakt,
        "fetched_at": fetched_at,
        "connected": connected,
    }


def plays_chart(days: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": ["Plays", "Minutes"]},
        "xAxis": {"type": "category", "data": [d["date"] for d in days]},
        "yAxis": [{"type": "value", "name": "plays"}, {"type": "value", "name": "minutes"}],
        "series": [
            {"name": "Plays", "type": "bar", "data": [d["plays"] for d in days]},
            {
                "name": "Minutes",
                "type": "line",
                "yAxisIndex": 1,
                "data": [d["minutes"] for d in days],
            },
        ],
    }


def weeks_chart(weeks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [w["week"] for w in weeks]},
        "yAxis": {"type": "value", "name": "minutes"},
        "series": [{"name": "Watch time", "type": "bar", "data": [w["minutes"] for w in weeks]}],
    }


def top_shows_chart(shows: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = list(reversed(shows))  # ECharts draws the first category at the bottom
    return {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 160},
        "xAxis": {"type": "value", "name": "plays"},
        "yAxis": {"type": "category", "data": [s["show"] for s in ranked]},
        "series": [{"name": "Plays", "type": "bar", "data": [s["plays"] for s in ranked]}],
    }


def _chart(title: str, options: dict[str, Any], test_id: str) -> None:
    with ui.card().classes("w-full"):
        ui.label(title).classes("text-h6")
        ui.echart(options, renderer=RENDERER).classes(CHART_CLASSES).props(f"data-test={test_id}")


def _trakt_card(data: dict[str, Any], refresh: Any) -> None:
    with ui.card().classes("w-full").props("data-test=trakt-stats"):
        with ui.row().classes("items-center justify-between w-full"):
            ui.label("Trakt's numbers").classes("text-h6")
            if data["connected"]:
                ui.button("Refresh from Trakt", icon="refresh", on_click=refresh).props(
                    "flat data-test=trakt-stats-refresh"
                )
        trakt = data["trakt"]
        if trakt is None:
            ui.label(
                "Not read from Trakt yet: press refresh."
                if data["connected"]
                else "Not connected to Trakt."
            )
            return
        fetched_at: datetime | None = data["fetched_at"]
        if fetched_at:
            ui.label(f"As of {fetched_at:%Y-%m-%d %H:%M} UTC").classes("text-xs text-grey-7")
        with ui.row().classes("gap-4"):
            for block, names in TRAKT_NUMBERS:
                values = trakt.get(block) or {}
                with ui.card().classes("w-48").props(f"data-test=trakt-{block}"):
                    ui.label(block.capitalize()).classes("font-bold")
                    for name in names:
                        ui.label(f"{name}: {values.get(name, '—')}")


def register(ctx: AppContext) -> None:
    @ui.page("/stats", title="trakt-plugin · stats")
    async def stats_page(user: str | None = None) -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        users = await run.io_bound(_users, ctx) or {}
        selected = user if user in users else next(iter(users), None)
        data = await run.io_bound(_load, ctx, selected) if selected else None
        service = enrichment(ctx).stats

        async def refresh() -> None:
            assert selected is not None
            await service.trakt(selected, refresh=True)
            ui.navigate.reload()

        if data and data["connected"]:
            fetched_at = data["fetched_at"]
            if fetched_at is None or utcnow() - fetched_at >= TRAKT_STATS_TTL:
                assert selected is not None
                background_tasks.create(service.trakt(selected), name="trakt-stats")

        with frame(ctx, "Stats"):
            if not users or data is None or selected is None:
                ui.label("No people yet: add someone on the Users page.")
                return None
            ui.select(
                users,
                value=selected,
                label="Person",
                on_change=lambda e: ui.navigate.to(f"/stats?user={e.value}"),
            ).classes("w-64").props("data-test=stats-user")
            local = data["local"]
            totals = local["totals"]
            ui.label(
                f"{totals['plays']} plays, {totals['minutes']} minutes in the ledger"
                + (f" ({totals['unknown_runtime']} without a known runtime)"
                   if totals["unknown_runtime"] else "")
            ).props("data-test=stats-totals")  # fmt: skip
            if local["plays_per_day"]:
                _chart("Plays per day", plays_chart(local["plays_per_day"]), "chart-plays")
                _chart("Watch time per week", weeks_chart(local["minutes_per_week"]), "chart-weeks")
            if local["top_shows"]:
                _chart("Top shows", top_shows_chart(local["top_shows"]), "chart-top-shows")
            if local["per_source"]:
                ui.label(
                    "By source: " + ", ".join(f"{k} {v}" for k, v in local["per_source"].items())
                ).props("data-test=stats-sources")
            _trakt_card(data, refresh)
        return None
