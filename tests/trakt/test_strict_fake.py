"""The fake Trakt is as strict as Trakt, and the client copes with what that strictness shows.

Fake side: OAuth only on the auth host, Basic refused, old access token dead after a refresh,
persistent locked / VIP-only / over-limit states with their headers, the edge's bare 429, a 409
window that does not depend on the runtime. Client side: the error each of these raises, and
that none is retried blindly.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

from tests.fake_trakt import FakeClock, FakeTrakt
from tests.fake_trakt.testing import API, AUTH, REDIRECT, connect
from trakt_plugin.trakt import RateBudget, TraktClient, errors
from trakt_plugin.trakt.client import DEFAULT_RETRY_AFTER

HEADERS = {"trakt-api-version": "2", "User-Agent": "tests/1", "Content-Type": "application/json"}
MATRIX = {"ids": {"trakt": 481}}


def api_headers(fake: FakeTrakt, token: str | None = None) -> dict[str, str]:
    headers = {**HEADERS, "trakt-api-key": fake.client_id}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def post(http: httpx.AsyncClient, fake: FakeTrakt, path: str, body: Any, token: str):
    return await http.post(f"{API}{path}", json=body, headers=api_headers(fake, token))


# ---------------------------------------------------------------- OAuth


@pytest.mark.asyncio
async def test_oauth_answers_only_on_the_auth_host_by_default(
    fake: FakeTrakt, http: httpx.AsyncClient
) -> None:
    body = {"client_id": fake.client_id}
    on_api = await http.post(f"{API}/oauth/device/code", json=body, headers=api_headers(fake))
    on_auth = await http.post(f"{AUTH}/oauth/device/code", json=body, headers=api_headers(fake))
    assert (on_api.status_code, on_auth.status_code) == (404, 200)
    fake.oauth_on_api_host = True
    again = await http.post(f"{API}/oauth/device/code", json=body, headers=api_headers(fake))
    assert again.status_code == 200


@pytest.mark.asyncio
async def test_basic_client_auth_is_refused_even_with_body_credentials(
    fake: FakeTrakt, http: httpx.AsyncClient
) -> None:
    issued = fake.issue_tokens("alice")
    basic = base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
    body = {
        "refresh_token": issued.refresh_token,
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "redirect_uri": REDIRECT,
        "grant_type": "refresh_token",
    }
    headers = {**api_headers(fake), "Authorization": f"Basic {basic}"}
    answer = await http.post(f"{AUTH}/oauth/token", json=body, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert fake.refreshes == 0  # the refresh token was not spent


@pytest.mark.asyncio
async def test_old_access_token_is_dead_after_a_refresh(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock, http: httpx.AsyncClient
) -> None:
    user = connect(fake, client, clock)
    old = user.tokens.access_token
    await user.refresh_after_401(old)
    settings = await http.get(f"{API}/users/settings", headers=api_headers(fake, old))
    assert settings.status_code == 401
    fresh = await http.get(
        f"{API}/users/settings", headers=api_headers(fake, user.tokens.access_token)
    )
    assert fresh.status_code == 200


@pytest.mark.asyncio
async def test_calls_in_flight_with_the_rotated_token_share_the_one_refresh(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    fake.latency = 0.3  # these ten are in flight with the old token ...
    slow = [asyncio.create_task(client.user_settings(user)) for _ in range(10)]
    while len(fake.requests_to("/users/settings")) < 10:  # all ten reached Trakt: in flight
        await asyncio.sleep(0)
    fake.latency = 0.0  # ... while another call's 401 rotates the pair
    fake.fail_next(1, 401, path="/sync/last_activities")
    await client.last_activities(user)
    assert fake.refreshes == 1
    results = await asyncio.gather(*slow)
    assert all(r.user.username == "alice" for r in results)
    assert fake.refreshes == 1 and fake.refresh_reuse == []
    statuses = [r.status for r in fake.requests_to("/users/settings")]
    assert statuses.count(401) == 10 and statuses.count(200) == 10


# ---------------------------------------------------------------- account states


@pytest.mark.asyncio
async def test_locked_account_answers_423_with_headers_until_unlocked(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    fake.lock_account("alice")
    for call in (client.user_settings(user), client.last_activities(user)):
        with pytest.raises(errors.AccountLocked) as caught:
            await call
        assert caught.value.locked and not caught.value.deactivated
        assert "contact Trakt support" in str(caught.value)
    locked = [r for r in fake.requests if r.status == 423]
    assert len(locked) == 2  # each refused once, never retried
    fake.lock_account("alice", deactivated=True)
    with pytest.raises(errors.AccountLocked) as caught:
        await client.user_settings(user)
    assert caught.value.deactivated and "deactivated" in str(caught.value)
    fake.lock_account("alice", False)
    assert (await client.user_settings(user)).user.username == "alice"


@pytest.mark.asyncio
async def test_vip_only_endpoint_answers_426_with_upgrade_url(
    fake: FakeTrakt, http: httpx.AsyncClient
) -> None:
    issued = fake.issue_tokens("alice")
    answer = await http.get(
        f"{API}/users/saved_filters", headers=api_headers(fake, issued.access_token)
    )
    assert answer.status_code == 426
    assert answer.headers["x-upgrade-url"].startswith("https://")
    fake.set_vip("alice")
    again = await http.get(
        f"{API}/users/saved_filters", headers=api_headers(fake, issued.access_token)
    )
    assert again.status_code != 426


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kind", "path", "body"),
    [
        ("history", "/sync/history", {"movies": [MATRIX]}),
        ("ratings", "/sync/ratings", {"movies": [{**MATRIX, "rating": 8}]}),
        ("watchlist", "/sync/watchlist", {"movies": [MATRIX]}),
        ("lists", "/users/me/lists/{list}/items", {"movies": [MATRIX]}),
    ],
)
async def test_over_limit_adds_answer_420_with_headers_while_set(
    fake: FakeTrakt, http: httpx.AsyncClient, kind: str, path: str, body: dict[str, Any]
) -> None:
    issued = fake.issue_tokens("alice")
    path = path.format(list=fake.add_list("alice", "Later").trakt)
    fake.set_over_limit("alice", kind)
    for _ in range(2):  # persistent, not a one-shot
        answer = await post(http, fake, path, body, issued.access_token)
        assert answer.status_code == 420
        assert answer.headers["x-account-limit"].isdigit()
        assert answer.headers["x-vip-user"] == "false"
        assert answer.headers["x-upgrade-url"].startswith("https://")
    fake.set_over_limit("alice", kind, over=False)
    assert (await post(http, fake, path, body, issued.access_token)).status_code == 201


@pytest.mark.asyncio
async def test_free_limits_count_items(fake: FakeTrakt, http: httpx.AsyncClient) -> None:
    issued = fake.issue_tokens("alice")
    fake.users["alice"].limits["ratings"] = {"item_count": 1}
    first = await post(http, fake, "/sync/ratings", {"movies": [{**MATRIX, "rating": 8}]},
                       issued.access_token)  # fmt: skip
    inception = {"ids": {"trakt": 16662}, "rating": 7}
    second = await post(http, fake, "/sync/ratings", {"movies": [inception]}, issued.access_token)
    assert (first.status_code, second.status_code) == (201, 420)
    assert second.headers["x-account-limit"] == "1"


@pytest.mark.asyncio
async def test_client_raises_account_limit_with_its_headers_once(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    fake.set_over_limit("alice", "history")
    with pytest.raises(errors.AccountLimitExceeded) as caught:
        await client.add_history(user, {"movies": [MATRIX]})
    assert caught.value.account_limit == 100_000 and caught.value.upgrade_url
    assert len(fake.requests_to("/sync/history", "POST")) == 1


# ---------------------------------------------------------------- the edge's 429


@pytest.mark.asyncio
async def test_cloudflare_429_has_no_retry_after_and_the_client_waits_its_default(
    fake: FakeTrakt, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    budget = RateBudget(post_interval=0.0, clock=clock, sleep=sleep)
    client = TraktClient(
        client_id=fake.client_id, client_secret=fake.client_secret, http=http, api_url=API,
        auth_url=AUTH, budget=budget, retry_base_delay=0.001,
    )  # fmt: skip
    user = connect(fake, client, clock)
    fake.fail_next(1, "cloudflare_429", path="/sync/history", method="POST")
    await client.add_history(user, {"movies": [MATRIX]})
    bare = [r for r in fake.requests_to("/sync/history", "POST")]
    assert [r.status for r in bare] == [429, 201]
    assert sum(waits) >= DEFAULT_RETRY_AFTER  # waited, did not hot-loop


@pytest.mark.asyncio
async def test_cloudflare_429_answer_has_neither_header(
    fake: FakeTrakt, http: httpx.AsyncClient
) -> None:
    issued = fake.issue_tokens("alice")
    fake.fail_next(1, "cloudflare_429")
    answer = await http.get(f"{API}/users/settings", headers=api_headers(fake, issued.access_token))
    assert answer.status_code == 429
    assert "retry-after" not in answer.headers and "x-ratelimit" not in answer.headers


# ---------------------------------------------------------------- the 409 window


@pytest.mark.asyncio
async def test_scrobble_409_window_is_its_own_setting_not_the_runtime(
    fake: FakeTrakt, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    issued = fake.issue_tokens("alice")
    stop = {"movie": MATRIX, "progress": 95}

    async def status() -> int:
        return (await post(http, fake, "/scrobble/stop", stop, issued.access_token)).status_code

    assert fake.scrobble_window == 3600  # the default: an hour, whatever the runtime
    assert await status() == 201
    clock.advance(3600 + 60)  # The Matrix runs 136 minutes: the window is not that
    assert await status() == 201
    fake.scrobble_window = 3 * 3600
    clock.advance(2 * 3600)
    again = await post(http, fake, "/scrobble/stop", stop, issued.access_token)
    assert again.status_code == 409 and again.json()["expires_at"]
    clock.advance(3600)
    assert await status() == 201
