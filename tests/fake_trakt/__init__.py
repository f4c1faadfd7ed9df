"""A fake Trakt server (ASGI) with a controllable state, for tests.

In process (hosts: api.trakt.test and auth.trakt.test)::

    fake = FakeTrakt(clock=FakeClock())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(fake)))
    client = testing.make_client(fake, http)        # api/auth URLs of the fake, fast retries
    user = testing.connect(fake, client, clock)     # a TokenManager with minted tokens

On a real socket::

    with serve_in_thread(fake) as base_url: ...      # uvicorn on 127.0.0.1, free port

Service tests use the `fake_trakt` fixture (tests/conftest.py): rate limits and the device poll
interval enforced, API host ``http://127.0.0.1:port``, auth host ``http://localhost:port``;
`FakeTraktServer.service_env` tells the service the fake's POST interval (or adopts the one a
test passes), so the two always agree.

or ``python -m tests.fake_trakt --port 8788`` (prints the app credentials and a token pair).

Steering it (all on `FakeTrakt`):

* users and tokens: `add_user`, `set_vip`, `issue_tokens(username, lifetime=)`, `expire_tokens`,
  `token_lifetime`, `refresh_delay` (a slow refresh); `refreshes`, `refresh_reuse` (refresh
  tokens presented twice), `revoked`. A refresh rotates: the old refresh token is spent and the
  old access token answers 401 from then on. OAuth calls with an `Authorization: Basic` header
  answer 401 invalid_client, whatever the body holds;
* account states (persistent until cleared): `lock_account(username, locked=True,
  deactivated=False)` (423 with `X-Account-Locked`/`X-Account-Deactivated` on every authed
  call), `vip_only_paths` (regexes; 426 with `X-Upgrade-URL` for non-VIP users; Trakt's own
  VIP-only endpoints by default), `set_over_limit(username, *kinds, over=True)` (420 with
  `X-Account-Limit`, `X-VIP-User`, `X-Upgrade-URL` on adds to "history", "ratings", "lists",
  "watchlist"); free users also get 420 once an add would pass their `limits`;
* device flow: `approve(user_code, username)`, `deny`, `expire_device_code`,
  `device_expires_in`, `device_interval`, `enforce_poll_interval` (429 when polled too fast);
* code flow: `mint_auth_code(username, redirect_uri)` (the user clicked "allow");
* hosts: `auth_hostnames`, `auth_host_404` (the auth host answers 404), `oauth_on_api_host`
  (default False: like Trakt since 2026-07, OAuth answers 404 on the API host; set it to test
  the product's fallback to the API host);
* catalogue: `add_movie`, `add_show`, `add_episode` (seeded with The Matrix, Inception and
  Breaking Bad S1E1-2), `find`;
* state: `add_play`, `history(user)`, `add_to_watchlist`, `rate`, `add_list`, `activities_of`;
* limits and faults: `rate_limits` (+ `post_interval`, `get_limit`; off by default here, on
  for every service test: see `strict_fake` in tests/conftest.py), `page_cap`,
  `scrobble_window` (seconds a second stop of the same item answers 409; one hour by default,
  whatever the item's runtime), `fail_next(n, status | "hang" | "drop_after_processing" |
  "cloudflare_html" | "cloudflare_429", method=, path=, retry_after=)` ("cloudflare_429": the
  edge's 429 with neither Retry-After nor X-Ratelimit), `set_error_rate(rate, kind, seed)`,
  `blocked_user_agents`;
* log: `requests` (LoggedRequest: t, wall, host, method, path, query, headers, body, peer,
  user, status), `requests_to(path, method)`, `clear_log()`.

`clock` (wall, epoch seconds; pass a FakeClock to move time) drives tokens, plays and device
codes; `monotonic` (real) drives rate limits and the log's `t`.
"""

from .app import ROUTES, HTTPError, create_app, route
from .server import free_port, serve_in_thread
from .state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FakeClock,
    FakeTrakt,
    Item,
    LoggedRequest,
    iso,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "ROUTES",
    "FakeClock",
    "FakeTrakt",
    "HTTPError",
    "Item",
    "LoggedRequest",
    "create_app",
    "free_port",
    "iso",
    "route",
    "serve_in_thread",
]
