"""Helpers shared by tests that drive the Trakt client against the fake."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from trakt_plugin.trakt import RateBudget, TokenManager, Tokens, TraktAuth, TraktClient

from .state import FakeClock, FakeTrakt

API = "https://api.trakt.test"
AUTH = "https://auth.trakt.test"
REDIRECT = "urn:ietf:wg:oauth:2.0:oob"


def make_client(fake: FakeTrakt, http: httpx.AsyncClient, **kwargs: Any) -> TraktClient:
    """A client for the fake with fast retries and no POST spacing unless asked."""
    options: dict[str, Any] = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "http": http,
        "api_url": API,
        "auth_url": AUTH,
        "retry_base_delay": 0.001,
        "budget": RateBudget(post_interval=0.0),
    }
    options.update(kwargs)
    return TraktClient(**options)


class Saver:
    """Records every token pair handed to `save`, and re-auth reasons."""

    def __init__(self) -> None:
        self.saved: list[Tokens] = []
        self.reauth: list[str] = []

    async def save(self, tokens: Tokens) -> None:
        self.saved.append(tokens)

    async def on_reauth(self, reason: str) -> None:
        self.reauth.append(reason)


def connect(
    fake: FakeTrakt,
    client: TraktClient,
    clock: FakeClock,
    username: str = "alice",
    *,
    lifetime: int | None = None,
    saver: Saver | None = None,
    save: Callable[[Tokens], Awaitable[None]] | None = None,
) -> TokenManager:
    """A connected user: tokens minted by the fake, managed by a TokenManager."""
    issued = fake.issue_tokens(username, lifetime=lifetime)
    saver = saver or Saver()
    tokens = Tokens(issued.access_token, issued.refresh_token, issued.created_at, issued.expires_in)
    return TokenManager(
        TraktAuth(client),
        tokens,
        key=username,
        redirect_uri=REDIRECT,
        save=save or saver.save,
        on_reauth_required=saver.on_reauth,
        clock=clock,
    )


def assert_no_secrets(exc: BaseException, *secrets: str) -> None:
    """Neither str() nor repr() of `exc` (nor its cause) shows any of `secrets`."""
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen), str(getattr(seen, "args", ""))):
            for secret in secrets:
                assert secret not in text, f"secret leaked in {type(seen).__name__}: {text}"
        seen = seen.__cause__ or seen.__context__
