"""HTTP side of the fake Plex: a gate (log, faults, token), then a small route table.

The gate behaves like PMS (docs/media-server-apis.md §2): `X-Plex-Token` as a header or a query
parameter, a missing or unknown one answers 401 (HTML, as PMS does; `/identity` needs none);
`Accept: application/json` switches every answer from XML to JSON. Owner-only endpoints
(`/library`, `/accounts`, `/status/sessions`) refuse other accounts' tokens. Paging follows
`X-Plex-Container-Start` / `X-Plex-Container-Size` (headers or query) and answers `offset`,
`size`, `totalSize` (+ the `X-Plex-Container-*` headers). Media-query filters are parsed from the
raw query (`viewedAt>=…`, `episode.viewCount>>=0`); a filter or sort the fake does not know
answers 400 naming it, so a test never passes on a filter that was silently ignored. The
notifications websocket (`/:/websockets/notifications`) is served by `socket.py`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .render import Node, to_json, to_xml
from .state import (
    LIBRARY_IDENTIFIER,
    TYPE_NAMES,
    Account,
    FakePlex,
    HistoryEntry,
    LoggedRequest,
    PlaySession,
    PlexItem,
    Section,
    UserState,
)

XML_TYPE = "text/xml"
JSON_TYPE = "application/json"
# Query parameters that select nothing (includes, excludes, client headers, paging).
NEUTRAL_PARAMS = frozenset({"checkFiles", "asyncAugmentMetadata", "type", "sort", "limit"})
NEUTRAL_PREFIXES = ("include", "exclude", "X-Plex-")
# Media-query operators as they arrive once `field` and `=` are split: `viewCount>>=0` is the
# name `viewCount>>`, and so on (docs §2.3). Longest suffix first.
OPERATOR_SUFFIXES = ((">>", ">"), ("<<", "<"), (">", ">="), ("<", "<="), ("!", "!="))
RELATIVE_TIME = re.compile(r"^-(\d+)([smhdwy])$")
RELATIVE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
# Library filters the fake understands, per item type (leaf-level meanings).
LEAF_FILTERS = frozenset(
    {
        "viewCount",
        "lastViewedAt",
        "viewOffset",
        "userRating",
        "addedAt",
        "year",
        "title",
        "unwatched",
        "inProgress",
    }
)
SHOW_FILTERS = frozenset({"addedAt", "year", "title", "unwatched"})
SORT_FIELDS = frozenset(
    {
        "addedAt",
        "title",
        "titleSort",
        "lastViewedAt",
        "viewCount",
        "year",
        "userRating",
        "duration",
        "ratingKey",
    }
)


def _html(status: int, reason: str) -> Response:
    body = (
        f"<html><head><title>{reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
    )
    return Response(body, status_code=status, media_type="text/html")


REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class HTTPError(Exception):
    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail


@dataclass
class Ctx:
    fake: FakePlex
    request: Request
    account: Account | None
    params: dict[str, str]
    query: dict[str, str]
    terms: list[tuple[str, str, str]]  # (field, operator, value) from the raw query
    start: int | None
    size: int | None

    @property
    def me(self) -> Account:
        assert self.account is not None
        return self.account


Handler = Callable[[Ctx], Response | Node]


@dataclass
class Route:
    methods: tuple[str, ...]
    pattern: re.Pattern[str]
    handler: Handler
    auth: str  # "any" (a valid token) | "owner" | "none"


ROUTES: list[Route] = []


def route(
    path: str, *, methods: tuple[str, ...] = ("GET",), auth: str = "any"
) -> Callable[[Handler], Handler]:
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(methods, regex, handler, auth))
        return handler

    return register


def create_app(fake: FakePlex) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app serving `fake` (for uvicorn or httpx.ASGITransport)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            from .socket import serve

            await serve(fake, scope, receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await _handle(fake, request)
        await response(scope, receive, send)

    return app


def _first(request: Request, name: str) -> str | None:
    return request.headers.get(name) or request.query_params.get(name)


async def _handle(fake: FakePlex, request: Request) -> Response:
    path = request.url.path
    if len(path) > 1:
        path = path.rstrip("/")
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    token = _first(request, "X-Plex-Token")
    wants_json = JSON_TYPE in request.headers.get("accept", "")
    entry = LoggedRequest(
        t=fake.monotonic(),
        method=request.method,
        path=path,
        query=dict(request.query_params),
        raw_query=raw_query,
        headers={k.lower(): v for k, v in request.headers.items()},
        token=token,
        json=wants_json,
    )
    fake.requests.append(entry)
    if fake.latency:
        await asyncio.sleep(fake.latency)
    fault = fake.take_fault(request.method, path)
    if fault is not None:
        if fault.kind == "hang":
            await _hang(fake)
        else:
            status = int(fault.kind)
            entry.status = status
            return _html(status, REASONS.get(status, "Error"))
    try:
        response = _dispatch(fake, request, entry, path, raw_query, token, wants_json)
    except HTTPError as exc:
        response = _html(exc.status, exc.detail or REASONS.get(exc.status, "Error"))
    entry.status = response.status_code
    return response


async def _hang(fake: FakePlex) -> None:
    release = fake._hang_release
    deadline = fake.monotonic() + fake.hang_seconds
    while fake.monotonic() < deadline and fake._hang_release == release:
        await asyncio.sleep(0.02)


def _dispatch(
    fake: FakePlex,
    request: Request,
    entry: LoggedRequest,
    path: str,
    raw_query: str,
    token: str | None,
    wants_json: bool,
) -> Response:
    matched: Route | None = None
    params: dict[str, str] = {}
    for candidate in ROUTES:
        match = candidate.pattern.match(path)
        if match is not None and request.method in candidate.methods:
            matched, params = candidate, match.groupdict()
            break
    with fake.lock:
        account = fake.token_account(token)
        entry.account_id = account.id if account else None
        if (matched is None or matched.auth != "none") and account is None:
            raise HTTPError(401, "Unauthorized")
        if matched is None:
            raise HTTPError(404, "Not Found")
        if matched.auth == "owner" and not (account and account.is_owner):
            raise HTTPError(*OWNER_ONLY.get(path, (401, "Unauthorized")))
        ctx = Ctx(
            fake,
            request,
            account,
            params,
            dict(request.query_params),
            _terms(raw_query),
            _int_or_none(_first(request, "X-Plex-Container-Start"), "X-Plex-Container-Start"),
            _int_or_none(_first(request, "X-Plex-Container-Size"), "X-Plex-Container-Size"),
        )
        result = matched.handler(ctx)
        if isinstance(result, Response):
            return result
        headers = {}
        if "totalSize" in result.attrs:
            headers["X-Plex-Container-Start"] = str(result.attrs.get("offset", 0))
            headers["X-Plex-Container-Total-Size"] = str(result.attrs["totalSize"])
        if wants_json:
            return Response(to_json(result), media_type=JSON_TYPE, headers=headers)
        return Response(to_xml(result), media_type=XML_TYPE, headers=headers)


# Owner-only paths and what other tokens get there (docs §2.5, §2.8: shared tokens get 403 on
# /status/sessions; plexapi expects /library to fail for non-owners and falls back to sections).
OWNER_ONLY = {
    "/library": (403, "Forbidden"),
    "/status/sessions": (403, "Forbidden"),
    "/accounts": (401, "Unauthorized"),
}


def _int_or_none(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise HTTPError(400, f"{name} is not an integer") from None


def _terms(raw_query: str) -> list[tuple[str, str, str]]:
    terms = []
    for piece in raw_query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        name, value = unquote_plus(name), unquote_plus(value)
        operator = "="
        for suffix, op in OPERATOR_SUFFIXES:
            if name.endswith(suffix):
                name, operator = name[: -len(suffix)], op
                break
        terms.append((name, operator, value))
    return terms


def _neutral(name: str) -> bool:
    return name in NEUTRAL_PARAMS or name.startswith(NEUTRAL_PREFIXES)


# ---------------------------------------------------------------------- paging and nodes


def _page(ctx: Ctx, rows: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """Slice `rows` by the requested window (O(page)); the container's paging attributes."""
    total = len(rows)
    if ctx.start is None and ctx.size is None and ctx.fake.page_cap is None:
        return rows, {"size": total}
    start = max(ctx.start or 0, 0)
    size = ctx.size if ctx.size is not None else total
    if ctx.fake.page_cap is not None:
        size = min(size, ctx.fake.page_cap)
    page = rows[start : start + max(size, 0)]
    return page, {"offset": start, "size": len(page), "totalSize": total}


