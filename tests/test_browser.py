"""End to end in a real browser: first-run setup, login (and its throttle), the overview."""

from __future__ import annotations

import pytest

from tests.browser import chromium, click, type_into, wait_for, wait_for_path, wait_for_text
from tests.conftest import Service

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"


def test_first_run_setup_login_and_overview(service: Service) -> None:
    with chromium() as driver:
        driver.get(service.url + "/")
        wait_for_path(driver, "/setup")
        # Free Trakt accounts cannot create apps any more: the page says who creates it.
        wait_for_text(driver, "[data-test=setup-vip-note]", "one VIP member of the household")
        type_into(driver, "setup-password", PASSWORD)
        type_into(driver, "setup-confirm", PASSWORD + "x")
        click(driver, "setup-submit")
        wait_for_text(driver, "[data-test=setup-error]", "differ")
        type_into(driver, "setup-confirm", PASSWORD)
        type_into(driver, "setup-client-id", "browser-client-id")
        type_into(driver, "setup-client-secret", "browser-client-secret-value")
        click(driver, "setup-submit")

        wait_for_path(driver, "/login")
        type_into(driver, "login-password", "not the password")
        click(driver, "login-submit")
        wait_for_text(driver, "[data-test=login-error]", "Wrong password")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")

        wait_for_path(driver, "/")
        wait_for_text(driver, "body", "People")
        wait_for_text(driver, "body", "No people yet")
        assert "trakt-plugin" in driver.page_source
        assert "browser-client-secret-value" not in driver.page_source

        # Settings shows tokens masked until asked.
        driver.get(service.url + "/settings")
        wait_for(driver, "[data-test=api-token]")
        assert "test-api-token" not in driver.page_source
        client_id = wait_for(driver, "[data-test=setting-client_id] input")
        assert client_id.get_attribute("value") == "browser-client-id"
        wait_for_text(driver, "[data-test=setting-client_id]", "saved")

    # What the setup page saved is encrypted at rest.
    service.stop()
    for path in service.data_dir.rglob("*"):
        if path.is_file():
            assert b"browser-client-secret-value" not in path.read_bytes(), path.name


def test_wrong_passwords_are_rate_limited(service_factory) -> None:  # type: ignore[no-untyped-def]
    service = service_factory({"TRAKT_PLUGIN_ADMIN_PASSWORD": PASSWORD})
    with chromium() as driver:
        driver.get(service.url + "/login")
        for left in (4, 3, 2, 1):
            type_into(driver, "login-password", "guess-guess")
            click(driver, "login-submit")
            wait_for_text(driver, "[data-test=login-error]", f"{left} more tries")
        type_into(driver, "login-password", "guess-guess")
        click(driver, "login-submit")
        wait_for_text(driver, "[data-test=login-error]", "Too many failed attempts")
        # Even the right password is refused until the pause is over.
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_text(driver, "[data-test=login-error]", "Try again in")
        assert driver.current_url.endswith("/login")
