"""Stats page: plays and watch time from the ledger as charts over a range, and Trakt's numbers.

Renders from the store only (SPEC §10); the numbers are computed by the database
(:mod:`..enrich.stats_sql`). The range (30 days / 12 months / all time) picks the bucket (days,
weeks, months) so the chart keeps about 30-60 bars. Trakt's numbers are the cached copy,
refreshed by the button or in the background when older than their hour.
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
from ..enrich.stats_sql import RANGE_LABELS, RANGES, StatsRange
from ..store.models import TraktConnection, User, utcnow
from .auth import login_redirect
from .theme import frame

# ECharts' SVG renderer keeps the chart's data in the page (SPEC §10), unlike a canvas.
RENDERER: Literal["canvas", "svg"] = "svg"
CHART_CLASSES = "w-full h-72"
DEFAULT_RANGE: StatsRange = "12m"
# Trakt's stats blocks and the numbers worth showing from each.
TRAKT_NUMBERS = (
    ("movies", ("plays", "watched", "minutes")),
    ("shows", ("watched",)),
    ("episodes", ("plays", "watched", "minutes")),
    ("ratings", ("total",)),
)
BUCKET_TITLES = {"day": "per day", "week": "per week", "month": "per month"}
# Labels inside the plot area: a phone-width chart has no room to spare on the sides.
GRID = {"left": 8, "right": 8, "top": 40, "bottom": 8, "containLabel": True}


def _users(ctx: AppContext) -> dict[str, str]:
    with ctx.session() as session:
        rows = session.exec(select(User).order_by(col(User.display_name))).all()
        return {u.id: u.display_name for u in rows}


def _load(ctx: AppContext, user_id: str, stats_range: StatsRange) -> dict[str, Any]:
    service = enrichment(ctx).stats
    trakt, fetched_at = service.cached_trakt(user_id)
    with ctx.session() as session:
        row = session.get(TraktConnection, user_id)
        connected = row is not None and row.state == "connected"
    return {
        "local": service.local(user_id, stats_range),
        "trakt": trakt,
        "fetched_at": fetched_at,
        "connected": connected,
    }


def _people_and_load(
    ctx: AppContext, user: str | None, stats_range: StatsRange
) -> tuple[dict[str, str], str | None, dict[str, Any] | None]:
    """The people, the one shown (``user`` or the first) and their numbers: one worker call."""
    users = _users(ctx)
    selected = user if user in users else next(iter(users), None)
    return users, selected, _load(ctx, selected, stats_range) if selected else None


def hours_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


def plays_chart(buckets: list[dict[str, Any]]) -> dict[str, Any]:
    """Plays (bars) and watch time in hours (line) per bucket."""
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": ["Plays", "Hours"], "top": 0, "left": "center"},
        "grid": {**GRID, "top": 56},
        "xAxis": {"type": "category", "data": [b["bucket"] for b in buckets]},
        "yAxis": [
            {"type": "value", "name": "plays", "minInterval": 1},
            {"type": "value", "name": "hours", "splitLine": {"show": False}},
        ],
        "series": [
            {"name": "Plays", "type": "bar", "data": [b["plays"] for b in buckets]},
            {
                "name": "Hours",
                "type": "line",
                "yAxisIndex": 1,
                "showSymbol": False,
                "data": [round(b["minutes"] / 60, 1) for b in buckets],
            },
        ],
    }


def bars_chart(labels: list[str], values: list[int], name: str) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis"},
        "grid": GRID,
        "xAxis": {"type": "category", "data": labels},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"name": name, "type": "bar", "data": values}],
    }


def _chart(title: str, options: dict[str, Any], test_id: str, classes: str = CHART_CLASSES) -> None:
    with ui.card().classes("w-full"):
        ui.label(title).classes("text-h6")
        ui.echart(options, renderer=RENDERER).classes(classes).props(f"data-test={test_id}")


def _ranking(title: str, rows: list[tuple[str, int]], test_id: str) -> None:
    with ui.card().classes("w-full min-w-0").props(f"data-test={test_id}"):
        ui.label(title).classes("text-h6")
        if not rows:
            ui.label("None in this range.").classes("text-grey-7")
            return
        with ui.element("ol").classes("w-full list-decimal pl-6"):
            for name, plays in rows:
                with ui.element("li"):
                    with ui.row().classes("w-full justify-between no-wrap gap-2"):
                        ui.label(name).classes("truncate min-w-0")
                        ui.label(f"{plays} plays" if plays != 1 else "1 play").classes(
                            "text-grey-7 shrink-0"
                        )


def _trakt_card(data: dict[str, Any], refresh: Any) -> None:
    """Trakt's own (all-time) numbers beside the ledger's all-time totals."""
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
            ui.label(f"As of {fetched_at:%Y-%m-%d %H:%M} UTC (all time)").classes(
                "text-xs text-grey-7"
            )
        local = data["local"]
        here = {
            "movies": local["plays_by_type"]["movie"],
            "episodes": local["plays_by_type"]["episode"],
        }
        span = RANGE_LABELS[local["range"]].lower()
        with ui.row().classes("gap-4 w-full"):
            for block, names in TRAKT_NUMBERS:
                values = trakt.get(block) or {}
                with ui.card().classes("w-40 grow").props(f"data-test=trakt-{block}"):
                    ui.label(block.capitalize()).classes("font-bold")
                    for name in names:
                        ui.label(f"{name}: {values.get(name, '—')}")
                    if block in here:  # the ledger's count beside Trakt's
                        ui.label(f"here: {here[block]} plays in {span}").classes(
                            "text-xs text-grey-7"
                        ).props(f"data-test=local-{block}")


def register(ctx: AppContext) -> None:
    @ui.page("/stats", title="trakt-plugin · stats")
    async def stats_page(
        user: str | None = None,
        range: str | None = None,  # the query parameter's name (shadows the builtin here)
    ) -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        chosen: StatsRange = next((r for r in RANGES if r == range), DEFAULT_RANGE)
        loaded = await run.io_bound(_people_and_load, ctx, user, chosen)
        users, selected, data = loaded if loaded is not None else ({}, None, None)
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
            shown: dict[str, Any] = {"data": data}
            current: dict[str, StatsRange] = {"range": chosen}

            @ui.refreshable
            def numbers() -> None:
                _numbers(shown["data"])
                _trakt_card(shown["data"], refresh)

            async def change_range(value: StatsRange) -> None:
                assert selected is not None
                shown["data"] = await run.io_bound(_load, ctx, selected, value)
                current["range"] = value
                ui.navigate.history.replace(f"/stats?user={selected}&range={value}")
                numbers.refresh()

            with ui.row().classes("items-end gap-4 w-full"):
                ui.select(
                    users,
                    value=selected,
                    label="Person",
                    on_change=lambda e: ui.navigate.to(
                        f"/stats?user={e.value}&range={current['range']}"
                    ),
                ).classes("w-64 max-w-full").props("data-test=stats-user")
                with ui.column().classes("gap-1"):
                    ui.label("Range").classes("text-xs text-grey-7")
                    ui.toggle(
                        dict(RANGE_LABELS),
                        value=chosen,
                        on_change=lambda e: change_range(e.value),
                    ).props('no-caps data-test=stats-range aria-label="Range"')
            numbers()
        return None


def _numbers(data: dict[str, Any]) -> None:
    local = data["local"]
    totals = local["totals"]
    plays = "1 play" if totals["plays"] == 1 else f"{totals['plays']} plays"
    ui.label(
        f"{plays}, {totals['minutes']} minutes "
        f"({hours_text(totals['minutes'])}) in {RANGE_LABELS[local['range']].lower()}"
        + (f" ({totals['unknown_runtime']} without a known runtime)"
           if totals["unknown_runtime"] else "")
    ).props(f"data-test=stats-totals data-range={local['range']}")  # fmt: skip
    if not totals["plays"]:
        ui.label("No plays in this range.").props("data-test=stats-empty")
        return
    buckets = local["buckets"]
    _chart(
        f"Plays and watch time {BUCKET_TITLES[local['bucket']]}",
        plays_chart(buckets),
        "chart-plays",
    )
    with ui.element("div").classes("grid grid-cols-1 md:grid-cols-2 gap-4 w-full"):
        _chart(
            "Plays by weekday (UTC)",
            bars_chart(
                [d["weekday"] for d in local["by_weekday"]],
                [d["plays"] for d in local["by_weekday"]],
                "Plays",
            ),
            "chart-weekday",
            "w-full h-56",
        )
        _chart(
            "Plays by hour (UTC)",
            bars_chart(
                [f"{h['hour']:02d}" for h in local["by_hour"]],
                [h["plays"] for h in local["by_hour"]],
                "Plays",
            ),
            "chart-hour",
            "w-full h-56",
        )
        _ranking(
            "Top shows",
            [(s["show"], s["plays"]) for s in local["top_shows"]],
            "stats-top-shows",
        )
        _ranking(
            "Top movies",
            [
                (f"{m['movie']} ({m['year']})" if m["year"] else m["movie"], m["plays"])
                for m in local["top_movies"]
            ],
            "stats-top-movies",
        )
    with ui.card().classes("w-full"):
        ui.label("By source").classes("text-h6")
        ui.label(", ".join(f"{k} {v}" for k, v in local["per_source"].items())).props(
            "data-test=stats-sources"
        )
