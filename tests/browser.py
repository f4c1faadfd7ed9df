"""A real headless Debian Chromium driven by Selenium (no browser downloads)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_SECONDS = 15


@contextmanager
def chromium() -> Iterator[WebDriver]:
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager fetch a browser
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=DriverService(CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(driver: WebDriver, css: str) -> WebElement:
    return WebDriverWait(driver, WAIT_SECONDS).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def wait_for_text(driver: WebDriver, css: str, text: str) -> None:
    WebDriverWait(driver, WAIT_SECONDS).until(
        expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
    )


def wait_for_path(driver: WebDriver, path: str) -> None:
    """Wait until the page's path is exactly ``path`` (query ignored)."""
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: urlsplit(d.current_url).path == path)


def type_into(driver: WebDriver, test_id: str, text: str) -> None:
    # Quasar passes the attribute through to the <input> itself for text fields.
    field = wait_for(driver, f"input[data-test='{test_id}'], [data-test='{test_id}'] input")
    # clear() bypasses Vue's input events; select-all and delete goes through them.
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)


def click(driver: WebDriver, test_id: str) -> None:
    wait_for(driver, f"[data-test={test_id}]").click()


def choose(driver: WebDriver, css: str, option: str) -> None:
    """Open a Quasar select and pick the option showing ``option``."""
    field = wait_for(driver, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    field.click()

    def pick(d: WebDriver) -> bool:
        for item in d.find_elements(By.CSS_SELECTOR, ".q-menu .q-item"):
            if item.is_displayed() and item.text.strip() == option:
                item.click()
                return True
        return False

    # The menu and its items are removed from the page as it closes: an element that went away
    # between finding and reading it is looked for again.
    wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(pick)
    wait.until(
        lambda d: not any(m.is_displayed() for m in d.find_elements(By.CSS_SELECTOR, ".q-menu"))
    )
