"""OAuth against the fake Trakt: device flow, code flow, refresh rotation, re-auth."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fake_trakt import FakeClock, FakeTrakt
from tests.fake_trakt.testing import AUTH, Saver, assert_no_secrets, connect, make_client
from trakt_plugin.trakt import TokenManager, Tokens, TraktAuth, TraktClient, errors


@pytest.mark.asyncio
async def test_device_flow_through_every_status(fake: FakeTrakt, client: TraktClient) -> None:
    auth = TraktAuth(client)
    code = await auth.device_code()
    assert code.verification_url and code.interval == 5 and code.expires_in == 600
    with pytest.raises(errors.DeviceCodePending):
        await auth.poll_device_token(code.device_code)  # 400
    fake.approve(code.user_code, "alice")
    tokens = await auth.poll_device_token(code.device_code)  # 200
    assert fake.token_user(tokens.access_token) == "alice"
    with pytest.raises(errors.DeviceCodeUsed):
        await auth.poll_device_token(code.device_code)  # 409

    denied = await auth.device_code()
    fake.deny(denied.user_code)
    with pytest.raises(errors.DeviceCodeDenied):
        await auth.poll_device_token(denied.device_code)  # 418

    late = await auth.device_code()
    fake.expire_device_code(late.user_code)
    with pytest.raises(errors.DeviceCodeExpired):
        await auth.poll_device_token(late.device_code)  # 410

    with pytest.raises(errors.DeviceCodeInvalid):
        await auth.poll_device_token("not-a-code")  # 404

    fake.enforce_poll_interval = True
    fast = await auth.device_code()
    with pytest.raises(errors.DeviceCodePending):
        await auth.poll_device_token(fast.device_code)
    with pytest.raises(errors.DeviceSlowDown):
        await auth.poll_device_token(fast.device_code)  # 429
    statuses = [r.status for r in fake.requests_to("/oauth/device/token")]
    assert statuses == [400, 200, 409, 418, 410, 404, 400, 429]
    for logged in fake.requests_to("/oauth/device/token"):
        assert logged.body["client_secret"] == fake.client_secret  # JSON body, never Basic
        assert "authorization" not in logged.headers


@pytest.mark.asyncio
async def test_an_odd_device_code_answer_is_a_trakt_error(
    fake: FakeTrakt, client: TraktClient
) -> None:
    """A fraction of a second is an interval (a test server's); a negative one is no answer Trakt
    documents: a TraktError the API turns into a 502, never a 500."""
    auth = TraktAuth(client)
    fake.device_interval = 0.25
    assert (await auth.device_code()).interval == 0.25
    fake.device_interval = -1
    with pytest.raises(errors.UnexpectedStatus, match="device code"):
        await auth.device_code()


@pytest.mark.asyncio
async def test_poll_until_done_slows_down_and_finishes(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    auth = TraktAuth(client)
    fake.enforce_poll_interval = True
    code = await auth.device_code()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)
        if len(waits) == 4:
            fake.approve(code.user_code, "carol")

    tokens = await auth.poll_until_done(code.device_code, 2, code.expires_in, sleep=sleep)
    assert fake.token_user(tokens.access_token) == "carol"
    assert waits == [2, 2, 4, 8]  # 2 s is faster than Trakt's 5 s: 429 → doubled


@pytest.mark.asyncio
async def test_poll_until_done_stops_at_expiry(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    auth = TraktAuth(client)
    fake.device_expires_in = 30
    code = await auth.device_code()
    with pytest.raises(errors.DeviceCodeExpired):
        await auth.poll_until_done(code.device_code, 5, 30, sleep=clock.sleep)
    assert len(fake.requests_to("/oauth/device/token")) <= 6


@pytest.mark.asyncio
async def test_authorization_code_flow(fake: FakeTrakt, client: TraktClient) -> None:
    auth = TraktAuth(client)
    url = auth.authorize_url("state-123", "https://home.example/oauth/trakt/callback")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == AUTH and parts.path == "/oauth/authorize"
    query = parse_qs(parts.query)
    assert query == {
        "response_type": ["code"],
        "client_id": [fake.client_id],
        "redirect_uri": ["https://home.example/oauth/trakt/callback"],
        "state": ["state-123"],
    }
    code = fake.mint_auth_code("dave", "https://home.example/oauth/trakt/callback")
    tokens = await auth.exchange_code(code, "https://home.example/oauth/trakt/callback")
    assert fake.token_user(tokens.access_token) == "dave"
    with pytest.raises(errors.OAuthError) as caught:
        await auth.exchange_code(code, "https://home.example/oauth/trakt/callback")
    assert_no_secrets(caught.value, code, fake.client_secret, tokens.access_token)
    body = fake.requests_to("/oauth/token")[0].body
    assert body["grant_type"] == "authorization_code"
    assert body["client_id"] == fake.client_id and body["client_secret"] == fake.client_secret


@pytest.mark.asyncio
async def test_refresh_ahead_of_expiry_over_three_minutes(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    fake.token_lifetime = 30
    saver = Saver()
    user = connect(fake, client, clock, lifetime=30, saver=saver)
    for _ in range(180):
        clock.advance(1)
        await client.last_activities(user)
    calls = fake.requests_to("/sync/last_activities")
    assert len(calls) == 180 and all(c.status == 200 for c in calls)  # never a 401
    refreshes = fake.requests_to("/oauth/token")
    assert 7 <= len(refreshes) <= 9  # every ~22.5 s (under a quarter of 30 s left)
    sent = [r.body["refresh_token"] for r in refreshes]
    assert len(set(sent)) == len(sent)
    assert fake.refresh_reuse == []
    assert len(saver.saved) == len(refreshes)
    assert saver.saved[-1] == user.tokens


@pytest.mark.asyncio
async def test_twenty_callers_at_expiry_share_one_refresh(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    saver = Saver()
    user = connect(fake, client, clock, lifetime=30, saver=saver)
    clock.advance(31)  # expired for both sides
    results = await asyncio.gather(*(client.user_settings(user) for _ in range(20)))
    assert len(results) == 20
    assert fake.refreshes == 1 and len(saver.saved) == 1
    assert fake.refresh_reuse == []
    assert all(r.status == 200 for r in fake.requests_to("/users/settings"))


@pytest.mark.asyncio
async def test_twenty_401s_share_one_refresh(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    fake.expire_tokens("alice")  # the server disagrees with our clock
    await asyncio.gather(*(client.user_settings(user) for _ in range(20)))
    assert fake.refreshes == 1 and fake.refresh_reuse == []


@pytest.mark.asyncio
async def test_new_pair_is_saved_before_anyone_uses_it(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    holder: list[TokenManager] = []

    async def save(tokens: Tokens) -> None:
        await asyncio.sleep(0.01)  # a slow database commit: others must wait for it
        used = [
            r for r in fake.requests if tokens.access_token in r.headers.get("authorization", "")
        ]
        assert used == []
        assert holder[0].tokens != tokens  # not current until saved

    user = connect(fake, client, clock, lifetime=30, save=save)
    holder.append(user)
    clock.advance(25)
    await asyncio.gather(*(client.user_settings(user) for _ in range(5)))
    assert fake.refreshes == 1


@pytest.mark.asyncio
async def test_failed_save_keeps_the_pair_and_never_reuses_the_refresh_token(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    saved: list[Tokens] = []
    failures = [RuntimeError("database is locked")]

    async def save(tokens: Tokens) -> None:
        if failures:
            raise failures.pop()
        saved.append(tokens)

    user = connect(fake, client, clock, lifetime=30, save=save)
    clock.advance(25)
    with pytest.raises(RuntimeError):
        await client.user_settings(user)
    await client.user_settings(user)
    assert fake.refreshes == 1 and fake.refresh_reuse == []
    assert saved == [user.tokens]


@pytest.mark.asyncio
async def test_refused_refresh_requires_reauth_and_stops_calling(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    saver = Saver()
    user = connect(fake, client, clock, lifetime=30, saver=saver)
    del fake.refresh_tokens[user.tokens.refresh_token]  # e.g. minted before Trakt's migration
    clock.advance(29)
    with pytest.raises(errors.ReauthRequired) as caught:
        await client.user_settings(user)
    assert user.reauth_required
    assert len(saver.reauth) == 1 and "connect" in saver.reauth[0]
    assert_no_secrets(caught.value, user.tokens.access_token, user.tokens.refresh_token)
    seen = len(fake.requests)
    for _ in range(3):
        with pytest.raises(errors.ReauthRequired):
            await client.scrobble(user, "start", {"movie": {"ids": {"trakt": 481}}, "progress": 5})
    assert len(fake.requests) == seen  # no network call while waiting for reconnect
    assert len(saver.reauth) == 1

    issued = fake.issue_tokens("alice")
    await user.replace(Tokens(issued.access_token, issued.refresh_token, issued.created_at, 3600))
    assert not user.reauth_required and saver.saved[-1] == user.tokens
    assert (await client.user_settings(user)).user.username == "alice"


@pytest.mark.asyncio
async def test_refresh_refused_after_401_requires_reauth(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    saver = Saver()
    user = connect(fake, client, clock, saver=saver)
    fake.expire_tokens("alice")
    fake.refresh_tokens.clear()
    with pytest.raises(errors.ReauthRequired):
        await client.last_activities(user)
    assert [r.status for r in fake.requests] == [401, 400]
    assert saver.reauth


class Store:
    """One stored token pair shared by managers, like the connection row of a shared store."""

    def __init__(self) -> None:
        self.pair: Tokens | None = None
        self.saves = 0

    async def save(self, tokens: Tokens) -> None:
        self.pair = tokens
        self.saves += 1

    async def load(self) -> Tokens | None:
        return self.pair


@pytest.mark.asyncio
async def test_refresh_refused_after_another_manager_rotated_uses_the_stored_pair(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    """Refresh tokens are single-use: the manager that loses the race reads the pair the other
    one saved instead of asking the person to sign in again."""
    store, saver = Store(), Saver()
    issued = fake.issue_tokens("alice", lifetime=30)
    tokens = Tokens(issued.access_token, issued.refresh_token, issued.created_at, 30)
    store.pair = tokens
    managers = [
        TokenManager(
            TraktAuth(client),
            tokens,
            key="alice",
            redirect_uri="urn:ietf:wg:oauth:2.0:oob",
            save=store.save,
            load=store.load,
            on_reauth_required=saver.on_reauth,
            clock=clock,
        )
        for _ in range(2)
    ]
    clock.advance(31)
    fake.refresh_delay = 0.05  # both refreshes are in flight at once
    answers = await asyncio.gather(*(client.user_settings(m) for m in managers))
    assert [a.user.username for a in answers] == ["alice", "alice"]
    assert fake.refreshes == 1 and len(fake.refresh_reuse) == 1  # Trakt refused the loser
    assert saver.reauth == [] and not any(m.reauth_required for m in managers)
    assert managers[0].tokens == managers[1].tokens == store.pair and store.saves == 1


@pytest.mark.asyncio
async def test_refresh_refused_with_the_stored_pair_unchanged_requires_reauth(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    store, saver = Store(), Saver()
    issued = fake.issue_tokens("alice", lifetime=30)
    tokens = Tokens(issued.access_token, issued.refresh_token, issued.created_at, 30)
    store.pair = tokens
    user = TokenManager(
        TraktAuth(client),
        tokens,
        key="alice",
        redirect_uri="urn:ietf:wg:oauth:2.0:oob",
        save=store.save,
        load=store.load,
        on_reauth_required=saver.on_reauth,
        clock=clock,
    )
    fake.refresh_tokens.clear()  # Trakt forgot it: a real refusal, nobody rotated the pair
    clock.advance(31)
    with pytest.raises(errors.ReauthRequired):
        await client.user_settings(user)
    assert user.reauth_required and len(saver.reauth) == 1


@pytest.mark.asyncio
async def test_replace_waits_for_a_refresh_in_flight(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    """A reconnect's new pair is not overwritten by a rotated old pair saved after it."""
    saver = Saver()
    user = connect(fake, client, clock, lifetime=30, saver=saver)
    clock.advance(25)
    fake.refresh_delay = 0.05
    issued = fake.issue_tokens("alice")
    new = Tokens(issued.access_token, issued.refresh_token, issued.created_at, issued.expires_in)
    call = asyncio.create_task(client.user_settings(user))
    while not fake.requests_to("/oauth/token"):
        await asyncio.sleep(0.001)  # the refresh is at Trakt now
    await user.replace(new)
    await call
    assert fake.refreshes == 1
    assert user.tokens == new and saver.saved[-1] == new and len(saver.saved) == 2


@pytest.mark.asyncio
async def test_trakt_down_during_early_refresh_keeps_the_old_token(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock, lifetime=30)
    old = user.tokens
    clock.advance(25)
    fake.fail_next(1, 503, path="/oauth/token")
    await client.user_settings(user)
    assert user.tokens == old  # still valid for 5 s: used as is, refresh tried again later
    await client.user_settings(user)
    assert user.tokens != old and fake.refreshes == 1


@pytest.mark.asyncio
async def test_revoke(fake: FakeTrakt, client: TraktClient, clock: FakeClock) -> None:
    user = connect(fake, client, clock)
    await TraktAuth(client).revoke(user.tokens.access_token)
    assert fake.revoked == [user.tokens.access_token]
    assert fake.token_user(user.tokens.access_token) is None


def test_tokens_repr_masks_secrets() -> None:
    tokens = Tokens("a" * 64, "r" * 64, 1_700_000_000, 604_800)
    text = repr(tokens) + str(tokens)
    assert "a" * 8 not in text and "r" * 8 not in text
    assert tokens.expires_at == 1_700_604_800
    assert not tokens.needs_refresh(1_700_000_000)
    assert tokens.needs_refresh(1_700_604_800 - 604_800 * 0.24)


@pytest.mark.asyncio
async def test_secrets_echoed_by_trakt_are_scrubbed(fake: FakeTrakt) -> None:
    refresh_token = "r" * 40

    def echo(request: httpx.Request) -> httpx.Response:
        body = request.content.decode()
        return httpx.Response(400, json={"error": "invalid_grant", "error_description": body})

    async with httpx.AsyncClient(transport=httpx.MockTransport(echo)) as http:
        auth = TraktAuth(make_client(fake, http))
        with pytest.raises(errors.ReauthRequired) as caught:
            await auth.refresh(refresh_token, "urn:ietf:wg:oauth:2.0:oob")
    assert_no_secrets(caught.value, refresh_token, fake.client_secret)
    assert refresh_token not in (caught.value.body_text or "")
    assert fake.client_secret not in (caught.value.body_text or "")
