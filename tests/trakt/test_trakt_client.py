"""The request funnel against the fake Trakt: headers, retries, errors, paging, semantics."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.fake_trakt import FakeClock, FakeTrakt, create_app, iso
from tests.fake_trakt.testing import API, AUTH, assert_no_secrets, connect, make_client
from trakt_plugin import __version__
from trakt_plugin.trakt import PAGE_LIMIT, Priority, RateBudget, TraktAuth, TraktClient, errors

MATRIX = {"movie": {"ids": {"imdb": "tt0133093"}}}
PILOT_BY_NUMBER = {"show": {"ids": {"tvdb": 81189}}, "episode": {"season": 1, "number": 1}}


def assert_trakt_headers(fake: FakeTrakt) -> None:
    assert fake.requests, "no request reached the fake"
    for logged in fake.requests:
        headers = logged.headers
        assert headers["content-type"] == "application/json", logged.path
        assert headers["trakt-api-version"] == "2", logged.path
        assert headers["trakt-api-key"] == fake.client_id, logged.path
        assert headers["user-agent"] == f"trakt-plugin/{__version__}", logged.path


@pytest.mark.asyncio
async def test_every_request_carries_trakt_headers_oauth_included(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    auth = TraktAuth(client)
    code = await auth.device_code()
    with pytest.raises(errors.DeviceCodePending):
        await auth.poll_device_token(code.device_code)
    await client.user_settings(user)
    await client.scrobble(user, "start", {**MATRIX, "progress": 5})
    await client.get_history(user)
    await auth.revoke(user.tokens.access_token)
    paths = {r.path for r in fake.requests}
    assert {"/oauth/device/code", "/oauth/device/token", "/oauth/revoke"} <= paths
    assert_trakt_headers(fake)
    bearer = [r for r in fake.requests if "authorization" in r.headers]
    assert {r.path for r in bearer} == {"/users/settings", "/scrobble/start", "/sync/history"}
    assert all(not r.path.startswith("/oauth/") for r in bearer)


@pytest.mark.asyncio
async def test_user_settings_reads_vip_flags(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock, "Bob")
    fake.set_vip("Bob")
    settings = await client.user_settings(user)
    assert settings.user.username == "Bob"
    assert settings.user.ids.slug == "bob"
    assert settings.user.vip is True
    assert settings.limits is not None


@pytest.mark.asyncio
async def test_fake_refuses_what_trakt_refuses(fake: FakeTrakt, http: httpx.AsyncClient) -> None:
    base = {"trakt-api-version": "2", "trakt-api-key": fake.client_id, "User-Agent": "t/1"}
    no_agent = await http.get(f"{API}/users/settings")  # httpx's default User-Agent
    assert no_agent.status_code == 403
    assert no_agent.headers["content-type"].startswith("text/html")
    wrong_key = await http.get(f"{API}/users/settings", headers={**base, "trakt-api-key": "x"})
    assert wrong_key.status_code == 403
    no_version = {k: v for k, v in base.items() if k != "trakt-api-version"}
    assert (await http.get(f"{API}/users/settings", headers=no_version)).status_code == 400
    plain = await http.post(
        f"{API}/sync/history", headers={**base, "Content-Type": "text/plain"}, content=b"{}"
    )
    assert plain.status_code == 412
    assert (await http.get(f"{API}/users/settings", headers=base)).status_code == 401


@pytest.mark.asyncio
async def test_cloudflare_html_403_is_a_clear_error(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    fake.fail_next(1, "cloudflare_html")
    with pytest.raises(errors.CloudflareBlocked) as caught:
        await client.user_settings(user)
    message = str(caught.value)
    assert "Cloudflare" in message and "User-Agent" in message
    assert "<html" not in message.lower()
    assert caught.value.status == 403
    assert_no_secrets(caught.value, user.tokens.access_token, fake.client_secret)


@pytest.mark.asyncio
async def test_missing_user_agent_is_blocked_by_the_edge(
    fake: FakeTrakt, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    client = make_client(fake, http, user_agent="python-httpx/0.28.1")
    user = connect(fake, client, clock)
    with pytest.raises(errors.CloudflareBlocked):
        await client.user_settings(user)


@pytest.mark.asyncio
async def test_429_waits_retry_after_then_succeeds(
    fake: FakeTrakt, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    slept: list[float] = []
    now = [0.0]

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = RateBudget(post_interval=0.0, clock=lambda: now[0], sleep=sleep)
    client = make_client(fake, http, budget=budget)
    user = connect(fake, client, clock)
    fake.fail_next(1, 429, path="/scrobble/start", retry_after=7)
    answer = await client.scrobble(user, "start", {**MATRIX, "progress": 10})
    assert answer.action == "start"
    assert slept == [7.0]
    statuses = [r.status for r in fake.requests_to("/scrobble/start")]
    assert statuses == [429, 201]


@pytest.mark.asyncio
async def test_real_rate_limit_429_is_honoured(
    fake: FakeTrakt, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    fake.rate_limits = True
    fake.post_interval = 0.2
    client = make_client(fake, http)  # no client-side spacing: the fake's limiter answers 429
    user = connect(fake, client, clock)
    await client.scrobble(user, "start", {**MATRIX, "progress": 10})
    await client.scrobble(user, "pause", {**MATRIX, "progress": 12})
    calls = fake.requests_to(method="POST")
    assert [c.status for c in calls] == [201, 429, 201]
    limited = calls[1]
    assert calls[2].t - calls[0].t >= 0.2
    assert limited.user == "alice"


@pytest.mark.asyncio
async def test_posts_of_one_user_are_spaced_in_the_server_log(
    fake: FakeTrakt, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    interval = 0.05
    client = make_client(fake, http, budget=RateBudget(post_interval=interval))
    alice = connect(fake, client, clock, "alice")
    bob = connect(fake, client, clock, "bob")
    body = {"movies": [{"ids": {"trakt": 481}, "watched_at": iso(clock())}]}
    await asyncio.gather(
        *(client.add_history(alice, body) for _ in range(5)),
        *(client.add_history(bob, body) for _ in range(5)),
    )
    for name in ("alice", "bob"):
        times = [r.t for r in fake.requests_to("/sync/history", "POST") if r.user == name]
        assert len(times) == 5
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= interval, gaps
    # different users do not wait for each other
    everyone = sorted(r.t for r in fake.requests_to("/sync/history", "POST"))
    assert everyone[-1] - everyone[0] < 9 * interval


@pytest.mark.asyncio
async def test_real_one_second_budget_over_three_posts(
    fake: FakeTrakt, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    fake.rate_limits = True  # the fake enforces Trakt's 1 POST/s too: any 429 would show
    client = make_client(fake, http, budget=RateBudget())
    user = connect(fake, client, clock)
    for progress in (10, 20, 30):
        await client.scrobble(user, "pause", {**MATRIX, "progress": progress})
    calls = fake.requests_to(method="POST")
    assert [c.status for c in calls] == [201, 201, 201]
    gaps = [b.t - a.t for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 1.0


@pytest.mark.asyncio
async def test_scrobbles_jump_ahead_of_bulk_writes(
    fake: FakeTrakt, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    client = make_client(fake, http, budget=RateBudget(post_interval=0.1))
    user = connect(fake, client, clock)
    body = {"movies": [{"ids": {"trakt": 16662}, "watched_at": iso(clock())}]}
    bulk = [
        asyncio.create_task(client.add_history(user, body, priority=Priority.BULK))
        for _ in range(4)
    ]
    while not fake.requests_to(method="POST"):  # the first bulk write went out, three wait
        await asyncio.sleep(0)
    scrobble = asyncio.create_task(client.scrobble(user, "start", {**MATRIX, "progress": 3}))
    await asyncio.gather(*bulk, scrobble)
    order = [r.path for r in fake.requests_to(method="POST")]
    assert order.index("/scrobble/start") == 1, order


@pytest.mark.asyncio
async def test_5xx_get_is_retried(fake: FakeTrakt, client: TraktClient, clock: FakeClock) -> None:
    user = connect(fake, client, clock)
    fake.fail_next(2, 502, path="/sync/last_activities")
    activities = await client.last_activities(user)
    assert activities.all is not None
    statuses = [r.status for r in fake.requests_to("/sync/last_activities")]
    assert statuses == [502, 502, 200]


@pytest.mark.asyncio
async def test_5xx_get_gives_up_after_bounded_attempts(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    fake.fail_next(10, 503, path="/sync/last_activities")
    with pytest.raises(errors.ServerError):
        await client.last_activities(user)
    assert len(fake.requests_to("/sync/last_activities")) == client.max_attempts


@pytest.mark.asyncio
async def test_5xx_post_is_not_retried_and_is_ambiguous(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    fake.fail_next(1, 520, path="/scrobble/stop")
    with pytest.raises(errors.ServerError) as caught:
        await client.scrobble(user, "stop", {**MATRIX, "progress": 95})
    assert errors.is_ambiguous(caught.value)
    assert errors.is_retryable(caught.value)
    assert len(fake.requests_to("/scrobble/stop")) == 1
    assert_no_secrets(caught.value, user.tokens.access_token, fake.client_secret)


@pytest.mark.asyncio
async def test_dropped_connection_after_processing_is_ambiguous(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    fake.fail_next(1, "drop_after_processing", path="/sync/history")
    body = {"movies": [{"ids": {"trakt": 481}, "watched_at": iso(clock())}]}
    with pytest.raises(errors.TraktConnectionLost) as caught:
        await client.add_history(user, body)
    assert errors.is_ambiguous(caught.value)
    assert len(fake.requests_to("/sync/history", "POST")) == 1  # not resent
    assert len(fake.history("alice")) == 1  # yet it landed: the outbox must check first


@pytest.mark.asyncio
async def test_timeouts_post_raised_get_retried(
    fake: FakeTrakt, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    client = make_client(fake, http, request_timeout=0.05)
    user = connect(fake, client, clock)
    fake.fail_next(1, "hang", path="/scrobble/stop")
    with pytest.raises(errors.TraktTimeout) as caught:
        await client.scrobble(user, "stop", {**MATRIX, "progress": 95})
    assert errors.is_ambiguous(caught.value)
    assert len(fake.requests_to("/scrobble/stop")) == 1
    fake.fail_next(1, "hang", path="/users/settings")
    await client.user_settings(user)
    assert len(fake.requests_to("/users/settings")) == 2


@pytest.mark.asyncio
async def test_refused_connection_is_retried_even_for_posts(clock: FakeClock) -> None:
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    fake = FakeTrakt(clock=clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        client = make_client(fake, http)
        user = connect(fake, client, clock)
        with pytest.raises(errors.TraktUnreachable) as caught:
            await client.scrobble(user, "start", {**MATRIX, "progress": 5})
    assert attempts == ["POST"] * client.max_attempts
    assert not errors.is_ambiguous(caught.value)
    assert "could not connect" in str(caught.value)


@pytest.mark.asyncio
async def test_401_refreshes_once_then_retries(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    old = user.tokens
    fake.expire_tokens("alice")  # Trakt says 401 although our clock thinks the token is fine
    settings = await client.user_settings(user)
    assert settings.user.username == "alice"
    assert user.tokens.access_token != old.access_token
    assert [r.status for r in fake.requests_to("/users/settings")] == [401, 200]
    assert fake.refreshes == 1


@pytest.mark.asyncio
async def test_second_401_is_raised(fake: FakeTrakt, client: TraktClient, clock: FakeClock) -> None:
    user = connect(fake, client, clock)
    fake.fail_next(2, 401, path="/users/settings")
    with pytest.raises(errors.Unauthorized) as caught:
        await client.user_settings(user)
    assert fake.refreshes == 1
    assert_no_secrets(caught.value, user.tokens.access_token, user.tokens.refresh_token)


@pytest.mark.asyncio
async def test_auth_host_404_falls_back_to_api_host_and_remembers(
    fake: FakeTrakt, client: TraktClient
) -> None:
    fake.auth_host_404 = True  # the auth host is gone; the API host still serves OAuth
    fake.oauth_on_api_host = True
    auth = TraktAuth(client)
    first = await auth.device_code()
    second = await auth.device_code()
    assert first.user_code and second.user_code
    hosts = [(r.host, r.status) for r in fake.requests_to("/oauth/device/code")]
    assert hosts == [
        ("auth.trakt.test", 404),
        ("api.trakt.test", 200),
        ("api.trakt.test", 200),
    ]
    assert client.oauth_url == API


@pytest.mark.asyncio
async def test_oauth_on_neither_host_is_a_clean_not_found(
    fake: FakeTrakt, client: TraktClient
) -> None:
    fake.auth_host_404 = True  # auth host gone, and Trakt's default: no OAuth on the API host
    with pytest.raises(errors.NotFound):
        await TraktAuth(client).device_code()
    hosts = [(r.host, r.status) for r in fake.requests_to("/oauth/device/code")]
    assert hosts == [("auth.trakt.test", 404), ("api.trakt.test", 404)]


@pytest.mark.asyncio
async def test_invalid_device_code_404_is_not_mistaken_for_a_missing_host(
    fake: FakeTrakt, client: TraktClient
) -> None:
    auth = TraktAuth(client)
    await auth.device_code()  # the auth host answers: it is confirmed
    with pytest.raises(errors.DeviceCodeInvalid):
        await auth.poll_device_token("no-such-code")
    assert [r.host for r in fake.requests_to("/oauth/device/token")] == ["auth.trakt.test"]
    assert client.oauth_url == AUTH


@pytest.mark.asyncio
async def test_paging_walks_to_page_count_with_the_applied_limit(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    matrix = fake.items[0]
    for minute in range(260):
        fake.add_play("alice", matrix, clock() - minute * 3600)
    fake.page_cap = 100  # Trakt clamps; the client must walk with what it applied
    pages = [page async for page in client.history_pages(user)]
    assert [p.number for p in pages] == [1, 2, 3]
    assert [len(p.items) for p in pages] == [100, 100, 60]
    assert pages[0].page_count == 3 and pages[0].item_count == 260
    queries = [r.query for r in fake.requests_to("/sync/history", "GET")]
    assert queries[0] == {"page": "1", "limit": str(PAGE_LIMIT)}
    assert queries[1] == {"page": "2", "limit": "100"}
    ids = [item.id for page in pages for item in page.items]
    assert len(set(ids)) == 260


@pytest.mark.asyncio
async def test_paging_resumes_from_a_checkpoint(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    for hour in range(600):
        fake.add_play("alice", fake.items[1], clock() - hour * 3600)
    pages = [p async for p in client.history_pages(user, start_page=2)]
    assert [(p.number, len(p.items)) for p in pages] == [(2, 250), (3, 100)]


@pytest.mark.asyncio
async def test_history_pages_leave_out_the_ids_asked_to_skip(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    for hour in range(300):
        fake.add_play("alice", fake.items[1], clock() - hour * 3600)
    everything = [i.id for p in [p async for p in client.history_pages(user)] for i in p.items]
    known = set(everything[::2])
    pages = [p async for p in client.history_pages(user, skip_ids=known)]
    assert [p.number for p in pages] == [1, 2]  # the same pages, asked once each
    assert [i.id for p in pages for i in p.items] == everything[1::2]


@pytest.mark.asyncio
async def test_history_filters_and_remove_by_id(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    now = datetime.fromtimestamp(clock(), UTC)
    body = {
        "movies": [{"ids": {"imdb": "tt0133093"}, "watched_at": iso(clock() - 7200)}],
        "shows": [
            {
                "ids": {"tvdb": 81189},
                "seasons": [{"number": 1, "episodes": [{"number": 2, "watched_at": iso(clock())}]}],
            }
        ],
        "episodes": [{"ids": {"imdb": "tt0959621"}}],  # imdb alone does not identify an episode
    }
    added = await client.add_history(user, body)
    assert added.added.movies == 1 and added.added.episodes == 1
    assert added.not_found.episodes == [{"ids": {"imdb": "tt0959621"}}]
    recent = await client.get_history(user, start_at=now - timedelta(minutes=30))
    assert [h.type for h in recent] == ["episode"]
    movies = await client.get_history(user, type="movies", item_id=481)
    assert len(movies) == 1 and movies[0].movie is not None
    assert movies[0].movie.ids.imdb == "tt0133093"
    removed = await client.remove_history(user, {"ids": [movies[0].id, 42]})
    assert removed.deleted.movies == 1
    assert removed.not_found.ids == [42]
    assert len(await client.get_history(user)) == 1


@pytest.mark.asyncio
async def test_scrobble_semantics(fake: FakeTrakt, client: TraktClient, clock: FakeClock) -> None:
    user = connect(fake, client, clock)
    start = await client.scrobble(user, "start", {**PILOT_BY_NUMBER, "progress": 1.5})
    assert (start.id, start.action) == (0, "start")
    assert start.episode is not None and start.episode.ids.trakt == 73482
    paused = await client.scrobble(user, "stop", {**PILOT_BY_NUMBER, "progress": 50})
    assert paused.action == "pause"
    with pytest.raises(errors.ValidationFailed):
        await client.scrobble(user, "stop", {**PILOT_BY_NUMBER, "progress": 0.5})
    done = await client.scrobble(user, "stop", {**PILOT_BY_NUMBER, "progress": 96})
    assert done.action == "scrobble" and done.id > 0
    with pytest.raises(errors.Conflict) as caught:
        await client.scrobble(user, "stop", {**PILOT_BY_NUMBER, "progress": 97})
    assert caught.value.expires_at is not None and caught.value.watched_at is not None
    assert caught.value.expires_at > caught.value.watched_at
    with pytest.raises(errors.NotFound):
        await client.scrobble(user, "start", {"movie": {"ids": {"tmdb": 1}}, "progress": 5})
    history = await client.get_history(user)
    assert [(h.id, h.action) for h in history] == [(done.id, "scrobble")]


@pytest.mark.asyncio
async def test_last_activities_moves_with_history(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    before = await client.last_activities(user)
    clock.advance(120)
    await client.add_history(user, {"movies": [{"ids": {"trakt": 481}}]})
    after = await client.last_activities(user)
    assert before.movies.watched_at is not None and after.movies.watched_at is not None
    assert after.movies.watched_at > before.movies.watched_at
    assert after.episodes.watched_at == before.episodes.watched_at


@pytest.mark.asyncio
async def test_error_rate_is_seeded(fake: FakeTrakt, client: TraktClient, clock: FakeClock) -> None:
    user = connect(fake, client, clock)
    fake.set_error_rate(0.3, 503, seed=7)
    results = []
    for _ in range(10):
        try:
            await client.last_activities(user)
            results.append("ok")
        except errors.ServerError:
            results.append("5xx")
    assert "ok" in results  # retries absorb most of them
    assert any(r.status == 503 for r in fake.requests)


@pytest.mark.asyncio
async def test_secrets_never_in_messages(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock
) -> None:
    user = connect(fake, client, clock)
    first = user.tokens
    raised: list[BaseException] = []
    for status in (400, 401, 403, 404, 405, 409, 412, 420, 422, 423, 426, 500, 504, 521):
        fake.fail_next(2 if status == 401 else 1, status, path="/sync/history")
        try:
            await client.add_history(user, {"movies": [{"ids": {"trakt": 481}}]})
        except errors.TraktError as exc:
            raised.append(exc)
    assert len(raised) == 14
    now = user.tokens
    secrets = (first.access_token, first.refresh_token, now.access_token, fake.client_secret)
    for exc in raised:
        assert_no_secrets(exc, *secrets)
        assert exc.status is not None
        named = "server error " if exc.status >= 500 else ""
        assert f"Trakt POST /sync/history: {named}{exc.status}" in str(exc), str(exc)


def test_client_repr_hides_the_secret(fake: FakeTrakt) -> None:
    client = TraktClient(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(fake))),
    )
    assert fake.client_secret not in repr(client)
