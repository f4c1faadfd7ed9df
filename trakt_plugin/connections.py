"""Trakt connections: connect (device code or redirect), keep tokens alive, disconnect.

The Trakt client (``trakt/``) is pure; this service ties it to the store. Tokens are encrypted
before they are written, and a rotated pair is committed before anything uses it (the
TokenManager awaits :meth:`ConnectionService._save_rotated`).

One TokenManager exists per connection, built under a per-user lock and kept across client
rebuilds (it is rebound to the new client), so two refreshes never run at once. Should Trakt still
refuse a refresh token that another refresh has just rotated (another process on the same store),
the manager reads the stored pair back and uses it instead of asking the person to sign in again.

Signing in again never breaks a working connection: a connected person who starts a device code
or opens a redirect link stays ``connected`` on the old tokens until the new flow succeeds; a
flow that is denied, expires or is abandoned leaves the state it found (it records
``last_error``). Only a person who is not connected shows ``pending`` while a flow is open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from authlib.common.security import generate_token
from sqlmodel import Session, select

from .context import AppContext
from .crypto import SecretDecryptError
from .store import locks
from .store.models import OAuthState, TraktConnection, User, as_utc, utcnow
from .trakt import errors
from .trakt.auth import TokenManager, Tokens, TraktAuth
from .trakt.client import TraktClient, describe_proxy, proxy_http_client
from .trakt.ratelimit import RateBudget

log = logging.getLogger(__name__)

# A redirect-flow state is good for 10 minutes and one use (SPEC §4).
STATE_LIFETIME = timedelta(minutes=10)
# Random characters in a state (≈ 190 bits): unguessable, so a forged callback is refused.
STATE_LENGTH = 32

Reconnected = Callable[[str], Awaitable[None]]


class NotConfigured(Exception):
    """The Trakt app's client id/secret are not set yet."""


class ConnectError(Exception):
    """A connection step failed; the message is safe to show (it names Trakt or the proxy)."""


class TraktGateway:
    """Builds (and rebuilds after a settings change) the one Trakt client of the process."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._client: TraktClient | None = None
        self._fingerprint: tuple[object, ...] | None = None
        # Bumped whenever the client is rebuilt, so token managers built on the old one
        # (old secret, old proxy) are replaced too.
        self.generation = 0
        self._closing: set[asyncio.Task[None]] = set()
        settings = ctx.settings
        self.budget = RateBudget(
            post_interval=settings.rate.post_interval, get_per_5min=settings.rate.get_per_5min
        )

    @property
    def configured(self) -> bool:
        return bool(self._ctx.settings.client_id and self._ctx.settings.client_secret)

    def client(self) -> TraktClient:
        settings = self._ctx.settings
        if not settings.client_id or not settings.client_secret:
            raise NotConfigured("Trakt client id and secret are not configured (settings page)")
        fingerprint = (
            settings.client_id,
            settings.client_secret,
            settings.api_url,
            settings.auth_url,
            settings.proxy,
            settings.scrobble.http_timeout,
        )
        if self._client is None or fingerprint != self._fingerprint:
            if self._client is not None:
                self._close_later(self._client)
            self.generation += 1
            self._client = TraktClient(
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                http=proxy_http_client(settings.proxy, settings.scrobble.http_timeout),
                api_url=settings.api_url,
                auth_url=settings.auth_url,
                budget=self.budget,
            )
            self._fingerprint = fingerprint
        return self._client

    def _close_later(self, client: TraktClient) -> None:
        """Close a replaced client's connections once requests in flight are done with it."""
        try:
            task = asyncio.get_running_loop().create_task(client.close())
        except RuntimeError:  # no loop (startup code): nothing is open yet
            return
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def auth(self) -> TraktAuth:
        return TraktAuth(self.client())

    async def test_connection(self) -> dict[str, object]:
        """Reach Trakt through the configured proxy with the app's client id.

        Reachable and accepted: ok with the time taken. A 401/403 in JSON is Trakt refusing the
        client id (Cloudflare's blocks are HTML). Without app credentials nothing is sent: a
        probe with an empty client id could only be refused.
        """
        settings = self._ctx.settings
        via = describe_proxy(settings.proxy)
        if not self.configured:
            return {
                "ok": False,
                "error": "no Trakt app credentials yet: set the client id and secret first",
                "via": via,
            }
        started = time.perf_counter()
        try:
            response = await self.client().probe()
        except errors.TraktError as exc:
            return {"ok": False, "error": _describe_failure(exc, "reaching Trakt"), "via": via}
        elapsed = round((time.perf_counter() - started) * 1000)
        status = response.status_code
        if status >= 500 or "text/html" in response.headers.get("content-type", ""):
            return {"ok": False, "error": f"Trakt answered {status}", "via": via}
        if status in (401, 403):
            error = f"Trakt refused the client id (HTTP {status}): check the app's client id"
            return {"ok": False, "error": error, "via": via}
        return {"ok": True, "via": via, "ms": elapsed}


