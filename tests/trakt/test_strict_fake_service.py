"""The running service against a fake Trakt as strict as Trakt (SPEC §4, §6, §7).

OAuth goes to the auth host (a second address of the fake), API calls to the API host; the
404 fallback and a service pointed at the API host alone; token rotation with calls in flight;
persistent locked, VIP-only and over-limit accounts; the edge's 429 without Retry-After.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import FakeTraktServer, Service, connect_user
from tests.sync.conftest import MATRIX, SyncWorld, sync_env
from tests.webhooks.harness import FAST_ENV, Rig
from tests.webhooks.payloads import Media, revenge

MATRIX_MEDIA = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
API_HOST, AUTH_HOST = "127.0.0.1", "localhost"


def _rig(service_factory: Callable[..., Service], fake: FakeTraktServer, **env: str) -> Rig:
    return Rig(service_factory(fake.service_env(**{**FAST_ENV, **env})), fake)


def _hosts(fake: FakeTraktServer, oauth: bool) -> set[str]:
    return {r.host for r in fake.state.requests if r.path.startswith("/oauth/") == oauth}


def _stop_row(rig: Rig, user_id: str) -> dict[str, object]:
    rig.settled(user_id, timeout=60)
    return next(r for r in rig.rows(user_id) if r["action"] in ("scrobble_stop", "history_add"))


# ---------------------------------------------------------------- the auth host


def test_oauth_goes_to_the_auth_host_and_everything_else_to_the_api_host(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    service = service_factory(fake_trakt.service_env())
    assert service.env["TRAKT_AUTH_URL"] != service.env["TRAKT_API_URL"]
    connect_user(service, fake_trakt, "Ann", "ann_t")
    assert _hosts(fake_trakt, oauth=True) == {AUTH_HOST}
    assert _hosts(fake_trakt, oauth=False) == {API_HOST}
    assert all(r.status is not None and r.status < 300 for r in fake_trakt.state.requests
               if r.path.startswith("/oauth/") and r.path != "/oauth/device/token")  # fmt: skip


def test_auth_host_404_falls_back_to_the_api_host_for_device_and_code_flows(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    fake = fake_trakt.state
    fake.auth_host_404 = True  # auth host gone; this API host still serves OAuth
    fake.oauth_on_api_host = True
    redirect = "http://127.0.0.1:9/oauth/trakt/callback"
    service = service_factory(fake_trakt.service_env(TRAKT_REDIRECT_URI=redirect))
    connect_user(service, fake_trakt, "Ann", "ann_t")
    device = [(r.host, r.status) for r in fake.requests_to("/oauth/device/code")]
    assert device == [(AUTH_HOST, 404), (API_HOST, 200)]
    assert {r.host for r in fake.requests_to("/oauth/device/token")} == {API_HOST}

    fake.add_user("ben_t")
    with service.api() as api:
        user = api.post("/api/v1/users", json={"display_name": "Ben"}).json()
        url = api.get(f"/api/v1/users/{user['id']}/trakt/authorize").json()["url"]
        assert urlsplit(url).hostname == API_HOST  # the fallback is remembered
        state = parse_qs(urlsplit(url).query)["state"][0]
        code = fake.mint_auth_code("ben_t", redirect)
        answer = httpx.get(
            f"{service.url}/oauth/trakt/callback", params={"code": code, "state": state}
        )
        assert answer.status_code == 200, answer.text
        trakt = api.get(f"/api/v1/users/{user['id']}").json()["trakt"]
    assert trakt["state"] == "connected" and trakt["username"] == "ben_t"
    assert [(r.host, r.status) for r in fake.requests_to("/oauth/token")] == [(API_HOST, 200)]


def test_oauth_sent_to_the_api_host_alone_fails_visibly(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    # A service configured with the API host as its OAuth host: Trakt serves OAuth only on
    # auth.trakt.tv, so connecting fails with a message, never a 500 or a hang.
    service = service_factory(fake_trakt.service_env(TRAKT_AUTH_URL=fake_trakt.url))
    with service.api() as api:
        user = api.post("/api/v1/users", json={"display_name": "Ann"}).json()
        answer = api.post(f"/api/v1/users/{user['id']}/trakt/device")
        assert answer.status_code == 502, answer.text
        assert "404" in answer.json()["error"] and "device code" in answer.json()["error"]
        assert api.get(f"/api/v1/users/{user['id']}").json()["trakt"]["state"] != "connected"
    assert [(r.host, r.status) for r in fake_trakt.state.requests_to("/oauth/device/code")] == [
        (API_HOST, 404)
    ]


def _ann_connected(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> tuple[Service, Rig, str]:
    """A service with fast writes and Ann connected (webhooks as "ann" on Revenge)."""
    service = service_factory(sync_env(fake_trakt, **FAST_ENV))
    rig = Rig(service, fake_trakt)
    return service, rig, rig.user("Ann", {"revenge": "ann"}, "ann_t")


# ---------------------------------------------------------------- token rotation


def test_expired_token_is_refreshed_once_while_a_scrobble_and_a_sync_both_need_it(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    fake = fake_trakt.state
    service, rig, ann = _ann_connected(service_factory, fake_trakt)
    world = SyncWorld(service, fake_trakt, ann, "ann_t")
    fake.expire_tokens("ann_t")  # Trakt says 401; the service thinks the token is good
    fake.refresh_delay = 0.3  # calls pile up behind the refresh
    fake.clear_log()

    run: dict[str, object] = {}
    sync = threading.Thread(target=lambda: run.update(world.sync("history", "import")))
    sync.start()
    rig.deliver("revenge", revenge("stop", "ann", MATRIX_MEDIA, 95))
    sync.join(timeout=120)
    row = _stop_row(rig, ann)

    assert row["status"] == "sent", row
    assert run["status"] == "succeeded", run
    assert fake.refreshes == 1 and fake.refresh_reuse == []
    assert len(fake.requests_to("/oauth/token")) == 1
    tokens = {r.headers.get("authorization") for r in fake.requests if r.status == 401}
    assert len(tokens) == 1  # only the old token was refused, and it was refreshed once
    with service.api() as api:
        assert api.get(f"/api/v1/users/{ann}").json()["trakt"]["state"] == "connected"


# ---------------------------------------------------------------- account states


def test_locked_account_kills_the_row_with_the_reason_and_fails_the_sync(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    fake = fake_trakt.state
    service, rig, ann = _ann_connected(service_factory, fake_trakt)
    fake.lock_account("ann_t")
    rig.deliver("revenge", revenge("stop", "ann", MATRIX_MEDIA, 95))
    row = _stop_row(rig, ann)
    assert row["status"] == "dead" and "locked" in str(row["last_error"]), row
    assert "contact Trakt support" in str(row["last_error"])
    assert [r.status for r in fake.requests_to("/scrobble/stop")] == [423]  # never retried

    run = SyncWorld(service, fake_trakt, ann, "ann_t").sync("history", "import")
    assert run["status"] == "failed" and "locked" in str(run["error"]), run
    assert [r.status for r in fake.requests if r.user == "ann_t" and r.status == 423]


def test_vip_only_answer_kills_the_row_with_the_reason(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    # Trakt has moved things behind VIP before (creating apps, 2026-07): if it answers 426 for
    # scrobbles, the row is dead with "VIP only", not retried.
    fake = fake_trakt.state
    fake.vip_only_paths.append(r"^/scrobble/")
    rig = _rig(service_factory, fake_trakt)
    ann = rig.user("Ann", {"revenge": "ann"}, "ann_t")
    rig.deliver("revenge", revenge("stop", "ann", MATRIX_MEDIA, 95))
    row = _stop_row(rig, ann)
    assert row["status"] == "dead" and "VIP only" in str(row["last_error"]), row
    assert [r.status for r in fake.requests_to("/scrobble/stop")] == [426]
    answer = fake.requests_to("/scrobble/stop")[0]
    assert answer.user == "ann_t"


def test_over_the_history_limit_a_late_play_is_dead_and_an_export_names_the_limit(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    fake = fake_trakt.state
    service, rig, ann = _ann_connected(service_factory, fake_trakt)
    fake.set_over_limit("ann_t", "history")
    late = (datetime.now(UTC) - timedelta(minutes=20)).isoformat()
    rig.deliver("revenge", revenge("stop", "ann", MATRIX_MEDIA, 95, occurred_at=late))
    row = _stop_row(rig, ann)
    assert row["action"] == "history_add"
    assert row["status"] == "dead" and "account limit" in str(row["last_error"]), row
    assert "100000" in str(row["last_error"])
    assert [r.status for r in fake.requests_to("/sync/history", "POST")] == [420]

    world = SyncWorld(service, fake_trakt, ann, "ann_t")
    with world.api() as api:
        watched = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        play = {"type": "movie", "movie": MATRIX, "watched_at": watched, "source": "plex"}
        answer = api.post(f"/api/v1/users/{ann}/history", json={"plays": [play]})
        assert answer.status_code == 200, answer.text
    run = world.sync("history", "export")
    assert run["status"] == "partial", run
    assert "history limit of 100000 items" in str(run["error"])
    assert [r.status for r in fake.requests_to("/sync/history", "POST")] == [420, 420]
    fake.set_over_limit("ann_t", "history", over=False)
    again = world.sync("history", "export")
    assert again["status"] == "succeeded", again


# ---------------------------------------------------------------- the edge's 429


def test_cloudflare_429_without_retry_after_is_waited_out_then_sent_once(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    fake = fake_trakt.state
    rig = _rig(service_factory, fake_trakt)
    ann = rig.user("Ann", {"revenge": "ann"}, "ann_t")
    fake.fail_next(1, "cloudflare_429", path="/scrobble/stop")
    rig.deliver("revenge", revenge("stop", "ann", MATRIX_MEDIA, 95))
    row = _stop_row(rig, ann)
    assert row["status"] == "sent", row
    stops = fake.requests_to("/scrobble/stop")
    assert [r.status for r in stops] == [429, 201]
    gap = stops[1].t - stops[0].t
    assert gap >= 5, f"retried {gap:.2f} s after a bare 429: no back-off"
    assert len(rig.plays("ann_t")) == 1
