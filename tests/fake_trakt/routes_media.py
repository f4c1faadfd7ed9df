"""Fake routes beyond scrobble/history: watchlist, ratings, search, summaries, stats, lists.

Registered on import (app.py imports this module); same helpers and gate as app.py.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import JSONResponse, Response

from .app import Ctx, HTTPError, _episode_by_number, _page, _resolve, over_limit, route
from .state import FakeTrakt, Item, ListEntry, iso

# Trakt caps recommendations at 100 per call (docs §5.4).
RECOMMENDATIONS_CAP = 100
KINDS = {"movies": "movie", "shows": "show", "episodes": "episode"}


def _items_in(
    fake: FakeTrakt, body: Any, not_found: dict[str, list[Any]]
) -> list[tuple[Item, Any]]:
    """(item, the object sent) for movies/shows/episodes of a write body; misses → not_found."""
    if not isinstance(body, dict):
        raise HTTPError(400)
    out: list[tuple[Item, Any]] = []
    for plural, kind in KINDS.items():
        for obj in body.get(plural) or []:
            item = _resolve(fake, kind, obj)
            if item is None:
                not_found[plural].append(obj)
            else:
                out.append((item, obj))
    return out


def _rated_in(
    fake: FakeTrakt, body: Any, not_found: dict[str, list[Any]]
) -> list[tuple[Item, Any]]:
    """`_items_in`, but a show with `seasons[].episodes[]` names those episodes (each object
    with its own `rating`); a missing one is echoed as its show with just that episode."""
    if not isinstance(body, dict):
        raise HTTPError(400)
    nested = [s for s in body.get("shows") or [] if isinstance(s, dict) and s.get("seasons")]
    flat = {**body, "shows": [s for s in body.get("shows") or [] if s not in nested]}
    out = _items_in(fake, flat, not_found)
    for show_obj in nested:
        show = _resolve(fake, "show", show_obj)
        for season in show_obj["seasons"]:
            for episode in season.get("episodes") or []:
                number = season.get("number"), episode.get("number")
                item = _episode_by_number(fake, show, *number) if show is not None else None
                if item is None:
                    echo = {"number": season.get("number"), "episodes": [episode]}
                    not_found["shows"].append({"ids": show_obj.get("ids"), "seasons": [echo]})
                else:
                    out.append((item, episode))
    return out


def _not_found() -> dict[str, list[Any]]:
    return {"movies": [], "shows": [], "seasons": [], "episodes": []}


def _counts() -> dict[str, int]:
    return {"movies": 0, "shows": 0, "seasons": 0, "episodes": 0}


def _slug_user(ctx: Ctx) -> str:
    slug = ctx.params["slug"]
    if slug == "me":
        if ctx.user is None:
            raise HTTPError(401, {"error": "invalid_token"})
        return ctx.user
    for user in ctx.fake.users.values():
        if user.slug == slug:
            return user.username
    raise HTTPError(404)


# ---------------------------------------------------------------------- watchlist


async def _get_watchlist(ctx: Ctx) -> Response:
    assert ctx.user is not None
    kind = ctx.params.get("type")
    entries = ctx.fake.watchlists.get(ctx.user, [])
    if kind is not None:
        if kind not in KINDS:
            raise HTTPError(404)
        entries = [e for e in entries if e.item.type == KINDS[kind]]
    response = _page(ctx, [e.as_json(rank) for rank, e in enumerate(entries, 1)])
    response.headers["X-Sort-By"] = "rank"
    response.headers["X-Sort-How"] = "asc"
    return response


route("GET", "/sync/watchlist")(_get_watchlist)
route("GET", "/sync/watchlist/{type}")(_get_watchlist)


@route("POST", "/sync/watchlist")
async def add_watchlist(ctx: Ctx) -> Response:
    fake, username = ctx.fake, ctx.user
    assert username is not None
    not_found = _not_found()
    added, existing = _counts(), _counts()
    entries = fake.watchlists.setdefault(username, [])
    for item, _obj in _items_in(fake, ctx.body, not_found):
        if any(e.item is item for e in entries):
            existing[f"{item.type}s"] += 1
            continue
        over_limit(fake, username, "watchlist", len(entries) + 1)
        fake.add_to_watchlist(username, item)
        added[f"{item.type}s"] += 1
    body = {
        "added": added,
        "existing": existing,
        "not_found": not_found,
        "list": {"updated_at": iso(fake.clock()), "item_count": len(entries)},
    }
    return JSONResponse(body, status_code=201)


@route("POST", "/sync/watchlist/remove")
async def remove_watchlist(ctx: Ctx) -> Response:
    fake, username = ctx.fake, ctx.user
    assert username is not None
    not_found, deleted = _not_found(), _counts()
    entries = fake.watchlists.setdefault(username, [])
    for item, obj in _items_in(fake, ctx.body, not_found):
        kept = [e for e in entries if e.item is not item]
        if len(kept) == len(entries):
            not_found[f"{item.type}s"].append(obj)
        else:
            deleted[f"{item.type}s"] += 1
            entries[:] = kept
    fake.touch(username, "watchlist", "updated_at")
    body = {
        "deleted": deleted,
        "not_found": not_found,
        "list": {"updated_at": iso(fake.clock()), "item_count": len(entries)},
    }
    return JSONResponse(body)


# ---------------------------------------------------------------------- user ratings


async def _get_ratings(ctx: Ctx) -> Response:
    fake, username = ctx.fake, ctx.user
    assert username is not None
    kind = ctx.params.get("type")
    mine = fake.ratings.get(username, {})
    out = []
    for item in fake.items:
        if id(item) not in mine or (kind is not None and KINDS.get(kind) != item.type):
            continue
        rating, rated_at = mine[id(item)]
        out.append({"rated_at": iso(rated_at), "rating": rating, "type": item.type, **item.media()})
    return _page(ctx, out)


route("GET", "/sync/ratings")(_get_ratings)
route("GET", "/sync/ratings/{type}")(_get_ratings)


@route("POST", "/sync/ratings")
async def add_ratings(ctx: Ctx) -> Response:
    fake, username = ctx.fake, ctx.user
    assert username is not None
    not_found, added, existing = _not_found(), _counts(), _counts()
    mine = fake.ratings.setdefault(username, {})
    rated = _rated_in(fake, ctx.body, not_found)
    if rated:
        over_limit(fake, username, "ratings", len(mine) + len(rated))
    for item, obj in rated:
        rating = obj.get("rating")
        if not isinstance(rating, int) or not 1 <= rating <= 10:
            not_found[f"{item.type}s"].append(obj)
            continue
        if mine.get(id(item), (None,))[0] == rating:  # already rated so: nothing changes
            existing[f"{item.type}s"] += 1
            continue
        fake.rate(username, item, rating)
        added[f"{item.type}s"] += 1
    body = {"added": added, "existing": existing, "not_found": not_found}
    return JSONResponse(body, status_code=201)


@route("POST", "/sync/ratings/remove")
async def remove_ratings(ctx: Ctx) -> Response:
    fake, username = ctx.fake, ctx.user
    assert username is not None
    not_found, deleted = _not_found(), _counts()
    mine = fake.ratings.setdefault(username, {})
    for item, obj in _rated_in(fake, ctx.body, not_found):
        if mine.pop(id(item), None) is None:
            not_found[f"{item.type}s"].append(obj)
        else:
            deleted[f"{item.type}s"] += 1
            fake.touch(username, f"{item.type}s", "rated_at")
    return JSONResponse({"deleted": deleted, "not_found": not_found})


# ---------------------------------------------------------------------- metadata


@route("GET", "/search/{id_type}/{id}", auth="optional")
async def search_id(ctx: Ctx) -> Response:
    id_type, raw = ctx.params["id_type"], ctx.params["id"]
    if id_type not in ("trakt", "imdb", "tmdb", "tvdb"):
        raise HTTPError(404)
    wanted: Any = int(raw) if id_type != "imdb" and raw.isdigit() else raw
    kinds = ctx.query.get("type", "movie,show,episode,person").split(",")
    full = "full" in (ctx.query.get("extended") or "")
    hits = [
        {"type": item.type, "score": 1000, **_media_full(item, full)}
        for item in ctx.fake.items
        if item.type in kinds and item.ids.get(id_type) == wanted
    ]
    return _page(ctx, hits)


@route("GET", "/search/{types}", auth="optional")
async def search_text(ctx: Ctx) -> Response:
    """Text search over titles: every word of ``query`` (operators unescaped) in the title,
    optionally of one of ``years``; an exact title scores highest."""
    kinds = ctx.params["types"].split(",")
    if not set(kinds) <= {"movie", "show", "episode", "person", "list"}:
        raise HTTPError(404)
    query = re.sub(r"\\(.)", r"\1", ctx.query.get("query") or "").strip().lower()
    if not query:
        raise HTTPError(400, {"error": "query is required"})
    years = {int(y) for y in (ctx.query.get("years") or "").split(",") if y.strip().isdigit()}
    full = "full" in (ctx.query.get("extended") or "")
    words = query.split()
    hits = [
        {
            "type": item.type,
            "score": 1000 if item.title.lower() == query else 500,
            **_media_full(item, full),
        }
        for item in ctx.fake.items
        if item.type in kinds
        and all(w in item.title.lower() for w in words)
        and (not years or item.year in years)
    ]
    hits.sort(key=lambda hit: -hit["score"])
    return _page(ctx, hits)


def _media_full(item: Item, full: bool) -> dict[str, Any]:
    """`item.media()`; with extended=full the found object also carries its runtime."""
    media = item.media()
    if full:
        media[item.type]["runtime"] = item.runtime
    return media


def _lookup(fake: FakeTrakt, kind: str, raw: str) -> Item:
    for item in fake.items:
        if item.type != kind:
            continue
        ids = item.ids
        if raw in (str(ids.get("trakt")), ids.get("slug"), ids.get("imdb")):
            return item
    raise HTTPError(404)


def _full(item: Item, extended: str | None) -> dict[str, Any]:
    data = item.summary()
    if extended and "full" in extended:
        data.update({"runtime": item.runtime, "overview": f"About {item.title}.", "rating": 8.1})
    return data


@route("GET", "/movies/{id}", auth="optional")
async def movie_summary(ctx: Ctx) -> Response:
    item = _lookup(ctx.fake, "movie", ctx.params["id"])
    return JSONResponse(_full(item, ctx.query.get("extended")))


@route("GET", "/shows/{id}", auth="optional")
async def show_summary(ctx: Ctx) -> Response:
    item = _lookup(ctx.fake, "show", ctx.params["id"])
    return JSONResponse(_full(item, ctx.query.get("extended")))


def _ratings(fake: FakeTrakt, item: Item, extended: str | None) -> dict[str, Any]:
    """Deterministic multi-source ratings; `all` gives every block (some null), else Trakt's."""
    seed = int(item.ids.get("trakt") or 1)
    trakt = {"rating": 7 + (seed % 30) / 10, "votes": seed * 3, "distribution": {"10": seed}}
    if extended != "all":
        return trakt
    imdb = item.ids.get("imdb")
    blocks: dict[str, Any] = {
        "trakt": trakt,
        "imdb": {"rating": 7.5, "votes": seed * 10, "link": f"https://www.imdb.com/title/{imdb}"}
        if imdb
        else None,
        "tmdb": {"rating": 8.0, "votes": seed, "link": "https://www.themoviedb.org/"},
        "metascore": {"rating": 70, "link": None} if item.type == "movie" else None,
        "rotten_tomatoes": {"rating": 88, "state": "fresh", "user_rating": 85,
                            "user_state": "upright", "link": None}
        if item.type != "episode"
        else None,
        "mal": None,
    }  # fmt: skip
    if item.type == "movie":
        blocks["letterboxd"] = {"rating": 4.1, "votes": 0, "link": None}
    trakt_id = item.ids.get("trakt")
    if isinstance(trakt_id, int):
        blocks.update(fake.extra_ratings.get((item.type, trakt_id), {}))
    return blocks


