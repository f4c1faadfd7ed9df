"""Trakt API client: one request funnel (`TraktClient._request`) and thin public methods.

The funnel builds the URL, asks the user's token source for a valid token, sets the headers
Trakt requires on every request, waits for the per-user rate budget, sends, maps the status to
`errors`, and parses JSON. Retry policy (spec §6):

* GETs are retried after 429 (Retry-After), 5xx/52x, timeouts and dropped connections, with
  exponential backoff and jitter, a bounded number of times;
* writes are retried only when they provably never left (connection refused, DNS, proxy down),
  after a 429 (Trakt rejected them unprocessed) and once after a 401 with a refreshed token;
  ambiguous write failures (timeout, 5xx, dropped connection) are raised for the caller's
  outbox to decide.

Every caller-given part of a path goes through `_seg` (percent-encoded; `.`, `..` and empty
refused), and the funnel refuses any path with a dot segment or a character that would end it,
so no id can change which endpoint is asked (spec §11): `errors.InvalidRequest`, nothing sent.

The `httpx.AsyncClient` is injected; `proxy_http_client` is the one place that builds one.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import random
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import TypeAdapter

from trakt_plugin import __version__

from . import errors
from .models import (
    HistoryItem,
    LastActivities,
    ListItem,
    Movie,
    RatedItem,
    Ratings,
    Recommendation,
    ScrobbleResponse,
    SearchResult,
    Show,
    SyncResponse,
    TraktList,
    UserSettings,
)
from .ratelimit import Priority, RateBudget

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_AUTH_URL",
    "PAGE_LIMIT",
    "TOR_PROXY",
    "Page",
    "Reply",
    "TokenSource",
    "TraktClient",
    "describe_proxy",
    "normalize_proxy",
    "proxy_http_client",
]

DEFAULT_API_URL = "https://api.trakt.tv"
# Trakt moved every OAuth call to this host in 2026-07 (docs §1); the API host is the fallback.
DEFAULT_AUTH_URL = "https://auth.trakt.tv"
DEFAULT_USER_AGENT = f"trakt-plugin/{__version__}"
# Trakt clamps every paginated endpoint to 250 items per page since 2026-06 (docs §8).
PAGE_LIMIT = 250
# Recommendations accept at most 100 per call (docs §5.4).
RECOMMENDATIONS_LIMIT = 100
# A text search's first page is all a person picks from (Trakt's default page is 50).
SEARCH_LIMIT = 10
# Characters Trakt's text search reads as operators (docs §6.1); escaped with a backslash.
_SEARCH_OPERATORS = frozenset('+-&|!(){}[]^"~*?:/\\')
# `tor` in the configuration: Tor's SOCKS port, names resolved by Tor (no DNS leak).
TOR_PROXY = "socks5h://127.0.0.1:9050"
PROXY_SCHEMES = ("socks5h", "socks5", "http", "https")
# Bounded retries: a GET is tried at most this many times on 5xx/timeouts/refused connections.
DEFAULT_MAX_ATTEMPTS = 3
# Trakt says "overloaded, try again in 30 s" for 502-504 (docs §7.2); start lower, cap there.
DEFAULT_RETRY_BASE_DELAY = 2.0
DEFAULT_RETRY_MAX_DELAY = 30.0
# 429s rejected the request unprocessed, so they are safe to repeat; but not forever.
DEFAULT_MAX_RATE_LIMIT_RETRIES = 3
# A 429 without Retry-After (Cloudflare's own) — Trakt reportedly blocks for minutes then.
DEFAULT_RETRY_AFTER = 10.0
# Overall deadline of one HTTP exchange; httpx's own timeouts are per read/write/connect.
DEFAULT_REQUEST_TIMEOUT = 60.0
OAUTH_PREFIX = "/oauth/"
# An idle connection is dropped after this long, under the 5 s after which common servers close
# one: reusing one the server is closing makes a write "sent, no answer" (ambiguous, checked
# against the history only after it settles) though it never arrived.
KEEPALIVE_EXPIRY = 4.0
# A cheap public endpoint for the reachability probe (the settings page's "test connection").
PROBE_PATH = "/genres/movies"
# Shorter "secrets" are not scrubbed from messages: replacing them would garble the text.
MIN_SCRUB_LENGTH = 6

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
MediaType = Literal["movies", "shows", "seasons", "episodes"]


class TokenSource(Protocol):
    """What the client needs from a connected Trakt user (implemented by auth.TokenManager)."""

    @property
    def key(self) -> str:
        """Stable id used to bucket the user's rate budget."""
        ...

    async def access_token(self) -> str:
        """A valid access token (refreshed ahead of expiry when needed)."""
        ...

    async def refresh_after_401(self, failed_token: str) -> str:
        """Refresh unless someone already did since `failed_token`; raise ReauthRequired."""
        ...


