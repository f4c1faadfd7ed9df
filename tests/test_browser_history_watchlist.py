"""In a real browser, at 1440×900 and 390×844: the History page (search, type filter, paging)
and the Watchlist page (search Trakt, add, remove; the API agrees), no console errors and no
sideways scrolling on a phone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser import (
    WAIT_SECONDS,
    choose,
    chromium,
    click,
    type_into,
    wait_for,
    wait_for_path,
    wait_for_text,
)
from tests.conftest import FakeTraktServer, Service, connect_user, wait_until
from tests.sync.conftest import FINISHED, sync_env

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"
PLAYS = 60  # three pages of 25
SIZES = ((1440, 900), (390, 844))


def _titles(driver: WebDriver) -> list[str]:
    """The rows' titles, read in one go (the rows are re-drawn while a search narrows them)."""
    titles = driver.execute_script(
        "return [...document.querySelectorAll('.history-row-title')].map(e => e.textContent.trim())"
    )
    return [str(t) for t in titles]


def _until(driver: WebDriver, condition: Callable[[WebDriver], Any]) -> Any:
    return WebDriverWait(driver, WAIT_SECONDS).until(condition)


def _no_sideways_scroll(driver: WebDriver) -> None:
    scroll, inner = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert scroll <= inner, f"scrolls sideways: {scroll} > {inner}"


