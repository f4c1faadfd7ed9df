"""Sync page: per user "Sync now" (kind — the watched kind per media server —, direction,
dry-run preview), live progress, run history with per-item detail, and undo of export runs.
Reads the store; runs go through the service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi.responses import RedirectResponse
from nicegui import run, ui
from sqlmodel import select

from ..api.sync import RUN, run_public
from ..context import AppContext
from ..store.models import MediaServer, TraktConnection, User
from ..sync import SyncError, SyncService
from .auth import guarded, login_redirect
from .theme import frame

KIND_OPTIONS = {"all": "Everything", "history": "History", "watchlist": "Watchlist",
                "ratings": "Ratings", "watched": "Watched on media servers"}  # fmt: skip
ALL_SERVERS = ""  # the server select's "every server" value
DIRECTION_OPTIONS = {"bidirectional": "Both ways", "import": "Import from Trakt",
                     "export": "Export to Trakt"}  # fmt: skip
STATUS_COLOURS = {"queued": "grey", "running": "primary", "succeeded": "positive",
                  "partial": "warning", "failed": "negative"}  # fmt: skip
# Run history shown on the page, and items shown per run in the detail dialog.
RECENT_RUNS = 25
DETAIL_ITEMS = 300
REFRESH_SECONDS = 1.0


@dataclass
class Person:
    user_id: str
    name: str
    connected: bool


def describe(item: dict[str, Any]) -> str:
    """A short human name of a run item."""
    if "trakt_history_id" in item and len(item) == 1:
        return f"play #{item['trakt_history_id']}"
    kind = item.get("type")
    when = f" · {item['watched_at'][:16].replace('T', ' ')}" if item.get("watched_at") else ""
    if kind == "episode":
        show = (item.get("show") or {}).get("title") or "?"
        episode = item.get("episode") or {}
        return f"{show} S{episode.get('season') or 0:02d}E{episode.get('number') or 0:02d}{when}"
    media = item.get(kind or "movie") or {}
    year = f" ({media['year']})" if media.get("year") else ""
    return f"{media.get('title') or '?'}{year}{when}"


def _people(ctx: AppContext) -> list[Person]:
    with ctx.session() as session:
        users = session.exec(select(User).order_by(User.display_name)).all()
        connected = {
            c.user_id for c in session.exec(select(TraktConnection)).all() if c.state == "connected"
        }
    return [Person(u.id, u.display_name, u.id in connected) for u in users]


def _servers(ctx: AppContext) -> dict[str, str]:
    """The server select's options: every server, then each by name."""
    with ctx.session() as session:
        rows = session.exec(select(MediaServer).order_by(MediaServer.name)).all()
    return {ALL_SERVERS: "Every server", **{r.id: f"{r.name} ({r.kind})" for r in rows}}


def _runs(
    ctx: AppContext, user_id: str | None = None, limit: int = RECENT_RUNS
) -> list[dict[str, Any]]:
    query = sa.select(RUN).order_by(RUN.c.created_at.desc()).limit(limit)
    if user_id is not None:
        query = query.where(RUN.c.user_id == user_id)
    with ctx.engine.connect() as conn:
        return [run_public(conn, row, items_limit=0) for row in conn.execute(query)]


def _run(ctx: AppContext, run_id: str) -> dict[str, Any] | None:
    with ctx.engine.connect() as conn:
        row = conn.execute(sa.select(RUN).where(RUN.c.id == run_id)).first()
        return run_public(conn, row, items_limit=DETAIL_ITEMS) if row is not None else None


def _counts(data: dict[str, Any]) -> str:
    counts = data["counts"]
    return ", ".join(f"{name} {value}" for name, value in counts.items() if value) or "no changes"


def register(ctx: AppContext) -> None:
    service: SyncService = ctx.services["sync"]

    @ui.page("/sync", title="trakt-plugin · sync")
    async def sync_page() -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        people = await run.io_bound(_people, ctx) or []
        servers = await run.io_bound(_servers, ctx) or {ALL_SERVERS: "Every server"}
        names = {p.user_id: p.name for p in people}
        with frame(ctx, "Sync"):
            ui.label("Sync with Trakt").classes("text-h6").mark("sync-title")
            if not people:
                ui.label("No people yet: add them on the Users page.")
            for person in people:
                _person_card(ctx, service, person, servers)
            ui.label("Runs").classes("text-h6")
            _run_history(ctx, service, names)
        return None