def _container(attrs: dict[str, Any], children: list[Node]) -> Node:
    return Node("MediaContainer", attrs, children)


def _state_of(fake: FakePlex, account: Account, item: PlexItem) -> UserState | None:
    return fake.user_state.get(account.id, {}).get(item.rating_key)


def _leaf_counts(fake: FakePlex, account: Account, item: PlexItem) -> tuple[int, int, int | None]:
    states = fake.user_state.get(account.id, {})
    leaves = item.leaves()
    viewed = 0
    last: int | None = None
    for leaf in leaves:
        state = states.get(leaf.rating_key)
        if state is not None and state.view_count > 0:
            viewed += 1
            if state.last_viewed_at and (last is None or state.last_viewed_at > last):
                last = state.last_viewed_at
    return len(leaves), viewed, last


def item_node(
    fake: FakePlex,
    account: Account,
    item: PlexItem,
    *,
    guids: bool,
    extra: dict[str, Any] | None = None,
) -> Node:
    """An item as PMS lists it for `account` (its own viewCount, lastViewedAt, userRating, …)."""
    section = fake.sections[item.section]
    state = _state_of(fake, account, item)
    attrs: dict[str, Any] = {"ratingKey": str(item.rating_key), "key": item.key}
    show, season = item.show, item.season
    if item.type == "episode" and season is not None and show is not None:
        attrs.update(
            parentRatingKey=str(season.rating_key),
            grandparentRatingKey=str(show.rating_key),
            guid=item.guid,
            parentGuid=season.guid,
            grandparentGuid=show.guid,
            type="episode",
            title=item.title,
            grandparentKey=show.key,
            parentKey=season.key,
        )
    elif item.type == "season" and show is not None:
        attrs.update(
            key=f"{item.key}/children",
            parentRatingKey=str(show.rating_key),
            guid=item.guid,
            parentGuid=show.guid,
            type="season",
            title=item.title,
            parentKey=show.key,
        )
    else:
        attrs.update(guid=item.guid, type=item.type, title=item.title)
        if item.type == "show":
            attrs["key"] = f"{item.key}/children"
    attrs.update(
        librarySectionTitle=section.title,
        librarySectionID=section.key,
        librarySectionKey=f"/library/sections/{section.key}",
    )
    if item.type == "episode" and show is not None and season is not None:
        attrs.update(grandparentTitle=show.title, parentTitle=season.title)
    if item.type == "season" and show is not None:
        attrs["parentTitle"] = show.title
    attrs.update(summary="", index=item.index)
    if item.type == "episode" and season is not None:
        attrs["parentIndex"] = season.index
    attrs.update(year=item.year, thumb=f"{item.key}/thumb/{item.added_at}", duration=item.duration)
    if item.type in ("show", "season"):
        leaves, viewed, last = _leaf_counts(fake, account, item)
        attrs.update(leafCount=leaves, viewedLeafCount=viewed, lastViewedAt=last)
        if item.type == "show":
            attrs["childCount"] = len(item.children)
    attrs.update(addedAt=item.added_at, updatedAt=item.added_at)
    if state is not None:
        if state.view_count > 0:
            attrs["viewCount"] = state.view_count
        if state.last_viewed_at is not None:
            attrs["lastViewedAt"] = state.last_viewed_at
        if state.view_offset > 0:
            attrs["viewOffset"] = state.view_offset
        if state.user_rating is not None:
            attrs["userRating"] = state.user_rating
            attrs["lastRatedAt"] = state.last_rated_at
    if extra:
        attrs.update(extra)
    children = [Node("Guid", {"id": tag}) for tag in item.guids] if guids else []
    tag = "Video" if item.type in ("movie", "episode") else "Directory"
    return Node(tag, attrs, children, json_key="Metadata")