def _console_errors(driver: WebDriver) -> list[str]:
    """SEVERE console entries (a poster never fails: the placeholder stands in)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _open(driver: WebDriver, service: Service, path: str) -> None:
    driver.get(service.url + path)
    wait_for(driver, ".q-page")
    # A drawer that opens over the page on a phone is closed first (its backdrop takes clicks).
    for backdrop in driver.find_elements(By.CSS_SELECTOR, ".q-drawer__backdrop"):
        if backdrop.is_displayed():
            driver.execute_script("arguments[0].click()", backdrop)
            _until(driver, lambda d, b=backdrop: not b.is_displayed())


def _history(driver: WebDriver, service: Service) -> None:
    _open(driver, service, "/history")
    _until(driver, lambda d: len(_titles(d)) == 25)
    first_page = _titles(driver)
    wait_for_text(driver, "[data-test=history-position]", "Page 1")
    # paging: the next page holds the next 25, the last page the rest
    click(driver, "history-older")
    wait_for_text(driver, "[data-test=history-position]", "Page 2")
    _until(driver, lambda d: len(_titles(d)) == 25 and _titles(d) != first_page)
    click(driver, "history-older")
    wait_for_text(driver, "[data-test=history-position]", "Page 3")
    _until(driver, lambda d: len(_titles(d)) == PLAYS - 50)
    click(driver, "history-newer")
    wait_for_text(driver, "[data-test=history-position]", "Page 2")
    # each row: a fixed-size lazy poster served by the product, a watched time and its state
    poster = wait_for(driver, ".history-row img")
    assert poster.get_attribute("loading") == "lazy"
    assert poster.get_attribute("src").startswith(service.url + "/posters/")
    assert (poster.size["width"], poster.size["height"]) == (46, 69)
    assert {e.text for e in driver.find_elements(By.CSS_SELECTOR, ".history-row-state")} == {
        "on Trakt"
    }
    # search narrows the rows (back to the first page)
    type_into(driver, "history-search", "movie 1")
    _until(
        driver,
        lambda d: (t := _titles(d)) and len(t) < 25 and all("Movie 1" in x for x in t),
    )
    wait_for_text(driver, "[data-test=history-position]", "Page 1")
    type_into(driver, "history-search", "")
    _until(driver, lambda d: len(_titles(d)) == 25)
    # the type filter
    choose(driver, "[data-test=history-type]", "Episodes")
    _until(
        driver,
        lambda d: (t := _titles(d)) and len(t) == 25 and all(" S0" in x for x in t),
    )
    choose(driver, "[data-test=history-type]", "Movies")
    _until(
        driver,
        lambda d: (t := _titles(d)) and len(t) == 25 and all(x.startswith("Movie ") for x in t),
    )


def _posters_come_from_the_product(driver: WebDriver, service: Service) -> None:
    """Every poster on the page has loaded, and the browser asked no other host for anything
    (its resource timing entries: Trakt is never hotlinked)."""
    _until(
        driver,
        lambda d: d.execute_script(
            "const imgs = [...document.querySelectorAll('.history-row img')];"
            "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0)"
        ),
    )
    origins = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)"
    )
    assert origins and set(origins) == {service.url}, set(origins)


def _row_image_type(driver: WebDriver, title: str) -> str:
    """What the poster of the row titled ``title`` answers (its Content-Type), asked the way
    the page asked it (same origin, the session's cookie)."""
    return str(
        driver.execute_async_script(
            "const [title, done] = arguments;"
            "const row = [...document.querySelectorAll('.history-row')].find(r =>"
            "  r.querySelector('.history-row-title').textContent.trim().startsWith(title));"
            "if (!row) { done('no row for ' + title); return; }"
            "fetch(row.querySelector('img').src)"
            "  .then(r => done(r.headers.get('content-type')), e => done(String(e)));",
            title,
        )
    )


def _watchlist(driver: WebDriver, service: Service, user_id: str, title: str, year: int) -> None:
    _open(driver, service, "/watchlist")
    wait_for(driver, ".watchlist-empty")
    type_into(driver, "watchlist-search-title", title.lower())
    type_into(driver, "watchlist-search-year", str(year))
    click(driver, "watchlist-search")
    wait_for_text(driver, ".watchlist-results", f"{title} ({year})")
    results = driver.find_elements(By.CSS_SELECTOR, ".watchlist-result-title")
    assert [r.text for r in results] == [f"{title} ({year})"]  # the year narrowed the search
    click(driver, "watchlist-result-add")
    wait_for_text(driver, ".watchlist-entries", f"{title} ({year})")
    with service.api() as api:
        items = api.get(f"/api/v1/users/{user_id}/watchlist").json()["items"]
    assert [(i["type"], i["movie"]["title"]) for i in items] == [("movie", title)]
    click(driver, "watchlist-remove")
    wait_for(driver, ".watchlist-empty")
    with service.api() as api:
        assert api.get(f"/api/v1/users/{user_id}/watchlist").json()["items"] == []


def test_history_and_watchlist_pages(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    fake = fake_trakt.state
    fake.add_movie("The Matrix", 2021, {"trakt": 99_481, "slug": "the-matrix-2021"})  # a decoy
    service = service_factory(sync_env(fake_trakt, TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD))
    user = connect_user(service, fake_trakt, "Cleo", "cleo")
    plays = fake.seed_history("cleo", PLAYS)
    # the newest movie has no poster at Trakt: its row shows the placeholder
    no_poster = next(p.item for p in reversed(plays) if p.item.type == "movie")
    no_poster.poster = False
    with service.api() as api:
        body = {"kind": "history", "direction": "import", "dry_run": False}
        run_id = api.post(f"/api/v1/users/{user['id']}/sync", json=body).json()["run_id"]
        run = wait_until(
            lambda: (
                (r := api.get(f"/api/v1/sync/runs/{run_id}").json())["status"] in FINISHED and r
            ),
            what="history import",
        )
    assert run["status"] == "succeeded" and run["counts"]["imported"] == PLAYS, run

    with chromium() as driver:
        driver.get(service.url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_path(driver, "/")
        for (width, height), (title, year) in zip(
            SIZES, (("Inception", 2010), ("The Matrix", 1999)), strict=True
        ):
            driver.set_window_size(width, height)
            _history(driver, service)
            _posters_come_from_the_product(driver, service)
            assert _row_image_type(driver, no_poster.title) == "image/svg+xml"
            if width < 600:
                _no_sideways_scroll(driver)
            _watchlist(driver, service, user["id"], title, year)
            if width < 600:
                _no_sideways_scroll(driver)
            assert _console_errors(driver) == []
    # viewing pages never downloads an image again (tests/posters: each exactly once)
    assert all(count == 1 for count in fake.image_downloads.values()), fake.image_downloads