@route("GET", "/movies/{id}/ratings", auth="optional")
async def movie_ratings(ctx: Ctx) -> Response:
    item = _lookup(ctx.fake, "movie", ctx.params["id"])
    return JSONResponse(_ratings(ctx.fake, item, ctx.query.get("extended")))


@route("GET", "/shows/{id}/ratings", auth="optional")
async def show_ratings(ctx: Ctx) -> Response:
    item = _lookup(ctx.fake, "show", ctx.params["id"])
    return JSONResponse(_ratings(ctx.fake, item, ctx.query.get("extended")))


@route("GET", "/shows/{id}/seasons/{season}/episodes/{number}/ratings", auth="optional")
async def episode_ratings(ctx: Ctx) -> Response:
    show = _lookup(ctx.fake, "show", ctx.params["id"])
    for episode in ctx.fake.episodes_of(show):
        if (
            str(episode.season) == ctx.params["season"]
            and str(episode.number) == ctx.params["number"]
        ):
            return JSONResponse(_ratings(ctx.fake, episode, ctx.query.get("extended")))
    raise HTTPError(404)


# ---------------------------------------------------------------------- users: stats, lists


@route("GET", "/users/{slug}/stats", auth="optional")
async def user_stats(ctx: Ctx) -> Response:
    username = _slug_user(ctx)
    plays = ctx.fake.history(username)
    movies = [p for p in plays if p.item.type == "movie"]
    episodes = [p for p in plays if p.item.type == "episode"]
    return JSONResponse(
        {
            "movies": {
                "plays": len(movies),
                "watched": len({id(p.item) for p in movies}),
                "minutes": sum(p.item.runtime for p in movies),
            },
            "episodes": {
                "plays": len(episodes),
                "watched": len({id(p.item) for p in episodes}),
                "minutes": sum(p.item.runtime for p in episodes),
            },
            "shows": {"watched": len({id(p.item.show) for p in episodes})},
            "ratings": {"total": len(ctx.fake.ratings.get(username, {}))},
        }
    )