def _library_container(fake: FakePlex, section: Section | None, **attrs: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "allowSync": True,
        "identifier": LIBRARY_IDENTIFIER,
        "mediaTagPrefix": "/system/bundle/media/flags/",
        "mediaTagVersion": 1700000000,
    }
    if section is not None:
        base.update(
            librarySectionID=section.key,
            librarySectionTitle=section.title,
            librarySectionUUID=section.uuid,
        )
    base.update(attrs)
    return base


# ---------------------------------------------------------------------- server


@route("/")
def root(ctx: Ctx) -> Node:
    fake = ctx.fake
    attrs = {
        "size": 2,
        "allowCameraUpload": False,
        "allowSync": True,
        "claimed": True,
        "friendlyName": fake.friendly_name,
        "machineIdentifier": fake.machine_identifier,
        "multiuser": True,
        "myPlex": True,
        "myPlexMappingState": "mapped",
        "myPlexSigninState": "ok",
        "myPlexSubscription": True,
        "myPlexUsername": fake.owner.name,
        "platform": "Linux",
        "platformVersion": "6.1",
        "transcoderActiveVideoSessions": 0,
        "updatedAt": 1_700_000_000,
        "version": fake.version,
    }
    children = [
        Node("Directory", {"count": 1, "key": "library", "title": "library"}),
        Node("Directory", {"count": 1, "key": "status", "title": "status"}),
    ]
    return _container(attrs, children)