class ConnectionService:
    """Per-user Trakt connection state and token sources."""

    def __init__(self, ctx: AppContext, gateway: TraktGateway) -> None:
        self._ctx = ctx
        self._gateway = gateway
        self._managers: dict[str, tuple[int, TokenManager]] = {}
        # Held while a user's manager is looked up or built, and while new tokens are adopted.
        self._source_locks: dict[str, asyncio.Lock] = {}
        self._device_tasks: dict[str, asyncio.Task[None]] = {}
        self._reconnected: list[Reconnected] = []

    # ------------------------------------------------------------ store helpers

    def _update(self, user_id: str, **fields: object) -> TraktConnection:
        with self._ctx.session() as session, session.begin():
            row = session.get(TraktConnection, user_id) or TraktConnection(user_id=user_id)
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            session.add(row)
            return row

    def _row(self, user_id: str) -> TraktConnection | None:
        with self._ctx.session() as session:
            return session.get(TraktConnection, user_id)

    def _require_user(self, user_id: str) -> None:
        with self._ctx.session() as session:
            if session.get(User, user_id) is None:
                raise LookupError("user not found")

    def _tokens_of(self, row: TraktConnection) -> Tokens | None:
        if not (row.access_token and row.refresh_token and row.token_created_at):
            return None
        created = as_utc(row.token_created_at)
        assert created is not None
        return Tokens(
            access_token=self._ctx.box.decrypt(row.access_token),
            refresh_token=self._ctx.box.decrypt(row.refresh_token),
            created_at=created.timestamp(),
            expires_in=float(row.expires_in or 0),
        )

    def _token_fields(self, tokens: Tokens) -> dict[str, object]:
        return {
            "access_token": self._ctx.box.encrypt(tokens.access_token),
            "refresh_token": self._ctx.box.encrypt(tokens.refresh_token),
            "token_created_at": datetime.fromtimestamp(tokens.created_at, UTC),
            "expires_in": int(tokens.expires_in),
            "expires_at": datetime.fromtimestamp(tokens.expires_at, UTC),
        }

    # ------------------------------------------------------------ token sources

    def on_reconnected(self, callback: Reconnected) -> None:
        """Register work to resume once a user (re)connects (e.g. parked scrobbles)."""
        self._reconnected.append(callback)

    def _source_lock(self, user_id: str) -> asyncio.Lock:
        return self._source_locks.setdefault(user_id, asyncio.Lock())

    def _live_manager(self, user_id: str, client: TraktClient) -> TokenManager | None:
        """The user's manager, rebound to the current client; None if absent or refused."""
        cached = self._managers.get(user_id)
        if cached is None or cached[1].reauth_required:
            return None
        generation, manager = cached
        if generation != self._gateway.generation:
            manager.rebind(TraktAuth(client), self._ctx.settings.redirect_uri)
            self._managers[user_id] = (self._gateway.generation, manager)
        return manager

    async def token_source(self, user_id: str) -> TokenManager | None:
        """The user's token source, or None while not connected (re-auth, never connected).

        Concurrent callers (outbox drain, sync, jobs, API) get the same manager: it is built
        once, under the user's lock, so its refreshes are serialised.
        """
        try:
            client = self._gateway.client()
        except NotConfigured:
            return None
        manager = self._live_manager(user_id, client)
        if manager is not None:
            return manager
        async with self._source_lock(user_id):
            manager = self._live_manager(user_id, client)  # built while we waited
            if manager is not None:
                return manager
            row = await asyncio.to_thread(self._row, user_id)
            if row is None or row.state != "connected":
                return None
            try:
                tokens = self._tokens_of(row)
            except SecretDecryptError:
                await self._mark_reauth(user_id, "the stored token cannot be read with this key")
                return None
            if tokens is None:
                return None
            manager = TokenManager(
                TraktAuth(client),
                tokens,
                key=user_id,
                redirect_uri=self._ctx.settings.redirect_uri,
                save=lambda new: self._save_rotated(user_id, new),
                load=lambda: self._load_tokens(user_id),
                on_reauth_required=lambda reason: self._mark_reauth(user_id, reason),
                guard=(
                    (lambda: self._refresh_guard(user_id))
                    if locks.shared(self._ctx.engine)
                    else None
                ),
            )
            self._managers[user_id] = (self._gateway.generation, manager)
            return manager

    @asynccontextmanager
    async def _refresh_guard(self, user_id: str) -> AsyncIterator[Tokens | None]:
        """Several processes (SPEC §13): one refresh of a connection at a time across them;
        yields the pair stored once it is this process's turn (maybe already rotated)."""
        held = await asyncio.to_thread(locks.claim, self._ctx.engine, "token", user_id)
        try:
            yield await self._load_tokens(user_id)
        finally:
            await asyncio.to_thread(held.release)

    async def _save_tokens(self, user_id: str, tokens: Tokens) -> None:
        await asyncio.to_thread(self._update, user_id, **self._token_fields(tokens))

    async def _save_rotated(self, user_id: str, tokens: Tokens) -> None:
        """A refreshed pair: written over the stored one, never into a deleted connection."""
        await asyncio.to_thread(self._update_tokens, user_id, self._token_fields(tokens))

    def _update_tokens(self, user_id: str, fields: dict[str, object]) -> None:
        with self._ctx.session() as session, session.begin():
            row = session.get(TraktConnection, user_id)
            if row is None:  # disconnected while the refresh was in flight
                return
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            session.add(row)

    async def _load_tokens(self, user_id: str) -> Tokens | None:
        """The stored pair (None if gone or unreadable): what another refresh may have saved."""
        row = await asyncio.to_thread(self._row, user_id)
        if row is None:
            return None
        try:
            return self._tokens_of(row)
        except SecretDecryptError:
            return None

    async def _mark_reauth(self, user_id: str, reason: str) -> None:
        log.warning("Trakt refused to refresh a token; the user must connect again")
        message = f"Trakt asks to sign in again ({reason})" if reason else "sign in again"
        await asyncio.to_thread(self._set_reauth, user_id, message)

    def _set_reauth(self, user_id: str, message: str) -> None:
        with self._ctx.session() as session, session.begin():
            row = session.get(TraktConnection, user_id)
            if row is None:  # disconnected meanwhile: nothing to sign in again to
                return
            row.state, row.last_error, row.updated_at = "reauth_required", message, utcnow()
            session.add(row)

    # ------------------------------------------------------------ connecting

    async def _connected(self, user_id: str, tokens: Tokens) -> None:
        """Commit the new tokens, read the profile, mark connected and resume parked work."""
        async with self._source_lock(user_id):
            cached = self._managers.get(user_id)
            if cached is not None and not cached[1].reauth_required:
                # the live manager takes them (after any refresh in flight) and saves them
                await cached[1].replace(tokens)
            else:
                self._managers.pop(user_id, None)
                await self._save_tokens(user_id, tokens)
            await asyncio.to_thread(self._update, user_id, state="connected", last_error=None)
        source = await self.token_source(user_id)
        if source is not None:
            await self.refresh_profile(user_id, source)
        for callback in self._reconnected:
            try:
                await callback(user_id)
            except Exception:
                log.exception("resuming work after reconnect failed")

    async def refresh_profile(self, user_id: str, source: TokenManager | None = None) -> None:
        """Read username, slug and VIP flags from /users/settings (at connect and periodically)."""
        source = source or await self.token_source(user_id)
        if source is None:
            return
        try:
            profile = await self._gateway.client().user_settings(source)
        except errors.TraktError as exc:
            log.warning("reading the Trakt profile failed: %s", exc)
            return
        user = profile.user
        await asyncio.to_thread(
            self._update,
            user_id,
            username=user.username,
            slug=user.ids.slug if user.ids else None,
            vip=user.vip,
            vip_ep=user.vip_ep,
            vip_og=user.vip_og,
            vip_checked_at=utcnow(),
        )

    async def start_device_flow(self, user_id: str) -> dict[str, object]:
        """Ask Trakt for a device code and poll for approval in the background."""
        await asyncio.to_thread(self._require_user, user_id)
        try:
            auth = self._gateway.auth()
            code = await auth.device_code()
        except NotConfigured:
            raise
        except errors.TraktError as exc:
            raise ConnectError(_describe_failure(exc, "asking Trakt for a device code")) from None
        await asyncio.to_thread(self._begin_flow, user_id)
        previous = self._device_tasks.pop(user_id, None)
        if previous is not None:
            previous.cancel()
        self._device_tasks[user_id] = asyncio.create_task(
            self._poll_device(user_id, auth, code.device_code, code.interval, code.expires_in)
        )
        return {
            "user_code": code.user_code,
            "verification_url": code.verification_url,
            "expires_in": code.expires_in,
        }

    def device_flow_open(self, user_id: str) -> bool:
        """Whether the user's device code is still being polled. A connected person stays
        ``connected`` meanwhile, so a dialog waits on this rather than on the state."""
        task = self._device_tasks.get(user_id)
        return task is not None and not task.done()

    async def _poll_device(
        self, user_id: str, auth: TraktAuth, device_code: str, interval: float, expires_in: float
    ) -> None:
        try:
            tokens = await auth.poll_until_done(device_code, interval, expires_in)
        except asyncio.CancelledError:
            raise
        except errors.DeviceCodeDenied:
            await self._flow_failed(user_id, "the code was denied on Trakt")
        except errors.DeviceCodeExpired:
            await self._flow_failed(user_id, "the code expired before it was entered")
        except errors.DeviceFlowError as exc:
            await self._flow_failed(user_id, f"device sign-in failed: {exc}")
        except errors.TraktError as exc:
            await self._flow_failed(user_id, _describe_failure(exc, "polling Trakt"))
        else:
            await self._connected(user_id, tokens)
        finally:
            if self._device_tasks.get(user_id) is asyncio.current_task():
                self._device_tasks.pop(user_id, None)

    def _begin_flow(self, user_id: str) -> None:
        """A sign-in starts: a connected person stays connected (on the old tokens) until it
        succeeds; anyone else shows ``pending`` while it is open."""
        with self._ctx.session() as session, session.begin():
            row = session.get(TraktConnection, user_id) or TraktConnection(user_id=user_id)
            if row.state != "connected":
                row.state = "pending"
            row.last_error = None
            row.updated_at = utcnow()
            session.add(row)

    async def _flow_failed(self, user_id: str, message: str) -> None:
        """A sign-in was denied, expired or failed: record why, and leave the state it found."""
        current = asyncio.current_task()
        task = self._device_tasks.get(user_id)
        device_open = task is not None and task is not current and not task.done()
        await asyncio.to_thread(self._end_flow, user_id, message, device_open)

    def _end_flow(self, user_id: str, message: str, device_open: bool) -> None:
        with self._ctx.session() as session, session.begin():
            row = session.get(TraktConnection, user_id)
            if row is None:
                return
            row.last_error = message
            if row.state == "pending" and not (device_open or self._link_open(session, user_id)):
                # back to what the flow found: re-auth if old tokens exist, else square one
                row.state = "reauth_required" if row.access_token else "disconnected"
            row.updated_at = utcnow()
            session.add(row)

    @staticmethod
    def _link_open(session: Session, user_id: str) -> bool:
        """Whether an unexpired redirect link of the user is still waiting for its callback."""
        now = utcnow()
        links = session.exec(select(OAuthState).where(OAuthState.user_id == user_id)).all()
        return any((as_utc(link.expires_at) or now) > now for link in links)

    def authorize_url(self, user_id: str) -> str:
        """A redirect-flow URL with a fresh single-use state bound to the user."""
        self._require_user(user_id)
        auth = self._gateway.auth()
        state = generate_token(STATE_LENGTH)
        with self._ctx.session() as session, session.begin():
            session.add(
                OAuthState(state=state, user_id=user_id, expires_at=utcnow() + STATE_LIFETIME)
            )
        self._begin_flow(user_id)
        return auth.authorize_url(state, self._ctx.settings.redirect_uri)

    def _take_state(self, state: str) -> tuple[str, bool] | None:
        """Consume a redirect state: (its user, whether it expired), or None if unknown."""
        with self._ctx.session() as session, session.begin():
            row = session.get(OAuthState, state)
            if row is None:
                return None
            session.delete(row)
            expires_at = as_utc(row.expires_at)
            return row.user_id, expires_at is None or expires_at < utcnow()

    async def _consume_state(self, state: str) -> str:
        taken = await asyncio.to_thread(self._take_state, state)
        if taken is None:
            raise ConnectError("unknown or already used state: start the connection again")
        user_id, expired = taken
        if expired:
            message = "the sign-in link expired: start the connection again"
            await self._flow_failed(user_id, message)
            raise ConnectError(message)
        return user_id

    async def finish_redirect(self, code: str, state: str) -> str:
        """Handle ``/oauth/trakt/callback``: check the state, exchange the code. Returns user id."""
        user_id = await self._consume_state(state)
        try:
            tokens = await self._gateway.auth().exchange_code(code, self._ctx.settings.redirect_uri)
        except errors.TraktError as exc:
            message = _describe_failure(exc, "exchanging the code with Trakt")
            await self._flow_failed(user_id, message)
            raise ConnectError(message) from None
        await self._connected(user_id, tokens)
        return user_id

    async def refuse_redirect(self, state: str, error: str) -> str:
        """Handle a callback with ``error`` (e.g. ``access_denied``): the state is used up, the
        reason recorded; the connection keeps the state it had. Returns the message to show."""
        message = (
            "the sign-in was denied on Trakt"
            if error == "access_denied"
            else f"Trakt did not authorise: {error}"
        )
        taken = await asyncio.to_thread(self._take_state, state) if state else None
        if taken is not None:
            await self._flow_failed(taken[0], message)
        return message

    async def disconnect(self, user_id: str) -> None:
        """Revoke the token at Trakt (best effort) and delete it locally."""
        await asyncio.to_thread(self._require_user, user_id)
        task = self._device_tasks.pop(user_id, None)
        if task is not None:
            task.cancel()
        row = await asyncio.to_thread(self._row, user_id)
        try:
            tokens = self._tokens_of(row) if row is not None else None
        except SecretDecryptError:
            tokens = None  # nothing to revoke with; forget it locally all the same
        if tokens is not None and self._gateway.configured:
            try:
                await self._gateway.auth().revoke(tokens.access_token)
            except errors.TraktError as exc:
                log.warning("revoking the token at Trakt failed (deleted locally anyway): %s", exc)
        async with self._source_lock(user_id):
            self._managers.pop(user_id, None)
            await asyncio.to_thread(self._forget, user_id)

    def _forget(self, user_id: str) -> None:
        with self._ctx.session() as session, session.begin():
            row = session.get(TraktConnection, user_id)
            if row is not None:
                session.delete(row)

    def reset_interrupted(self) -> None:
        """At startup: device polling died with the previous process. Only people who were not
        connected show ``pending`` (a connected person stays connected during a sign-in)."""
        with Session(self._ctx.engine) as session, session.begin():
            query = select(TraktConnection).where(TraktConnection.state == "pending")
            for row in session.exec(query).all():
                row.state = "reauth_required" if row.access_token else "disconnected"
                row.last_error = "the connection attempt was interrupted by a restart"
                session.add(row)


def _describe_failure(exc: errors.TraktError, doing: str) -> str:
    """A user-facing sentence naming what failed: the proxy, Trakt being unreachable, or Trakt."""
    if isinstance(exc, errors.ProxyError):
        return f"{doing} failed: the proxy {exc.proxy} did not work"
    if isinstance(exc, errors.TraktUnreachable):
        return f"{doing} failed: Trakt could not be reached"
    if isinstance(exc, errors.TraktTimeout):
        return f"{doing} failed: Trakt did not answer in time"
    return f"{doing} failed: {exc}"