@dataclass(frozen=True)
class Reply:
    """A successful answer: status, headers and the parsed JSON (None for an empty body)."""

    status: int
    headers: httpx.Headers
    data: Any


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a paginated endpoint; resume with `pages(..., start_page, limit)`."""

    number: int
    page_count: int
    limit: int
    item_count: int | None
    items: list[T]


class TraktClient:
    """Async Trakt API v2 client (see the module docstring for the request policy)."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient,
        api_url: str = DEFAULT_API_URL,
        auth_url: str = DEFAULT_AUTH_URL,
        user_agent: str = DEFAULT_USER_AGENT,
        budget: RateBudget | None = None,
        proxy: str | None = None,  # for messages; found by itself with proxy_http_client
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_base_delay: float = DEFAULT_RETRY_BASE_DELAY,
        retry_max_delay: float = DEFAULT_RETRY_MAX_DELAY,
        max_rate_limit_retries: int = DEFAULT_MAX_RATE_LIMIT_RETRIES,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self.api_url = api_url.rstrip("/")
        self.auth_url = auth_url.rstrip("/")
        self.user_agent = user_agent
        self.budget = budget or RateBudget()
        proxy = proxy or _PROXY_OF.get(http)
        self.proxy = describe_proxy(normalize_proxy(proxy)) if proxy else None
        self._proxy_secrets = _userinfo(normalize_proxy(proxy)) if proxy else []
        self.max_attempts = max(1, max_attempts)
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self.max_rate_limit_retries = max_rate_limit_retries
        self.request_timeout = request_timeout
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._oauth_on_api_host = auth_url.rstrip("/") == api_url.rstrip("/")
        self._auth_host_confirmed = False

    def __repr__(self) -> str:
        return f"TraktClient(api_url={self.api_url!r}, auth_url={self.auth_url!r})"

    @property
    def client_secret(self) -> str:
        """The app's client secret (for OAuth bodies; never logged)."""
        return self._client_secret

    @property
    def oauth_url(self) -> str:
        """Base URL OAuth calls currently go to (the API host after an auth-host 404)."""
        return self.api_url if self._oauth_on_api_host else self.auth_url

    # ------------------------------------------------------------------ the funnel

    async def _request(
        self,
        method: str,
        path: str,
        *,
        user: TokenSource | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        auth: bool = True,
        oauth: bool = False,
        priority: int = Priority.NORMAL,
    ) -> Reply:
        """Send one logical request with the policy of the module docstring."""
        method = method.upper()
        _check_path(method, path)
        if auth and user is None:
            raise ValueError(f"{method} {path} needs an authenticated user")
        key = user.key if user is not None else None
        failures = 0
        rate_limited = 0
        refreshed = False
        while True:
            token = await user.access_token() if auth and user is not None else None
            try:
                response = await self._send(
                    method, path, key=key, params=params, body=json, token=token,
                    oauth=oauth, priority=priority,
                )  # fmt: skip
            except errors.TraktTransportError as exc:
                failures += 1
                never_sent = isinstance(exc, errors.TraktUnreachable)
                if (never_sent or method == "GET") and failures < self.max_attempts:
                    await self._backoff(failures)
                    continue
                raise
            if response.is_success:
                return Reply(
                    response.status_code, response.headers, self._parse(response, method, path)
                )
            error = self._error(response, method, path, token, *_body_secrets(json))
            if isinstance(error, errors.Unauthorized) and token is not None and not refreshed:
                assert user is not None
                refreshed = True
                await user.refresh_after_401(token)
                continue
            if isinstance(error, errors.RateLimited) and not oauth:
                self.budget.pause(key, error.retry_after or DEFAULT_RETRY_AFTER)
                rate_limited += 1
                if rate_limited <= self.max_rate_limit_retries:
                    continue  # the budget holds the retry until Retry-After has passed
                raise error
            if isinstance(error, errors.ServerError) and method == "GET":
                failures += 1
                if failures < self.max_attempts:
                    await self._backoff(failures, minimum=error.retry_after)
                    continue
            raise error

    async def _send(
        self,
        method: str,
        path: str,
        *,
        key: str | None,
        params: Mapping[str, Any] | None,
        body: Any,
        token: str | None,
        oauth: bool,
        priority: int,
    ) -> httpx.Response:
        """One HTTP exchange (OAuth: with the auth-host → API-host fallback on 404)."""
        headers = {
            "Content-Type": "application/json",
            "trakt-api-version": "2",
            "trakt-api-key": self.client_id,
            "User-Agent": self.user_agent,
        }
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        content = jsonlib.dumps(body).encode() if body is not None else None
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        if not oauth:
            async with self.budget.slot(key, method, priority):
                return await self._exchange(method, self.api_url + path, headers, query, content)
        # OAuth calls are not part of the API's per-user budget (another host, another limit).
        response = await self._exchange(method, self.oauth_url + path, headers, query, content)
        if self._oauth_on_api_host or self._auth_host_confirmed:
            return response
        if response.status_code != 404:
            self._auth_host_confirmed = True
            return response
        fallback = await self._exchange(method, self.api_url + path, headers, query, content)
        if fallback.status_code != 404:
            self._oauth_on_api_host = True  # remembered for every later OAuth call
        return fallback

    async def close(self) -> None:
        """Close the injected HTTP client (for throwaway clients)."""
        await self._http.aclose()

    async def probe(self) -> httpx.Response:
        """One unauthenticated GET with the usual headers, no retries: can Trakt be reached
        (through the proxy)? Transport failures raise the usual errors; any answer is returned."""
        return await self._send(
            "GET", PROBE_PATH, key=None, params=None, body=None, token=None, oauth=False,
            priority=Priority.NORMAL,
        )  # fmt: skip

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        params: dict[str, str],
        content: bytes | None,
    ) -> httpx.Response:
        """Send and read the whole answer, translating transport failures to `errors`."""
        where = f"{method} {urlsplit(url).path}"
        try:
            async with asyncio.timeout(self.request_timeout):
                return await self._http.request(
                    method, url, headers=headers, params=params, content=content
                )
        except TimeoutError as exc:
            raise errors.TraktTimeout(
                f"Trakt {where}: no answer within {self.request_timeout:g} s; "
                "the request may have been processed"
            ) from exc
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, where) from exc

    def _transport_error(self, exc: httpx.HTTPError, where: str) -> errors.TraktError:
        detail = self._scrub(str(exc) or type(exc).__name__)
        if isinstance(exc, httpx.ProxyError) or (
            self.proxy and isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        ):
            proxy = self.proxy or "the configured proxy"
            return errors.ProxyError(
                f"Trakt {where}: could not get through the proxy {proxy} ({detail}); "
                "check that the proxy is running and can reach Trakt",
                proxy=proxy,
            )
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return errors.TraktUnreachable(f"Trakt {where}: could not connect ({detail})")
        if isinstance(exc, httpx.TimeoutException):
            return errors.TraktTimeout(
                f"Trakt {where}: timed out ({detail}); the request may have been processed"
            )
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return errors.TraktConnectionLost(
                f"Trakt {where}: connection lost ({detail}); the request may have been processed"
            )
        return errors.TraktUnreachable(f"Trakt {where}: request failed ({detail})")

    def _error(
        self, response: httpx.Response, method: str, path: str, *secrets: str | None
    ) -> errors.TraktHTTPError:
        body = self._scrub(response.text, *secrets)
        headers = {k.lower(): self._scrub(v, *secrets) for k, v in response.headers.items()}
        return errors.error_for_status(
            response.status_code,
            method=method,
            path=path,
            headers=headers,
            body_text=body,
            content_type=response.headers.get("content-type", ""),
        )

    def _parse(self, response: httpx.Response, method: str, path: str) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise errors.UnexpectedStatus(
                f"Trakt {method} {path}: answered {response.status_code} but not with JSON",
                status=response.status_code,
                body_text=response.text[: errors.ERROR_TEXT_LIMIT],
            ) from None

    def _scrub(self, text: str, *extra: str | None) -> str:
        """Remove every secret this client knows from text bound for an exception."""
        for secret in (self._client_secret, *extra, *self._proxy_secrets):
            if secret and len(secret) >= MIN_SCRUB_LENGTH:
                text = text.replace(secret, "***")
        return text

    async def _backoff(self, failures: int, minimum: float | None = None) -> None:
        delay = min(self.retry_max_delay, self.retry_base_delay * 2 ** (failures - 1))
        delay *= 0.5 + self._rng.random()  # jitter: 50-150 %
        await self._sleep(max(delay, minimum or 0.0))

    # ------------------------------------------------------------------ OAuth entry

    async def oauth_post(self, path: str, body: Mapping[str, Any]) -> Reply:
        """POST to an OAuth endpoint (used by auth.py); no token, no retry but never-sent."""
        if not path.startswith(OAUTH_PREFIX):
            raise ValueError(f"not an OAuth path: {path}")
        return await self._request("POST", path, json=dict(body), auth=False, oauth=True)

    # ------------------------------------------------------------------ pagination

    async def pages(
        self,
        path: str,
        *,
        user: TokenSource | None = None,
        params: Mapping[str, Any] | None = None,
        auth: bool = True,
        start_page: int = 1,
        limit: int = PAGE_LIMIT,
    ) -> AsyncIterator[Page[Any]]:
        """Yield pages of raw items, always sending `page` and `limit` (docs §8).

        The page count Trakt reports is computed with the limit it applied
        (`X-Pagination-Limit`), so later pages are asked with that same limit.
        """
        page = start_page
        while True:
            query = {**(params or {}), "page": page, "limit": limit}
            reply = await self._request("GET", path, user=user, params=query, auth=auth)
            items = reply.data if isinstance(reply.data, list) else []
            page_count = _int_header(reply.headers, "x-pagination-page-count") or page
            applied = _int_header(reply.headers, "x-pagination-limit") or limit
            item_count = _int_header(reply.headers, "x-pagination-item-count")
            yield Page(page, page_count, applied, item_count, items)
            if page >= page_count or not items:
                return
            page += 1
            limit = min(applied, PAGE_LIMIT)

    async def _typed_pages(
        self,
        adapter: TypeAdapter[list[T]],
        pages: AsyncIterator[Page[Any]],
        skip_ids: Collection[int] = (),
    ) -> AsyncIterator[Page[T]]:
        async for page in pages:
            items = page.items
            if skip_ids:
                items = [i for i in items if _entry_id(i) not in skip_ids]
            yield Page(
                page.number,
                page.page_count,
                page.limit,
                page.item_count,
                adapter.validate_python(items),
            )

    async def _collect(self, pages: AsyncIterator[Page[T]]) -> list[T]:
        return [item async for page in pages for item in page.items]

    # ------------------------------------------------------------------ users

    async def user_settings(self, user: TokenSource) -> UserSettings:
        """GET /users/settings: username, slug, VIP flags, limits."""
        reply = await self._request("GET", "/users/settings", user=user)
        return UserSettings.model_validate(reply.data)

    async def user_stats(self, user: TokenSource | None, slug: str = "me") -> dict[str, Any]:
        """GET /users/:slug/stats (Trakt's object as is)."""
        reply = await self._request(
            "GET", f"/users/{_seg(slug)}/stats", user=user, auth=user is not None
        )
        return dict(reply.data or {})

    async def user_lists(self, user: TokenSource, slug: str = "me") -> list[TraktList]:
        """GET /users/:slug/lists."""
        reply = await self._request("GET", f"/users/{_seg(slug)}/lists", user=user)
        return _LISTS.validate_python(reply.data or [])

    def list_item_pages(
        self, user: TokenSource, list_id: str | int, slug: str = "me", start_page: int = 1
    ) -> AsyncIterator[Page[ListItem]]:
        """Pages of GET /users/:slug/lists/:list_id/items."""
        path = f"/users/{_seg(slug)}/lists/{_seg(list_id)}/items"
        return self._typed_pages(_LIST_ITEMS, self.pages(path, user=user, start_page=start_page))

    async def list_items(
        self, user: TokenSource, list_id: str | int, slug: str = "me"
    ) -> list[ListItem]:
        """Every item of a personal list."""
        return await self._collect(self.list_item_pages(user, list_id, slug))

    async def recommendations(
        self, user: TokenSource, type: Literal["movies", "shows"], limit: int = 100
    ) -> list[Recommendation]:
        """GET /recommendations/movies|shows (at most 100)."""
        params = {"limit": min(limit, RECOMMENDATIONS_LIMIT)}
        path = f"/recommendations/{_seg(type)}"
        reply = await self._request("GET", path, user=user, params=params)
        return _RECOMMENDATIONS.validate_python(reply.data or [])

    # ------------------------------------------------------------------ scrobble

    async def scrobble(
        self,
        user: TokenSource,
        action: Literal["start", "pause", "stop"],
        body: Mapping[str, Any],
        *,
        priority: int = Priority.SCROBBLE,
    ) -> ScrobbleResponse:
        """POST /scrobble/start|pause|stop with one item and `progress`."""
        if action not in ("start", "pause", "stop"):
            raise ValueError(f"unknown scrobble action {action!r}")
        reply = await self._request(
            "POST", f"/scrobble/{action}", user=user, json=body, priority=priority
        )
        return ScrobbleResponse.model_validate(reply.data)

    # ------------------------------------------------------------------ history

    async def add_history(
        self, user: TokenSource, body: Mapping[str, Any], *, priority: int = Priority.NORMAL
    ) -> SyncResponse:
        """POST /sync/history (Trakt does not de-duplicate: never send a play twice)."""
        return await self._write(user, "/sync/history", body, priority)

    async def remove_history(
        self, user: TokenSource, body: Mapping[str, Any], *, priority: int = Priority.NORMAL
    ) -> SyncResponse:
        """POST /sync/history/remove (items, or `ids` of single plays)."""
        return await self._write(user, "/sync/history/remove", body, priority)

    def history_pages(
        self,
        user: TokenSource,
        type: MediaType | None = None,
        item_id: int | None = None,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        extended: str | None = None,
        start_page: int = 1,
        skip_ids: Collection[int] = (),
    ) -> AsyncIterator[Page[HistoryItem]]:
        """Pages of GET /sync/history[/:type[/:id]], newest first. Entries whose history id
        is in ``skip_ids`` are left out of each page unread (a read-back of a long history
        checks its own few among tens of thousands the ledger knows)."""
        if item_id is not None and type is None:
            raise ValueError("item_id needs a type")
        path = "/sync/history"
        if type is not None:
            path += f"/{_seg(type)}"
            if item_id is not None:
                path += f"/{_seg(item_id)}"
        params = {"start_at": start_at, "end_at": end_at, "extended": extended}
        pages = self.pages(path, user=user, params=params, start_page=start_page)
        return self._typed_pages(_HISTORY, pages, skip_ids)

    async def get_history(
        self,
        user: TokenSource,
        type: MediaType | None = None,
        item_id: int | None = None,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        extended: str | None = None,
    ) -> list[HistoryItem]:
        """Every play in the range (all pages)."""
        return await self._collect(
            self.history_pages(user, type, item_id, start_at, end_at, extended)
        )

    async def last_activities(self, user: TokenSource) -> LastActivities:
        """GET /sync/last_activities: the first call of every sync."""
        reply = await self._request("GET", "/sync/last_activities", user=user)
        return LastActivities.model_validate(reply.data or {})

    # ------------------------------------------------------------------ watchlist

    def watchlist_pages(
        self,
        user: TokenSource,
        type: MediaType | None = None,
        start_page: int = 1,
    ) -> AsyncIterator[Page[ListItem]]:
        """Pages of GET /sync/watchlist[/:type] (must be paged since 2026-04)."""
        path = "/sync/watchlist" + (f"/{_seg(type)}" if type else "")
        return self._typed_pages(_LIST_ITEMS, self.pages(path, user=user, start_page=start_page))

    async def get_watchlist(
        self, user: TokenSource, type: MediaType | None = None
    ) -> list[ListItem]:
        """The whole watchlist."""
        return await self._collect(self.watchlist_pages(user, type))

    async def add_watchlist(
        self, user: TokenSource, body: Mapping[str, Any], *, priority: int = Priority.NORMAL
    ) -> SyncResponse:
        """POST /sync/watchlist (420 over the plan's limit)."""
        return await self._write(user, "/sync/watchlist", body, priority)

    async def remove_watchlist(
        self, user: TokenSource, body: Mapping[str, Any], *, priority: int = Priority.NORMAL
    ) -> SyncResponse:
        """POST /sync/watchlist/remove."""
        return await self._write(user, "/sync/watchlist/remove", body, priority)

    # ------------------------------------------------------------------ ratings (user)

    def rating_pages(
        self, user: TokenSource, type: MediaType | None = None, start_page: int = 1
    ) -> AsyncIterator[Page[RatedItem]]:
        """Pages of GET /sync/ratings[/:type]."""
        path = "/sync/ratings" + (f"/{_seg(type)}" if type else "")
        return self._typed_pages(_RATED, self.pages(path, user=user, start_page=start_page))

    async def get_ratings(
        self, user: TokenSource, type: MediaType | None = None
    ) -> list[RatedItem]:
        """Every rating of the user."""
        return await self._collect(self.rating_pages(user, type))

    async def add_ratings(
        self, user: TokenSource, body: Mapping[str, Any], *, priority: int = Priority.NORMAL
    ) -> SyncResponse:
        """POST /sync/ratings (items carry `rating` 1-10)."""
        return await self._write(user, "/sync/ratings", body, priority)

    async def remove_ratings(
        self, user: TokenSource, body: Mapping[str, Any], *, priority: int = Priority.NORMAL
    ) -> SyncResponse:
        """POST /sync/ratings/remove."""
        return await self._write(user, "/sync/ratings/remove", body, priority)

    async def _write(
        self, user: TokenSource, path: str, body: Mapping[str, Any], priority: int
    ) -> SyncResponse:
        reply = await self._request("POST", path, user=user, json=body, priority=priority)
        return SyncResponse.model_validate(reply.data or {})

    # ------------------------------------------------------------------ metadata

    async def search_id(
        self,
        id_type: Literal["trakt", "imdb", "tmdb", "tvdb"],
        id: str | int,
        type: Literal["movie", "show", "episode"] | None = None,
        *,
        user: TokenSource | None = None,
    ) -> list[SearchResult]:
        """GET /search/:id_type/:id?type=… (always pass `type` for tmdb/tvdb/trakt)."""
        reply = await self._request(
            "GET",
            f"/search/{_seg(id_type)}/{_seg(id)}",
            user=user,
            auth=user is not None,
            params={"type": type, "extended": "full"},
        )
        return _SEARCH.validate_python(reply.data or [])

    async def search_text(
        self,
        query: str,
        types: Sequence[Literal["movie", "show", "episode"]] = ("movie", "show"),
        *,
        year: int | None = None,
        extended: str | None = "full,images",
        limit: int = SEARCH_LIMIT,
        user: TokenSource | None = None,
    ) -> list[SearchResult]:
        """GET /search/:types?query=…&fields=title[&years=…]: the first page, best first.

        Trakt reads the query as a search expression; its operators are escaped (docs §6.1), so
        a title such as ``Mission: Impossible`` is searched for as written.
        """
        if not types:
            raise ValueError("search_text needs at least one type")
        path = "/search/" + ",".join(_seg(t) for t in types)
        params = {
            "query": escape_search(query),
            "fields": "title",
            "years": year,
            "extended": extended,
            "page": 1,
            "limit": max(1, min(limit, PAGE_LIMIT)),
        }
        reply = await self._request("GET", path, user=user, auth=user is not None, params=params)
        return _SEARCH.validate_python(reply.data or [])

    async def summary(
        self,
        type: Literal["movie", "show"],
        id: str | int,
        extended: str | None = "full",
        *,
        user: TokenSource | None = None,
    ) -> Movie | Show:
        """GET /movies/:id or /shows/:id (trakt id, slug or IMDb id)."""
        reply = await self._request(
            "GET",
            f"/{_seg(type)}s/{_seg(id)}",
            user=user,
            auth=user is not None,
            params={"extended": extended},
        )
        model = Movie if type == "movie" else Show
        return model.model_validate(reply.data)

    async def ratings(
        self,
        type: Literal["movie", "show"],
        id: str | int,
        extended: str | None = "all",
        *,
        user: TokenSource | None = None,
    ) -> Ratings:
        """GET /movies|shows/:id/ratings; extended=all adds IMDb, TMDB, RT, Metacritic…."""
        reply = await self._request(
            "GET",
            f"/{_seg(type)}s/{_seg(id)}/ratings",
            user=user,
            auth=user is not None,
            params={"extended": extended},
        )
        return Ratings.model_validate(reply.data or {})

    async def episode_ratings(
        self,
        show_id: str | int,
        season: int,
        number: int,
        extended: str | None = "all",
        *,
        user: TokenSource | None = None,
    ) -> Ratings:
        """GET /shows/:id/seasons/:season/episodes/:number/ratings."""
        path = f"/shows/{_seg(show_id)}/seasons/{_seg(season)}/episodes/{_seg(number)}/ratings"
        reply = await self._request(
            "GET", path, user=user, auth=user is not None, params={"extended": extended}
        )
        return Ratings.model_validate(reply.data or {})