@route("/identity", auth="none")
def identity(ctx: Ctx) -> Node:
    fake = ctx.fake
    return _container(
        {
            "size": 0,
            "claimed": True,
            "machineIdentifier": fake.machine_identifier,
            "version": fake.version,
        },
        [],
    )


# ---------------------------------------------------------------------- library


@route("/library", auth="owner")
def library(ctx: Ctx) -> Node:
    attrs = _library_container(ctx.fake, None, size=3, title1="Plex Library", title2="")
    children = [
        Node("Directory", {"key": key, "title": title})
        for key, title in (
            ("sections", "Library Sections"),
            ("recentlyAdded", "Recently Added"),
            ("onDeck", "On Deck"),
        )
    ]
    return _container(attrs, children)


@route("/library/sections")
def sections(ctx: Ctx) -> Node:
    fake = ctx.fake
    shown = [
        s for s in fake.sections.values() if ctx.me.sections is None or s.key in ctx.me.sections
    ]
    children = []
    for section in shown:
        attrs = {
            "allowSync": True,
            "art": f"/:/resources/{section.type}-fanart.jpg",
            "composite": f"/library/sections/{section.key}/composite/1",
            "filters": True,
            "refreshing": False,
            "thumb": f"/:/resources/{section.type}.png",
            "key": str(section.key),
            "type": section.type,
            "title": section.title,
            "agent": section.agent,
            "scanner": "Plex Movie" if section.type == "movie" else "Plex TV Series",
            "language": "en-US",
            "uuid": section.uuid,
            "updatedAt": section.created_at,
            "createdAt": section.created_at,
            "scannedAt": section.created_at,
            "content": True,
            "directory": True,
            "contentChangedAt": 1,
            "hidden": 0,
        }
        location = Node("Location", {"id": section.key, "path": section.location})
        children.append(Node("Directory", attrs, [location]))
    return _container(
        {"size": len(children), "allowSync": False, "title1": "Plex Library"}, children
    )


def _visible_section(ctx: Ctx) -> Section:
    try:
        section = ctx.fake.sections[int(ctx.params["section"])]
    except (ValueError, KeyError):
        raise HTTPError(404) from None
    if ctx.me.sections is not None and section.key not in ctx.me.sections:
        raise HTTPError(404)
    return section


@route("/library/sections/{section}/all")
def section_all(ctx: Ctx) -> Node:
    fake, section, me = ctx.fake, _visible_section(ctx), ctx.me
    type_param = ctx.query.get("type")
    if type_param:
        try:
            type_name = TYPE_NAMES[int(type_param)]
        except (ValueError, KeyError):
            raise HTTPError(400, f"fake Plex: unsupported type={type_param}") from None
    else:
        type_name = section.type
    filters, sort, limit = _library_query(ctx, type_name)
    rows = section.items.get(type_name, [])
    if filters or sort:
        key = ("all", me.id, section.key, type_name, tuple(filters), sort, _moment(fake, filters))
        rows = fake.cached(key, lambda: _filtered(fake, me, rows, filters, sort, type_name))
    if limit is not None:
        rows = rows[:limit]
    page, paging = _page(ctx, rows)
    guids = ctx.query.get("includeGuids") == "1"
    children = [item_node(fake, me, item, guids=guids) for item in page]
    attrs = _library_container(
        fake,
        section,
        **paging,
        title1=section.title,
        title2="All",
        viewGroup=type_name,
        viewMode=65592,
    )
    return _container(attrs, children)


