"""Jellyfin and Emby through their REST APIs (docs/media-server-apis.md §3, §4), with httpx.

One client, two flavours:

=================  =======================================  ======================================
                   Jellyfin (10.9+, 12.0)                   Emby (4.x)
=================  =======================================  ======================================
base path          the URL as given                         ``/emby`` appended when missing
token              ``Authorization: MediaBrowser …          ``X-Emby-Token`` header
                   Token="…"`` (12.0 drops legacy forms)
users              ``GET /Users``                           ``GET /Users/Query`` (``/Users`` may
                                                            answer 403 to API keys), else /Users
items              ``GET /Items?userId=``                   ``GET /Users/{id}/Items``
mark watched       ``POST /UserPlayedItems/{item}?userId=   ``POST /Users/{id}/PlayedItems/{item}
                   &datePlayed=``                           ?DatePlayed=``
mark unwatched     ``DELETE /UserPlayedItems/{item}``       ``DELETE /Users/{id}/PlayedItems/…``
=================  =======================================  ======================================

An API key acts for every user, so every account is writable. Dates are sent as
``yyyyMMddHHmmss`` in UTC (both servers read that form; Jellyfin takes it as UTC). The token is
only ever sent in a header, so no URL (and no httpx log line) carries it. Synchronous: callers run
it in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from trakt_plugin import __version__
from trakt_plugin.events.model import BadPayload, MediaType, ShowInfo
from trakt_plugin.events.parsers._common import (
    MIN_YEAR,
    TICKS_PER_MS,
    get_bool,
    get_int,
    get_obj,
    get_str,
    lower_keys,
    normalise_guid,
    parse_server_time,
    year_from,
)

from .base import (
    CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    PAGE_SIZE,
    AccountIdentity,
    LibraryItem,
    NotSupported,
    ServerAccount,
    ServerError,
    ServerInfo,
    ServerKind,
    ServerUnreachable,
    runtime_from_ms,
    status_error,
)
from .ids import provider_ids
from .writes import KeptAliveWrites

log = logging.getLogger(__name__)

Flavour = Literal["jellyfin", "emby"]
# The date form both servers accept for a played date (docs §3.5, §4).
DATE_PLAYED_FORMAT = "%Y%m%d%H%M%S"
CLIENT_NAME = "trakt-plugin"
_TYPES: dict[str, MediaType] = {"movie": "movie", "episode": "episode"}


def _segment(value: str) -> str:
    """A path segment that cannot change the path (``/``, ``..``, ``?`` are quoted)."""
    text = quote(value.strip(), safe="")
    if text in ("", ".", ".."):
        raise ValueError("not a usable id")
    return text


def emby_base(url: str) -> str:
    """Emby's API lives under ``/emby`` (docs §4); a URL already ending there is kept."""
    url = url.rstrip("/")
    return url if urlsplit(url).path.lower().endswith("/emby") else f"{url}/emby"


