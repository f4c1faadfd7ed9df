"""HTTP side of the fake Jellyfin/Emby: a gate (prefix, faults, auth), then a route table.

What the gate does, in order, as the real servers do (docs/media-server-apis.md §3.1, §4):

* prefix: `/emby` and `/mediabrowser` are stripped on both (Jellyfin's
  LegacyEmbyRouteRewriteMiddleware; `/emby` is Emby's documented base);
* routing: paths and query parameter names are case-insensitive; list parameters are
  comma-separated or repeated, and enum values the server does not know are skipped;
* faults (`fail_next`), then the token. Jellyfin: `Authorization: MediaBrowser …, Token="…"` or
  `?ApiKey=`; while `legacy_auth` is on (up to 10.11; off from 12.0) also `X-Emby-Token`,
  `X-MediaBrowser-Token`, `X-Emby-Authorization`, the `Emby` scheme and `?api_key=`. Emby:
  `X-Emby-Token`, `?api_key=` (or `?X-Emby-Token=`, as its JS client sends it),
  `Authorization`/`X-Emby-Authorization` with scheme `Emby` or `MediaBrowser`; not `?ApiKey=`
  nor `X-MediaBrowser-Token` (undocumented for Emby: refused, so clients stick to the docs);
* a missing or wrong token: 401; a route of the other flavour or of a later Jellyfin: 404.

Handlers register with `@route(method, "/Path/{param}", auth=..., flavours=..., since=...)`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from .state import Caller, FakeJellyfin, LoggedRequest

PREFIXES = ("/emby", "/mediabrowser")
AUTH_SCHEMES = ("mediabrowser", "emby")


class HTTPError(Exception):
    """Raised by handlers to answer an error (plain text, as these servers mostly do)."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


class DroppedConnection(Exception):
    """The "drop" fault: the answer started, then the connection died."""