def _library_query(
    ctx: Ctx, type_name: str
) -> tuple[list[tuple[str, str, str]], str | None, int | None]:
    filters = []
    allowed = SHOW_FILTERS if type_name in ("show", "season") else LEAF_FILTERS
    for name, operator, value in ctx.terms:
        if _neutral(name) and operator == "=":
            continue
        field_name = name
        if "." in name:
            scope, field_name = name.split(".", 1)
            if scope != type_name:
                raise HTTPError(400, f"fake Plex: unsupported filter scope {name!r}")
        if field_name not in allowed:
            raise HTTPError(400, f"fake Plex: unsupported filter {name!r}")
        if field_name == "title" and operator != "=":
            raise HTTPError(400, f"fake Plex: unsupported operator on {name!r}")
        filters.append((field_name, operator, value))
    sort = ctx.query.get("sort") or None
    if sort:
        for part in sort.split(","):
            field_name = part.split(":")[0].split(".")[-1]
            if field_name not in SORT_FIELDS:
                raise HTTPError(400, f"fake Plex: unsupported sort {part!r}")
    limit = _int_or_none(ctx.query.get("limit"), "limit")
    return filters, sort, limit


def _moment(fake: FakePlex, filters: list[tuple[str, str, str]]) -> int | None:
    """Relative times (`-7d`) depend on the clock: part of a cached listing's key."""
    return int(fake.clock()) if any(RELATIVE_TIME.match(v) for _, _, v in filters) else None


def _number(fake: FakePlex, text: str) -> float:
    relative = RELATIVE_TIME.match(text)
    if relative:
        return fake.clock() - int(relative.group(1)) * RELATIVE_UNITS[relative.group(2)]
    try:
        return float(text)
    except ValueError:
        raise HTTPError(400, f"fake Plex: not a number {text!r}") from None


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _field_value(fake: FakePlex, account: Account, item: PlexItem, name: str) -> Any:
    if name in ("addedAt", "year", "duration"):
        return {"addedAt": item.added_at, "year": item.year, "duration": item.duration}[name]
    if name in ("title", "titleSort"):
        return item.title.lower()
    if name == "ratingKey":
        return item.rating_key
    if item.type in ("show", "season"):
        leaves, viewed, last = _leaf_counts(fake, account, item)
        return {"unwatched": int(viewed < leaves), "lastViewedAt": last, "viewCount": viewed}.get(
            name
        )
    state = _state_of(fake, account, item) or UserState()
    return {
        "viewCount": state.view_count,
        "lastViewedAt": state.last_viewed_at,
        "viewOffset": state.view_offset,
        "userRating": state.user_rating,
        "unwatched": int(state.view_count == 0),
        "inProgress": int(state.view_offset > 0),
    }[name]


def _filtered(
    fake: FakePlex,
    account: Account,
    rows: list[PlexItem],
    filters: list[tuple[str, str, str]],
    sort: str | None,
    type_name: str,
) -> list[PlexItem]:
    result = []
    for item in rows:
        for name, operator, text in filters:
            value = _field_value(fake, account, item, name)
            if name == "title":
                if text.lower() not in (value or ""):
                    break
                continue
            if value is None:
                if operator != "!=":
                    break
                continue
            if not COMPARE[operator](value, _number(fake, text)):
                break
        else:
            result.append(item)
    if sort:
        for part in reversed(sort.split(",")):
            field_name, _, direction = part.partition(":")
            name = field_name.split(".")[-1]

            def by(item: PlexItem, name: str = name) -> tuple[int, Any]:
                return _sort_key(_field_value(fake, account, item, name))

            result.sort(key=by, reverse=direction == "desc")
    return result


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def _metadata_items(ctx: Ctx) -> list[PlexItem]:
    found = []
    for part in ctx.params["ids"].split(","):
        try:
            item = ctx.fake.items.get(int(part))
        except ValueError:
            raise HTTPError(400) from None
        if item is not None and ctx.fake.visible(ctx.me, item):
            found.append(item)
    if not found:
        raise HTTPError(404)
    return found


@route("/library/metadata/{ids}")
def metadata(ctx: Ctx) -> Node:
    items = _metadata_items(ctx)
    guids = "Guid" not in ctx.query.get("excludeElements", "").split(",")
    children = [item_node(ctx.fake, ctx.me, item, guids=guids) for item in items]
    section = ctx.fake.sections[items[0].section]
    return _container(_library_container(ctx.fake, section, size=len(children)), children)