def _person_card(
    ctx: AppContext, service: SyncService, person: Person, servers: dict[str, str]
) -> None:
    with ui.card().classes("w-full").props(f"data-test=sync-user-{person.user_id}"):
        with ui.row().classes("items-center w-full gap-4"):
            ui.label(person.name).classes("text-lg font-bold")
            kind = ui.select(KIND_OPTIONS, value="all", label="What").classes("w-36")
            kind.props("data-test=sync-kind")
            direction = ui.select(DIRECTION_OPTIONS, value="bidirectional", label="Direction")
            direction.classes("w-44").props("data-test=sync-direction")
            server = ui.select(servers, value=ALL_SERVERS, label="Media server").classes("w-44")
            server.props("data-test=sync-server").bind_visibility_from(
                kind, "value", backward=lambda value: value == "watched"
            )
            dry_run = ui.checkbox("Dry run (preview only)").props("data-test=sync-dry-run")
            button = ui.button("Sync now").props("data-test=sync-now")
            if not person.connected:
                button.disable()
                ui.label("Connect Trakt on the Users page first.").classes("text-xs")
        status = ui.label("").classes("text-sm").props("data-test=sync-status")
        bar = ui.linear_progress(value=0, show_value=False).props("data-test=sync-progress")
        bar.visible = False

        async def start() -> None:
            try:
                await service.request(
                    person.user_id,
                    kind.value,
                    direction.value,
                    dry_run=bool(dry_run.value),
                    server_id=(server.value or None) if kind.value == "watched" else None,
                )
            except SyncError as exc:
                ui.notify(str(exc), type="warning")
                return
            await refresh()

        async def refresh() -> None:
            runs = await run.io_bound(_runs, ctx, person.user_id, 1) or []  # the latest only
            if not runs:
                status.text = "No runs yet."
                return
            latest = runs[0]
            active = latest["status"] in ("queued", "running")
            progress = latest["progress"]
            bar.visible = active
            bar.value = progress["done"] / progress["total"] if progress["total"] else 0.0
            label = "dry run" if latest["dry_run"] else latest["direction"]
            text = f"Last run: {latest['kind']} ({label}) {latest['status']} · {_counts(latest)}"
            if latest["error"]:
                text += f" · {latest['error']}"
            status.text = text

        button.on_click(guarded(ctx, start))
        ui.timer(REFRESH_SECONDS, refresh)


def _run_history(ctx: AppContext, service: SyncService, names: dict[str, str]) -> None:
    container = ui.column().classes("w-full gap-2").props("data-test=sync-runs")

    async def show(run_id: str) -> None:
        data = await run.io_bound(_run, ctx, run_id)
        if data is None:
            return
        with ui.dialog() as dialog, ui.card().classes("w-full max-w-3xl"):
            ui.label(f"{data['kind']} · {data['direction']} · {data['status']}").classes("text-h6")
            ui.label(_counts(data) + f" · {data['requests']} requests")
            if data["error"]:
                ui.label(data["error"]).classes("text-negative").props("data-test=run-error")
            rows = [
                {
                    "action": item["action"],
                    "kind": item["kind"],
                    "item": describe(item["item"]),
                    "outcome": item["outcome"],
                    "detail": item.get("detail") or "",
                }
                for item in data["items"]
            ]
            columns = [{"name": c, "label": c.title(), "field": c} for c in rows[0]] if rows else []
            if rows:
                ui.table(columns=columns, rows=rows, pagination=20).classes("w-full")
            else:
                ui.label("No item changed.")
            ui.button("Close", on_click=dialog.close)
        dialog.open()

    async def undo(run_id: str) -> None:
        try:
            await service.undo(run_id)
        except SyncError as exc:
            ui.notify(str(exc), type="warning")
            return
        ui.notify("Undo started")
        await refresh()

    async def refresh() -> None:
        runs = await run.io_bound(_runs, ctx) or []
        container.clear()
        with container:
            for data in runs:
                _run_row(data, names, show, guarded(ctx, undo))

    ui.timer(REFRESH_SECONDS * 2, refresh)


def _run_row(data: dict[str, Any], names: dict[str, str], show: Any, undo: Any) -> None:
    with ui.row().classes("items-center w-full gap-3").props(f"data-test=run-{data['id']}"):
        ui.badge(data["status"], color=STATUS_COLOURS.get(data["status"], "grey"))
        started = (data["started_at"] or "")[:16].replace("T", " ")
        what = f"{names.get(data['user_id'], '?')} · {data['kind']} · {data['direction']}"
        if data["dry_run"]:
            what += " · dry run"
        if data["undo_of"]:
            what += " · undo"
        ui.label(f"{started} {what}").classes("text-sm")
        ui.label(_counts(data) + f" · {data['requests']} requests").classes("text-xs")
        if data["error"]:
            ui.label(data["error"]).classes("text-xs text-negative")
        ui.button("Details", on_click=lambda r=data["id"]: show(r)).props("flat dense")
        counts = data["counts"]
        undoable = (
            data["status"] in ("succeeded", "partial")
            and not data["dry_run"]
            and not data["undo_of"]
            and (
                (data["direction"] in ("export", "bidirectional") and counts["added"])
                or counts.get("marked")
                or counts.get("unmarked")
            )
        )
        if undoable:
            ui.button("Undo", on_click=lambda r=data["id"]: undo(r)).props(
                "flat dense color=negative data-test=undo-run"
            )