class JellyfinClient:
    """A Jellyfin (``flavour="jellyfin"``) or Emby (``flavour="emby"``) server and its API key."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        flavour: Flavour = "jellyfin",
        timeout: float = DEFAULT_TIMEOUT,
        page_size: int = PAGE_SIZE,
        device_id: str = CLIENT_NAME,
    ) -> None:
        self.kind: ServerKind = flavour
        self._label = "Emby" if flavour == "emby" else "Jellyfin"
        self._token = token
        self._page_size = max(page_size, 1)
        base = emby_base(url) if flavour == "emby" else url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": f"{CLIENT_NAME}/{__version__}"}
        if flavour == "emby":
            headers["X-Emby-Token"] = token
        else:
            headers["Authorization"] = (
                f'MediaBrowser Client="{CLIENT_NAME}", Device="{CLIENT_NAME}", '
                f'DeviceId="{device_id}", Version="{__version__}", Token="{token}"'
            )
        limits = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))
        # trust_env off: no proxy variables or .netrc from the environment (the settings object
        # is the only reader of the environment; a LAN server is reached directly).
        self._http = httpx.Client(base_url=base, headers=headers, timeout=limits, trust_env=False)
        # Marks (tens of thousands in a large sync) on light connections; see writes.py.
        self._writes = KeptAliveWrites(base, timeout, self._label, headers)

    # ------------------------------------------------------------ the funnel

    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """One request; every failure becomes one of our errors (never naming the token)."""
        what = f"{method} {path.split('?', 1)[0]}"
        try:
            response = self._http.request(method, path, params=dict(params or {}))
        except httpx.TimeoutException:
            raise ServerUnreachable(f"cannot reach the {self._label} server: timed out") from None
        except (httpx.InvalidURL, UnicodeError) as exc:
            # A host name IDNA refuses (httpx checks it only when connecting).
            raise ServerUnreachable(
                f"cannot reach the {self._label} server: the URL cannot be used "
                f"({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            problem = "connection refused" if "refused" in str(exc).lower() else "no connection"
            if isinstance(exc, httpx.ConnectError) and "ssl" in str(exc).lower():
                problem = "TLS handshake failed"
            raise ServerUnreachable(f"cannot reach the {self._label} server: {problem}") from None
        status = response.status_code
        if status >= 400:
            raise status_error(self._label, status, what)
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                f"the answer is not JSON ({what}): is this a {self._label} server?"
            ) from None

    def _pages(self, path: str, params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """``Items`` of a paged query, ``page_size`` per request (StartIndex/Limit)."""
        start_key, limit_key = (
            ("StartIndex", "Limit") if self.kind == "emby" else ("startIndex", "limit")
        )
        start = 0
        while True:
            data = self._request(
                "GET", path, params={**params, start_key: start, limit_key: self._page_size}
            )
            if not isinstance(data, dict):
                raise ServerError(f"{self._label} answered an unexpected shape ({path})")
            body = lower_keys(data)
            items = [item for item in _list(body.get("items")) if isinstance(item, dict)]
            if items:
                yield items
            start += len(items)
            total = body.get("totalrecordcount")
            if not items or (isinstance(total, int) and start >= total):
                return
            if not isinstance(total, int) and len(items) < self._page_size:
                return

    # ------------------------------------------------------------ interface

    def info(self) -> ServerInfo:
        """``GET /System/Info`` (needs a valid token, so this is the check)."""
        try:
            data = self._request("GET", "/System/Info")
        except ServerError as exc:
            if type(exc) is ServerError and exc.status in (400, 404, 405):
                raise ServerError(
                    f"{exc.reason}: is this a {self._label} server?", status=exc.status
                ) from None
            raise
        body = lower_keys(data) if isinstance(data, dict) else {}
        server_id = body.get("id")
        if not isinstance(server_id, str) or not server_id:
            raise ServerError(f"the answer has no server Id: is this a {self._label} server?")
        name, version = body.get("servername"), body.get("version")
        return ServerInfo(
            server_id=server_id,
            name=name if isinstance(name, str) else None,
            version=version if isinstance(version, str) else None,
        )

    def accounts(self) -> list[ServerAccount]:
        users: list[Any]
        if self.kind == "emby":
            try:
                data = self._request("GET", "/Users/Query")
                users = _list(lower_keys(data).get("items")) if isinstance(data, dict) else []
            except ServerError as exc:
                # API keys sometimes get 403 on one of the two (docs §4); a 401 is the token.
                if exc.status not in (403, 404):
                    raise
                data = self._request("GET", "/Users")
                users = data if isinstance(data, list) else []
        else:
            data = self._request("GET", "/Users")
            users = data if isinstance(data, list) else []
        accounts: list[ServerAccount] = []
        for user in users:
            if not isinstance(user, dict):
                continue
            fields = lower_keys(user)
            raw_id, name = fields.get("id"), fields.get("name")
            if not isinstance(raw_id, str) or not raw_id.strip():
                continue
            user_id = normalise_guid(raw_id) if self.kind == "jellyfin" else raw_id.strip()
            shown = name.strip() if isinstance(name, str) and name.strip() else user_id
            accounts.append(
                ServerAccount(
                    account_id=user_id,
                    name=shown,
                    # Jellyfin/Emby webhooks name a user by its id (SPEC §4).
                    identity=AccountIdentity(source=self.kind, external_id=user_id),
                    writable=True,
                )
            )
        return accounts

    def library(self, account_id: str) -> Iterator[list[LibraryItem]]:
        """Series first (their ids, joined to episodes by ``SeriesId``), then movies and
        episodes with the account's user data."""
        series: dict[str, ShowInfo] = {}
        for page in self._pages(*self._items_query(account_id, "Series", user_data=False)):
            for raw in page:
                fields = lower_keys(raw)
                series_id = fields.get("id")
                if isinstance(series_id, str):
                    series[_key(series_id)] = ShowInfo(
                        title=_text(fields, "name"),
                        year=_year(fields),
                        ids=provider_ids(fields.get("providerids"), None),
                    )
        for page in self._pages(*self._items_query(account_id, "Movie,Episode", user_data=True)):
            items = []
            for raw in page:
                try:
                    item = self._item(lower_keys(raw), series)
                except BadPayload as exc:
                    log.warning("%s item skipped: %s", self._label, exc.reason)
                    continue
                if item is not None:
                    items.append(item)
            yield items

    def mark_watched(self, account_id: str, key: str, at: datetime | None = None) -> None:
        """Played for one user; ``at`` becomes its ``LastPlayedDate`` (both servers back-date)."""
        params: dict[str, Any] = {}
        if at is not None:
            params["DatePlayed" if self.kind == "emby" else "datePlayed"] = format_date_played(at)
        self._played("POST", account_id, key, params)

    def mark_unwatched(self, account_id: str, key: str) -> None:
        self._played("DELETE", account_id, key, {})

    def set_rating(self, account_id: str, key: str, rating: float | None) -> None:
        raise NotSupported(f"{self._label} keeps no per-user score (ratings sync is Plex only)")

    def close(self) -> None:
        self._http.close()
        self._writes.close()

    # ------------------------------------------------------------ helpers

    def _played(self, method: str, account_id: str, key: str, params: dict[str, Any]) -> None:
        """``…PlayedItems``: Emby's user route; Jellyfin's 10.9 route with ``userId=``, and the
        older user route (still served by 12.0) when a server before 10.9 has no such path."""
        user_route = f"/Users/{_segment(account_id)}/PlayedItems/{_segment(key)}"
        if self.kind == "emby":
            self._writes.send(method, user_route, params)
            return
        try:
            self._writes.send(
                method, f"/UserPlayedItems/{_segment(key)}", {**params, "userId": account_id}
            )
        except ServerError as exc:
            if exc.status not in (404, 405) or not self._has_item(account_id, key):
                raise
            self._writes.send(method, user_route, params)

    def _has_item(self, account_id: str, key: str) -> bool:
        """Whether the server knows the item (a 404 then meant the route, not the item)."""
        data = self._request("GET", "/Items", params={"userId": account_id, "ids": key})
        items = lower_keys(data).get("items") if isinstance(data, dict) else None
        return bool(items)

    def _items_query(
        self, account_id: str, types: str, *, user_data: bool
    ) -> tuple[str, dict[str, Any]]:
        flag = "true" if user_data else "false"
        if self.kind == "emby":
            return f"/Users/{_segment(account_id)}/Items", {
                "IncludeItemTypes": types,
                "Recursive": "true",
                "Fields": "ProviderIds",
                "EnableUserData": flag,
                "EnableImages": "false",
                "ExcludeLocationTypes": "Virtual",
                "SortBy": "DateCreated,SortName",
                "SortOrder": "Ascending",
            }
        return "/Items", {
            "userId": account_id,
            "includeItemTypes": types,
            "recursive": "true",
            "fields": "ProviderIds",
            "enableUserData": flag,
            "enableImages": "false",
            "excludeLocationTypes": "Virtual",
            "sortBy": "DateCreated,SortName",
            "sortOrder": "Ascending",
        }

    def _item(self, fields: dict[str, Any], series: Mapping[str, ShowInfo]) -> LibraryItem | None:
        item_type = (get_str(fields, "type", "Type") or "").lower()
        media_type = _TYPES.get(item_type)
        item_id = get_str(fields, "id", "Id")
        if media_type is None or not item_id:
            return None
        user_data = lower_keys(get_obj(fields, "userdata", "UserData") or {})
        played = bool(get_bool(user_data, "played", "UserData.Played"))
        last = parse_server_time(user_data.get("lastplayeddate"))
        if last is not None and last.year < MIN_YEAR:
            last = None  # .NET's 0001-01-01: no date
        ticks = get_int(fields, "runtimeticks", "RunTimeTicks")
        show = None
        season = number = None
        if media_type == "episode":
            series_id = get_str(fields, "seriesid", "SeriesId")
            known = series.get(_key(series_id)) if series_id else None
            show = ShowInfo(
                title=(known.title if known else None) or _text(fields, "seriesname"),
                year=known.year if known else None,
                ids=dict(known.ids) if known else {},
            )
            season = get_int(fields, "parentindexnumber", "ParentIndexNumber")
            number = get_int(fields, "indexnumber", "IndexNumber")
        return LibraryItem(
            key=item_id,
            type=media_type,
            title=_text(fields, "name"),
            year=_year(fields),
            ids=provider_ids(fields.get("providerids"), media_type),
            show=show,
            season=season,
            number=number,
            watched=played,
            last_watched_at=last,
            play_count=get_int(user_data, "playcount", "UserData.PlayCount") or 0,
            runtime=runtime_from_ms(ticks // TICKS_PER_MS) if ticks else None,
        )


def format_date_played(at: datetime) -> str:
    """``yyyyMMddHHmmss`` in UTC (naive values are taken as UTC)."""
    moment = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return moment.strftime(DATE_PLAYED_FORMAT)


def _list(value: object) -> list[Any]:
    """A JSON array, or nothing (a server answering another shape lists nothing)."""
    return value if isinstance(value, list) else []


def _key(value: str) -> str:
    """Series ids compare case- and dash-free (Jellyfin writes GUIDs both ways)."""
    return value.strip().replace("-", "").lower()


def _text(fields: Mapping[str, Any], key: str) -> str | None:
    value = fields.get(key)
    return value.strip() or None if isinstance(value, str) else None


def _year(fields: Mapping[str, Any]) -> int | None:
    value = fields.get("productionyear")
    return year_from(value) if isinstance(value, int) and not isinstance(value, bool) else None
