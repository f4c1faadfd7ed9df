"""Overview: what is playing now (live), alerts with their fixes, one card per person, the
outbox's health and the last sync runs (SPEC §10).

Reads only the store. Now playing follows the scrobbler's recorder through :mod:`.live`: an
open page re-reads the open sessions within :data:`.live.CHECK_EVERY` seconds of a recorded
event and pushes the new cards; everything else is re-read every :data:`.live.REFRESH_EVERY`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi.responses import RedirectResponse
from nicegui import run, ui
from sqlalchemy import case, func
from sqlmodel import col, select

from ..context import AppContext
from ..posters import poster_src
from ..store.models import (
    MediaServer,
    Play,
    PlaybackSession,
    Scrobble,
    SyncRun,
    TraktConnection,
    User,
    as_utc,
    utcnow,
)
from .auth import login_redirect
from .live import CHECK_EVERY, REFRESH_EVERY, Changes, recorded_changes
from .theme import frame

STATE_COLOURS = {
    "connected": "positive",
    "pending": "warning",
    "reauth_required": "negative",
    "disconnected": "grey",
}
STATE_LABELS = {
    "connected": "connected",
    "pending": "connecting",
    "reauth_required": "sign-in needed",
    "disconnected": "not connected",
}
# Now playing shows sessions heard from this recently (a paused film can sit for a while; the
# idle finaliser closes a session without a stop after scrobble.idle_finalise).
NOW_PLAYING_WINDOW = timedelta(hours=4)
NOW_PLAYING_LIMIT = 20
# "Plays this week": the last seven days, whatever the weekday.
WEEK = timedelta(days=7)
# Sync runs looked at for the overview (the newest per person and kind decides a limit alert).
RECENT_RUNS = 20
SOURCE_LABELS = {"plex": "Plex", "jellyfin": "Jellyfin", "emby": "Emby", "revenge": "Revenge"}
# Where a Trakt plan limit is explained when the 420 answer named no upgrade page.
TRAKT_VIP_URL = "https://trakt.tv/vip"
_URL = re.compile(r"https?://\S+")


# ---------------------------------------------------------------- reads


@dataclass(frozen=True)
class NowPlaying:
    key: str  # owner and session: one card per playback
    who: str
    title: str
    item_key: str
    source: str
    progress: float | None
    paused: bool


@dataclass(frozen=True)
class Person:
    user_id: str
    display_name: str
    state: str
    username: str | None
    vip: bool
    expires_at: datetime | None
    last_error: str | None
    last_play: datetime | None
    plays_week: int


@dataclass(frozen=True)
class Alert:
    kind: str  # reauth, dead, limit, server (data-test: "<kind>-alert")
    text: str
    action: str
    target: str
    colour: str
    external: bool = False


@dataclass
class Overview:
    people: list[Person] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)
    runs: list[dict[str, str]] = field(default_factory=list)


def load_now_playing(ctx: AppContext) -> list[NowPlaying]:
    """Open sessions heard from lately, newest first: one indexed query."""
    with ctx.session() as session:
        rows = session.exec(
            select(PlaybackSession, User.display_name)
            .outerjoin(User, col(User.id) == col(PlaybackSession.owner))
            .where(
                col(PlaybackSession.open).is_(True),
                col(PlaybackSession.last_event_at) >= utcnow() - NOW_PLAYING_WINDOW,
            )
            .order_by(col(PlaybackSession.last_event_at).desc())
            .limit(NOW_PLAYING_LIMIT)
        ).all()
    playing = []
    for row, name in rows:
        state = json.loads(row.state_json)
        if not state.get("started"):
            continue
        progress = state.get("last_progress")
        playing.append(
            NowPlaying(
                key=f"{row.owner}|{row.session_key}",
                who=name or ("Unlinked account" if row.owner.startswith("identity:") else "?"),
                title=row.title or "Unknown title",
                item_key=row.item_key,
                source=row.source,
                progress=None if progress is None else max(0.0, min(100.0, float(progress))),
                paused=bool(state.get("paused")),
            )
        )
    return playing


def _people(ctx: AppContext) -> list[Person]:
    since = utcnow() - WEEK
    with ctx.session() as session:
        users = session.exec(select(User).order_by(User.display_name)).all()
        connections = {c.user_id: c for c in session.exec(select(TraktConnection)).all()}
        plays = {
            user_id: (last, int(week or 0))
            for user_id, last, week in session.exec(
                select(
                    Play.user_id,
                    func.max(Play.watched_at),
                    func.sum(case((col(Play.watched_at) >= since, 1), else_=0)),
                )
                .where(col(Play.user_id).is_not(None))
                .group_by(col(Play.user_id))
            ).all()
        }
    people = []
    for user in users:
        connection = connections.get(user.id)
        last, week = plays.get(user.id, (None, 0))
        people.append(
            Person(
                user_id=user.id,
                display_name=user.display_name,
                state=connection.state if connection else "disconnected",
                username=connection.username if connection else None,
                vip=bool(connection and connection.vip),
                expires_at=as_utc(connection.expires_at) if connection else None,
                last_error=connection.last_error if connection else None,
                last_play=as_utc(last),
                plays_week=week,
            )
        )
    return people


def outbox_counts(ctx: AppContext) -> dict[str, int]:
    """Scrobble calls per status (pending, dead, ...), plus ``parked`` (waiting for a person
    to reconnect, counted within pending)."""
    with ctx.session() as session:
        rows = session.exec(select(Scrobble.status, func.count()).group_by(Scrobble.status)).all()
        parked = session.exec(
            select(func.count())
            .select_from(Scrobble)
            .where(col(Scrobble.status) == "pending", col(Scrobble.parked_at).is_not(None))
        ).one()
    counts = {status: int(count) for status, count in rows}
    counts["parked"] = int(parked)
    return counts


def _recent_runs(ctx: AppContext) -> list[tuple[SyncRun, str]]:
    with ctx.session() as session:
        return list(
            session.exec(
                select(SyncRun, User.display_name)
                .join(User, col(User.id) == col(SyncRun.user_id))
                .order_by(col(SyncRun.created_at).desc())
                .limit(RECENT_RUNS)
            ).all()
        )


def _describe(run_: SyncRun) -> str:
    return f"{run_.kind} {run_.direction}" + (" (dry run)" if run_.dry_run else "")


def _servers_in_trouble(ctx: AppContext) -> list[MediaServer]:
    with ctx.session() as session:
        return list(
            session.exec(
                select(MediaServer).where(col(MediaServer.state) != "ok").order_by(MediaServer.name)
            ).all()
        )


def alerts_for(
    people: list[Person],
    outbox: dict[str, int],
    runs: list[tuple[SyncRun, str]],
    servers: list[MediaServer],
) -> list[Alert]:
    """Each problem with the one action that fixes it."""
    alerts = []
    reauth = [p.display_name for p in people if p.state == "reauth_required"]
    if reauth:
        alerts.append(
            Alert(
                "reauth",
                "Trakt needs you to sign in again for: "
                + ", ".join(reauth)
                + ". Their plays are kept and go out after reconnecting.",
                "Reconnect on the Users page",
                "/users",
                "negative",
            )
        )
    if outbox.get("dead"):
        alerts.append(
            Alert(
                "dead",
                f"{outbox['dead']} scrobble call(s) failed for good.",
                "Retry or discard them on the Scrobbles page",
                "/scrobbles?status=dead",
                "warning",
            )
        )
    seen: set[tuple[str, str]] = set()
    for run_, who in runs:  # newest first: the newest run per person and kind decides
        if (run_.user_id, run_.kind) in seen:
            continue
        seen.add((run_.user_id, run_.kind))
        error = run_.error or ""
        if run_.status == "partial" and "limit" in error.lower():
            url = _URL.search(error)
            alerts.append(
                Alert(
                    "limit",
                    f"{who}: {_describe(run_)} stopped at a Trakt plan limit. {error}",
                    "What the plans allow" if url else "About Trakt VIP plans",
                    url.group(0).rstrip(".,;)") if url else TRAKT_VIP_URL,
                    "warning",
                    external=True,
                )
            )
    for server in servers:
        problem = "refuses its token" if server.state == "unauthorized" else "cannot be reached"
        detail = f" ({server.last_error})" if server.last_error else ""
        alerts.append(
            Alert(
                "server",
                f"{SOURCE_LABELS.get(server.kind, server.kind)} server {server.name} "
                f"{problem}{detail}.",
                "Check it on the Servers page",
                "/servers",
                "negative",
            )
        )
    return alerts


def load_overview(ctx: AppContext) -> Overview:
    people = _people(ctx)
    outbox = outbox_counts(ctx)
    runs = _recent_runs(ctx)
    return Overview(
        people=people,
        alerts=alerts_for(people, outbox, runs, _servers_in_trouble(ctx)),
        outbox=outbox,
        runs=[
            {"who": who, "what": _describe(r), "status": r.status, "error": r.error or ""}
            for r, who in runs[:5]
        ],
    )


# ---------------------------------------------------------------- views


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = max(0, int((utcnow() - value).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def poster(item_key: str, title: str, size: str = "w-16 h-24") -> None:
    """The item's poster from the service, over a neutral placeholder (shown until it loads,
    and when there is none)."""
    with ui.element("div").classes(
        f"{size} shrink-0 rounded overflow-hidden bg-grey-4 relative flex items-center "
        "justify-center"
    ):
        ui.icon("movie", size="md").classes("text-grey-6 absolute")
        img = ui.element("img").classes("w-full h-full object-cover relative")
        # Hidden when the service has no image (yet): the placeholder behind it shows.
        img.props.update(
            src=poster_src(item_key),
            alt=f"Poster: {title}",
            loading="lazy",
            onerror="this.style.visibility='hidden'",
        )


def playing_card(item: NowPlaying) -> None:
    state = "Paused" if item.paused else "Playing"
    card = ui.card().classes("w-full p-3").props("data-test=now-playing-card")
    card.props.update({"data-session": item.key})
    with card:
        with ui.row().classes("w-full items-start gap-3 no-wrap"):
            poster(item.item_key, item.title)
            with ui.column().classes("gap-1 grow min-w-0"):
                ui.label(item.title).classes("font-bold break-words w-full").mark("playing-title")
                ui.label(item.who).classes("text-sm")
                with ui.row().classes("items-center gap-1"):
                    ui.icon("pause" if item.paused else "play_arrow").props(f'aria-label="{state}"')
                    ui.label(state).classes("text-xs").props("data-test=playing-state")
                    ui.badge(SOURCE_LABELS.get(item.source, item.source), color="grey-7").props(
                        "data-test=playing-source"
                    )
                if item.progress is not None:
                    bar = ui.linear_progress(value=item.progress / 100, show_value=False)
                    bar.classes("w-full").props("data-test=playing-progress")
                    bar.props.update({"aria-label": f"Progress of {item.title}"})
                    ui.label(f"{item.progress:.0f} %").classes("text-xs").props(
                        "data-test=playing-percent"
                    )


def now_playing_cards(items: list[NowPlaying]) -> None:
    with ui.column().classes("w-full gap-2").props("data-test=now-playing"):
        ui.label("Now playing").classes("text-h6")
        if not items:
            ui.label("Nothing is playing.").classes("text-grey").props("data-test=nothing-playing")
            return
        with (
            ui.element("div")
            .classes("w-full grid gap-3")
            .style("grid-template-columns: repeat(auto-fill, minmax(min(100%, 300px), 1fr))")
        ):
            for item in items:
                playing_card(item)


def alert_card(alert: Alert) -> None:
    tint = "bg-red-1" if alert.colour == "negative" else "bg-orange-1"
    with ui.card().classes(f"w-full {tint}").props(f"data-test={alert.kind}-alert"):
        ui.label(alert.text).classes("break-words w-full")
        ui.link(alert.action, alert.target, new_tab=alert.external).props(
            f"data-test={alert.kind}-fix"
        )


def person_card(person: Person) -> None:
    with ui.card().classes("w-full").props(f"data-test=user-card-{person.user_id}"):
        with ui.row().classes("items-center justify-between w-full no-wrap"):
            ui.label(person.display_name).classes("text-lg font-bold break-words min-w-0")
            if person.vip:
                ui.badge("VIP", color="amber").props("data-test=vip-badge")
        ui.badge(
            STATE_LABELS.get(person.state, person.state.replace("_", " ")),
            color=STATE_COLOURS.get(person.state, "grey"),
        ).props("data-test=connection-state")
        if person.username:
            ui.label(f"Trakt: {person.username}").classes("break-all")
        if person.expires_at:
            ui.label(f"Token renews before {person.expires_at:%Y-%m-%d %H:%M} UTC").classes(
                "text-xs"
            )
        ui.label(f"Last play: {_ago(person.last_play)}").classes("text-sm").props(
            "data-test=last-play"
        )
        ui.label(f"Plays this week: {person.plays_week}").classes("text-sm").props(
            "data-test=plays-week"
        )
        if person.last_error:
            ui.label(person.last_error).classes("text-xs text-negative break-words w-full")


def outbox_card(outbox: dict[str, int]) -> None:
    waiting, parked = outbox.get("pending", 0), outbox.get("parked", 0)
    dead = outbox.get("dead", 0)
    healthy = not dead and waiting == parked == 0
    with ui.card().classes("w-full").props("data-test=outbox-health"):
        with ui.row().classes("items-center gap-2"):
            ui.icon("check_circle" if healthy else "error_outline").classes(
                "text-positive" if healthy else "text-warning"
            ).props(f'aria-label="{"healthy" if healthy else "needs a look"}"')
            ui.label("Scrobble outbox").classes("text-h6")
        ui.label(
            f"Outbox: {waiting} waiting"
            + (f" ({parked} until a reconnect)" if parked else "")
            + f", {outbox.get('sent', 0)} sent, {dead} failed"
        ).classes("text-sm")
        ui.link("Open the Scrobbles page", "/scrobbles").classes("text-sm")


def runs_card(runs: list[dict[str, str]]) -> None:
    with ui.card().classes("w-full").props("data-test=last-runs"):
        ui.label("Last syncs").classes("text-h6")
        if not runs:
            ui.label("No sync has run yet.").classes("text-grey")
        for entry in runs:
            with ui.row().classes("items-center gap-2 w-full"):
                ui.label(
                    f"{entry['who']}: {entry['what']} — {entry['status']} {entry['error']}"
                ).classes("text-sm break-words min-w-0")
                if entry["status"] == "partial" and "limit" in entry["error"].lower():
                    ui.badge("plan limit", color="orange")
        ui.link("All runs", "/sync")


def overview_body(data: Overview) -> None:
    for alert in data.alerts:
        alert_card(alert)
    ui.label("People").classes("text-h6").mark("overview-title")
    if not data.people:
        with ui.card().props("data-test=no-users"):
            ui.label("No people yet.")
            ui.link("Add the first person on the Users page", "/users")
    with (
        ui.element("div")
        .classes("w-full grid gap-3")
        .style("grid-template-columns: repeat(auto-fill, minmax(min(100%, 260px), 1fr))")
    ):
        for person in data.people:
            person_card(person)
    with (
        ui.element("div")
        .classes("w-full grid gap-3")
        .style("grid-template-columns: repeat(auto-fit, minmax(min(100%, 320px), 1fr))")
    ):
        outbox_card(data.outbox)
        runs_card(data.runs)


def register(ctx: AppContext) -> None:
    changes: Changes = recorded_changes(ctx)

    @ui.page("/", title="trakt-plugin · overview")
    async def overview_page() -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        shown = changes.version  # read before the store: a change meanwhile shows next tick
        playing = await run.io_bound(load_now_playing, ctx) or []
        data = await run.io_bound(load_overview, ctx) or Overview()
        last_full = utcnow()

        @ui.refreshable
        def playing_view(items: list[NowPlaying]) -> None:
            now_playing_cards(items)

        @ui.refreshable
        def body_view(data: Overview) -> None:
            overview_body(data)

        async def follow() -> None:
            nonlocal shown, last_full
            version = changes.version
            if version != shown:
                shown = version
                playing_view.refresh(await run.io_bound(load_now_playing, ctx) or [])
            if utcnow() - last_full >= timedelta(seconds=REFRESH_EVERY):
                last_full = utcnow()
                playing_view.refresh(await run.io_bound(load_now_playing, ctx) or [])
                body_view.refresh(await run.io_bound(load_overview, ctx) or Overview())

        with frame(ctx, "Overview"):
            playing_view(playing)
            body_view(data)
        ui.timer(CHECK_EVERY, follow)
        return None