# ---------------------------------------------------------------------- proxies


def normalize_proxy(proxy: str | None) -> str | None:
    """Validate a proxy setting; `tor` means Tor's local SOCKS port with remote DNS."""
    if proxy is None or not proxy.strip():
        return None
    proxy = proxy.strip()
    if proxy.lower() == "tor":
        return TOR_PROXY
    parts = urlsplit(proxy)
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        raise ValueError(
            f"proxy {describe_proxy(proxy)!r} is not supported: use socks5h://host:port, "
            "socks5://host:port, http(s)://host:port or tor"
        )
    return proxy


def describe_proxy(proxy: str | None) -> str:
    """The proxy as `scheme://host:port`, without credentials (for messages and the UI)."""
    if not proxy:
        return "direct"
    parts = urlsplit(proxy)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def proxy_http_client(proxy: str | None, timeout: float) -> httpx.AsyncClient:
    """The one place that builds the HTTP client for Trakt, honouring the proxy setting.

    SOCKS goes through httpx's own support (httpcore + socksio). For both `socks5h` and
    `socks5` httpcore sends the target *hostname* in the SOCKS5 CONNECT request (ATYP 3,
    socksio infers the address type from the string and only literal IPs become ATYP 1/4), so
    names are always resolved by the proxy: no local DNS lookup, nothing leaks around Tor.
    That makes `socks5` behave like `socks5h` here, which is the safe reading of it.
    Environment proxy variables are ignored (`trust_env=False`): the setting is the only source.
    """
    url = normalize_proxy(proxy)
    http = httpx.AsyncClient(
        proxy=url,
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY),
        trust_env=False,
        follow_redirects=False,
    )
    if url is not None:
        _PROXY_OF[http] = url  # so a TraktClient built on it can name the proxy in errors
    return http