def _children_listing(ctx: Ctx, rows: list[PlexItem], parent: PlexItem) -> Node:
    page, paging = _page(ctx, rows)
    guids = ctx.query.get("includeGuids") == "1"
    children = [item_node(ctx.fake, ctx.me, item, guids=guids) for item in page]
    section = ctx.fake.sections[parent.section]
    attrs = _library_container(
        ctx.fake,
        section,
        **paging,
        key=str(parent.rating_key),
        title1=parent.title,
        parentTitle=parent.title,
    )
    return _container(attrs, children)


@route("/library/metadata/{ids}/children")
def children_of(ctx: Ctx) -> Node:
    parent = _metadata_items(ctx)[0]
    return _children_listing(ctx, list(parent.children), parent)


@route("/library/metadata/{ids}/allLeaves")
def leaves_of(ctx: Ctx) -> Node:
    parent = _metadata_items(ctx)[0]
    if parent.type not in ("show", "season"):
        raise HTTPError(400)
    return _children_listing(ctx, parent.leaves(), parent)


# ---------------------------------------------------------------------- accounts and history


@route("/accounts", auth="owner")
def accounts(ctx: Ctx) -> Node:
    fake = ctx.fake
    rows = []
    if fake.list_account_zero:
        rows.append({"id": 0, "key": "/accounts/0", "name": ""})
    for account in sorted(fake.accounts.values(), key=lambda a: a.id):
        rows.append({"id": account.id, "key": f"/accounts/{account.id}", "name": account.name})
    children = [
        Node(
            "Account",
            {
                **row,
                "defaultAudioLanguage": "en",
                "autoSelectAudio": True,
                "defaultSubtitleLanguage": "en",
                "subtitleMode": 0,
                "thumb": "",
            },
        )
        for row in rows
    ]
    return _container(
        {"size": len(children), "identifier": "com.plexapp.system.accounts"}, children
    )


HISTORY_FILTERS = frozenset({"accountID", "viewedAt", "librarySectionID", "metadataItemID"})


@route("/status/sessions/history/all")
def history(ctx: Ctx) -> Node:
    fake, me = ctx.fake, ctx.me
    filters = []
    for name, operator, value in ctx.terms:
        if _neutral(name) and operator == "=":
            continue
        if name not in HISTORY_FILTERS or (name != "viewedAt" and operator != "="):
            raise HTTPError(400, f"fake Plex: unsupported history filter {name}{operator}")
        filters.append((name, operator, value))
    sort = ctx.query.get("sort") or None
    if sort and sort.split(":")[0] not in ("viewedAt", "id", "accountID"):
        raise HTTPError(400, f"fake Plex: unsupported history sort {sort!r}")
    # Admin sees every account; others only their own (docs §2.6).
    if not me.is_owner:
        filters.append(("accountID", "=", str(me.id)))
    key = ("history", tuple(filters), sort, _moment(fake, filters))
    rows = fake.cached(key, lambda: _history_rows(fake, filters, sort))
    page, paging = _page(ctx, rows)
    children = [_history_node(fake, entry) for entry in page]
    return _container(paging, children)


def _history_rows(
    fake: FakePlex, filters: list[tuple[str, str, str]], sort: str | None
) -> list[HistoryEntry]:
    rows = []
    for entry in fake.history:
        for name, operator, text in filters:
            if name == "accountID":
                ok = entry.account_id == int(_number(fake, text))
            elif name == "viewedAt":
                ok = COMPARE[operator](entry.viewed_at, _number(fake, text))
            elif name == "librarySectionID":
                ok = entry.item.section == int(_number(fake, text))
            else:  # metadataItemID: the item itself, or the show/season it belongs to
                wanted = int(_number(fake, text))
                item = entry.item
                ok = wanted in (
                    item.rating_key,
                    item.parent.rating_key if item.parent else None,
                    item.show.rating_key if item.show else None,
                )
            if not ok:
                break
        else:
            rows.append(entry)
    if sort:
        field_name, _, direction = sort.partition(":")
        attribute = {"viewedAt": "viewed_at", "id": "id", "accountID": "account_id"}[field_name]
        rows.sort(key=lambda e: getattr(e, attribute), reverse=direction == "desc")
    return rows


