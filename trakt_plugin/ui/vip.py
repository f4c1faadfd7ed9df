"""Per-user VIP page (``/users/{id}/trakt``): imported lists and recommendations.

:func:`vip_link` is the entry point other pages put next to a user (e.g. the users page).
Renders from the store; the refresh button is the only thing that waits on Trakt.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from ..context import AppContext
from ..enrich import enrichment
from ..enrich.vip import FEATURES, LABELS, Feature
from ..store.models import User
from .auth import login_redirect
from .theme import frame

# Lists shown per page visit (the API pages through more).
LISTS_SHOWN = 100


def vip_link(user_id: str) -> None:
    """A link to the user's lists and recommendations page."""
    ui.link("Lists & recommendations", f"/users/{user_id}/trakt").props(
        f"data-test=vip-link-{user_id}"
    )


def item_title(item: dict[str, Any]) -> str:
    """A media item (SPEC §9.1 shape) as one line."""
    kind = item.get("type")
    if kind == "episode":
        show, episode = item.get("show") or {}, item.get("episode") or {}
        return (
            f"{show.get('title') or '?'} S{episode.get('season') or 0:02d}"
            f"E{episode.get('number') or 0:02d} {episode.get('title') or ''}"
        ).strip()
    media = item.get(str(kind)) or item
    if not isinstance(media, dict):
        media = item.get("show") or {}
    title, year = media.get("title") or "?", media.get("year")
    return f"{title} ({year})" if year else str(title)


def _load(ctx: AppContext, user_id: str) -> dict[str, Any] | None:
    with ctx.session() as session:
        user = session.get(User, user_id)
        if user is None:
            return None
        name = user.display_name
    vip = enrichment(ctx).vip
    reasons: dict[Feature, str | None] = {}
    for feature in FEATURES:
        refusal = vip.unavailable(user_id, feature)
        reasons[feature] = str(refusal) if refusal else None
    return {
        "name": name,
        "reasons": reasons,
        "lists": vip.lists_page(user_id, limit=LISTS_SHOWN)["items"]
        if reasons["lists"] is None
        else [],
        "recommendations": vip.stored_recommendations(user_id)
        if reasons["recommendations"] is None
        else None,
    }


def _lists(lists: list[dict[str, Any]]) -> None:
    if not lists:
        ui.label("No lists imported yet: press refresh.")
    for entry in lists:
        with (
            ui.expansion(f"{entry['name']} ({entry['item_count']})")
            .classes("w-full")
            .props(f"data-test=vip-list-{entry['trakt_id']}")
        ):
            for item in entry["items"]:
                ui.label(item_title(item))


def _recommendations(data: dict[str, Any]) -> None:
    with ui.row().classes("w-full gap-4 items-start"):
        for key, label in (("movies", "Movies"), ("shows", "Shows")):
            with ui.card().classes("w-80").props(f"data-test=vip-recs-{key}"):
                ui.label(label).classes("font-bold")
                picks = data.get(key) or []
                if not picks:
                    ui.label("Nothing yet: press refresh.")
                for pick in picks:
                    ui.label(item_title(pick))


def register(ctx: AppContext) -> None:
    @ui.page("/users/{user_id}/trakt", title="trakt-plugin · lists & recommendations")
    async def vip_page(user_id: str) -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        data = await run.io_bound(_load, ctx, user_id)

        async def refresh() -> None:
            await enrichment(ctx).vip.refresh_user(user_id)
            ui.navigate.reload()

        with frame(ctx, "Lists & recommendations"):
            if data is None:
                ui.label("No such person.")
                return None
            with ui.row().classes("items-center justify-between w-full"):
                ui.label(data["name"]).classes("text-h5")
                ui.button("Refresh from Trakt", icon="refresh", on_click=refresh).props(
                    "flat data-test=vip-refresh"
                )
            for feature in FEATURES:
                with ui.card().classes("w-full").props(f"data-test=vip-{feature}"):
                    ui.label(LABELS[feature]).classes("text-h6")
                    reason = data["reasons"][feature]
                    if reason:
                        ui.label(reason).classes("text-grey-8").props(
                            f"data-test=vip-reason-{feature}"
                        )
                    elif feature == "lists":
                        _lists(data["lists"])
                    else:
                        _recommendations(data["recommendations"] or {})
        return None
