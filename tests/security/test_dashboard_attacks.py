"""Attacks on the dashboard through a real browser (SPEC §11): each must fail.

A reverse proxy is stood in for by Chromium adding ``X-Forwarded-For`` to its requests (what a
proxy on this machine would add), through the DevTools protocol.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests import pg
from tests.browser import chromium, click, type_into, wait_for, wait_for_path, wait_for_text
from tests.conftest import API_TOKEN, WEBHOOK_TOKEN, Service

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"
OTHER_PASSWORD = "another-long-password"
COOKIE = "trakt_plugin_session"
TOKENS = {"TRAKT_PLUGIN_API_TOKEN": API_TOKEN, "TRAKT_PLUGIN_WEBHOOK_TOKEN": WEBHOOK_TOKEN}


def forwarded_for(driver: WebDriver, address: str) -> None:
    """From now on the browser's requests carry the header a reverse proxy adds."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Forwarded-For": address}})


def log_in(driver: WebDriver, service: Service, password: str = PASSWORD) -> str:
    """Log in through the login page; the session cookie's value."""
    driver.get(service.url + "/login")
    type_into(driver, "login-password", password)
    click(driver, "login-submit")
    wait_for_path(driver, "/")
    wait_for_text(driver, "body", "People")
    return str(driver.get_cookie(COOKIE)["value"])


def dashboard_status(service: Service, cookie: str) -> int:
    """What ``/settings`` answers a browser presenting ``cookie`` (200, or a redirect)."""
    answer = httpx.get(f"{service.url}/settings", cookies={COOKIE: cookie}, follow_redirects=False)
    return answer.status_code


def finish_setup(driver: WebDriver, service: Service, password: str = PASSWORD) -> None:
    """First-run setup from this machine (no code asked)."""
    driver.get(service.url + "/setup")
    type_into(driver, "setup-password", password)
    type_into(driver, "setup-confirm", password)
    click(driver, "setup-submit")
    wait_for_path(driver, "/login")


def setup_code(service: Service) -> str:
    line = next(line for line in service.log().splitlines() if "setup code" in line)
    return line.rsplit(" ", 1)[-1].strip()


def test_stale_setup_page_cannot_replace_the_admin_password(service: Service) -> None:
    with chromium() as driver:
        driver.get(service.url + "/setup")
        first = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(service.url + "/setup")
        stale = driver.current_window_handle

        driver.switch_to.window(first)
        type_into(driver, "setup-password", PASSWORD)
        type_into(driver, "setup-confirm", PASSWORD)
        click(driver, "setup-submit")
        wait_for_path(driver, "/login")

        driver.switch_to.window(stale)
        type_into(driver, "setup-password", OTHER_PASSWORD)
        type_into(driver, "setup-confirm", OTHER_PASSWORD)
        click(driver, "setup-submit")
        wait_for_text(driver, "[data-test=setup-error]", "already done")

        driver.get(service.url + "/login")
        type_into(driver, "login-password", OTHER_PASSWORD)
        click(driver, "login-submit")
        wait_for_text(driver, "[data-test=login-error]", "Wrong password")
        log_in(driver, service, PASSWORD)


def test_setup_through_a_reverse_proxy_needs_the_logged_code(service: Service) -> None:
    code = setup_code(service)
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code), "80 bits, readable"
    with chromium() as driver:
        forwarded_for(driver, "203.0.113.9")
        driver.get(service.url + "/setup")
        wait_for(driver, "input[data-test=setup-code], [data-test=setup-code] input")
        type_into(driver, "setup-password", PASSWORD)
        type_into(driver, "setup-confirm", PASSWORD)
        click(driver, "setup-submit")
        wait_for_text(driver, "[data-test=setup-error]", "Wrong setup code")
        driver.get(service.url + "/login")
        wait_for_path(driver, "/setup")  # still no password: the attempt changed nothing

        type_into(driver, "setup-code", code.lower())  # case does not matter
        type_into(driver, "setup-password", PASSWORD)
        type_into(driver, "setup-confirm", PASSWORD)
        click(driver, "setup-submit")
        wait_for_path(driver, "/login")


