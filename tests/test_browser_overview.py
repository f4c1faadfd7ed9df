"""In a real browser at 1440×900 and 390×844: a webhook start shows a now-playing card with its
progress in an already open overview within 2 s, no reload; the stop removes it (issue 14,
acceptance 2). And settings in human units: 3600 s shows as 1 hour, 90 minutes saves 5400 s."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser import choose, chromium, click, type_into, wait_for, wait_for_path, wait_for_text
from tests.conftest import WEBHOOK_TOKEN, FakeTraktServer, Service, connect_user, wait_until
from tests.webhooks.payloads import Media, jellyfin

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"
LIVE_SECONDS = 2.0  # the overview's promise
SIZES = ((1440, 900), (390, 844))
CARD = "[data-test=now-playing-card]"
JELLYFIN_ID = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"  # Jellyfin user ids are GUIDs


def send(service: Service, body_of: tuple[str, float, bool | None], media: Media, session: str):  # type: ignore[no-untyped-def]
    kind, progress, paused = body_of
    body = jellyfin(kind, JELLYFIN_ID, "ada", media, progress, paused=paused, session=session)
    answer = httpx.post(
        f"{service.url}/webhooks/jellyfin",
        content=body.content,
        headers={"Content-Type": body.content_type},
        params={"token": WEBHOOK_TOKEN},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def within(driver: WebDriver, seconds: float, condition, what: str) -> None:  # type: ignore[no-untyped-def]
    WebDriverWait(driver, seconds, poll_frequency=0.05).until(
        lambda d: condition(d), message=f"{what} not within {seconds} s"
    )


def card_text(driver: WebDriver) -> str:
    """The cards' text, read in one go (a live update may redraw them mid-read)."""
    texts = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)", CARD
    )
    return " ".join(str(t) for t in texts)


def no_sideways_scroll(driver: WebDriver) -> None:
    width, inner = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert width <= inner, f"scrolls sideways: {width} > {inner}"


def test_now_playing_is_live_and_settings_speak_human_units(
    service_factory,  # type: ignore[no-untyped-def]
    fake_trakt: FakeTraktServer,
) -> None:
    service: Service = service_factory(fake_trakt.service_env(TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD))
    user = connect_user(service, fake_trakt, "Ada", "ada_t", vip=True)
    with service.api() as api:
        linked = api.post(
            f"/api/v1/users/{user['id']}/identities",
            json={"source": "jellyfin", "external_id": JELLYFIN_ID},
        )
        assert linked.status_code == 201, linked.text

    with chromium() as driver:
        driver.get(service.url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_path(driver, "/")
        wait_for_text(driver, f"[data-test=user-card-{user['id']}]", "VIP")
        wait_for_text(driver, f"[data-test=user-card-{user['id']}]", "Plays this week: 0")

        for number, (width, height) in enumerate(SIZES):
            driver.set_window_size(width, height)
            wait_for_text(driver, "[data-test=now-playing]", "Nothing is playing")
            # Marks this document: a reload would lose it.
            driver.execute_script("window.__still_open = true")
            media = Media("movie", f"Arrival {number}", 2016, imdb=f"tt254361{number}")
            session = f"js-{number}"

            send(service, ("start", 12, False), media, session)
            within(
                driver,
                LIVE_SECONDS,
                lambda d, m=media: m.title in card_text(d) and "12 %" in card_text(d),
                "the now-playing card",
            )
            text = card_text(driver)
            assert "Ada" in text and "Playing" in text and "Jellyfin" in text
            wait_for(driver, f"{CARD} [data-test=playing-progress]")
            assert driver.find_elements(By.CSS_SELECTOR, f"{CARD} img[src^='/posters/']")
            if width < 1024:
                no_sideways_scroll(driver)

            send(service, ("progress", 40, True), media, session)
            within(
                driver,
                LIVE_SECONDS,
                lambda d: "40 %" in card_text(d) and "Paused" in card_text(d),
                "the paused progress",
            )

            send(service, ("stop", 45, None), media, session)
            within(driver, LIVE_SECONDS, lambda d: not card_text(d), "the card's removal")
            assert driver.execute_script("return window.__still_open === true"), "page reloaded"

        # Settings at 390 px: 3600 s reads as 1 hour; 90 minutes is saved as 5400 s.
        driver.get(service.url + "/settings")
        row = "[data-test='setting-sync.sync_interval']"
        field = wait_for(driver, f"{row} input")
        assert field.get_attribute("value") == "1"
        wait_for_text(driver, f"{row} [data-test='setting-sync.sync_interval-unit']", "hours")
        no_sideways_scroll(driver)
        choose(driver, f"{row} [data-test='setting-sync.sync_interval-unit']", "minutes")
        type_into(driver, "setting-sync.sync_interval", "90")
        click(driver, "save-settings")
        wait_for_text(driver, "body", "Saved.")

        def applied() -> bool:
            with service.api() as api:
                jobs = api.get("/api/v1/health").json()["jobs"]
            return bool(jobs["sync"]["interval_seconds"] == 5400)

        wait_until(applied, what="sync every 5400 s")
        driver.set_window_size(*SIZES[0])
        driver.get(service.url + "/settings")
        assert wait_for(driver, f"{row} input").get_attribute("value") == "90"
        wait_for_text(driver, f"{row} [data-test='setting-sync.sync_interval-unit']", "minutes")
        console = [
            entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
        ]
        assert not console, console