@route("GET", "/users/{slug}/lists")
async def user_lists(ctx: Ctx) -> Response:
    username = _slug_user(ctx)
    return JSONResponse(
        [
            {
                "name": user_list.name,
                "description": None,
                "privacy": user_list.privacy,
                "item_count": len(user_list.entries),
                "updated_at": iso(ctx.fake.clock()),
                "ids": {"trakt": user_list.trakt, "slug": user_list.slug},
            }
            for user_list in ctx.fake.lists.get(username, [])
        ]
    )


@route("GET", "/users/{slug}/lists/{list_id}/items")
async def list_items(ctx: Ctx) -> Response:
    username = _slug_user(ctx)
    wanted = ctx.params["list_id"]
    for user_list in ctx.fake.lists.get(username, []):
        if wanted in (str(user_list.trakt), user_list.slug):
            entries = user_list.entries
            return _page(ctx, [e.as_json(rank) for rank, e in enumerate(entries, 1)])
    raise HTTPError(404)


@route("POST", "/users/{slug}/lists/{list_id}/items")
async def add_list_items(ctx: Ctx) -> Response:
    """Add items to a personal list of the token's owner (420 over the per-list limit)."""
    fake, username = ctx.fake, ctx.user
    assert username is not None
    if _slug_user(ctx) != username:
        raise HTTPError(403, {"error": "not your list"})
    wanted = ctx.params["list_id"]
    target = next(
        (x for x in fake.lists.get(username, []) if wanted in (str(x.trakt), x.slug)), None
    )
    if target is None:
        raise HTTPError(404)
    not_found, added, existing = _not_found(), _counts(), _counts()
    found = _items_in(fake, ctx.body, not_found)
    fresh = [item for item, _ in found if all(e.item is not item for e in target.entries)]
    if fresh:
        over_limit(fake, username, "lists", len(target.entries) + len(fresh))
    for item, _obj in found:
        if not any(item is new for new in fresh):
            existing[f"{item.type}s"] += 1
            continue
        target.entries.append(ListEntry(next(fake._ids), item, fake.clock()))
        added[f"{item.type}s"] += 1
    body = {
        "added": added,
        "existing": existing,
        "not_found": not_found,
        "list": {"updated_at": iso(fake.clock()), "item_count": len(target.entries)},
    }
    return JSONResponse(body, status_code=201)


@route("GET", "/users/saved_filters")
async def saved_filters(ctx: Ctx) -> Response:
    """VIP only (426 for others, from the gate): the user's saved filters (none here)."""
    return _page(ctx, [])


@route("GET", "/recommendations/{type}")
async def recommendations(ctx: Ctx) -> Response:
    fake, username = ctx.fake, ctx.user
    assert username is not None
    kind = {"movies": "movie", "shows": "show"}.get(ctx.params["type"])
    if kind is None:
        raise HTTPError(404)
    limit = min(int(ctx.query.get("limit", 10)), RECOMMENDATIONS_CAP)
    watched = {id(p.item) for p in fake.history(username)}
    watched |= {id(p.item.show) for p in fake.history(username) if p.item.show is not None}
    picks = [
        {**item.summary(), "favorited_by": [], "recommended_by": []}
        for item in fake.items
        if item.type == kind and id(item) not in watched
    ]
    return JSONResponse(picks[:limit])