def test_setup_code_guesses_are_throttled(service: Service) -> None:
    code = setup_code(service)
    with chromium() as driver:
        forwarded_for(driver, "203.0.113.10")
        driver.get(service.url + "/setup")
        type_into(driver, "setup-password", PASSWORD)
        type_into(driver, "setup-confirm", PASSWORD)
        for left in (4, 3, 2, 1):
            type_into(driver, "setup-code", f"AAAA-AAAA-AAAA-AAA{left}")
            click(driver, "setup-submit")
            wait_for_text(driver, "[data-test=setup-error]", f"{left} more tries")
        type_into(driver, "setup-code", "AAAA-AAAA-AAAA-AAAA")
        click(driver, "setup-submit")
        wait_for_text(driver, "[data-test=setup-error]", "Too many failed attempts")
        type_into(driver, "setup-code", code)
        click(driver, "setup-submit")
        wait_for_text(driver, "[data-test=setup-error]", "Try again in")
        assert driver.current_url.endswith("/setup")


def test_a_parallel_burst_of_guesses_is_counted_before_checking(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory(TOKENS, name="burst")
    with chromium() as driver:
        # A password set at setup is checked with scrypt (slow): a burst overlaps its checks.
        finish_setup(driver, service)
        driver.get(service.url + "/login")
        type_into(driver, "login-password", "guess-guess")
        # Twelve wrong submits and then the right password, in one websocket burst.
        driver.execute_script(
            "const b = document.querySelector('[data-test=login-submit]');"
            "const i = document.querySelector('input[data-test=login-password]');"
            "for (let n = 0; n < 12; n++) b.click();"
            "i.value = arguments[0]; i.dispatchEvent(new Event('input', {bubbles: true}));"
            "b.click();",
            PASSWORD,
        )
        wait_for_text(driver, "[data-test=login-error]", "Try again in")
        assert driver.get_cookie(COOKIE) is None
        assert urlsplit(driver.current_url).path == "/login"
        # The pause holds across a restart: the counts live in the store.
        service.stop()
        again = service_factory(TOKENS, name="burst")
        driver.get(again.url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_text(driver, "[data-test=login-error]", "Try again in")
        assert driver.get_cookie(COOKIE) is None


def test_rotating_forwarded_for_does_not_reset_the_count(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory({"TRAKT_PLUGIN_ADMIN_PASSWORD": PASSWORD, **TOKENS})
    with chromium() as driver:
        for attempt in range(5):
            forwarded_for(driver, f"198.51.100.{attempt + 1}")
            driver.get(service.url + "/login")
            type_into(driver, "login-password", "guess-guess")
            click(driver, "login-submit")
            wait_for_text(driver, "[data-test=login-error]", "Wrong password")
        forwarded_for(driver, "198.51.100.99")
        driver.get(service.url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_text(driver, "[data-test=login-error]", "Try again in")


def test_a_cookie_planted_before_login_never_becomes_a_session(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory({"TRAKT_PLUGIN_ADMIN_PASSWORD": PASSWORD, **TOKENS})
    planted = "attacker-chosen-session-id-0123456789"
    with chromium() as driver:
        driver.get(service.url + "/login")
        driver.add_cookie({"name": COOKIE, "value": planted, "path": "/"})
        issued = log_in(driver, service)
        cookie = driver.get_cookie(COOKIE)
    assert issued != planted
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert dashboard_status(service, planted) == 307
    assert dashboard_status(service, issued) == 200
    # A signed-in browser may read the API docs; the planted id may not.
    docs = f"{service.url}/api/v1/docs"
    assert httpx.get(docs, cookies={COOKIE: issued}).status_code == 200
    assert httpx.get(docs, cookies={COOKIE: planted}).status_code == 401


def test_a_password_change_by_environment_ends_every_session(
    service_factory: Callable[..., Service],
) -> None:
    env = {"TRAKT_PLUGIN_ADMIN_PASSWORD": PASSWORD, **TOKENS}
    service = service_factory(env, name="pw")
    with chromium() as driver:
        cookie = log_in(driver, service)
    service.stop()
    same = service_factory(env, name="pw")
    assert dashboard_status(same, cookie) == 200, "a restart alone keeps sessions"
    same.stop()
    changed = service_factory({**env, "TRAKT_PLUGIN_ADMIN_PASSWORD": OTHER_PASSWORD}, name="pw")
    assert dashboard_status(changed, cookie) == 307


def test_a_password_change_in_the_dashboard_ends_other_sessions(service: Service) -> None:
    with chromium() as driver:
        finish_setup(driver, service)
        old = log_in(driver, service)
        driver.get(service.url + "/settings")
        type_into(driver, "pw-current", PASSWORD)
        type_into(driver, "pw-new", OTHER_PASSWORD)
        type_into(driver, "pw-repeat", OTHER_PASSWORD)
        click(driver, "pw-submit")
        wait_for_path(driver, "/")
        wait_for_text(driver, "body", "People")  # this browser got a fresh session
        new = str(driver.get_cookie(COOKIE)["value"])
    assert new != old
    assert dashboard_status(service, old) == 307
    assert dashboard_status(service, new) == 200


def test_a_settings_page_left_open_reveals_nothing_after_logout(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory({"TRAKT_PLUGIN_ADMIN_PASSWORD": PASSWORD, **TOKENS})
    with chromium() as driver:
        cookie = log_in(driver, service)
        driver.get(service.url + "/settings")
        wait_for(driver, "[data-test=api-token]")
        settings_tab = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(service.url + "/logout")
        wait_for_path(driver, "/login")
        driver.switch_to.window(settings_tab)
        click(driver, "api-token-reveal")
        wait_for_path(driver, "/login")
        assert API_TOKEN not in driver.page_source
    assert dashboard_status(service, cookie) == 307


def test_data_dir_and_files_are_private_after_a_full_run(service: Service) -> None:
    with chromium() as driver:
        finish_setup(driver, service)
        log_in(driver, service)
        driver.get(service.url + "/settings")
        wait_for(driver, "[data-test=api-token]")
    webhook = httpx.post(
        f"{service.url}/webhooks/revenge?token={WEBHOOK_TOKEN}",
        json={
            "event": "start",
            "user_id": "u1",
            "content_type": "movie",
            "progress": 5,
            "movie": {"title": "The Matrix", "year": 1999, "ids": {"imdb": "tt0133093"}},
        },
    )
    assert webhook.status_code == 202, webhook.text
    assert stat.S_IMODE(service.data_dir.stat().st_mode) == 0o700
    files = [p for p in service.data_dir.rglob("*") if p.is_file()]
    if pg.store_url(service).startswith("sqlite"):  # the store's files, checked below too
        assert any(p.name.endswith("-wal") for p in files)
        assert any(p.suffix == ".db" for p in files)
    else:  # on PostgreSQL the key file is what the data dir holds
        assert any(p.name == "secret.key" for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in service.data_dir.rglob("*"):
        if path.is_dir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_changing_where_trakt_calls_go_needs_the_password_again(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory({"TRAKT_PLUGIN_ADMIN_PASSWORD": PASSWORD, **TOKENS})
    with chromium() as driver:
        log_in(driver, service)
        driver.get(service.url + "/settings")
        type_into(driver, "setting-api_url", "http://trakt.attacker.example")
        click(driver, "save-settings")
        wait_for_text(driver, "body", "must be an https:// URL")

        type_into(driver, "setting-api_url", "https://trakt.attacker.example")
        click(driver, "save-settings")
        type_into(driver, "reauth-password", "guess-guess")
        click(driver, "reauth-submit")
        wait_for_text(driver, "[data-test=reauth-error]", "Wrong password")
        type_into(driver, "reauth-password", PASSWORD)
        click(driver, "reauth-submit")
        wait_for_text(driver, "body", "Saved.")
        driver.get(service.url + "/settings")
        field = wait_for(driver, "[data-test=setting-api_url] input")
        assert field.get_attribute("value") == "https://trakt.attacker.example"
