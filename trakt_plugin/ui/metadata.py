"""Metadata lookup page: type an id, see every known id and each source's rating side by side."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import ui

from ..context import AppContext
from ..enrich import enrichment
from ..enrich.ids import ID_TYPES, KINDS, InvalidLookup, make_lookup
from ..enrich.metadata import EnrichmentOff, Metadata, NotKnown, UpstreamFailed
from .auth import login_redirect
from .theme import frame

# Display names of the rating sources, in the order shown.
SOURCES = {
    "trakt": "Trakt",
    "imdb": "IMDb",
    "tmdb": "TMDb",
    "rotten_tomatoes": "Rotten Tomatoes",
    "metascore": "Metacritic",
    "letterboxd": "Letterboxd",
    "mal": "MyAnimeList",
}


def _heading(answer: Metadata) -> str:
    item = answer.item
    if item.kind == "episode":
        show = (item.show or {}).get("title") or "?"
        return f"{show} S{item.season or 0:02d}E{item.number or 0:02d} · {item.title or ''}"
    return f"{item.title or '?'} ({item.year or '?'})"


def show_answer(answer: Metadata) -> None:
    """Ids and ratings as two tables next to each other."""
    ui.label(_heading(answer)).classes("text-h6").props("data-test=md-title")
    with ui.row().classes("w-full gap-4 items-start"):
        with ui.card().classes("w-80").props("data-test=md-ids"):
            ui.label("Ids").classes("font-bold")
            ui.table(
                columns=[
                    {"name": "kind", "label": "Id", "field": "kind", "align": "left"},
                    {"name": "value", "label": "Value", "field": "value", "align": "left"},
                ],
                rows=[{"kind": k, "value": str(v)} for k, v in answer.item.ids.items()],
                row_key="kind",
            ).props("flat dense")
        with ui.card().classes("w-96").props("data-test=md-ratings"):
            ui.label("Ratings").classes("font-bold")
            if answer.ratings is None:
                ui.label("Ratings are turned off (metadata.fetch_ratings).")
            elif not answer.ratings:
                ui.label("Trakt has no ratings for this item.")
            else:
                order = [s for s in SOURCES if s in answer.ratings]
                order += [s for s in answer.ratings if s not in SOURCES]
                ui.table(
                    columns=[
                        {"name": "source", "label": "Source", "field": "source", "align": "left"},
                        {"name": "rating", "label": "Rating", "field": "rating"},
                        {"name": "votes", "label": "Votes", "field": "votes"},
                    ],
                    rows=[
                        {
                            "source": SOURCES.get(s, s),
                            "rating": _text(answer.ratings[s].get("rating")),
                            "votes": _text(answer.ratings[s].get("votes")),
                        }
                        for s in order
                    ],
                    row_key="source",
                ).props("flat dense")
    ui.label(f"Fetched {answer.cached_at:%Y-%m-%d %H:%M} UTC").classes("text-xs text-grey-7")


def _text(value: object) -> str:
    return "—" if value is None else str(value)


def register(ctx: AppContext) -> None:
    @ui.page("/metadata", title="trakt-plugin · metadata")
    async def metadata_page() -> RedirectResponse | None:
        if redirect := await login_redirect(ctx):
            return redirect
        service = enrichment(ctx).metadata

        async def look_up() -> None:
            error.set_text("")
            result.clear()
            try:
                lookup = make_lookup(kind.value, {id_type.value: (value.value or "").strip()})
                answer = await service.lookup(lookup)
            except InvalidLookup as exc:
                error.set_text(f"{exc.field}: {exc.message}")
                return
            except (EnrichmentOff, NotKnown, UpstreamFailed) as exc:
                error.set_text(str(exc))
                return
            with result:
                show_answer(answer)

        with frame(ctx, "Metadata"):
            with ui.card().classes("w-full"):
                ui.label("Look up a movie, show or episode").classes("text-h6")
                with ui.row().classes("items-center"):
                    kind = ui.select(list(KINDS), value="movie", label="Type").props(
                        "data-test=md-kind"
                    )
                    id_type = ui.select(list(ID_TYPES), value="imdb", label="Id").props(
                        "data-test=md-id-type"
                    )
                    value = ui.input("Id, e.g. tt0133093").props("data-test=md-id")
                    value.on("keydown.enter", look_up)
                    ui.button("Look up", on_click=look_up).props("data-test=md-lookup")
                error = ui.label("").classes("text-negative").props("data-test=md-error")
            result = ui.column().classes("w-full").props("data-test=md-result")
        return None
