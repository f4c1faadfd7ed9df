"""Scrobbles page: recent webhook events and the outbox (retry / discard); "now playing"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import run, ui
from sqlmodel import select

from ..context import AppContext
from ..store import scrobble_repo
from ..store.models import User, as_utc, utcnow
from .auth import guarded, login_redirect
from .theme import frame

# "Now playing" shows sessions heard from this recently (a paused film can sit for a while).
NOW_PLAYING_WINDOW = timedelta(hours=4)
RECENT_EVENTS = 50
OUTBOX_ROWS = 100
STATUS_COLOURS = {
    "pending": "warning",
    "sent": "positive",
    "skipped": "grey",
    "dead": "negative",
    "discarded": "grey-5",
}


@dataclass
class Playing:
    who: str
    title: str
    source: str
    progress: float | None
    paused: bool
    last_event_at: datetime | None


def _names(ctx: AppContext) -> dict[str, str]:
    with ctx.session() as session:
        return {u.id: u.display_name for u in session.exec(select(User)).all()}


def load_now_playing(ctx: AppContext) -> list[Playing]:
    names = _names(ctx)
    with ctx.session() as session:
        rows = scrobble_repo.open_sessions(session, since=utcnow() - NOW_PLAYING_WINDOW)
    playing = []
    for row in rows:
        state = json.loads(row.state_json)
        if not state.get("started"):
            continue
        who = names.get(row.owner, "unlinked" if row.owner.startswith("identity:") else "?")
        playing.append(
            Playing(
                who=who,
                title=row.title or "?",
                source=row.source,
                progress=state.get("last_progress"),
                paused=bool(state.get("paused")),
                last_event_at=as_utc(row.last_event_at),
            )
        )
    return playing


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else ""


async def now_playing(ctx: AppContext) -> None:
    """A card listing what is playing now (for the overview page)."""
    playing = await run.io_bound(load_now_playing, ctx) or []
    with ui.card().classes("w-full").props("data-test=now-playing"):
        ui.label("Now playing").classes("text-h6")
        if not playing:
            ui.label("Nothing is playing.").classes("text-grey")
        for item in playing:
            with ui.row().classes("items-center gap-2"):
                ui.icon("pause" if item.paused else "play_arrow")
                ui.label(f"{item.who}: {item.title}").classes("font-bold")
                if item.progress is not None:
                    ui.linear_progress(value=item.progress / 100, show_value=False).classes("w-32")
                    ui.label(f"{item.progress:.0f} %")
                ui.label(f"via {item.source}").classes("text-xs text-grey")


def load_page(
    ctx: AppContext, status: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    names = _names(ctx)
    with ctx.session() as session:
        events = [
            {
                "id": e.id,
                "received": _when(as_utc(e.received_at)),
                "source": e.source,
                "who": names.get(e.user_id or "", "unlinked" if e.user_id is None else "?"),
                "kind": e.kind,
                "title": e.title or "",
                "progress": "" if e.progress is None else f"{e.progress:.0f} %",
                "note": e.note,
            }
            for e in scrobble_repo.recent_events(session, limit=RECENT_EVENTS)
        ]
        rows = [
            {
                "id": r.id,
                "created": _when(as_utc(r.created_at)),
                "who": names.get(r.user_id, "?"),
                "action": r.action,
                "status": r.status + (" (waiting for reconnect)" if r.parked_at else ""),
                "attempts": r.attempts,
                "title": _item_title(json.loads(r.item)),
                "error": r.last_error or "",
                "raw_status": r.status,
            }
            for r in scrobble_repo.list_scrobbles(session, status=status, limit=OUTBOX_ROWS)
        ]
    return events, rows


def _item_title(item: dict[str, Any]) -> str:
    if item.get("type") == "movie":
        movie = item.get("movie") or {}
        return f"{movie.get('title') or '?'} ({movie.get('year') or '?'})"
    show = item.get("show") or {}
    episode = item.get("episode") or {}
    return f"{show.get('title') or '?'} S{episode.get('season')}E{episode.get('number')}"


def register(ctx: AppContext) -> None:
    @ui.page("/scrobbles", title="trakt-plugin · scrobbles")
    async def scrobbles_page(status: str | None = None) -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        wanted = status if status in scrobble_repo.STATUSES else None
        events, rows = await run.io_bound(load_page, ctx, wanted) or ([], [])
        service = ctx.services["scrobbling"]

        async def retry(row_id: int) -> None:
            try:
                row = await run.io_bound(service.retry, row_id)
            except Exception as exc:
                ui.notify(str(exc), type="warning")
                return
            if row is not None:
                service.drain.wake(row.user_id)
            ui.navigate.reload()

        async def discard(row_id: int) -> None:
            try:
                await run.io_bound(service.discard, row_id)
            except Exception as exc:
                ui.notify(str(exc), type="warning")
                return
            ui.navigate.reload()

        checked_retry, checked_discard = guarded(ctx, retry), guarded(ctx, discard)

        with frame(ctx, "Scrobbles"):
            await now_playing(ctx)
            with ui.card().classes("w-full").props("data-test=outbox"):
                with ui.row().classes("items-center gap-2"):
                    ui.label("Outbox").classes("text-h6")
                    for name in ("all", *scrobble_repo.STATUSES):
                        target = "/scrobbles" if name == "all" else f"/scrobbles?status={name}"
                        ui.link(name, target).classes("text-sm")
                if not rows:
                    ui.label("No calls to Trakt yet.").classes("text-grey")
                else:
                    ui.label(
                        "Discard drops a call for good: it is not sent, and its play is never"
                        " exported by a sync."
                    ).classes("text-xs text-grey").props("data-test=discard-note")
                for row in rows:
                    with (
                        ui.row()
                        .classes("items-center gap-2 w-full")
                        .props(f"data-test=scrobble-{row['id']}")
                    ):
                        ui.badge(row["status"], color=STATUS_COLOURS.get(row["raw_status"], "grey"))
                        ui.label(f"{row['created']} {row['who']}: {row['action']} {row['title']}")
                        ui.label(f"attempts {row['attempts']}").classes("text-xs")
                        if row["error"]:
                            ui.label(row["error"]).classes("text-xs text-negative")
                        if row["raw_status"] in ("dead", "pending"):
                            ui.button("Retry", on_click=lambda r=row["id"]: checked_retry(r)).props(
                                "dense flat data-test=retry"
                            )
                        if row["raw_status"] in ("dead", "pending", "skipped"):
                            ui.button(
                                "Discard", on_click=lambda r=row["id"]: checked_discard(r)
                            ).props("dense flat color=negative data-test=discard")
            with ui.card().classes("w-full").props("data-test=recent-events"):
                ui.label("Recent events").classes("text-h6")
                columns = [
                    {"name": key, "label": key.title(), "field": key}
                    for key in ("received", "source", "who", "kind", "title", "progress", "note")
                ]
                ui.table(columns=columns, rows=events, row_key="id").classes("w-full")
        return None
