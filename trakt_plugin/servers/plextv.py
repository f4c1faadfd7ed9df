"""plex.tv: every account's own server token, fetched with the server owner's token (docs
media-server-apis.md §2.5).

Plex lets only an account's own token change its watched state (docs §2.7). For the owner that
is the server token; for anyone else plex.tv hands the token out to the server's owner:

* shared-server friends (and Home users the server is shared with):
  ``GET {plex.tv}/api/servers/{machineIdentifier}/shared_servers`` answers XML, one
  ``SharedServer`` per user with ``userID`` and ``accessToken`` (that user's token for this
  server; plexapi's ``MyPlexUser.get_token`` and Tautulli read the same attributes);
* Plex Home users not listed there: ``GET {plex.tv}/api/v2/home/users`` (JSON ``users`` with
  ``id``, ``uuid``, ``admin``, ``protected``), then per user
  ``POST /api/v2/home/users/{uuid}/switch`` gives a temporary ``authToken`` *of that user*, and
  ``GET /api/v2/resources`` with it lists the user's servers: the one whose ``clientIdentifier``
  is this server's ``machineIdentifier`` carries the user's ``accessToken``. A Home user
  protected by a PIN is skipped: switching needs the PIN, which only that person knows and the
  service must not keep; such an account's token is given by hand (PATCH
  /api/v1/servers/{id}/accounts/{account_id}). A failure while resolving Home users never
  spoils the friends' tokens already found: the Home users are skipped and the reason logged.

Ids: a plex.tv user id *is* the account id the server uses for that person (``/accounts``,
history ``accountID``, sessions): docs §2.5 (Tautulli, WatchState) and plexapi, whose
``MyPlexServerShare.history`` asks the server for ``accountID=<plex.tv user id>``. The one
exception is the owner, ``1`` on every server: the owner is never in ``shared_servers``, and the
Home admin is skipped here (the server token is the owner's).

Errors, from the servers error tree (:mod:`.base`); no message ever holds a token (messages name
statuses and exception types only)::

    ServerUnreachable     plex.tv did not answer: refused, DNS, TLS, timeout
    ServerUnauthorized    plex.tv refused the owner's token (401/403)
    ServerError           any other answer: 429 (slow down), 5xx, a redirect, not XML/JSON

:class:`PlexTvTokens` keeps the answers in memory per server and owner token for
:data:`TOKENS_TTL` (a failure for :data:`FAILURE_TTL`), so listing accounts and sync runs do not
ask plex.tv every time. Everything here blocks: call it from a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote
from xml.etree import ElementTree

import httpx

from .. import __version__
from .base import (
    CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    ServerError,
    ServerUnauthorized,
    ServerUnreachable,
)

log = logging.getLogger(__name__)

DEFAULT_PLEX_TV_URL = "https://plex.tv"
# How long plex.tv's answer is used before asking again: tokens of shared servers change only
# when a share is made or revoked, and a token refused by the server drops the answer at once
# (PlexTvLookup.forget). An hour keeps account listings and sync runs off plex.tv.
TOKENS_TTL = 3600.0
# How long a failed ask is remembered: long enough that one sync run (several clients) waits for
# an unreachable plex.tv once, short enough that a page reloaded a minute later tries again.
FAILURE_TTL = 60.0
# plex.tv wants every client to name itself (docs §2.1); switching Home users registers this id.
CLIENT_IDENTIFIER = "trakt-plugin-plextv"
PRODUCT = "trakt-plugin"


class PlexTvLookup(Protocol):
    """What the Plex client needs: the tokens plex.tv knows for a server, and a way to drop an
    answer whose token the server refused."""

    def tokens(self, owner_token: str, machine_id: str) -> Mapping[str, str]:
        """{server account id → that account's server token}; raises a :class:`ServerError`."""
        ...

    def forget(self, machine_id: str) -> None:
        """Ask plex.tv again next time."""
        ...


# ---------------------------------------------------------------- the requests


def _connect_problem(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "host name not found"
    if "ssl" in text or "certificate" in text:
        return "TLS handshake failed"
    return "no connection"


def _request(
    http: httpx.Client,
    method: str,
    url: str,
    token: str,
    what: str,
    *,
    accept: str = "application/xml",
) -> httpx.Response:
    """One call to plex.tv; every failure becomes one of our errors, without the token (it goes
    in a header, never in the URL; redirects are not followed, so it goes nowhere else)."""
    headers = {
        "X-Plex-Token": token,
        "X-Plex-Client-Identifier": CLIENT_IDENTIFIER,
        "X-Plex-Product": PRODUCT,
        "X-Plex-Version": __version__,
        "Accept": accept,
    }
    try:
        response = http.request(method, url, headers=headers)
    except httpx.HTTPError as exc:
        raise ServerUnreachable(f"cannot reach plex.tv: {_connect_problem(exc)}") from None
    status = response.status_code
    if status in (401, 403):
        raise ServerUnauthorized(
            f"plex.tv refused the server token ({what}: HTTP {status}); it must be the server "
            "owner's Plex token",
            status=status,
        )
    if status == 429:
        raise ServerError(f"plex.tv asks to slow down ({what}: HTTP 429)", status=429)
    if not 200 <= status < 300:
        raise ServerError(f"plex.tv answered HTTP {status} ({what})", status=status)
    return response


def _xml(response: httpx.Response, what: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        raise ServerError(f"plex.tv gave an answer that is not XML ({what})") from None


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ServerError(f"plex.tv gave an answer that is not JSON ({what})") from None


def _account_id(value: Any) -> str | None:
    """A plex.tv user id as the server's account id (a positive integer, as text)."""
    text = str(value).strip() if value is not None else ""
    return text if text.isdigit() and text not in ("0", "1") else None


def shared_server_tokens(
    http: httpx.Client, base_url: str, owner_token: str, machine_id: str
) -> dict[str, str]:
    """{account id → server token} of everyone the server is shared with."""
    url = f"{base_url}/api/servers/{quote(machine_id, safe='')}/shared_servers"
    root = _xml(_request(http, "GET", url, owner_token, "shared servers"), "shared servers")
    tokens: dict[str, str] = {}
    for share in root.iter("SharedServer"):
        account_id, token = _account_id(share.get("userID")), share.get("accessToken")
        if account_id and token:
            tokens[account_id] = token
    return tokens


def home_user_tokens(
    http: httpx.Client,
    base_url: str,
    owner_token: str,
    machine_id: str,
    *,
    skip: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """{account id → server token} of the Plex Home users (not the admin, not ``skip``, none
    protected by a PIN) who can reach this server. One user's failure skips that user; plex.tv
    asking to slow down (429, docs §6.4) ends the round."""
    what = "home users"
    answer = _json(
        _request(http, "GET", f"{base_url}/api/v2/home/users", owner_token, what,
                 accept="application/json"),
        what,
    )  # fmt: skip
    users = answer.get("users") if isinstance(answer, dict) else None
    tokens: dict[str, str] = {}
    for user in users if isinstance(users, list) else []:
        if not isinstance(user, dict) or user.get("admin"):
            continue  # the admin is the owner: the server token is theirs
        account_id, uuid = _account_id(user.get("id")), str(user.get("uuid") or "")
        if not account_id or not uuid or account_id in skip:
            continue
        if user.get("protected"):
            log.info("plex.tv: Home user %s has a PIN; its token must be given by hand", account_id)
            continue
        try:
            token = _home_user_token(http, base_url, owner_token, machine_id, uuid)
        except ServerError as exc:
            log.warning("plex.tv: no token for Home user %s: %s", account_id, exc.reason)
            if exc.status == 429:
                break
            continue
        if token:
            tokens[account_id] = token
    return tokens


def _home_user_token(
    http: httpx.Client, base_url: str, owner_token: str, machine_id: str, uuid: str
) -> str | None:
    what = "switch to a Home user"
    url = f"{base_url}/api/v2/home/users/{quote(uuid, safe='')}/switch"
    switched = _json(
        _request(http, "POST", url, owner_token, what, accept="application/json"), what
    )
    temporary = switched.get("authToken") if isinstance(switched, dict) else None
    if not isinstance(temporary, str) or not temporary:
        raise ServerError(f"plex.tv gave no token ({what})")
    what = "the Home user's servers"
    resources = _json(
        _request(http, "GET", f"{base_url}/api/v2/resources", temporary, what,
                 accept="application/json"),
        what,
    )  # fmt: skip
    for resource in resources if isinstance(resources, list) else []:
        if isinstance(resource, dict) and resource.get("clientIdentifier") == machine_id:
            token = resource.get("accessToken")
            return token if isinstance(token, str) and token else None
    return None  # the server is not shared with this Home user


def fetch_server_tokens(
    owner_token: str,
    machine_id: str,
    *,
    base_url: str = DEFAULT_PLEX_TV_URL,
    timeout: float = DEFAULT_TIMEOUT,
    http: httpx.Client | None = None,
) -> dict[str, str]:
    """{server account id → that account's own server token} for every account plex.tv knows
    on the server ``machine_id``: shared servers first, then Home users not listed there.
    Raises :class:`ServerUnreachable` / :class:`ServerUnauthorized` / :class:`ServerError`
    when the shared servers cannot be read."""
    base_url = base_url.rstrip("/")
    own = http is None
    if http is None:
        http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
            follow_redirects=False,
            # Proxy variables and .netrc are not read: the settings object is the only reader of
            # the environment (STYLE habit 6).
            trust_env=False,
        )
    try:
        tokens = shared_server_tokens(http, base_url, owner_token, machine_id)
        try:
            home = home_user_tokens(http, base_url, owner_token, machine_id, skip=frozenset(tokens))
        except ServerError as exc:
            log.warning("plex.tv: Home users skipped: %s", exc.reason)
            home = {}
        return {**home, **tokens}
    finally:
        if own:
            http.close()


# ---------------------------------------------------------------- the cache


Fetch = Callable[..., dict[str, str]]


class PlexTvTokens:
    """plex.tv's answers in memory, per server (``machineIdentifier``) and owner token.

    Thread-safe: two workers asking for the same server at once make one request. A failure is
    remembered (and raised again) for :data:`FAILURE_TTL`. ``base_url`` is read at every ask (a
    callable: the settings' current ``plex_tv_url``).
    """

    def __init__(
        self,
        base_url: str | Callable[[], str] = DEFAULT_PLEX_TV_URL,
        *,
        ttl: float = TOKENS_TTL,
        failure_ttl: float = FAILURE_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        fetch: Fetch = fetch_server_tokens,
    ) -> None:
        self._base_url = base_url
        self._ttl = ttl
        self._failure_ttl = failure_ttl
        self._timeout = timeout
        self._clock = clock
        self._fetch = fetch
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str, str], threading.Lock] = {}
        # key → (expires at, tokens, or the failure as (type, reason, status))
        self._answers: dict[
            tuple[str, str, str],
            tuple[float, dict[str, str] | None, tuple[type[ServerError], str, int | None] | None],
        ] = {}

    def _url(self) -> str:
        url = self._base_url() if callable(self._base_url) else self._base_url
        return url.rstrip("/")

    def tokens(self, owner_token: str, machine_id: str) -> dict[str, str]:
        base_url = self._url()
        # The owner token is part of the key only as a digest: a new server token asks afresh.
        digest = hashlib.sha256(owner_token.encode()).hexdigest()
        key = (base_url, machine_id, digest)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            answer = self._answers.get(key)
            if answer is None or answer[0] <= self._clock():
                answer = self._ask(owner_token, machine_id, base_url)
                with self._lock:
                    self._answers[key] = answer
            _, tokens, failure = answer
        if failure is not None:
            kind, reason, status = failure
            raise kind(reason, status=status)
        return dict(tokens or {})

    def _ask(
        self, owner_token: str, machine_id: str, base_url: str
    ) -> tuple[float, dict[str, str] | None, tuple[type[ServerError], str, int | None] | None]:
        try:
            tokens = self._fetch(owner_token, machine_id, base_url=base_url, timeout=self._timeout)
        except ServerError as exc:
            log.warning("plex.tv: no account tokens for server %s: %s", machine_id, exc.reason)
            return self._clock() + self._failure_ttl, None, (type(exc), exc.reason, exc.status)
        log.info("plex.tv: %d account token(s) for server %s", len(tokens), machine_id)
        return self._clock() + self._ttl, dict(tokens), None

    def forget(self, machine_id: str) -> None:
        with self._lock:
            for key in [key for key in self._answers if key[1] == machine_id]:
                del self._answers[key]

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


__all__ = [
    "DEFAULT_PLEX_TV_URL",
    "FAILURE_TTL",
    "TOKENS_TTL",
    "PlexTvLookup",
    "PlexTvTokens",
    "fetch_server_tokens",
    "home_user_tokens",
    "shared_server_tokens",
]
