"""In a real browser: two unmatched Plex movies are found on Trakt and pinned from the Unmatched
page, one at 1440×900 and one at 390×844; each one's waiting call goes out; no sideways scrolling
on the phone, no console errors."""

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
SECOND = Media("movie", "Garden Party Tapes", year=2020, local_id="778")


def _no_sideways_scroll(driver: WebDriver) -> None:
    width, inner = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert width <= inner, f"scrolls sideways: {width} > {inner}"


def _console_errors(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _pin_first(driver: WebDriver, expected: dict[str, str]) -> str:
    """Find the first listed item on Trakt and pin the candidate with its ids; its title."""
    entry = "[data-test=unmatched-0]"
    wait_for_text(driver, entry, "1 call waiting")
    title = next(t for t in expected if t in wait_for(driver, entry).text)
    wait_for(driver, f"{entry} [data-test=find]").click()
    wait_for_text(driver, f"{entry} [data-test=candidate-0]", expected[title])
    wait_for(driver, f"{entry} [data-test=candidate-0] [data-test=pin]").click()
    wait_for_text(driver, ".q-notification", "Pinned")
    return title


def test_pin_an_unmatched_item_from_the_page_at_both_sizes(
    service_factory,  # type: ignore[no-untyped-def]
    fake_trakt: FakeTraktServer,
) -> None:
    service: Service = service_factory(
        fake_trakt.service_env(TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD, **FAST_ENV)
    )
    rig = Rig(service, fake_trakt)
    fake_trakt.state.add_movie(LOCAL.title, 2019, {"imdb": "tt0777777", "tmdb": 777})
    fake_trakt.state.add_movie(SECOND.title, 2020, {"imdb": "tt0778778", "tmdb": 778})
    fake_trakt.state.add_movie("Something Else", 2019, {"imdb": "tt0888888", "tmdb": 888})
    rig.user("Lee", {"plex": "lee"}, trakt_username="lee_t")
    rig.deliver("plex", plex("scrobble", "lee", LOCAL, 95))
    rig.deliver("plex", plex("scrobble", "lee", SECOND, 95, player="p2"))
    expected = {LOCAL.title: "tt0777777", SECOND.title: "tt0778778"}

    with chromium() as driver:
        driver.set_window_size(1440, 900)
        driver.get(service.url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_path(driver, "/")
        driver.get(service.url + "/unmatched")
        wait_for(driver, "[data-test=unmatched-1]")
        first = _pin_first(driver, expected)
        wait_until(lambda: rig.plays("lee_t"), what="the first pinned play on Trakt")
        assert [p.item.ids["imdb"] for p in rig.plays("lee_t")] == [expected[first]]
        assert _console_errors(driver) == []

        # On a phone: the other one, from a freshly loaded page (the drawer closed on load).
        driver.set_window_size(390, 844)
        driver.get(service.url + "/unmatched")
        wait_for(driver, "[data-test=unmatched-0]")
        _no_sideways_scroll(driver)
        second = _pin_first(driver, expected)
        assert second != first
        wait_for(driver, "[data-test=unmatched-empty]")
        wait_until(lambda: len(rig.plays("lee_t")) == 2, what="the second pinned play on Trakt")
        assert sorted(p.item.ids["imdb"] for p in rig.plays("lee_t")) == sorted(expected.values())
        _no_sideways_scroll(driver)
        assert _console_errors(driver) == []
