"""The media-server service: owns the ``mediaserver`` rows and runs every client call in a worker
thread (``asyncio.to_thread``), so no request to a server ever runs on the event loop.

What it does (SPEC §12): add, change, remove and check servers (a check asks the server who it is
and for its accounts, so a token that may not list accounts is ``unauthorized`` too); list a
server's accounts with the person each is linked to through the §4 identities; keep a Plex
account's own token given by hand, and fetch the others' from plex.tv with the owner's token
(:mod:`.plextv`, answers kept in memory for an hour; a hand-given token wins); mirror
``integrations.trakt.servers`` from the YAML file (``source: yaml``, read-only through the API).
Tokens are decrypted only to build a client and are never logged, stored in plain text or put in
an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session

from ..config import ServerSettings
from ..context import AppContext
from ..crypto import SecretDecryptError
from ..store import repo, server_repo
from ..store.models import MediaServer
from .base import (
    DEFAULT_TIMEOUT,
    MediaServerClient,
    ServerAccount,
    ServerError,
    ServerUnauthorized,
    ServerUnreachable,
    redact,
)
from .jellyfin import Flavour, JellyfinClient
from .plex import PlexClient
from .plextv import PlexTvLookup, PlexTvTokens
from .watch.manager import WatchManager

log = logging.getLogger(__name__)

T = TypeVar("T")

UNREADABLE_TOKEN = "the stored token cannot be decrypted with this key: enter it again"


# ---------------------------------------------------------------- errors the API maps


class ServerServiceError(Exception):
    """A request the service refuses; ``status`` is the HTTP answer the API gives."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(message)


class ServerNotFound(ServerServiceError):
    status = 404


class AccountNotFound(ServerServiceError):
    status = 404


class ReadOnlyServer(ServerServiceError):
    """A ``source: yaml`` server: change it in the YAML file."""

    status = 409


class NotApplicable(ServerServiceError):
    status = 409


class InvalidToken(ServerServiceError):
    status = 422


class UpstreamFailed(ServerServiceError):
    """The server could not be asked (unreachable, refused the token, answered nonsense)."""

    status = 502


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Connection:
    """What a client needs, decrypted (never logged, never kept past the call)."""

    server_id: str
    kind: str
    url: str
    token: str
    account_tokens: dict[str, str] = field(default_factory=dict, repr=False)
    # Plex: where the other accounts' tokens come from when none was given by hand.
    plex_tv: PlexTvLookup | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"Connection(server_id={self.server_id!r}, kind={self.kind!r}, url={self.url!r})"


@dataclass(frozen=True)
class WatchStatus:
    """Live following of a server: ``off`` (not ``live: watch``), ``connected`` or
    ``reconnecting``, and when its last message arrived."""

    state: str = "off"
    last_message_at: datetime | None = None


@dataclass(frozen=True)
class AccountView:
    """An account with the person its identity is linked to (None: nobody yet)."""

    account_id: str
    name: str
    source: str
    external_id: str
    user_id: str | None
    writable: bool
    reason: str | None


ClientFactory = Callable[[Connection], MediaServerClient]


def make_client(connection: Connection, *, timeout: float = DEFAULT_TIMEOUT) -> MediaServerClient:
    """The connector for a server's kind."""
    if connection.kind == "plex":
        return PlexClient(
            connection.url,
            connection.token,
            account_tokens=connection.account_tokens,
            plex_tv=connection.plex_tv,
            timeout=timeout,
        )
    flavour: Flavour = "emby" if connection.kind == "emby" else "jellyfin"
    return JellyfinClient(
        connection.url,
        connection.token,
        flavour=flavour,
        timeout=timeout,
        device_id=f"trakt-plugin-{connection.server_id[:8]}",
    )


def _state_of(error: ServerError) -> str:
    return "unauthorized" if isinstance(error, ServerUnauthorized) else "unreachable"


# ---------------------------------------------------------------- the service


