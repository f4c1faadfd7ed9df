"""Many calls that need one person's token at once, right after a restart with an expired access
token: Trakt sees one refresh, and the person stays connected.

Refresh tokens are single-use. If two token managers existed for one connection, both would
refresh with the same refresh token; Trakt refuses the second (400) and the loser would ask the
person to sign in again although the other refresh succeeded (SPEC §4: two refreshes for one
connection never run at once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests import pg
from tests.conftest import API_TOKEN, FakeTraktServer, Service, connect_user
from tests.fake_trakt import FakeTrakt
from trakt_plugin.store.models import TraktConnection

CALLS = 20
# A slow refresh at the fake: every caller reaches its token source while the first refresh is
# still in flight, which is when a second manager (or a second refresh) would show.
REFRESH_DELAY = 0.5


def refresh_requests(fake: FakeTrakt) -> list[Any]:
    return [
        r
        for r in fake.requests_to("/oauth/token", "POST")
        if isinstance(r.body, dict) and r.body.get("grant_type") == "refresh_token"
    ]


def expire_in_store(service: Service, user_id: str) -> None:
    """Make the stored expiry past (the service was down longer than the token lived)."""
    created = datetime.now(UTC) - timedelta(days=8)
    expires = created + timedelta(days=7)
    expire = (
        sa.update(TraktConnection)
        .where(TraktConnection.user_id == user_id)  # type: ignore[arg-type]
        .values(token_created_at=created, expires_at=expires)
    )
    assert pg.execute(pg.store_url(service), [expire]) == [1]


async def concurrent_calls(url: str, user_id: str) -> list[httpx.Response]:
    """CALLS requests at once, each needing the user's token: a profile check reads
    /users/settings at Trakt and answers the connection state afterwards."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:
        calls = [api.post(f"/api/v1/users/{user_id}/trakt/verify") for _ in range(CALLS)]
        return list(await asyncio.gather(*calls))


@pytest.mark.parametrize("expired", ["at_trakt", "in_store_too"])
def test_concurrent_calls_after_restart_refresh_once_and_stay_connected(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer, expired: str
) -> None:
    """`at_trakt`: the stored expiry is ahead, so every call meets a 401 first (refresh after
    401); `in_store_too`: the stored expiry is past, so every call refreshes ahead of use."""
    env = fake_trakt.service_env()
    service = service_factory(env)
    user = connect_user(service, fake_trakt, "Ivy", "ivy_t")
    service.stop()

    fake = fake_trakt.state
    fake.expire_tokens("ivy_t")
    if expired == "in_store_too":
        expire_in_store(service, user["id"])
    fake.refresh_delay = REFRESH_DELAY
    fake.clear_log()

    restarted = service_factory(env)
    answers = asyncio.run(concurrent_calls(restarted.url, user["id"]))

    assert [a.status_code for a in answers] == [200] * CALLS, [a.text for a in answers]
    assert {a.json()["state"] for a in answers} == {"connected"}
    settings_ok = [r for r in fake.requests_to("/users/settings") if r.status == 200]
    assert len(settings_ok) >= CALLS  # every call went out
    assert len(refresh_requests(fake)) == 1, "one refresh for one connection"
    assert fake.refresh_reuse == []
    with restarted.api() as api:
        trakt = api.get(f"/api/v1/users/{user['id']}").json()["trakt"]
        assert trakt["state"] == "connected"
        assert trakt["last_error"] is None
        # the rotated pair is in use: calls still go out, no second refresh
        before = len(fake.requests_to("/users/settings"))
        assert api.post(f"/api/v1/users/{user['id']}/trakt/verify").json()["state"] == "connected"
    assert len(fake.requests_to("/users/settings")) == before + 1
    assert len(refresh_requests(fake)) == 1
