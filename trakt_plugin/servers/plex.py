"""Plex Media Server through python-plexapi (docs/media-server-apis.md §2), synchronously.

plexapi supplies the connection (``PlexServer``: session, ``X-Plex-*`` headers, the token as a
header, never in a URL, its log filter for secrets) and its request funnel ``query``; library
pages are read as raw XML elements with ``X-Plex-Container-Start``/``-Size`` (plexapi's
``container_start``/``container_size``), because building a plexapi object per item is slow and
reading a missing attribute of one would fetch the item again (one request per item).

Per-account state belongs to the token's account (docs §2.5/§2.6): the server token is the
owner's (server account id 1); another account is read and changed with its own server token:
one given by hand (stored by the service) wins, else the one plex.tv hands the owner
(:mod:`.plextv`, asked once per client and only when a non-owner account needs it). Without one,
the account's watched state comes from the play history, which the owner's token sees for
everyone, and the account is not writable (the reason says why: none known, or plex.tv could not
be asked).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from xml.etree.ElementTree import Element, ParseError

import plexapi
import requests
from plexapi.exceptions import BadRequest, NotFound, PlexApiException, Unauthorized
from plexapi.server import PlexServer

from trakt_plugin.events.model import MediaType, ShowInfo
from trakt_plugin.events.parsers._common import year_from

from .base import (
    CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    PAGE_SIZE,
    AccountIdentity,
    AccountNotWritable,
    LibraryItem,
    ServerAccount,
    ServerError,
    ServerInfo,
    ServerKind,
    ServerUnauthorized,
    ServerUnreachable,
    redact,
    runtime_from_ms,
    status_error,
)
from .ids import plex_ids, plex_show_ids
from .plextv import PlexTvLookup
from .writes import KeptAliveWrites

log = logging.getLogger(__name__)

T = TypeVar("T")

# The server owner's account id on every Plex server (docs §2.5).
OWNER_ACCOUNT_ID = "1"
LIBRARY_IDENTIFIER = "com.plexapp.plugins.library"
# Plex search types (docs §2.3).
TYPE_MOVIE, TYPE_SHOW, TYPE_EPISODE = 1, 2, 4
GIVE_BY_HAND = "give one by hand with PATCH /api/v1/servers/{id}/accounts/{account_id}"
NO_TOKEN_REASON = (
    "Plex lets only an account's own token change its watched state and none is stored for "
    f"this account: {GIVE_BY_HAND}"
)
PLEX_TV_NO_TOKEN_REASON = (
    "Plex lets only an account's own token change its watched state and plex.tv has none for "
    "this account on this server (a Plex Home user with a PIN, or the server is not shared "
    f"with it): {GIVE_BY_HAND}"
)


def plex_tv_failed_reason(error: ServerError) -> str:
    """Why an account is not writable when plex.tv could not be asked for its token."""
    if isinstance(error, ServerUnreachable):
        why = error.reason.removeprefix("cannot reach plex.tv: ")
        problem = f"plex.tv could not be reached to fetch it ({why})"
    else:
        problem = f"plex.tv did not give it ({error.reason})"
    return (
        "Plex lets only an account's own token change its watched state and "
        f"{problem}: {GIVE_BY_HAND}"
    )


def _int(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _epoch(value: str | None) -> datetime | None:
    seconds = _int(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _guid_entries(element: Element) -> list[str]:
    return [guid.get("id") or "" for guid in element.findall("Guid")]


class PlexClient:
    """One Plex server: ``token`` is the owner's server token; ``account_tokens`` maps other
    server account ids to their own server tokens (given by hand); ``plex_tv`` fetches the
    others' tokens from plex.tv (None: hand-given tokens only)."""

    kind: ServerKind = "plex"

    def __init__(
        self,
        url: str,
        token: str,
        *,
        account_tokens: Mapping[str, str] | None = None,
        plex_tv: PlexTvLookup | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        page_size: int = PAGE_SIZE,
        session: requests.Session | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._token = token
        self._account_tokens = dict(account_tokens or {})
        self._plex_tv = plex_tv
        self._plex_tv_tokens: dict[str, str] | None = None  # asked at most once per client
        self._plex_tv_error: ServerError | None = None
        self._timeout = timeout
        self._page_size = max(page_size, 1)
        if session is None:
            session = requests.Session()
            # No proxy variables or .netrc from the environment (the settings object is the only
            # reader of the environment; a LAN server is reached directly).
            session.trust_env = False
        self._session = session
        self._servers: dict[str, PlexServer] = {}
        self._writes = KeptAliveWrites(self._url, timeout, "Plex", plexapi.BASE_HEADERS)

    # ------------------------------------------------------------ the funnel

    def _call(self, action: Callable[[], T], what: str) -> T:
        """Run one plexapi call; every failure becomes one of our errors, without tokens."""
        try:
            return action()
        except Unauthorized:
            raise status_error("Plex", 401, what) from None
        except NotFound:
            raise status_error("Plex", 404, what) from None
        except BadRequest as exc:
            raise status_error("Plex", _status_of(exc), what) from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            problem = "timed out" if isinstance(exc, requests.Timeout) else _connect_problem(exc)
            raise ServerUnreachable(f"cannot reach the Plex server: {problem}") from None
        except requests.RequestException as exc:
            raise ServerUnreachable(f"cannot reach the Plex server: {type(exc).__name__}") from None
        except (ParseError, PlexApiException, AttributeError, ValueError) as exc:
            raise ServerError(
                f"the answer is not one a Plex server gives ({what}: {type(exc).__name__})"
            ) from None

    def _server(self, account_id: str = OWNER_ACCOUNT_ID) -> PlexServer:
        """A connection for the account's token (the owner's by default); raises when none."""
        server = self._servers.get(account_id)
        if server is not None:
            return server
        token = self._token_of(account_id)
        if token is None:
            raise AccountNotWritable(self._no_token_reason())
        try:
            server = self._open(token)
        except ServerUnauthorized as exc:
            if not self._from_plex_tv(account_id):
                raise
            raise self._plex_tv_token_refused(exc) from None
        self._servers[account_id] = server
        return server

    def _open(self, token: str) -> PlexServer:
        """A new connection (``GET /``) with ``token``."""

        def connect() -> PlexServer:
            # requests takes (connect, read): a dead host fails fast, a slow page may take long.
            timeout = (min(self._timeout, CONNECT_TIMEOUT), self._timeout)
            return PlexServer(  # type: ignore[no-untyped-call]
                self._url, token, session=self._session, timeout=timeout
            )

        return self._call(connect, "connect")

    def _token_of(self, account_id: str) -> str | None:
        """The account's own server token: the server token for the owner; for another
        account the one given by hand, else plex.tv's (asked now if not yet)."""
        if account_id == OWNER_ACCOUNT_ID:
            return self._token
        given = self._account_tokens.get(account_id)
        if given is not None:
            return given
        return self._plex_tv_answer().get(account_id)

    def _from_plex_tv(self, account_id: str) -> bool:
        return (
            account_id != OWNER_ACCOUNT_ID
            and account_id not in self._account_tokens
            and account_id in (self._plex_tv_tokens or {})
        )

    def _plex_tv_answer(self) -> dict[str, str]:
        """plex.tv's tokens for this server (``{}`` when plex.tv is not used or failed: the
        failure is kept for the accounts' reasons)."""
        if self._plex_tv is None:
            return {}
        if self._plex_tv_tokens is None:
            machine = self._machine_id()  # the Plex server's own errors are not plex.tv's
            try:
                self._plex_tv_tokens = dict(self._plex_tv.tokens(self._token, machine))
            except ServerError as exc:
                self._plex_tv_tokens = {}
                self._plex_tv_error = type(exc)(redact(exc.reason, self._token), status=exc.status)
        return self._plex_tv_tokens

    def _plex_tv_token_refused(self, exc: ServerUnauthorized) -> ServerUnauthorized:
        """plex.tv's answer is stale (a share revoked, a token renewed): it is asked again
        next time."""
        self._forget_plex_tv()
        return ServerUnauthorized(
            f"Plex refused the token plex.tv gave for this account ({exc.reason}); plex.tv "
            "is asked again next time",
            status=exc.status,
        )

    def _forget_plex_tv(self) -> None:
        if self._plex_tv is not None:
            machine = getattr(self._servers.get(OWNER_ACCOUNT_ID), "machineIdentifier", None)
            if machine:
                self._plex_tv.forget(str(machine))
        self._plex_tv_tokens = None

    def _machine_id(self) -> str:
        machine = getattr(self._server(), "machineIdentifier", None)
        if not machine:
            raise ServerError("the answer has no machineIdentifier: is this a Plex server?")
        return str(machine)

    def _no_token_reason(self) -> str:
        if self._plex_tv is None:
            return NO_TOKEN_REASON
        if self._plex_tv_error is not None:
            return redact(plex_tv_failed_reason(self._plex_tv_error), self._token)
        return PLEX_TV_NO_TOKEN_REASON

    def _query(
        self,
        server: PlexServer,
        key: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        method: str = "get",
    ) -> Element:
        def run() -> Element:
            call = getattr(server._session, method)
            data = server.query(  # type: ignore[no-untyped-call]
                key, method=call, headers=headers, params=params
            )
            return data if data is not None else Element("MediaContainer")

        return self._call(run, key.split("?", 1)[0])

    def _pages(
        self, server: PlexServer, key: str, params: dict[str, Any] | None = None
    ) -> Iterator[list[Element]]:
        """Every child of a paged list, a page of ``page_size`` per request. The answer may
        hold fewer than asked (docs §2.3): the next page starts after what came."""
        start = 0
        while True:
            headers = {
                "X-Plex-Container-Start": str(start),
                "X-Plex-Container-Size": str(self._page_size),
            }
            data = self._query(server, key, headers=headers, params=params)
            elements = list(data)
            if elements:
                yield elements
            start += len(elements)
            total = _int(data.get("totalSize"))
            if not elements or (total is not None and start >= total):
                return
            if total is None and len(elements) < self._page_size:
                return

    # ------------------------------------------------------------ interface

    def info(self) -> ServerInfo:
        """A fresh check (``GET /``) with the server token."""
        try:
            server = self._open(self._token)
        except ServerError as exc:
            if type(exc) is ServerError and exc.status in (400, 404, 405):
                raise ServerError(
                    f"{exc.reason}: is this a Plex server?", status=exc.status
                ) from None
            raise
        self._servers[OWNER_ACCOUNT_ID] = server
        machine = getattr(server, "machineIdentifier", None)
        if not machine:
            raise ServerError("the answer has no machineIdentifier: is this a Plex server?")
        return ServerInfo(
            server_id=str(machine),
            name=getattr(server, "friendlyName", None),
            version=getattr(server, "version", None),
        )

    def accounts(self) -> list[ServerAccount]:
        """The server's accounts (``/accounts``, which only the owner's token may read)."""
        try:
            data = self._query(self._server(), "/accounts")
        except ServerUnauthorized as exc:
            raise ServerUnauthorized(
                "Plex lists the accounts only to the server owner: the server token must be "
                f"the owner's ({exc.reason})",
                status=exc.status,
            ) from None
        accounts: list[ServerAccount] = []
        for element in data.iter("Account"):
            account_id, name = element.get("id"), (element.get("name") or "").strip()
            if not account_id or not name or account_id == "0":
                continue  # id 0 is a nameless system entry (docs §2.5), no person
            owner = account_id == OWNER_ACCOUNT_ID
            writable = owner or self._token_of(account_id) is not None
            accounts.append(
                ServerAccount(
                    account_id=account_id,
                    name=name,
                    # Plex webhooks name an account by its title (SPEC §4): the name here.
                    identity=AccountIdentity(source="plex", external_id=name),
                    writable=writable,
                    reason=None if writable else self._no_token_reason(),
                    owner=owner,
                )
            )
        return accounts

    def check_account_token(self, token: str) -> None:
        """Raise :class:`ServerUnauthorized` when the server refuses ``token``."""
        self._open(token)

    def library(self, account_id: str) -> Iterator[list[LibraryItem]]:
        """Movies and episodes of every movie and show section, as the account sees them."""
        own_token = self._token_of(account_id) is not None
        server = self._server(account_id if own_token else OWNER_ACCOUNT_ID)
        history = None if own_token else self._history(server, account_id)
        sections = self._query(server, "/library/sections")
        for section in sections.iter("Directory"):
            key, kind = section.get("key"), section.get("type")
            if not key:
                continue
            path = f"/library/sections/{key}/all"
            if kind == "movie":
                for page in self._pages(server, path, {"type": TYPE_MOVIE, "includeGuids": 1}):
                    yield [self._item(e, "movie", {}, history) for e in page if _is(e, "movie")]
            elif kind == "show":
                shows = self._shows(server, path)
                for page in self._pages(server, path, {"type": TYPE_EPISODE, "includeGuids": 1}):
                    yield [
                        self._item(e, "episode", shows, history) for e in page if _is(e, "episode")
                    ]

    def mark_watched(self, account_id: str, key: str, at: datetime | None = None) -> None:
        """``/:/scrobble`` with the account's token. Plex records the time of marking; it
        cannot back-date (docs §2.7), so ``at`` is not sent."""
        self._write(account_id, "/:/scrobble", {"key": key, "identifier": LIBRARY_IDENTIFIER})

    def mark_unwatched(self, account_id: str, key: str) -> None:
        self._write(account_id, "/:/unscrobble", {"key": key, "identifier": LIBRARY_IDENTIFIER})

    def set_rating(self, account_id: str, key: str, rating: float | None) -> None:
        """``/:/rate`` 0-10 with the account's token; None clears (plexapi sends -1)."""
        if rating is not None and not 0 <= rating <= 10:
            raise ValueError("a Plex rating is between 0 and 10")
        value = -1 if rating is None else rating
        params = {"key": key, "identifier": LIBRARY_IDENTIFIER, "rating": value}
        self._write(account_id, "/:/rate", params, method="put")

    def close(self) -> None:
        self._session.close()
        self._writes.close()
        self._servers.clear()
        self._plex_tv_tokens = None

    # ------------------------------------------------------------ helpers

    def _write(
        self, account_id: str, path: str, params: dict[str, Any], method: str = "get"
    ) -> None:
        """One write with the account's token, on :class:`KeptAliveWrites`' light connections
        (plexapi's identification headers)."""
        token = self._token_of(account_id)
        if token is None:
            raise AccountNotWritable(self._no_token_reason())
        try:
            self._writes.send(method, path, params, {"X-Plex-Token": token})
        except ServerUnauthorized as exc:
            if not self._from_plex_tv(account_id):
                raise
            self._servers.pop(account_id, None)
            raise self._plex_tv_token_refused(exc) from None

    def _shows(self, server: PlexServer, path: str) -> dict[str, ShowInfo]:
        """Show ids by rating key: new-agent episodes carry only their own ids (docs §2.4)."""
        shows: dict[str, ShowInfo] = {}
        for page in self._pages(server, path, {"type": TYPE_SHOW, "includeGuids": 1}):
            for element in page:
                rating_key = element.get("ratingKey")
                if rating_key:
                    shows[rating_key] = ShowInfo(
                        title=element.get("title"),
                        year=year_from(_int(element.get("year"))),
                        ids=plex_show_ids(_guid_entries(element), element.get("guid")),
                    )
        return shows

    def _history(self, server: PlexServer, account_id: str) -> dict[str, tuple[int, datetime]]:
        """Plays per rating key (count, latest) of one account, from the owner's view of the
        play history (real plays only; marks make no history rows, docs §2.6)."""
        plays: dict[str, tuple[int, datetime]] = {}
        params = {"accountID": account_id, "sort": "viewedAt:desc"}
        for page in self._pages(server, "/status/sessions/history/all", params):
            for row in page:
                rating_key, viewed = row.get("ratingKey"), _epoch(row.get("viewedAt"))
                if not rating_key or viewed is None:
                    continue
                count, latest = plays.get(rating_key, (0, viewed))
                plays[rating_key] = (count + 1, max(latest, viewed))
        return plays

    def _item(
        self,
        element: Element,
        media_type: MediaType,
        shows: Mapping[str, ShowInfo],
        history: Mapping[str, tuple[int, datetime]] | None,
    ) -> LibraryItem:
        key = element.get("ratingKey") or ""
        related = (element.get("grandparentGuid"), element.get("parentGuid"))
        ids = plex_ids(media_type, _guid_entries(element), element.get("guid"), related)
        show = None
        season = number = None
        if media_type == "episode":
            known = shows.get(element.get("grandparentRatingKey") or "")
            show_ids = {**ids.show, **(known.ids if known else {})}
            show = ShowInfo(
                title=(known.title if known else None) or element.get("grandparentTitle"),
                year=known.year if known else None,
                ids=show_ids,
            )
            season = _int(element.get("parentIndex"))
            number = _int(element.get("index"))
            season = ids.season if season is None else season
            number = ids.number if number is None else number
        if history is None:
            play_count = _int(element.get("viewCount")) or 0
            last = _epoch(element.get("lastViewedAt"))
            rating = _float(element.get("userRating"))
        else:
            play_count, last = history.get(key, (0, None))
            rating = None  # another account's rating needs its own token
        return LibraryItem(
            key=key,
            type=media_type,
            title=element.get("title"),
            year=year_from(_int(element.get("year"))),
            ids=ids.own,
            show=show,
            season=season,
            number=number,
            watched=play_count > 0,
            last_watched_at=last,
            play_count=play_count,
            runtime=runtime_from_ms(_int(element.get("duration"))),
            user_rating=rating,
        )


def _is(element: Element, media_type: str) -> bool:
    return element.get("type") == media_type and bool(element.get("ratingKey"))


def _status_of(exc: BaseException) -> int | None:
    """plexapi writes the status first in its message: ``(403) forbidden; …``."""
    text = str(exc)
    if text.startswith("(") and text[1:4].isdigit():
        return int(text[1:4])
    return None


def _connect_problem(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "host name not found"
    return "no connection"
