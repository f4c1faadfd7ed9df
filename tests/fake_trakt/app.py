"""HTTP side of the fake Trakt: a strict gate, then a small route table.

The gate behaves like Trakt and the Cloudflare edge in front of it (docs §1, §7): a missing or
library-default User-Agent gets an HTML 403, a wrong `trakt-api-key` a 403, a missing
`trakt-api-version: 2` a 400, a write without `Content-Type: application/json` a 412, a bad or
expired token a 401, too many calls a 429 with Retry-After and X-Ratelimit, a locked account a
423, a VIP-only endpoint a 426 for others. OAuth answers only on the auth host unless
`oauth_on_api_host`, and refuses an `Authorization: Basic` header. Routes register
with `@route(method, "/path/{param}", auth=...)`; new endpoints are one function each.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

from .state import UPGRADE_URL, FakeTrakt, Item, LoggedRequest, Play, iso, parse_iso

# A stop above this progress becomes a play; 1 up to it is a pause; under 1 is refused (docs §3).
SCROBBLE_ABOVE = 80.0
SCROBBLE_MIN = 1.0
WRITE_METHODS = ("POST", "PUT", "DELETE")
MOVIE_KEYS = ("trakt", "slug", "imdb", "tmdb")
SHOW_KEYS = ("trakt", "slug", "imdb", "tmdb", "tvdb")
# Writes identify episodes by trakt or tvdb id (tmdb matched in practice): docs §6.4.
EPISODE_KEYS = ("trakt", "tvdb", "tmdb")

CLOUDFLARE_PAGE = """<!DOCTYPE html>
<html><head><title>Attention Required! | Cloudflare</title></head>
<body><h1>Sorry, you have been blocked</h1>
<p>You are unable to access api.trakt.tv</p></body></html>"""
CLOUDFLARE_429_PAGE = """<!DOCTYPE html>
<html><head><title>Too Many Requests | Cloudflare</title></head>
<body><h1>Error 1015: You are being rate limited</h1></body></html>"""


class HTTPError(Exception):
    """Raised by handlers to answer an error."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass
class Ctx:
    fake: FakeTrakt
    request: Request
    entry: LoggedRequest
    params: dict[str, str]
    body: Any
    user: str | None = None
    query: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Ctx], Awaitable[Response]]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: str  # "required" | "optional" | "none"
    oauth: bool


ROUTES: list[Route] = []


def route(method: str, template: str, *, auth: str = "required") -> Callable[[Handler], Handler]:
    """Register a handler for `method template` (template params: {name})."""
    regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"

    def register(handler: Handler) -> Handler:
        ROUTES.append(
            Route(method, re.compile(regex), handler, auth, template.startswith("/oauth/"))
        )
        return handler

    return register


def create_app(fake: FakeTrakt) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app serving `fake` (for httpx.ASGITransport or uvicorn)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response, drop = await _handle(fake, request)
        if drop:
            # processed, then the connection dies mid-answer (like a reset after the commit)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"1000")],
                }
            )
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise httpx.RemoteProtocolError("fake Trakt dropped the connection")
        await response(scope, receive, send)

    return app


