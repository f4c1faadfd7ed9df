"""In a real browser: an unmatched Plex movie is found on Trakt and pinned from the Unmatched page
(1440×900); its waiting call goes out; the page does not scroll sideways at 390×844."""

from __future__ import annotations

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import chromium, click, type_into, wait_for, wait_for_path, wait_for_text
from tests.conftest import FakeTraktServer, Service, wait_until
from tests.webhooks.harness import FAST_ENV, Rig
from tests.webhooks.payloads import Media, plex

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"
LOCAL = Media("movie", "Backyard Premiere With A Rather Long Title", year=2019, local_id="777")


def _no_sideways_scroll(driver: WebDriver) -> None:
    width, inner = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert width <= inner, f"scrolls sideways: {width} > {inner}"


def _console_errors(driver: WebDriver) -> list[str]:
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "/posters/" not in e["message"]
    ]


def test_pin_an_unmatched_item_from_the_page(
    service_factory,  # type: ignore[no-untyped-def]
    fake_trakt: FakeTraktServer,
) -> None:
    service: Service = service_factory(
        fake_trakt.service_env(TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD, **FAST_ENV)
    )
    rig = Rig(service, fake_trakt)
    fake_trakt.state.add_movie(LOCAL.title, 2019, {"imdb": "tt0777777", "tmdb": 777})
    fake_trakt.state.add_movie("Something Else", 2019, {"imdb": "tt0888888", "tmdb": 888})
    rig.user("Lee", {"plex": "lee"}, trakt_username="lee_t")
    rig.deliver("plex", plex("scrobble", "lee", LOCAL, 95))

    with chromium() as driver:
        driver.set_window_size(1440, 900)
        driver.get(service.url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_path(driver, "/")
        driver.get(service.url + "/unmatched")
        wait_for_text(driver, "[data-test=unmatched-0]", "Backyard Premiere")
        wait_for_text(driver, "[data-test=unmatched-0]", "1 call waiting")

        driver.set_window_size(390, 844)
        wait_for(driver, "[data-test=unmatched-0] [data-test=find]")
        _no_sideways_scroll(driver)
        driver.set_window_size(1440, 900)

        wait_for(driver, "[data-test=unmatched-0] [data-test=find]").click()
        wait_for_text(driver, "[data-test=unmatched-0] [data-test=candidate-0]", "tt0777777")
        wait_for(driver, "[data-test=unmatched-0] [data-test=candidate-0] [data-test=pin]").click()
        wait_for_text(driver, ".q-notification", "Pinned")
        wait_for(driver, "[data-test=unmatched-empty]")

        wait_until(lambda: rig.plays("lee_t"), what="the pinned play on Trakt")
        assert rig.plays("lee_t")[0].item.ids["imdb"] == "tt0777777"

        driver.set_window_size(390, 844)
        wait_for(driver, "[data-test=unmatched-empty]")
        _no_sideways_scroll(driver)
        assert _console_errors(driver) == []
