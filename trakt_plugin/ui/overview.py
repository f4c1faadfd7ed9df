"""Overview: each user's connection card and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi.responses import RedirectResponse
from nicegui import run, ui
from sqlalchemy import func
from sqlmodel import col, select

from ..context import AppContext
from ..store.models import Scrobble, SyncRun, TraktConnection, User, as_utc
from .auth import login_redirect
from .scrobbles import now_playing
from .theme import frame

STATE_COLOURS = {
    "connected": "positive",
    "pending": "warning",
    "reauth_required": "negative",
    "disconnected": "grey",
}


@dataclass
class UserCard:
    user_id: str
    display_name: str
    state: str
    username: str | None
    vip: bool
    expires_at: datetime | None
    last_error: str | None


def outbox_counts(ctx: AppContext) -> dict[str, int]:
    """Scrobble calls per status (pending, dead, ...)."""
    with ctx.session() as session:
        rows = session.exec(select(Scrobble.status, func.count()).group_by(Scrobble.status)).all()
    return {status: int(count) for status, count in rows}


def last_runs(ctx: AppContext, limit: int = 5) -> list[dict[str, str]]:
    """The latest sync runs, newest first, for the overview."""
    with ctx.session() as session:
        rows = session.exec(
            select(SyncRun, User.display_name)
            .join(User, col(User.id) == col(SyncRun.user_id))
            .order_by(col(SyncRun.created_at).desc())
            .limit(limit)
        ).all()
    return [
        {
            "who": name,
            "what": f"{run.kind} {run.direction}" + (" (dry run)" if run.dry_run else ""),
            "status": run.status,
            "error": run.error or "",
        }
        for run, name in rows
    ]


def load_cards(ctx: AppContext) -> list[UserCard]:
    with ctx.session() as session:
        users = session.exec(select(User).order_by(User.display_name)).all()
        connections = {c.user_id: c for c in session.exec(select(TraktConnection)).all()}
    cards = []
    for user in users:
        connection = connections.get(user.id)
        cards.append(
            UserCard(
                user_id=user.id,
                display_name=user.display_name,
                state=connection.state if connection else "disconnected",
                username=connection.username if connection else None,
                vip=bool(connection and connection.vip),
                expires_at=as_utc(connection.expires_at) if connection else None,
                last_error=connection.last_error if connection else None,
            )
        )
    return cards


def connection_card(card: UserCard) -> None:
    with ui.card().classes("w-72").props(f"data-test=user-card-{card.user_id}"):
        with ui.row().classes("items-center justify-between w-full"):
            ui.label(card.display_name).classes("text-lg font-bold")
            if card.vip:
                ui.badge("VIP", color="amber")
        ui.badge(card.state.replace("_", " "), color=STATE_COLOURS.get(card.state, "grey"))
        if card.username:
            ui.label(f"Trakt: {card.username}")
        if card.expires_at:
            ui.label(f"Token renews before {card.expires_at:%Y-%m-%d %H:%M} UTC").classes("text-xs")
        if card.last_error:
            ui.label(card.last_error).classes("text-xs text-negative")


def register(ctx: AppContext) -> None:
    @ui.page("/", title="trakt-plugin · overview")
    async def overview_page() -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        cards = await run.io_bound(load_cards, ctx) or []
        with frame(ctx, "Overview"):
            needing_reauth = [c.display_name for c in cards if c.state == "reauth_required"]
            if needing_reauth:
                with ui.card().classes("w-full bg-red-1").props("data-test=reauth-alert"):
                    ui.label(
                        "Trakt needs you to sign in again for: "
                        + ", ".join(needing_reauth)
                        + ". Their plays are kept and go out after reconnecting."
                    )
            outbox = await run.io_bound(outbox_counts, ctx) or {}
            if outbox.get("dead"):
                with ui.card().classes("w-full bg-orange-1").props("data-test=dead-alert"):
                    ui.label(f"{outbox['dead']} scrobble call(s) failed for good.")
                    ui.link("Retry or discard them on the Scrobbles page", "/scrobbles")
            await now_playing(ctx)
            ui.label(
                f"Outbox: {outbox.get('pending', 0)} waiting, {outbox.get('sent', 0)} sent, "
                f"{outbox.get('dead', 0)} failed"
            ).classes("text-sm text-grey-8")
            runs = await run.io_bound(last_runs, ctx) or []
            with ui.card().classes("w-full").props("data-test=last-runs"):
                ui.label("Last syncs").classes("text-h6")
                if not runs:
                    ui.label("No sync has run yet.").classes("text-grey")
                for entry in runs:
                    ui.label(
                        f"{entry['who']}: {entry['what']} — {entry['status']} {entry['error']}"
                    ).classes("text-sm")
                    if entry["status"] == "partial" and "limit" in entry["error"].lower():
                        ui.badge("plan limit", color="orange")
                ui.link("All runs", "/sync")
            ui.label("People").classes("text-h6").mark("overview-title")
            if not cards:
                with ui.card().props("data-test=no-users"):
                    ui.label("No people yet.")
                    ui.link("Add the first person on the Users page", "/users")
            with ui.row().classes("gap-4"):
                for card in cards:
                    connection_card(card)
        return None