# ---------------------------------------------------------------------- helpers

_PROXY_OF: weakref.WeakKeyDictionary[httpx.AsyncClient, str] = weakref.WeakKeyDictionary()

_HISTORY: TypeAdapter[list[HistoryItem]] = TypeAdapter(list[HistoryItem])
_LIST_ITEMS: TypeAdapter[list[ListItem]] = TypeAdapter(list[ListItem])
_RATED: TypeAdapter[list[RatedItem]] = TypeAdapter(list[RatedItem])
_SEARCH: TypeAdapter[list[SearchResult]] = TypeAdapter(list[SearchResult])
_LISTS: TypeAdapter[list[TraktList]] = TypeAdapter(list[TraktList])
_RECOMMENDATIONS: TypeAdapter[list[Recommendation]] = TypeAdapter(list[Recommendation])


# Segments that are no name of their own: "." and ".." move along the path, "" doubles a slash.
_NOT_A_SEGMENT = frozenset({"", ".", ".."})
# Characters that end or escape a path; a path built with _seg never holds them.
_PATH_BREAKERS = frozenset(" ?#\\")
# How much of a refused value goes into the message.
_SHOWN_CHARS = 60


def _seg(value: str | int) -> str:
    """One URL path segment, percent-encoded (everything but letters, digits and ``-._~``).

    ``.``, ``..`` and the empty string would change the path however they are encoded (clients
    and servers resolve them), so they are refused with :class:`errors.InvalidRequest`.
    """
    text = str(value)
    if text in _NOT_A_SEGMENT:
        raise errors.InvalidRequest(
            f"refused to ask Trakt with the path segment {text!r}: it would change the path",
        )
    try:
        return quote(text, safe="")
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 encoding exists
        raise errors.InvalidRequest(
            f"refused to ask Trakt with the path segment {_shown(text)}: not valid Unicode"
        ) from None