def _error(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


async def _handle(fake: FakeTrakt, request: Request) -> tuple[Response, bool]:
    raw = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = ...
    client = request.client
    entry = LoggedRequest(
        t=fake.monotonic(),
        wall=fake.clock(),
        host=request.url.hostname or "",
        method=request.method,
        path=request.url.path,
        query=dict(request.query_params),
        headers=headers,
        body=None if body is ... else body,
        peer=(client.host, client.port) if client else None,
    )
    fake.requests.append(entry)
    if fake.latency:
        await asyncio.sleep(fake.latency)
    drop = False
    try:
        response, drop = await _gate(fake, request, entry, headers, body)
    except HTTPError as exc:
        response = _error(exc.status, exc.body, exc.headers)
    entry.status = response.status_code
    return response, drop


async def _gate(
    fake: FakeTrakt,
    request: Request,
    entry: LoggedRequest,
    headers: dict[str, str],
    body: Any,
) -> tuple[Response, bool]:
    path, method = entry.path, entry.method
    is_oauth = path.startswith("/oauth/")
    on_auth_host = entry.host in fake.auth_hostnames
    if on_auth_host and (fake.auth_host_404 or not is_oauth):
        raise HTTPError(404, {"error": "not found"})
    if is_oauth and not on_auth_host and not fake.oauth_on_api_host:
        raise HTTPError(404, {"error": "not found"})

    if path.startswith(IMAGE_PREFIX) and method == "GET":  # the image host: no API headers
        fault = fake.take_fault(method, path)
        if fault is not None and isinstance(fault.kind, int):
            fake.image_downloads[path] += 1
            return _error(fault.kind), False
        return _image(fake, path), False

    # the Cloudflare edge
    agent = headers.get("user-agent", "")
    if not agent or agent.startswith(tuple(fake.blocked_user_agents)):
        return HTMLResponse(CLOUDFLARE_PAGE, status_code=403), False

    fault = fake.take_fault(method, path)
    if fault is not None:
        if fault.kind == "cloudflare_html":
            return HTMLResponse(CLOUDFLARE_PAGE, status_code=403), False
        if fault.kind == "cloudflare_429":  # the edge's own: no Retry-After, no X-Ratelimit
            return HTMLResponse(CLOUDFLARE_429_PAGE, status_code=429), False
        if fault.kind == "hang":
            await asyncio.sleep(fake.hang_seconds)
        elif isinstance(fault.kind, int):
            extra = {"Retry-After": _seconds(fault.retry_after)} if fault.kind == 429 else {}
            return _error(fault.kind, {"error": f"injected {fault.kind}"}, extra), False

    # Trakt's own checks (the authorize page is for browsers: no API headers there)
    browser_page = is_oauth and method == "GET"
    if not browser_page and headers.get("trakt-api-key") != fake.client_id:
        raise HTTPError(403, {"error": "invalid api key"})
    if not is_oauth and headers.get("trakt-api-version") != "2":
        raise HTTPError(400, {"error": "trakt-api-version header must be 2"})
    if method in WRITE_METHODS and not headers.get("content-type", "").startswith(
        "application/json"
    ):
        raise HTTPError(412, {"error": "Content-Type must be application/json"})
    if body is ...:
        raise HTTPError(400, {"error": "body is not valid JSON"})

    matched: Route | None = None
    params: dict[str, str] = {}
    allowed = False
    for candidate in ROUTES:
        match = candidate.pattern.match(path)
        if match is None:
            continue
        allowed = True
        if candidate.method == method:
            matched, params = candidate, match.groupdict()
            break
    if matched is None:
        raise HTTPError(405 if allowed else 404)

    user: str | None = None
    auth = headers.get("authorization", "")
    if matched.oauth and auth.lower().startswith("basic "):
        # the auth server refuses HTTP Basic client authentication (docs §0, 2026-08-05)
        raise HTTPError(
            401, {"error": "invalid_client", "error_description": "Basic auth is not accepted"}
        )
    if not matched.oauth and auth.lower().startswith("bearer "):
        user = fake.token_user(auth[7:].strip())
        if user is None:
            raise HTTPError(401, {"error": "invalid_token"})
    if matched.auth == "required" and user is None:
        raise HTTPError(401, {"error": "invalid_token"})
    entry.user = user
    if user is not None:
        _account_checks(fake, user, path)

    if not matched.oauth:
        limited = fake.check_rate(user or "", method)
        if limited is not None:
            wait, info = limited
            raise HTTPError(
                429,
                {"error": "rate limit exceeded"},
                {"Retry-After": _seconds(wait), "X-Ratelimit": json.dumps(info)},
            )

    ctx = Ctx(fake, request, entry, params, body, user, dict(request.query_params))
    response = await matched.handler(ctx)
    return response, fault is not None and fault.kind == "drop_after_processing"


def _account_checks(fake: FakeTrakt, username: str, path: str) -> None:
    """A locked/deactivated account: 423 on every authed call; VIP-only endpoints: 426."""
    account = fake.users.get(username)
    if account is None:
        return
    if account.locked:
        raise HTTPError(
            423,
            {"error": "account locked"},
            {
                "X-Account-Locked": "true",
                "X-Account-Deactivated": "true" if account.deactivated else "false",
            },
        )
    if not account.vip and any(re.search(p, path) for p in fake.vip_only_paths):
        raise HTTPError(426, {"error": "VIP only"}, {"X-Upgrade-URL": UPGRADE_URL})


def over_limit(fake: FakeTrakt, username: str, kind: str, after: int = 0) -> None:
    """420 when the user is marked over the limit of `kind` ("history", "ratings", "lists",
    "watchlist"), or when a free user would hold `after` items, more than the plan's
    ``limits`` allow; headers as Trakt sends them (docs §7.2)."""
    user = fake.users[username]
    key = {"lists": "list"}.get(kind, kind)
    cap = int(user.limits.get(key, {}).get("item_count", 0) or 0)
    if kind in user.over_limit or (not user.vip and cap and after > cap):
        raise HTTPError(420, {"error": "account limit exceeded"}, fake.limit_headers(username, cap))


# A 1×1 lossless WebP (what Trakt's image host serves, in miniature).
TINY_WEBP = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
IMAGE_PREFIX = "/images/"


def _image(fake: FakeTrakt, path: str) -> Response:
    """An item's image: counted; an override of ``fake.image_answers`` if any, else a tiny
    WebP, 404 for an item without one."""
    fake.image_downloads[path] += 1
    if path in fake.image_answers:
        content_type, content = fake.image_answers[path]
        return Response(content, media_type=content_type)
    if not any(item.image_path() == path and item.poster for item in fake.items):
        return Response(status_code=404)
    return Response(TINY_WEBP, media_type="image/webp")


def image_base(ctx: Ctx) -> str | None:
    """The base of image URLs when the query asked for ``extended=…images``, else None."""
    if "images" not in ctx.query.get("extended", "").split(","):
        return None
    return ctx.fake.image_host or str(ctx.request.base_url).rstrip("/")


def _seconds(value: float) -> str:
    """Retry-After: whole seconds like Trakt, finer only for sub-second test intervals."""
    if value >= 1:
        return str(math.ceil(value))
    return f"{max(math.ceil(value * 1000) / 1000, 0.001):.3f}"  # rounded up: never too early


# ---------------------------------------------------------------------- OAuth


def _check_client(fake: FakeTrakt, ctx: Ctx, *, secret: bool = True) -> dict[str, Any]:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if body.get("client_id") != fake.client_id:
        raise HTTPError(401, {"error": "invalid_client", "error_description": "unknown client"})
    if secret and body.get("client_secret") != fake.client_secret:
        # Trakt refuses HTTP Basic client authentication: the secret must be in the body
        raise HTTPError(
            401, {"error": "invalid_client", "error_description": "client authentication failed"}
        )
    return body


@route("GET", "/oauth/authorize", auth="none")
async def authorize_page(ctx: Ctx) -> Response:
    if ctx.query.get("client_id") != ctx.fake.client_id or ctx.query.get("response_type") != "code":
        raise HTTPError(400, {"error": "invalid_request"})
    return HTMLResponse("<html><body>Authorize this app?</body></html>")


@route("POST", "/oauth/device/code", auth="none")
async def device_code(ctx: Ctx) -> Response:
    _check_client(ctx.fake, ctx, secret=False)
    grant = ctx.fake.new_device_grant()
    return JSONResponse(
        {
            "device_code": grant.device_code,
            "user_code": grant.user_code,
            "verification_url": "https://trakt.tv/activate",
            "expires_in": grant.expires_in,
            "interval": grant.interval,
        }
    )


@route("POST", "/oauth/device/token", auth="none")
async def device_token(ctx: Ctx) -> Response:
    fake = ctx.fake
    body = _check_client(fake, ctx)
    grant = fake.device_grants.get(str(body.get("code")))
    if grant is None:
        raise HTTPError(404)
    now = fake.clock()
    if now >= grant.created_at + grant.expires_in:
        raise HTTPError(410)
    too_fast = grant.last_poll is not None and now - grant.last_poll < grant.interval
    grant.last_poll = now
    if fake.enforce_poll_interval and too_fast:
        raise HTTPError(429)
    if grant.status == "pending":
        raise HTTPError(400)
    if grant.status == "denied":
        raise HTTPError(418)
    if grant.status == "used":
        raise HTTPError(409)
    grant.status = "used"
    assert grant.username is not None
    return JSONResponse(fake.issue_tokens(grant.username).response())


@route("POST", "/oauth/token", auth="none")
async def token(ctx: Ctx) -> Response:
    fake = ctx.fake
    body = _check_client(fake, ctx)
    grant_type = body.get("grant_type")
    if not body.get("redirect_uri"):
        raise HTTPError(400, {"error": "invalid_request", "error_description": "redirect_uri"})
    invalid = {
        "error": "invalid_grant",
        "error_description": "The provided authorization grant is invalid, expired, revoked, "
        "or was issued to another client.",
    }
    if grant_type == "authorization_code":
        code = fake.auth_codes.get(str(body.get("code")))
        if (
            code is None
            or code.used
            or code.redirect_uri != body["redirect_uri"]
            or fake.clock() - code.created_at > 600
        ):
            raise HTTPError(400, invalid)
        code.used = True
        return JSONResponse(fake.issue_tokens(code.username).response())
    if grant_type == "refresh_token":
        if fake.refresh_delay:  # a slow refresh: concurrent callers pile up behind it
            await asyncio.sleep(fake.refresh_delay)
        presented = str(body.get("refresh_token"))
        old = fake.refresh_tokens.get(presented)
        if old is None or old.revoked:
            raise HTTPError(400, invalid)
        if old.refresh_used:
            fake.refresh_reuse.append(presented)
            raise HTTPError(400, invalid)
        old.refresh_used = True
        old.rotated = True  # Trakt rotates: the old access token is dead from now on
        fake.refreshes += 1
        return JSONResponse(fake.issue_tokens(old.username).response())
    raise HTTPError(400, {"error": "unsupported_grant_type"})


@route("POST", "/oauth/revoke", auth="none")
async def revoke(ctx: Ctx) -> Response:
    body = _check_client(ctx.fake, ctx)
    token = ctx.fake.tokens.get(str(body.get("token")))
    if token is not None:
        token.revoked = True
        ctx.fake.revoked.append(token.access_token)
    return JSONResponse({})


# ---------------------------------------------------------------------- users


@route("GET", "/users/settings")
async def user_settings(ctx: Ctx) -> Response:
    assert ctx.user is not None
    user = ctx.fake.users[ctx.user]
    return JSONResponse(
        {
            "user": {
                "username": user.username,
                "private": False,
                "name": user.name,
                "vip": user.vip,
                "vip_ep": user.vip_ep,
                "vip_og": user.vip_og,
                "vip_years": 1 if user.vip else 0,
                "director": False,
                "ids": {"slug": user.slug, "uuid": user.uuid},
            },
            "account": {"timezone": "UTC", "date_format": "dmy", "time_24hr": True},
            "limits": user.limits,
        }
    )


# ---------------------------------------------------------------------- helpers for media


def _resolve(fake: FakeTrakt, kind: str, obj: Any) -> Item | None:
    """A request object (`{"ids": …}`) of `kind` → catalogue item."""
    if not isinstance(obj, dict) or not isinstance(obj.get("ids"), dict):
        return None
    keys = {"movie": MOVIE_KEYS, "show": SHOW_KEYS, "episode": EPISODE_KEYS}[kind]
    return fake.find(kind, obj["ids"], keys)


def _episode_by_number(fake: FakeTrakt, show: Item, season: Any, number: Any) -> Item | None:
    for episode in fake.episodes_of(show):
        if episode.season == season and episode.number == number:
            return episode
    return None


def _watched_at(fake: FakeTrakt, value: Any) -> float:
    if value is None or value == "released":
        return fake.clock()
    if value == "unknown":
        return 0.0
    try:
        return parse_iso(str(value))
    except ValueError as exc:
        raise HTTPError(400, {"error": f"invalid watched_at {value!r}"}) from exc


def _page(ctx: Ctx, items: list[Any], convert: Callable[[Any], Any] | None = None) -> Response:
    """Answer one page of `items` with Trakt's pagination headers (limit clamped); `convert`
    turns the page's items into JSON (so a 100k-item list is not all converted per page)."""
    fake = ctx.fake
    try:
        page = max(1, int(ctx.query.get("page", 1)))
        limit = int(ctx.query.get("limit", fake.default_page_limit))
    except ValueError as exc:
        raise HTTPError(400, {"error": "page and limit must be numbers"}) from exc
    limit = max(1, min(limit, fake.page_cap))
    count = len(items)
    page_count = max(1, -(-count // limit))
    chunk = items[(page - 1) * limit : page * limit]
    if convert is not None:
        chunk = [convert(item) for item in chunk]
    headers = {
        "X-Pagination-Page": str(page),
        "X-Pagination-Limit": str(limit),
        "X-Pagination-Page-Count": str(page_count),
        "X-Pagination-Item-Count": str(count),
    }
    return JSONResponse(chunk, headers=headers)


# ---------------------------------------------------------------------- scrobble


@route("POST", "/scrobble/{action}")
async def scrobble(ctx: Ctx) -> Response:
    fake, body, username = ctx.fake, ctx.body, ctx.user
    assert username is not None
    action = ctx.params["action"]
    if action not in ("start", "pause", "stop") or not isinstance(body, dict):
        raise HTTPError(404 if action not in ("start", "pause", "stop") else 400)
    item: Item | None = None
    if "movie" in body:
        item = _resolve(fake, "movie", body["movie"])
    elif "episode" in body:
        episode = body["episode"]
        if isinstance(episode, dict) and episode.get("ids"):
            item = _resolve(fake, "episode", episode)
        elif "show" in body and isinstance(episode, dict):
            show = _resolve(fake, "show", body["show"])
            if show is not None:
                item = _episode_by_number(fake, show, episode.get("season"), episode.get("number"))
    else:
        raise HTTPError(400, {"error": "movie or episode required"})
    if item is None:
        raise HTTPError(404)
    progress = body.get("progress")
    if not isinstance(progress, int | float) or not 0 <= progress <= 100:
        raise HTTPError(422, {"error": "progress must be a number from 0 to 100"})
    answer_action, play_id = action, 0
    if action == "stop":
        if progress < SCROBBLE_MIN:
            raise HTTPError(422, {"error": "progress under 1%"})
        if progress > SCROBBLE_ABOVE:
            now = fake.clock()
            window = fake.scrobble_window
            for play in fake.history(username):
                if (
                    play.item is item
                    and play.action == "scrobble"
                    and now - play.watched_at < window
                ):
                    conflict = {
                        "watched_at": iso(play.watched_at),
                        "expires_at": iso(play.watched_at + window),
                    }
                    raise HTTPError(409, conflict)
            play_id = fake.add_play(username, item, now, action="scrobble").id
            answer_action = "scrobble"
        else:
            answer_action = "pause"
    if answer_action == "pause":
        fake.touch(username, f"{item.type}s", "paused_at")
    return JSONResponse(
        {
            "id": play_id,
            "action": answer_action,
            "progress": progress,
            "sharing": {"twitter": False, "mastodon": False, "tumblr": False},
            **item.media(),
        },
        status_code=201,
    )


# ---------------------------------------------------------------------- history


def _empty_not_found() -> dict[str, list[Any]]:
    return {"movies": [], "shows": [], "seasons": [], "episodes": []}


def _history_targets(
    fake: FakeTrakt, body: dict[str, Any], not_found: dict[str, list[Any]]
) -> list[tuple[Item, Any]]:
    """(item, watched_at value) for every item a history body names; misses → not_found."""
    out: list[tuple[Item, Any]] = []
    for movie in body.get("movies") or []:
        item = _resolve(fake, "movie", movie)
        if item is None:
            not_found["movies"].append(movie)
        else:
            out.append((item, movie.get("watched_at")))
    for episode in body.get("episodes") or []:
        item = _resolve(fake, "episode", episode)
        if item is None:
            not_found["episodes"].append(episode)
        else:
            out.append((item, episode.get("watched_at")))
    for show_obj in body.get("shows") or []:
        show = _resolve(fake, "show", show_obj)
        if show is None:
            not_found["shows"].append(show_obj)
            continue
        seasons = show_obj.get("seasons")
        if not seasons:
            out.extend((ep, show_obj.get("watched_at")) for ep in fake.episodes_of(show))
            continue
        for season in seasons:
            episodes = season.get("episodes")
            if not episodes:
                when = season.get("watched_at", show_obj.get("watched_at"))
                found = fake.episodes_of(show, season.get("number"))
                if not found:
                    not_found["seasons"].append(season)
                out.extend((ep, when) for ep in found)
                continue
            for episode in episodes:
                item = _episode_by_number(fake, show, season.get("number"), episode.get("number"))
                if item is None:
                    not_found["episodes"].append(episode)
                else:
                    when = episode.get("watched_at", season.get("watched_at"))
                    out.append((item, when if when is not None else show_obj.get("watched_at")))
    for season in body.get("seasons") or []:
        not_found["seasons"].append(season)
    return out


@route("POST", "/sync/history")
async def add_history(ctx: Ctx) -> Response:
    fake, username = ctx.fake, ctx.user
    assert username is not None
    if not isinstance(ctx.body, dict):
        raise HTTPError(400)
    not_found = _empty_not_found()
    added = {"movies": 0, "episodes": 0}
    targets = _history_targets(fake, ctx.body, not_found)
    if targets:
        over_limit(fake, username, "history", len(fake.history(username)) + len(targets))
    for item, when in targets:
        fake.add_play(username, item, _watched_at(fake, when))  # Trakt does not de-duplicate
        added[f"{item.type}s"] += 1
    return JSONResponse({"added": added, "not_found": not_found}, status_code=201)


@route("POST", "/sync/history/remove")
async def remove_history(ctx: Ctx) -> Response:
    fake, username = ctx.fake, ctx.user
    assert username is not None
    if not isinstance(ctx.body, dict):
        raise HTTPError(400)
    not_found: dict[str, list[Any]] = {**_empty_not_found(), "ids": []}
    doomed: list[Play] = []
    mine = fake.history(username)
    for history_id in ctx.body.get("ids") or []:
        hits = [p for p in mine if p.id == history_id]
        if hits:
            doomed.extend(hits)
        else:
            not_found["ids"].append(history_id)
    targets = {id(item) for item, _ in _history_targets(fake, ctx.body, not_found)}
    doomed.extend(p for p in mine if id(p.item) in targets)
    deleted = {"movies": 0, "episodes": 0}
    unique = list({id(p): p for p in doomed}.values())
    fake.remove_plays(unique)
    for play in unique:
        deleted[f"{play.item.type}s"] += 1
        fake.touch(username, f"{play.item.type}s", "watched_at")
    return JSONResponse({"deleted": deleted, "not_found": not_found})


async def _get_history(ctx: Ctx) -> Response:
    fake, username = ctx.fake, ctx.user
    assert username is not None
    kind = ctx.params.get("type")
    item_id = ctx.params.get("id")
    try:
        start = parse_iso(ctx.query["start_at"]) if "start_at" in ctx.query else None
        end = parse_iso(ctx.query["end_at"]) if "end_at" in ctx.query else None
    except ValueError as exc:
        raise HTTPError(400, {"error": "start_at/end_at must be ISO 8601"}) from exc
    plays = fake.history_between(username, start, end)
    if kind is not None:
        if kind not in ("movies", "shows", "seasons", "episodes"):
            raise HTTPError(404)
        wanted = "movie" if kind == "movies" else "episode"
        plays = [p for p in plays if p.item.type == wanted]
        if item_id is not None:
            target = int(item_id) if item_id.isdigit() else item_id

            def matches(play: Play) -> bool:
                if kind == "shows":
                    return play.item.show is not None and play.item.show.ids.get("trakt") == target
                return play.item.ids.get("trakt") == target

            plays = [p for p in plays if matches(p)]
    full = "full" in ctx.query.get("extended", "")
    images = image_base(ctx)
    return _page(ctx, plays, lambda p: p.as_json(full, images))


route("GET", "/sync/history")(_get_history)
route("GET", "/sync/history/{type}")(_get_history)
route("GET", "/sync/history/{type}/{id}")(_get_history)


@route("GET", "/sync/last_activities")
async def last_activities(ctx: Ctx) -> Response:
    assert ctx.user is not None
    return JSONResponse(ctx.fake.activities_of(ctx.user))


# More routes live in their own module; importing it registers them (it imports this module).
from . import routes_media  # noqa: E402, F401
