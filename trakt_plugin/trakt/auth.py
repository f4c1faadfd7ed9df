"""Trakt OAuth: device code, authorization code, refresh, revoke, and per-connection tokens.

Every call goes through the client's request funnel (same headers, same proxy) with
`client_id` and `client_secret` in a JSON body: Trakt refuses HTTP Basic client authentication.
Trakt's device flow is its own (paths and statuses of docs §2.5), not RFC 8628.

`TokenManager` is the token source of one connection: it refreshes ahead of expiry and once
after a 401, never twice at once, saves the rotated pair (through an injected callback) before
anyone uses it, and stops at "re-authorisation required" when Trakt refuses the refresh token —
unless the stored pair (read through another injected callback) shows that another refresh for
the same connection has just rotated it, in which case that pair is used instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from .. import clock as product_clock
from . import errors
from .client import TokenSource, TraktClient
from .models import DeviceCode, TokenResponse

__all__ = [
    "REFRESH_WHEN_LEFT",
    "TokenManager",
    "Tokens",
    "TraktAuth",
]

# Refresh when under a quarter of the token's lifetime is left (spec §4): early enough that a
# day of Trakt being down does not log anyone out with 7-day tokens, late enough to be rare.
REFRESH_WHEN_LEFT = 0.25
# Trakt asks to poll no faster than `interval`; on 429 ("slow down") the interval doubles.
SLOW_DOWN_FACTOR = 2

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
SaveTokens = Callable[["Tokens"], Awaitable[None]]
LoadTokens = Callable[[], Awaitable["Tokens | None"]]
OnReauth = Callable[[str], Awaitable[None]]
# Held around a refresh so that one process at a time refreshes a connection; yields the pair
# stored when it was taken (another process may have rotated it meanwhile).
RefreshGuard = Callable[[], AbstractAsyncContextManager["Tokens | None"]]


def _mask(secret: str) -> str:
    return f"{secret[:4]}…" if len(secret) > 12 else "***"


@dataclass(frozen=True)
class Tokens:
    """An access/refresh token pair and its lifetime (epoch seconds)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    created_at: float
    expires_in: float

    @property
    def expires_at(self) -> float:
        return self.created_at + self.expires_in

    def remaining(self, now: float) -> float:
        """Seconds of validity left at `now`."""
        return self.expires_at - now

    def needs_refresh(self, now: float) -> bool:
        """True when under REFRESH_WHEN_LEFT of the lifetime is left."""
        return self.remaining(now) < REFRESH_WHEN_LEFT * self.expires_in

    @classmethod
    def from_response(cls, data: Any) -> Tokens:
        parsed = TokenResponse.model_validate(data)
        return cls(parsed.access_token, parsed.refresh_token, parsed.created_at, parsed.expires_in)

    def __repr__(self) -> str:
        return (
            f"Tokens(access_token={_mask(self.access_token)!r}, "
            f"refresh_token={_mask(self.refresh_token)!r}, "
            f"created_at={self.created_at!r}, expires_in={self.expires_in!r})"
        )