def escape_search(query: str) -> str:
    """``query`` with Trakt's search operators escaped, so it is matched as plain words."""
    return "".join("\\" + c if c in _SEARCH_OPERATORS else c for c in query.strip())


def _check_path(method: str, path: str) -> None:
    """The funnel's own check: a path with a dot segment or a raw ``?``, ``#``, ``\\``, space,
    control or non-ASCII character was not built with :func:`_seg` and is not sent."""
    if (
        path.startswith("/")
        and path.isascii()
        and path.isprintable()
        and not _PATH_BREAKERS.intersection(path)
        and not _NOT_A_SEGMENT.intersection(path.split("/")[1:])
    ):
        return
    raise errors.InvalidRequest(
        f"refused to send Trakt {method} {_shown(path)}: the path would not name one endpoint"
    )


def _shown(text: str) -> str:
    shown = text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
    return ascii(shown)


def _query_value(value: object) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value: str | None = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# Body fields of OAuth calls that are secrets (scrubbed from any error text that echoes them).
_SECRET_FIELDS = ("client_secret", "refresh_token", "code", "token", "access_token")


def _body_secrets(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    return [v for k, v in body.items() if k in _SECRET_FIELDS and isinstance(v, str) and v]


def _userinfo(proxy: str | None) -> list[str]:
    if not proxy:
        return []
    password = urlsplit(proxy).password
    return [password] if password else []


def _entry_id(raw: Any) -> int | None:
    """The ``id`` of a raw list entry, when it is a number (a history entry's id)."""
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if isinstance(value, int) else None
