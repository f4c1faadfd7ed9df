"""In a real browser: "Sync now" on the sync page, the run's outcome, and a plan limit named."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser import choose, chromium, click, type_into, wait_for, wait_for_path, wait_for_text
from tests.conftest import FakeTraktServer, Service, connect_user
from tests.fake_plex import FakePlex, PlexServerThread
from tests.sync.conftest import POST_INTERVAL, sync_env

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"


def test_sync_now_shows_progress_outcome_and_the_limit(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    fake = fake_trakt.state
    fake.rate_limits, fake.post_interval = True, POST_INTERVAL
    service = service_factory(sync_env(fake_trakt, TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD))
    user = connect_user(service, fake_trakt, "Cleo", "cleo")
    fake.users["cleo"].limits["watchlist"]["item_count"] = 1
    fake.seed_history("cleo", 300)
    movies = [i for i in fake.items if i.type == "movie"][-3:]
    fake.add_to_watchlist("cleo", movies[0])
    with service.api() as api:
        for movie in movies[1:]:
            item = {"type": "movie", "movie": {"title": movie.title, "ids": movie.ids}}
            assert api.post(f"/api/v1/users/{user['id']}/watchlist", json=item).status_code == 201

    with chromium() as driver:
        driver.get(service.url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_path(driver, "/")
        driver.get(service.url + "/sync")
        card = f"[data-test=sync-user-{user['id']}]"
        wait_for(driver, card)
        wait_for(driver, f"{card} [data-test=sync-now]").click()  # everything, both ways
        wait_for_text(driver, f"{card} [data-test=sync-status]", "partial")
        status = wait_for(driver, f"{card} [data-test=sync-status]").text
        assert "imported 301" in status
        assert "watchlist limit of 1 items" in status
        wait_for_text(driver, "[data-test=sync-runs]", "watchlist limit")


def test_watched_kind_per_server_from_the_sync_page(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    fake = fake_trakt.state
    service = service_factory(sync_env(fake_trakt, TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD))
    user = connect_user(service, fake_trakt, "Dana", "dana")
    movie = fake.add_movie("Server Movie", 2004, {"trakt": 97_001, "imdb": "tt9700001"})
    plex = FakePlex(friendly_name="Den", owner_name="dana-plex")
    server = PlexServerThread(plex)
    server.start()
    try:
        section = plex.add_section("Movies", "movie")
        item = plex.add_movie(section, "Server Movie", year=2004, ids={"imdb": "tt9700001"})
        plex.add_play(plex.owner, item, int(fake.clock()) - 3600)
        with service.api() as api:
            body = {"kind": "plex", "name": "Den", "url": server.url,
                    "token": plex.owner_token, "live": "off"}  # fmt: skip
            assert api.post("/api/v1/servers", json=body).status_code == 201
            identity = {"source": "plex", "external_id": "dana-plex"}
            linked = api.post(f"/api/v1/users/{user['id']}/identities", json=identity)
            assert linked.status_code == 201

        with chromium() as driver:
            driver.get(service.url + "/login")
            type_into(driver, "login-password", PASSWORD)
            click(driver, "login-submit")
            wait_for_path(driver, "/")
            driver.get(service.url + "/sync")
            card = f"[data-test=sync-user-{user['id']}]"
            wait_for(driver, card)
            choose(driver, f"{card} [data-test=sync-kind]", "Watched on media servers")
            choose(driver, f"{card} [data-test=sync-server]", "Den (plex)")
            choose(driver, f"{card} [data-test=sync-direction]", "Export to Trakt")
            wait_for(driver, f"{card} [data-test=sync-now]").click()
            wait_for_text(driver, f"{card} [data-test=sync-status]", "succeeded")
            status = wait_for(driver, f"{card} [data-test=sync-status]").text
            assert "watched (export)" in status and "added 1" in status
        assert [p.item for p in fake.history("dana")] == [movie]
    finally:
        server.stop()