class TraktAuth:
    """The OAuth endpoints of one Trakt app, through the client's funnel."""

    def __init__(self, client: TraktClient) -> None:
        self._client = client

    def _body(self, **values: Any) -> dict[str, Any]:
        return {
            **values,
            "client_id": self._client.client_id,
            "client_secret": self._client.client_secret,
        }

    # ------------------------------------------------------------------ device code

    async def device_code(self) -> DeviceCode:
        """POST /oauth/device/code: a code for the user to enter at `verification_url`."""
        reply = await self._client.oauth_post(
            "/oauth/device/code", {"client_id": self._client.client_id}
        )
        try:
            return DeviceCode.model_validate(reply.data)
        except ValidationError:
            raise errors.UnexpectedStatus(
                "Trakt's answer to the device code request is not one it documents",
                status=reply.status,
            ) from None

    async def poll_device_token(self, device_code: str) -> Tokens:
        """Poll once; tokens when approved, else a DeviceFlowError subclass (docs §2.5)."""
        try:
            reply = await self._client.oauth_post(
                "/oauth/device/token", self._body(code=device_code)
            )
        except errors.TraktHTTPError as exc:
            raise _device_error(exc) from None
        return Tokens.from_response(reply.data)

    async def poll_until_done(
        self,
        device_code: str,
        interval: float,
        expires_in: float,
        sleep: Sleep = asyncio.sleep,
    ) -> Tokens:
        """Poll every `interval` s until approval, denial or expiry (slow down: ×2)."""
        waited = 0.0
        while True:
            await sleep(interval)
            waited += interval
            try:
                return await self.poll_device_token(device_code)
            except errors.DeviceSlowDown:
                interval *= SLOW_DOWN_FACTOR
            except errors.DeviceCodePending:
                pass
            except errors.TraktError as exc:
                # a blip (Trakt or network) does not end the flow; the code's expiry does
                if isinstance(exc, errors.DeviceFlowError) or not errors.is_retryable(exc):
                    raise
            if waited >= expires_in:
                raise errors.DeviceCodeExpired(
                    "The Trakt device code expired before it was approved; start again",
                    status=410,
                )

    # ------------------------------------------------------------------ authorization code

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        """Where to send the browser: /oauth/authorize on the OAuth host (the auth host,
        or the API host once the auth host answered 404)."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self._client.oauth_url}/oauth/authorize?{query}"

    async def exchange_code(self, code: str, redirect_uri: str) -> Tokens:
        """POST /oauth/token with grant_type=authorization_code."""
        body = self._body(code=code, redirect_uri=redirect_uri, grant_type="authorization_code")
        try:
            reply = await self._client.oauth_post("/oauth/token", body)
        except (errors.BadRequest, errors.Unauthorized) as exc:
            raise errors.OAuthError(
                f"Trakt refused the authorization code ({exc.status}); start the connection again",
                status=exc.status,
                body_text=exc.body_text,
            ) from None
        return Tokens.from_response(reply.data)

    async def refresh(self, refresh_token: str, redirect_uri: str) -> Tokens:
        """POST /oauth/token with grant_type=refresh_token; 400/401 → ReauthRequired."""
        body = self._body(
            refresh_token=refresh_token, redirect_uri=redirect_uri, grant_type="refresh_token"
        )
        try:
            reply = await self._client.oauth_post("/oauth/token", body)
        except (errors.BadRequest, errors.Unauthorized) as exc:
            reason = f"Trakt refused the refresh token ({exc.status}); connect the account again"
            raise errors.ReauthRequired(
                reason, reason=reason, status=exc.status, body_text=exc.body_text
            ) from None
        return Tokens.from_response(reply.data)

    async def revoke(self, access_token: str) -> None:
        """POST /oauth/revoke (on disconnect)."""
        await self._client.oauth_post("/oauth/revoke", self._body(token=access_token))


def _device_error(exc: errors.TraktHTTPError) -> errors.TraktError:
    kinds: dict[int, tuple[type[errors.DeviceFlowError], str]] = {
        400: (errors.DeviceCodePending, "waiting for the user to approve the device code"),
        404: (errors.DeviceCodeInvalid, "Trakt does not know this device code; start again"),
        409: (errors.DeviceCodeUsed, "the device code was already used"),
        410: (errors.DeviceCodeExpired, "the device code expired; start again"),
        418: (errors.DeviceCodeDenied, "the user denied access on Trakt"),
        429: (errors.DeviceSlowDown, "polling too fast; slowing down"),
    }
    if exc.status is None or exc.status not in kinds:
        return exc
    cls, message = kinds[exc.status]
    return cls(message, status=exc.status, retry_after=exc.retry_after)


class TokenManager:
    """Token source of one Trakt connection (implements client.TokenSource)."""

    def __init__(
        self,
        auth: TraktAuth,
        tokens: Tokens,
        *,
        key: str,
        redirect_uri: str,
        save: SaveTokens,
        load: LoadTokens | None = None,
        on_reauth_required: OnReauth | None = None,
        clock: Clock = product_clock.time,
        guard: RefreshGuard | None = None,
    ) -> None:
        self._auth = auth
        self._tokens = tokens
        self._key = key
        self._redirect_uri = redirect_uri
        self._save = save
        self._load = load
        self._on_reauth = on_reauth_required
        self._clock = clock
        self._guard = guard
        self._lock = asyncio.Lock()
        self._unsaved: Tokens | None = None
        self._reauth_reason: str | None = None
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"TokenManager(key={self._key!r}, tokens={self._tokens!r})"

    @property
    def key(self) -> str:
        return self._key

    @property
    def tokens(self) -> Tokens:
        return self._tokens

    @property
    def reauth_required(self) -> bool:
        return self._reauth_reason is not None

    def rebind(self, auth: TraktAuth, redirect_uri: str) -> None:
        """Use a rebuilt client (new secret, proxy or host) from now on; the tokens stay."""
        self._auth = auth
        self._redirect_uri = redirect_uri

    async def replace(self, tokens: Tokens) -> None:
        """New tokens after the user connected again: saved, then current; leaves re-auth.

        Waits for a refresh in flight, so its rotated pair cannot overwrite the new one.
        """
        async with self._lock:
            self._unsaved = None
            await self._commit(tokens)
            self._reauth_reason = None

    async def access_token(self) -> str:
        """A valid access token, refreshed first when under a quarter of its life is left."""
        self._check_reauth()
        tokens = self._tokens
        if self._unsaved is not None or tokens.needs_refresh(self._clock()):
            tokens = await self._refresh(tokens.access_token, force=False)
        return tokens.access_token

    async def refresh_after_401(self, failed_token: str) -> str:
        """Refresh once after a 401, unless another caller already did."""
        return (await self._refresh(failed_token, force=True)).access_token

    def _check_reauth(self) -> None:
        if self._reauth_reason is not None:
            raise errors.ReauthRequired(self._reauth_reason, reason=self._reauth_reason)

    async def _refresh(self, seen_access_token: str, *, force: bool) -> Tokens:
        async with self._lock:
            self._check_reauth()
            if self._unsaved is not None:  # a rotated pair whose save failed: save it first
                await self._commit(self._unsaved)
            current = self._tokens
            if current.access_token != seen_access_token:
                return current  # refreshed by someone else while we waited
            now = self._clock()
            if not force and not current.needs_refresh(now):
                return current
            if self._guard is None:
                return await self._refresh_now(current, force=force, now=now)
            async with self._guard() as stored:
                if stored is not None and stored.refresh_token != current.refresh_token:
                    # Another process refreshed this connection meanwhile: its pair is current.
                    self._tokens, self._unsaved = stored, None
                    now = self._clock()
                    if force or not stored.needs_refresh(now):
                        return stored
                    current = stored
                return await self._refresh_now(current, force=force, now=now)

    async def _refresh_now(self, current: Tokens, *, force: bool, now: float) -> Tokens:
        """Ask Trakt for a new pair (the manager's lock, and guard if any, are held)."""
        try:
            new = await self._auth.refresh(current.refresh_token, self._redirect_uri)
        except errors.ReauthRequired as exc:
            rotated = await self._rotated_elsewhere(current)
            if rotated is not None:
                return rotated
            self._reauth_reason = exc.reason
            if self._on_reauth is not None:
                await self._on_reauth(exc.reason)
            raise
        except errors.TraktError:
            if not force and current.remaining(now) > 0:
                return current  # Trakt unreachable: the old token still works for now
            raise
        self.refresh_count += 1
        self._unsaved = new
        await self._commit(new)
        return new

    async def _rotated_elsewhere(self, refused: Tokens) -> Tokens | None:
        """The stored pair, when another refresh for this connection rotated it since we read
        it (its refresh token differs from the refused one): Trakt refused ours because it had
        just been used, not because the user must sign in again."""
        if self._load is None:
            return None
        stored = await self._load()
        if stored is None or stored.refresh_token == refused.refresh_token:
            return None
        self._tokens = stored
        self._unsaved = None
        return stored

    async def _commit(self, tokens: Tokens) -> None:
        """Persist the rotated pair, then make it current (the old refresh token is dead)."""
        await self._save(tokens)
        self._tokens = tokens
        self._unsaved = None


def _is_token_source(manager: TokenManager) -> TokenSource:
    """Static check (mypy) that TokenManager satisfies the client's TokenSource protocol."""
    return manager
