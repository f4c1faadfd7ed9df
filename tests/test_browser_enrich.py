"""In a real browser: the metadata page looks up an IMDb id and shows ids and ratings side by side;
the VIP page gives its reason. (The stats page has its own test: test_browser_stats.py.)"""

from __future__ import annotations

import pytest

from tests.browser import chromium, click, type_into, wait_for, wait_for_path, wait_for_text
from tests.conftest import FakeTraktServer, Service, connect_user

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"


def test_metadata_lookup_and_vip_page(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    service: Service = service_factory(fake_trakt.service_env(TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD))
    with service.api() as api:
        user = api.post("/api/v1/users", json={"display_name": "Mia"}).json()
    matrix = fake_trakt.state.find("movie", {"trakt": 481}, ("trakt",))
    weekend = fake_trakt.state.add_list("noa_t", "Weekend", [matrix])
    noa = connect_user(service, fake_trakt, "Noa", "noa_t", vip=True)
    with service.api() as api:  # the page reads the store: make sure both are stored
        assert api.get(f"/api/v1/users/{noa['id']}/lists").json()["items"]
        assert api.get(f"/api/v1/users/{noa['id']}/recommendations").json()["movies"]

    with chromium() as driver:
        driver.get(service.url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_path(driver, "/")

        driver.get(service.url + "/metadata")
        type_into(driver, "md-id", "tt0133093")
        click(driver, "md-lookup")
        wait_for_text(driver, "[data-test=md-title]", "The Matrix (1999)")
        ids = wait_for(driver, "[data-test=md-ids]").text
        ratings = wait_for(driver, "[data-test=md-ratings]").text
        for value in ("imdb", "tt0133093", "tmdb", "603", "trakt", "481"):
            assert value in ids
        for source in ("Trakt", "IMDb", "TMDb", "Rotten Tomatoes", "Metacritic", "Letterboxd"):
            assert source in ratings
        assert "7.5" in ratings

        type_into(driver, "md-id", "tt0000001")
        click(driver, "md-lookup")
        wait_for_text(driver, "[data-test=md-error]", "Trakt knows no movie")

        # The per-user VIP page explains why there is nothing to show.
        driver.get(f"{service.url}/users/{user['id']}/trakt")
        wait_for_text(driver, "[data-test=vip-reason-lists]", "connect Trakt first")
        wait_for_text(driver, "[data-test=vip-reason-recommendations]", "VIP")
        driver.get(f"{service.url}/users/{noa['id']}/trakt")
        wait_for_text(driver, "[data-test=vip-recs-movies]", "Inception (2010)")
        wait_for_text(driver, f"[data-test=vip-list-{weekend.trakt}]", "Weekend (1)")
