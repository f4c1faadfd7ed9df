"""In a real browser: the stats page's range selector changes the chart's buckets (days, weeks,
months; SVG renderer, so the bucket labels are text in the page), at desktop and phone width,
with no sideways scrolling on the phone and no console errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser import chromium, click, type_into, wait_for, wait_for_path, wait_for_text
from tests.conftest import FakeTraktServer, Service, connect_user
from tests.enrich.ledger import seed_plays
from tests.sync.conftest import sync_env

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"
SHOW = {"title": "Breaking Bad", "year": 2008, "ids": {"trakt": 1388, "tvdb": 81189}}
MOVIE = {"title": "The Matrix", "year": 1999, "ids": {"trakt": 481, "imdb": "tt0133093"}}


def _seed(service: Service, user_id: str, now: datetime) -> None:
    """Plays 2 days, 100 days and 3 years ago (one per range boundary)."""
    pilot = {"season": 1, "number": 1, "title": "Pilot", "ids": {"trakt": 73482}}
    episode = {"type": "episode", "show": SHOW, "episode": pilot}
    seed_plays(
        service,
        user_id,
        [
            (episode, now - timedelta(days=2), "plex", 47),
            (episode, now - timedelta(days=100), "jellyfin", 47),
            ({"type": "movie", "movie": MOVIE}, now - timedelta(days=3 * 365), "plex", 136),
        ],
    )


def _svg_text(driver: WebDriver, test_id: str) -> str:
    return str(
        driver.execute_script(
            "const s = document.querySelector(arguments[0]); return s ? s.textContent : ''",
            f"[data-test={test_id}] svg",
        )
    )


def _wait_svg(driver: WebDriver, test_id: str, text: str) -> None:
    WebDriverWait(driver, 15).until(lambda d: text in _svg_text(d, test_id))


def _choose_range(driver: WebDriver, label: str) -> None:
    buttons = driver.find_elements(By.CSS_SELECTOR, "[data-test=stats-range] button")
    next(b for b in buttons if b.text.strip().lower() == label.lower()).click()


def _console_errors(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_stats_range_changes_buckets(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    # No automatic syncs: the play added on Trakt below must stay Trakt's alone (a sync right
    # after connecting would import it, racing the check of "0 plays here").
    service: Service = service_factory(sync_env(fake_trakt, TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD))
    with service.api() as api:
        user = api.post("/api/v1/users", json={"display_name": "Mia"}).json()
        bad = api.get(f"/api/v1/users/{user['id']}/stats", params={"range": "7d"})
    assert bad.status_code == 422 and bad.json()["field"] == "range"
    now = datetime.now(UTC)
    _seed(service, user["id"], now)
    today = now.date()
    first_day = (today - timedelta(days=29)).isoformat()
    oldest_month = (now - timedelta(days=3 * 365)).strftime("%Y-%m")
    # The first bucket's label is always drawn (ECharts thins the others on a long axis).
    monday = today - timedelta(days=today.weekday(), weeks=52)
    first_week = "{}-W{:02d}".format(*monday.isocalendar()[:2])

    with chromium() as driver:
        driver.get(service.url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_path(driver, "/")
        for width, height in ((1440, 900), (390, 844)):
            driver.set_window_size(width, height)
            driver.get(f"{service.url}/stats?user={user['id']}")
            # Default: 12 months in weeks.
            wait_for(driver, "[data-test=stats-totals][data-range='12m']")
            wait_for_text(driver, "[data-test=stats-totals]", "2 plays, 94 minutes")
            _wait_svg(driver, "chart-plays", first_week)
            _wait_svg(driver, "chart-weekday", "Mon")
            wait_for_text(driver, "[data-test=stats-top-shows]", "Breaking Bad")
            wait_for_text(driver, "[data-test=stats-top-movies]", "None in this range")

            _choose_range(driver, "30 days")
            wait_for(driver, "[data-test=stats-totals][data-range='30d']")
            wait_for_text(driver, "[data-test=stats-totals]", "1 play, 47 minutes")
            _wait_svg(driver, "chart-plays", first_day)
            assert first_week not in _svg_text(driver, "chart-plays")
            assert driver.current_url.endswith("range=30d")

            _choose_range(driver, "All time")
            wait_for(driver, "[data-test=stats-totals][data-range='all']")
            wait_for_text(driver, "[data-test=stats-totals]", "3 plays, 230 minutes")
            _wait_svg(driver, "chart-plays", oldest_month)
            assert first_day not in _svg_text(driver, "chart-plays")
            wait_for_text(driver, "[data-test=stats-top-movies]", "The Matrix (1999)")
            wait_for_text(driver, "[data-test=stats-sources]", "jellyfin 1, plex 2")
            wait_for_text(driver, "[data-test=trakt-stats]", "Not connected to Trakt")
            if width == 390:
                overflow = driver.execute_script(
                    "return document.documentElement.scrollWidth - window.innerWidth"
                )
                assert overflow <= 0, f"sideways scroll of {overflow} px at 390 px"
            assert _console_errors(driver) == []

        # A connected person: Trakt's numbers (cached by the API read) beside the ledger's.
        noa = connect_user(service, fake_trakt, "Noa", "noa_t")
        matrix = fake_trakt.state.find("movie", {"trakt": 481}, ("trakt",))
        fake_trakt.state.add_play("noa_t", matrix, fake_trakt.state.clock() - 3600)
        with service.api() as api:
            assert api.get(f"/api/v1/users/{noa['id']}/stats").json()["trakt"] is not None
        driver.get(f"{service.url}/stats?user={noa['id']}&range=all")
        wait_for_text(driver, "[data-test=trakt-movies]", "plays: 1")
        wait_for_text(driver, "[data-test=local-movies]", "here: 0 plays in all time")
        wait_for(driver, "[data-test=trakt-stats-refresh]")
        assert _console_errors(driver) == []