def _history_node(fake: FakePlex, entry: HistoryEntry) -> Node:
    item = entry.item
    show, season = item.show, item.season
    attrs: dict[str, Any] = {
        "historyKey": f"/status/sessions/history/{entry.id}",
        "key": None if item.removed else item.key,
        "ratingKey": str(item.rating_key),
        "librarySectionID": str(item.section),
        "parentKey": season.key if season else None,
        "grandparentKey": show.key if show else None,
        "title": item.title,
        "grandparentTitle": show.title if show else None,
        "type": item.type,
        "thumb": f"{item.key}/thumb/{item.added_at}",
        "index": item.index,
        "parentIndex": season.index if season else None,
        "viewedAt": entry.viewed_at,
        "accountID": entry.account_id,
        "deviceID": entry.device_id,
    }
    return Node("Video", attrs, json_key="Metadata")


@route("/status/sessions/history/{id}", methods=("DELETE",), auth="owner")
def delete_history(ctx: Ctx) -> Response:
    fake = ctx.fake
    wanted = _int_or_none(ctx.params["id"], "id")
    for entry in fake.history:
        if entry.id == wanted:
            fake.history.remove(entry)
            fake._bump()
            return Response(status_code=200)
    raise HTTPError(404)


# ---------------------------------------------------------------------- sessions


@route("/status/sessions", auth="owner")
def status_sessions(ctx: Ctx) -> Node:
    fake = ctx.fake
    children = [_session_node(fake, s) for s in fake.sessions.values()]
    return _container({"size": len(children)}, children)


def _session_node(fake: FakePlex, session: PlaySession) -> Node:
    node = item_node(
        fake,
        session.account,
        session.item,
        guids=False,
        extra={"sessionKey": str(session.session_key), "viewOffset": session.view_offset},
    )
    account = session.account
    node.children = [
        Node("User", {"id": str(account.id), "thumb": "", "title": account.name}, single=True),
        Node(
            "Player",
            {
                "address": session.address,
                "device": session.platform,
                "machineIdentifier": session.machine_identifier,
                "model": "",
                "platform": session.platform,
                "platformVersion": "",
                "product": session.product,
                "profile": session.platform,
                "remotePublicAddress": "203.0.113.7",
                "state": session.state,
                "title": session.player_title,
                "vendor": "",
                "version": "1.0",
                "local": session.local,
                "relayed": False,
                "secure": True,
                "userID": account.id,
            },
            single=True,
        ),
        Node(
            "Session",
            {
                "id": session.session_id,
                "bandwidth": 10000,
                "location": "lan" if session.local else "wan",
            },
            single=True,
        ),
    ]
    return node


# ---------------------------------------------------------------------- writes


def _target(ctx: Ctx) -> PlexItem:
    if ctx.query.get("identifier") != LIBRARY_IDENTIFIER:
        raise HTTPError(400, "identifier must be com.plexapp.plugins.library")
    key = _int_or_none(ctx.query.get("key") or ctx.query.get("ratingKey"), "key")
    if key is None:
        raise HTTPError(400, "key is required")
    item = ctx.fake.items.get(key)
    if item is None or not ctx.fake.visible(ctx.me, item):
        raise HTTPError(404)
    return item


@route("/:/scrobble", methods=("GET", "PUT"))
def scrobble(ctx: Ctx) -> Response:
    ctx.fake.mark_watched(ctx.me, _target(ctx))
    return Response(status_code=200)


@route("/:/unscrobble", methods=("GET", "PUT"))
def unscrobble(ctx: Ctx) -> Response:
    ctx.fake.mark_unwatched(ctx.me, _target(ctx))
    return Response(status_code=200)


@route("/:/rate", methods=("GET", "PUT"))
def rate(ctx: Ctx) -> Response:
    item = _target(ctx)
    try:
        rating = float(ctx.query["rating"])
    except (KeyError, ValueError):
        raise HTTPError(400, "rating is required") from None
    if rating != -1 and not 0 <= rating <= 10:
        raise HTTPError(400, "rating must be 0..10 (or -1 to clear)")
    rated_at = _int_or_none(ctx.query.get("ratedAt"), "ratedAt")
    if rated_at is not None and rated_at > ctx.fake.clock():
        raise HTTPError(400, "ratedAt is in the future")
    ctx.fake.rate(ctx.me, item, None if rating == -1 else rating, rated_at)
    return Response(status_code=200)


@route("/:/progress", methods=("GET", "PUT"))
def progress(ctx: Ctx) -> Response:
    item = _target(ctx)
    time_ms = _int_or_none(ctx.query.get("time"), "time")
    if time_ms is None:
        raise HTTPError(400, "time is required")
    ctx.fake.set_progress(ctx.me, item, time_ms)
    return Response(status_code=200)