class ServerService:
    """Media servers for the API, the dashboard and (later) sync and the watchers."""

    def __init__(self, ctx: AppContext, *, client_factory: ClientFactory | None = None) -> None:
        self._ctx = ctx
        self._factory: ClientFactory = client_factory or make_client
        self.watch: WatchManager | None = None  # set once the scrobbler exists (app.build)
        self._tasks: set[asyncio.Task[Any]] = set()
        # plex.tv's per-account tokens, in memory; the URL is read at every ask (settings).
        self._plex_tv = PlexTvTokens(lambda: self._ctx.settings.plex_tv_url)

    # ------------------------------------------------------------ reads

    async def list_servers(self, *, after: str | None, limit: int) -> list[MediaServer]:
        def read() -> list[MediaServer]:
            with self._ctx.session() as session:
                return list(server_repo.list_servers(session, after=after, limit=limit))

        return await asyncio.to_thread(read)

    async def get(self, server_id: str) -> MediaServer:
        return await asyncio.to_thread(self._load, server_id)

    def watch_status(self, server_id: str) -> WatchStatus:
        state = self.watch.status(server_id) if self.watch is not None else None
        if state is None:
            return WatchStatus()
        return WatchStatus(state=state.state, last_message_at=state.last_message_at)

    def watched_servers(self) -> list[MediaServer]:
        """Servers with ``live: "watch"`` (blocking: for worker threads)."""
        with self._ctx.session() as session:
            rows = server_repo.list_servers(session, after=None, limit=10_000)
            return [row for row in rows if row.live == "watch"]

    def connection(self, server_id: str) -> Connection:
        """The server's URL and decrypted tokens (blocking: for worker threads)."""
        return self._connection(server_id)

    async def _changed(self, server_id: str) -> None:
        """A server was added, changed or removed: its watcher follows."""
        if self.watch is not None:
            await self.watch.refresh(server_id)

    # ------------------------------------------------------------ writes

    async def create(self, *, kind: str, name: str, url: str, token: str, live: str) -> MediaServer:
        """Store a new server and check it at once (a refused token still stores it, with
        ``state: unauthorized`` and the reason)."""

        def insert() -> str:
            with self._ctx.session() as session, session.begin():
                server = server_repo.create_server(
                    session,
                    kind=kind,
                    name=name,
                    url=url,
                    token_ciphertext=self._ctx.box.encrypt(token),
                    live=live,
                )
                return server.id

        server_id = await asyncio.to_thread(insert)
        log.info("media server %s added (%s, %s)", server_id, kind, name)
        checked = await self.test(server_id)
        await self._changed(server_id)
        return checked

    async def update(self, server_id: str, changes: dict[str, Any]) -> MediaServer:
        """Change name, url, token, live or kind; a change of where or how the server is
        reached is checked at once."""

        def write() -> bool:
            with self._ctx.session() as session, session.begin():
                server = self._row(session, server_id)
                self._writable(server)
                recheck = False
                for name in ("kind", "name", "url", "live"):
                    value = changes.get(name)
                    if value is not None and value != getattr(server, name):
                        setattr(server, name, value)
                        recheck = recheck or name in ("kind", "url")
                if changes.get("token"):
                    server.token = self._ctx.box.encrypt(str(changes["token"]))
                    recheck = True
                session.add(server)
                return recheck

        recheck = await asyncio.to_thread(write)
        await self._changed(server_id)
        if recheck:
            return await self.test(server_id)
        return await self.get(server_id)

    async def delete(self, server_id: str) -> None:
        def remove() -> None:
            with self._ctx.session() as session, session.begin():
                server = self._row(session, server_id)
                self._writable(server)
                server_repo.delete_server(session, server=server)

        await asyncio.to_thread(remove)
        await self._changed(server_id)
        log.info("media server %s removed", server_id)

    async def test(self, server_id: str) -> MediaServer:
        """Check the server now and store the outcome; answers the fresh row."""
        return await asyncio.to_thread(self._check, server_id)

    async def check_all(self) -> None:
        """Check every server (at startup), concurrently, each in its own thread."""
        servers = await self.list_servers(after=None, limit=10_000)
        results = await asyncio.gather(
            *(self.test(server.id) for server in servers), return_exceptions=True
        )
        for server, result in zip(servers, results, strict=True):
            if isinstance(result, ServerNotFound):
                continue  # removed meanwhile
            if isinstance(result, BaseException):
                log.error("checking media server %s failed: %s", server.id, type(result).__name__)
            elif result.state != "ok":
                log.warning(
                    "media server %r is %s: %s", result.name, result.state, result.last_error
                )

    # ------------------------------------------------------------ accounts

    async def accounts(self, server_id: str) -> list[AccountView]:
        """The server's accounts (asked now), each with its linked person."""
        return await asyncio.to_thread(self._accounts, server_id)

    async def set_account_token(self, server_id: str, account_id: str, token: str) -> AccountView:
        """Store a Plex account's own server token (encrypted) once the server accepts it."""
        return await asyncio.to_thread(self._set_account_token, server_id, account_id, token)

    # ------------------------------------------------------------ YAML and lifecycle

    def load_yaml(self, servers: Sequence[ServerSettings]) -> None:
        """Mirror ``integrations.trakt.servers`` into the store (by name): new entries are
        added, changed ones updated, ones no longer in the file removed. Runs at startup,
        before the loop serves anything, so it is a plain blocking call."""
        box = self._ctx.box
        with self._ctx.session() as session, session.begin():
            existing = {row.name.lower(): row for row in server_repo.yaml_servers(session)}
            for entry in servers:
                row = existing.pop(entry.name.lower(), None)
                if row is None:
                    server_repo.create_server(
                        session,
                        kind=entry.kind,
                        name=entry.name,
                        url=entry.url,
                        token_ciphertext=box.encrypt(entry.token),
                        live=entry.live,
                        source="yaml",
                    )
                    continue
                row.kind, row.name, row.url, row.live = (
                    entry.kind,
                    entry.name,
                    entry.url,
                    entry.live,
                )
                if _decrypt_or_none(self._ctx, row.token) != entry.token:
                    row.token = box.encrypt(entry.token)
                session.add(row)
            for gone in existing.values():
                server_repo.delete_server(session, server=gone)

    async def start(self) -> None:
        """Startup hook: check every server in the background (startup does not wait)."""
        task = asyncio.create_task(self.check_all(), name="media-server-checks")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        if self.watch is not None:
            await self.watch.stop()  # before the scrobbler and the store go away
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------ clients (worker threads)

    @contextlib.contextmanager
    def client(self, server_id: str, *, plex_tv: bool = True) -> Iterator[MediaServerClient]:
        """A connected client for one server; blocking: use it inside a worker thread.
        ``plex_tv``: a Plex client may ask plex.tv for other accounts' tokens (when one is
        needed; the answer is cached)."""
        connection = self._connection(server_id, plex_tv=plex_tv)
        try:
            client = self._factory(connection)
        except ServerError:
            raise
        except Exception as exc:  # a URL the HTTP library cannot even hold
            raise ServerUnreachable(f"cannot use the server's URL ({type(exc).__name__})") from None
        try:
            yield client
        finally:
            client.close()

    def _connection(self, server_id: str, *, plex_tv: bool = True) -> Connection:
        with self._ctx.session() as session:
            server = self._row(session, server_id)
            ciphertexts = server_repo.account_tokens(session, server_id=server_id)
        token = _decrypt_or_none(self._ctx, server.token)
        if token is None:
            raise ServerUnauthorized(UNREADABLE_TOKEN)
        account_tokens: dict[str, str] = {}
        for account_id, ciphertext in ciphertexts.items():
            plain = _decrypt_or_none(self._ctx, ciphertext)
            if plain is not None:
                account_tokens[account_id] = plain
        lookup = self._plex_tv if plex_tv and server.kind == "plex" else None
        return Connection(server.id, server.kind, server.url, token, account_tokens, lookup)

    def _check(self, server_id: str) -> MediaServer:
        info = None
        error: ServerError | None = None
        try:
            # A check is about the server: plex.tv is not asked (its failures are not the
            # server's, and they show on the accounts instead).
            with self.client(server_id, plex_tv=False) as client:
                info = client.info()
                client.accounts()  # every feature needs the accounts: the token must list them
        except ServerError as exc:
            error = exc
        except ServerServiceError:
            raise
        except Exception as exc:  # an answer no connector rule foresaw: still a state
            error = _unexpected(server_id, exc)
        with self._ctx.session() as session, session.begin():
            server = self._row(session, server_id)
            if error is not None:
                return server_repo.record_check(
                    session,
                    server=server,
                    state=_state_of(error),
                    error=self._reason(server, error),
                )
            assert info is not None
            if server.server_uid and server.server_uid != info.server_id:
                # Another server answers at this URL now: the old accounts' tokens are not its.
                server_repo.delete_account_tokens(session, server_id=server.id)
            return server_repo.record_check(
                session,
                server=server,
                state="ok",
                server_name=info.name,
                version=info.version,
                server_uid=info.server_id,
            )

    def _reason(self, server: MediaServer, error: ServerError) -> str:
        return redact(error.reason, _decrypt_or_none(self._ctx, server.token))

    def _accounts(self, server_id: str) -> list[AccountView]:
        try:
            with self.client(server_id) as client:
                accounts = client.accounts()
        except ServerError as exc:
            self._record_failure(server_id, exc)
            raise UpstreamFailed(exc.reason) from None
        except ServerServiceError:
            raise
        except Exception as exc:
            raise UpstreamFailed(_unexpected(server_id, exc).reason) from None
        with self._ctx.session() as session:
            return [self._view(session, account) for account in accounts]

    def _set_account_token(self, server_id: str, account_id: str, token: str) -> AccountView:
        with self._ctx.session() as session:
            server = self._row(session, server_id)
        if server.kind != "plex":
            raise NotApplicable(
                f"{server.kind.capitalize()} accounts need no token of their own: "
                "the server's API key acts for every user"
            )
        with self.client(server_id, plex_tv=False) as client:
            try:
                accounts = {account.account_id: account for account in client.accounts()}
            except ServerError as exc:
                self._record_failure(server_id, exc)
                raise UpstreamFailed(exc.reason) from None
            if account_id not in accounts:
                raise AccountNotFound("account not found")
            if accounts[account_id].owner:
                raise NotApplicable("the owner's account uses the server token")
            try:
                if isinstance(client, PlexClient):
                    client.check_account_token(token)
            except ServerUnauthorized:
                raise InvalidToken("the server refused this token", field="token") from None
            except ServerError as exc:
                raise UpstreamFailed(redact(exc.reason, token)) from None
        with self._ctx.session() as session, session.begin():
            self._row(session, server_id)  # still there
            server_repo.put_account_token(
                session,
                server_id=server_id,
                account_id=account_id,
                token_ciphertext=self._ctx.box.encrypt(token),
            )
        log.info("media server %s: account %s has its own token now", server_id, account_id)
        return next(view for view in self._accounts(server_id) if view.account_id == account_id)

    def _record_failure(self, server_id: str, error: ServerError) -> None:
        with self._ctx.session() as session, session.begin():
            server = server_repo.get_server(session, server_id=server_id)
            if server is not None:
                server_repo.record_check(
                    session,
                    server=server,
                    state=_state_of(error),
                    error=self._reason(server, error),
                )

    @staticmethod
    def _view(session: Session, account: ServerAccount) -> AccountView:
        identity = account.identity
        found = repo.find_identity(
            session, source=identity.source, external_id=identity.external_id
        )
        if (found is None or found.user_id is None) and identity.source != "plex":
            # Jellyfin/Emby senders may also have been linked by their name (SPEC §4).
            by_name = repo.find_identity(session, source=identity.source, external_id=account.name)
            found = by_name if by_name is not None and by_name.user_id else found
        return AccountView(
            account_id=account.account_id,
            name=account.name,
            source=identity.source,
            external_id=identity.external_id,
            user_id=found.user_id if found is not None else None,
            writable=account.writable,
            reason=account.reason,
        )

    # ------------------------------------------------------------ helpers

    def _load(self, server_id: str) -> MediaServer:
        with self._ctx.session() as session:
            return self._row(session, server_id)

    @staticmethod
    def _row(session: Session, server_id: str) -> MediaServer:
        server = server_repo.get_server(session, server_id=server_id)
        if server is None:
            raise ServerNotFound("server not found")
        return server

    @staticmethod
    def _writable(server: MediaServer) -> None:
        if server.source == "yaml":
            raise ReadOnlyServer(
                f"server {server.name!r} is configured in the YAML file "
                "(integrations.trakt.servers): change or remove it there"
            )


def _unexpected(server_id: str, exc: Exception) -> ServerError:
    """A failure outside the connectors' error tree, logged by type only (a message could
    quote a request, and so a token)."""
    log.error("media server %s: unexpected %s", server_id, type(exc).__name__)
    return ServerError(f"the server gave an answer that cannot be used ({type(exc).__name__})")


def _decrypt_or_none(ctx: AppContext, ciphertext: str) -> str | None:
    try:
        return ctx.box.decrypt(ciphertext)
    except SecretDecryptError:
        return None


__all__ = [
    "AccountNotFound",
    "AccountView",
    "Connection",
    "InvalidToken",
    "NotApplicable",
    "ReadOnlyServer",
    "ServerNotFound",
    "ServerService",
    "ServerServiceError",
    "UpstreamFailed",
    "WatchStatus",
    "make_client",
]
