"""In a real browser: the shared frame (SPEC §10 layout). At 1440×900 the navigation drawer is
open; at 390×844 it is closed on load and the menu button opens it; the theme toggle switches
dark mode and the choice survives a reload (kept in the browser's localStorage); every page in
the navigation loads with no console errors at 1440 px and at 390 px, and no sideways scrolling at
390 px."""

from __future__ import annotations

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser import WAIT_SECONDS, chromium, click, type_into, wait_for, wait_for_path
from tests.conftest import FakeTraktServer, Service, connect_user
from trakt_plugin.ui.theme import NAV

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"
DESKTOP = (1440, 900)
PHONE = (390, 844)
THEME_KEY = "trakt-plugin-theme"  # assets/theme.js

# Pages checked for sideways scrolling at 390 px. A page left out here overflows today and is
# owned by someone else right now; name the owner so it comes back once fixed.
NOT_CHECKED_AT_PHONE_WIDTH: dict[str, str] = {}


# The controls inside `arguments[0]` (a CSS selector) that have no accessible name: no
# aria-label(ledby), no text besides icon ligatures, no <label>, title or placeholder.
UNLABELLED_CONTROLS_JS = """
const controls = 'button, a[href], input:not([type=hidden]), select, textarea, '
  + '[role=button], [role=switch], [role=checkbox], [role=combobox], [role=tab]';
const bad = [];
for (const root of document.querySelectorAll(arguments[0])) {
  for (const el of root.querySelectorAll(controls)) {
    if (el.getClientRects().length === 0) continue;
    let name = el.getAttribute('aria-label') || '';
    const by = el.getAttribute('aria-labelledby');
    if (!name && by) {
      name = by.split(' ').map(id => document.getElementById(id)?.textContent || '').join('');
    }
    if (!name.trim()) {
      const copy = el.cloneNode(true);
      copy.querySelectorAll('.q-icon, .material-icons').forEach(i => i.remove());
      name = copy.textContent;
    }
    if (!name.trim() && el.labels) name = [...el.labels].map(l => l.textContent).join('');
    if (!name.trim()) name = el.getAttribute('title') || el.getAttribute('placeholder') || '';
    if (!name.trim()) bad.push(el.outerHTML.slice(0, 160));
  }
}
return bad;
"""


def set_viewport(driver: WebDriver, size: tuple[int, int]) -> None:
    """Exactly width × height CSS pixels of page, whatever the window's own chrome takes."""
    driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
    )


def drawer_open(driver: WebDriver) -> bool:
    """Whether the navigation drawer is on screen (Quasar slides a closed one off to the left)."""
    return bool(
        driver.execute_script(
            "const d = document.querySelector('[data-test=nav-drawer]');"
            "const r = d && (d.closest('aside') || d).getBoundingClientRect();"
            "return !!r && r.width > 0 && r.right > 0 && r.left >= 0"
        )
    )


def drawer_closed(driver: WebDriver) -> bool:
    return bool(
        driver.execute_script(
            "const d = document.querySelector('[data-test=nav-drawer]');"
            "const r = d && (d.closest('aside') || d).getBoundingClientRect();"
            "return !r || r.right <= 0"
        )
    )


def prefer_dark(driver: WebDriver, dark: bool) -> None:
    """What the browser's (the operating system's) colour scheme says."""
    driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]},
    )


def is_dark(driver: WebDriver) -> bool:
    return bool(driver.execute_script("return document.body.classList.contains('body--dark')"))


def until(driver: WebDriver, condition, what: str) -> None:  # type: ignore[no-untyped-def]
    WebDriverWait(driver, WAIT_SECONDS).until(condition, message=what)


def load(driver: WebDriver, url: str, label: str) -> None:
    driver.get(url)
    wait_for(driver, "[data-test=page-title]")
    until(
        driver,
        lambda d: d.execute_script("return document.readyState") == "complete",
        f"{label} loaded",
    )


def console_errors(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_drawer_theme_and_every_page_at_phone_width(
    service_factory,  # type: ignore[no-untyped-def]
    fake_trakt: FakeTraktServer,
) -> None:
    service: Service = service_factory(fake_trakt.service_env(TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD))
    user = connect_user(service, fake_trakt, "Ada", "ada_t")
    with chromium() as driver:
        set_viewport(driver, DESKTOP)
        driver.get(service.url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_path(driver, "/")
        wait_for(driver, "[data-test=page-title]")
        until(driver, drawer_open, "drawer open at 1440 px")
        frame = ".q-header, .q-drawer"
        assert driver.execute_script(UNLABELLED_CONTROLS_JS, frame) == []

        # Theme: the browser's preference until one is chosen, then the choice, kept over a reload.
        until(driver, lambda d: not is_dark(d), "light, as the browser prefers")
        prefer_dark(driver, True)
        until(driver, is_dark, "dark as soon as the browser prefers dark")
        click(driver, "theme-toggle")
        until(driver, lambda d: not is_dark(d), "the toggle switches to light")
        assert driver.execute_script(f"return localStorage.getItem('{THEME_KEY}')") == "light"
        driver.refresh()
        wait_for(driver, "[data-test=page-title]")
        until(driver, lambda d: d.execute_script("return !!window.tpTheme"), "theme script")
        assert not is_dark(driver), "the choice wins over the browser's preference after a reload"
        click(driver, "theme-toggle")
        until(driver, is_dark, "the toggle switches back to dark")
        driver.refresh()
        wait_for(driver, "[data-test=page-title]")
        until(driver, is_dark, "dark remembered after a reload")
        prefer_dark(driver, False)
        assert is_dark(driver), "a chosen theme no longer follows the browser"

        # Every page at 1440 px loads with no console errors.
        for label, path, _icon in NAV:
            load(driver, f"{service.url}{path}?user={user['id']}", label)
            assert console_errors(driver) == [], f"{label} at 1440 px"

        # Phone: the drawer is closed on load, the menu opens it, a link in it works.
        set_viewport(driver, PHONE)
        driver.refresh()
        wait_for(driver, "[data-test=page-title]")
        until(driver, drawer_closed, "drawer closed on load at 390 px")
        click(driver, "menu")
        until(driver, drawer_open, "menu button opens the drawer")
        click(driver, "nav-history")
        wait_for_path(driver, "/history")
        until(driver, drawer_closed, "drawer closed on the next page")

        for label, path, _icon in NAV:
            if label in NOT_CHECKED_AT_PHONE_WIDTH:
                continue
            load(driver, f"{service.url}{path}?user={user['id']}", label)
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{label} scrolls sideways by {overflow} px at 390 px"
            assert console_errors(driver) == [], f"{label} at 390 px"
