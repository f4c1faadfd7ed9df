"""The ASGI layer in front of everything (SPEC §11).

- ``Host`` allow-list while listening on a loopback address (DNS rebinding): other hosts get 400.
- A NUL character in the URL (path or query): 400.
- Security headers on every HTTP answer (no framing, no sniffing, same-origin referrers).
- ``/api/``: the bearer token is checked before any byte of the body is read (a stranger's 32 MB
  body is never buffered), then the body is capped at 8 MiB (413).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..crypto import same_secret
from .clients import is_loopback
from .sessions import COOKIE_NAME

API_PREFIX = "/api/"
API_BODY_LIMIT = 8 * 1024 * 1024  # the largest legitimate call (5000 plays) is far smaller
# Read-only API pages a browser opens from the dashboard (it cannot send a bearer header).
BROWSER_READABLE = frozenset({"/api/v1/docs", "/api/v1/openapi.json"})
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def host_name(host_header: str) -> str:
    """``Host`` without its port, lower case (``[::1]:8765`` → ``::1``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _answer(
    send: Send, status: int, error: str, extra: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps({"error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SecurityGate:
    """Wraps the whole application; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_token: Callable[[], str],
        session_valid: Callable[[str | None], bool],
        allowed_hosts: frozenset[str] | None,
    ) -> None:
        self.app = app
        self.api_token = api_token
        self.session_valid = session_valid
        self.allowed_hosts = allowed_hosts  # None: any Host (not listening on loopback)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.allowed_hosts is not None and host_name(headers.get("host", "")) not in (
            self.allowed_hosts
        ):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _answer(send, 400, "unknown host name in the Host header")
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        if _nul_in_url(scope):
            await _answer(send, 400, "a NUL character in the URL")
            return
        if str(scope.get("path", "")).startswith(API_PREFIX):
            await self._api(scope, receive, send, headers)
            return
        await self.app(scope, receive, _with_security_headers(send))

    async def _api(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        if not await self._authorised(scope, headers):
            await _answer(
                send, 401, "missing or invalid bearer token", [(b"www-authenticate", b"Bearer")]
            )
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > API_BODY_LIMIT:
            await _answer(send, 413, "request body larger than 8 MiB")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > API_BODY_LIMIT:
                await _answer(send, 413, "request body larger than 8 MiB")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), _with_security_headers(send))

    async def _authorised(self, scope: Scope, headers: Headers) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and same_secret(token.strip(), self.api_token()):
            return True
        if scope.get("method") == "GET" and scope.get("path") in BROWSER_READABLE:
            # A store read: off the event loop.
            return await asyncio.to_thread(self.session_valid, _cookie(headers, COOKIE_NAME))
        return False


def _nul_in_url(scope: Scope) -> bool:
    """A NUL in the path or the query: no page or call takes one, and PostgreSQL cannot compare
    text holding it (ids and cursors reach queries), so it is refused before any route."""
    return "\x00" in str(scope.get("path", "")) or b"%00" in scope.get("query_string", b"")


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # waits for the disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def allowed_hosts_for(
    listen_host: str, redirect_uri_host: str | None, extra: Iterable[str]
) -> frozenset[str] | None:
    """The Host allow-list: only when listening on loopback (elsewhere any name may be in use)."""
    if not is_loopback(listen_host):
        return None
    names = {*LOOPBACK_HOSTS, *(name.strip().lower() for name in extra)}
    if redirect_uri_host:
        names.add(redirect_uri_host.lower())
    return frozenset(names)