@dataclass
class Ctx:
    fake: FakeJellyfin
    request: Request
    entry: LoggedRequest
    params: dict[str, str]
    query: dict[str, list[str]]  # lower-case names → every value given
    body: Any
    caller: Caller | None
    auth_params: dict[str, str] = field(default_factory=dict)  # Client, Device, DeviceId…

    def q(self, name: str) -> str | None:
        values = self.query.get(name.lower())
        return values[-1] if values else None

    def q_list(self, name: str) -> list[str]:
        """A list parameter: comma-separated and/or repeated, blanks dropped."""
        out: list[str] = []
        for value in self.query.get(name.lower(), []):
            out.extend(part.strip() for part in value.split(",") if part.strip())
        return out

    def q_bool(self, name: str, default: bool | None = None) -> bool | None:
        value = self.q(name)
        if value is None or value == "":
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise HTTPError(400, f"The value '{value}' is not valid for {name}.")

    def q_int(self, name: str, default: int | None = None) -> int | None:
        value = self.q(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise HTTPError(400, f"The value '{value}' is not valid for {name}.") from None


Handler = Callable[[Ctx], Awaitable[Response]]


@dataclass
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: str  # "none" | "required" | "admin"
    flavours: tuple[str, ...]
    since: tuple[int, ...]  # Jellyfin version that added the route

    def available(self, fake: FakeJellyfin) -> bool:
        if fake.flavour not in self.flavours:
            return False
        return fake.flavour != "jellyfin" or fake.version_info >= self.since


ROUTES: list[Route] = []


def route(
    method: str,
    template: str,
    *,
    auth: str = "required",
    flavours: tuple[str, ...] = ("jellyfin", "emby"),
    since: tuple[int, ...] = (0,),
) -> Callable[[Handler], Handler]:
    """Register a handler for `method template` (params: {name}; matched case-insensitively)."""
    regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "/?$"

    def register(handler: Handler) -> Handler:
        ROUTES.append(
            Route(method, template, re.compile(regex, re.I), handler, auth, flavours, since)
        )
        return handler

    return register


def strip_prefix(path: str) -> str:
    lowered = path.lower()
    for prefix in PREFIXES:
        if lowered.startswith(prefix):
            return path[len(prefix) :] or "/"
    return path


def create_app(fake: FakeJellyfin) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app serving `fake` (for httpx.ASGITransport or uvicorn)."""
    from . import routes  # noqa: F401  (registers the handlers)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            from .socket import serve

            await serve(fake, scope, receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response, drop = await _handle(fake, request)
        if drop:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"1000"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"Items": [', "more_body": True})
            raise DroppedConnection("fake Jellyfin dropped the connection")
        await response(scope, receive, send)

    return app


def _match(path: str, method: str, fake: FakeJellyfin) -> tuple[Route | None, dict[str, str], bool]:
    """(the route, its params, whether the path exists for another method)."""
    other_method = False
    for candidate in ROUTES:
        match = candidate.pattern.match(path)
        if match is None or not candidate.available(fake):
            continue
        if candidate.method == method:
            return candidate, {k: unquote(v) for k, v in match.groupdict().items()}, False
        other_method = True
    return None, {}, other_method


async def _handle(fake: FakeJellyfin, request: Request) -> tuple[Response, bool]:
    raw = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = raw.decode(errors="replace")
    local_path = strip_prefix(request.url.path)
    method = request.method
    found, params, other_method = _match(local_path, method, fake)
    entry = LoggedRequest(
        t=fake.monotonic(),
        wall=fake.clock(),
        method=method,
        path=request.url.path,
        local_path=local_path,
        query=dict(request.query_params),
        headers=headers,
        body=body,
        route=found.template if found else None,
    )
    target = params.get("userId") or next(
        (v for k, v in request.query_params.multi_items() if k.lower() == "userid"), None
    )
    if target:  # the user a request is for, logged even when it is refused or faulted
        entry.user = fake.normalize_id(target)
    with fake.lock:
        fake.requests.append(entry)
        fault = fake.take_fault(method, local_path, entry.route)
    if fake.latency:
        await asyncio.sleep(fake.latency)
    drop = False
    try:
        if fault is not None:
            if fault.kind == "hang":
                await _hang(fake, request)
            elif fault.kind == "drop":
                drop = True
            elif isinstance(fault.kind, int):
                raise HTTPError(fault.kind, f"injected {fault.kind}")
        response = await _dispatch(fake, request, entry, found, params, other_method, headers, body)
    except HTTPError as exc:
        response = _error(exc.status, exc.message)
    entry.status = response.status_code
    return response, drop


async def _hang(fake: FakeJellyfin, request: Request) -> None:
    """No answer for `hang_seconds`, or until the client gives up and disconnects."""
    deadline = fake.monotonic() + fake.hang_seconds
    while fake.monotonic() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.02)


def _error(status: int, message: str) -> Response:
    if status == 401 and not message:
        return Response(status_code=401)
    return PlainTextResponse(message, status_code=status)


async def _dispatch(
    fake: FakeJellyfin,
    request: Request,
    entry: LoggedRequest,
    found: Route | None,
    params: dict[str, str],
    other_method: bool,
    headers: dict[str, str],
    body: Any,
) -> Response:
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key.lower(), []).append(value)
    caller, presented, auth_params = authenticate(fake, headers, query)
    if caller is not None:
        entry.caller, entry.auth_via = caller.kind, caller.via
        if caller.user is not None:
            entry.user = caller.user.id
    if found is None:
        raise HTTPError(405 if other_method else 404, "" if other_method else "Not Found")
    if found.auth != "none":
        if caller is None:
            raise HTTPError(401, "Access token is invalid or expired." if presented else "")
        if found.auth == "admin" and not caller.is_admin:
            raise HTTPError(403, "Forbidden")
    ctx = Ctx(fake, request, entry, params, query, body, caller, auth_params)
    with fake.lock:
        return await found.handler(ctx)


def parse_authorization(value: str) -> tuple[str, dict[str, str]] | None:
    """`MediaBrowser Client="x", Token="y"` → ("mediabrowser", {"client": "x", "token": "y"})."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() not in AUTH_SCHEMES:
        return None
    found: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, raw = part.strip().partition("=")
        if not sep or not name.strip():
            continue
        found[name.strip().lower()] = unquote(raw.strip().strip('"'))
    return scheme.lower(), found


def authenticate(
    fake: FakeJellyfin, headers: dict[str, str], query: dict[str, list[str]]
) -> tuple[Caller | None, bool, dict[str, str]]:
    """(the caller or None, whether any token was presented, the auth header's fields)."""
    legacy = fake.legacy_auth
    emby = fake.flavour == "emby"
    candidates: list[tuple[str, str]] = []  # (via, token)
    auth_params: dict[str, str] = {}
    for name in ("authorization", "x-emby-authorization"):
        if name not in headers or (name == "x-emby-authorization" and not legacy):
            continue
        parsed = parse_authorization(headers[name])
        if parsed is None or (parsed[0] == "emby" and not legacy):
            continue
        auth_params = auth_params or parsed[1]
        if parsed[1].get("token"):
            via = "Authorization" if name == "authorization" else "X-Emby-Authorization"
            candidates.append((via, parsed[1]["token"]))
    if legacy:
        for name in ("x-emby-token", *(() if emby else ("x-mediabrowser-token",))):
            if headers.get(name):
                via = "X-Emby-Token" if name == "x-emby-token" else "X-MediaBrowser-Token"
                candidates.append((via, headers[name]))
        if query.get("api_key"):
            candidates.append(("api_key", query["api_key"][-1]))
    if not emby and query.get("apikey"):
        candidates.append(("ApiKey", query["apikey"][-1]))
    if emby and query.get("x-emby-token"):
        candidates.append(("X-Emby-Token", query["x-emby-token"][-1]))
    if not candidates:
        return None, False, auth_params
    via, token = candidates[0]
    if token in fake.api_keys:
        return Caller("api_key", token, via), True, auth_params
    held = fake.user_tokens.get(token)
    if held is not None:
        user = fake.users.get(held[0])
        if user is not None and not user.is_disabled:
            caller = Caller(
                "user",
                token,
                via,
                user=user,
                device_id=auth_params.get("deviceid") or held[1],
                device_name=auth_params.get("device"),
                client=auth_params.get("client"),
            )
            return caller, True, auth_params
    return None, True, auth_params


def json_response(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)
