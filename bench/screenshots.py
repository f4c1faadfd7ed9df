"""`make screenshots`: a PNG of every dashboard page at desktop (1440×900) and phone (390×844)
size, so a reviewer can look at the dashboard without running a browser by hand.

Starts the real service against the fake Trakt (on loopback, in this process) with a little data:
two connected people with some history imported from the fake Trakt, a watchlist item, and a
playback in progress. Logs in with the Debian Chromium the browser tests use and saves
``<out>/<size>-<page>.png`` (``screenshots/`` by default, git-ignored; ``--theme dark`` for the
dark theme). Prints each page's
sideways overflow at phone width (0 is right) and exits 1 when a page scrolls sideways there.

    .venv/bin/python bench/screenshots.py [--out DIR] [--page NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

from tests.browser import chromium, click, type_into, wait_for, wait_for_path  # noqa: E402
from tests.conftest import (  # noqa: E402
    WEBHOOK_TOKEN,
    FakeTraktServer,
    Service,
    connect_user,
    start_service,
    wait_until,
)
from tests.fake_trakt.server import serve_in_thread  # noqa: E402
from tests.fake_trakt.state import FakeTrakt  # noqa: E402
from tests.test_browser_layout import UNLABELLED_CONTROLS_JS  # noqa: E402
from trakt_plugin.ui.theme import NAV  # noqa: E402

PASSWORD = "a-long-admin-password"
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
# A page counts as drawn when its frame is there and nothing shows a loading spinner.
SETTLE_SECONDS = 10


def set_viewport(driver: WebDriver, width: int, height: int) -> None:
    """Exactly width × height CSS pixels of page, whatever the window's own chrome takes."""
    driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def settle(driver: WebDriver) -> None:
    """Wait until the page is drawn: frame present, fonts loaded, no spinner showing."""
    wait_for(driver, "[data-test=page-title]")
    WebDriverWait(driver, SETTLE_SECONDS).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && document.fonts.status === 'loaded'"
            " && ![...document.querySelectorAll('.q-spinner, .q-inner-loading, .q-skeleton')]"
            ".some(e => e.offsetParent !== null)"
        )
    )


def seed(service: Service, fake: FakeTraktServer) -> None:
    """Two people with plays imported from the fake Trakt, a watchlist item, a playback going."""
    state = fake.state
    now = datetime.now(UTC).timestamp()
    day = 86400.0
    people = []
    for name, username, vip in (("Ada", "ada_t", True), ("Ben", "ben_t", False)):
        user = connect_user(service, fake, name, username, vip=vip)
        people.append(user)
    matrix, inception, show = state.items[0], state.items[1], state.items[2]
    episodes = state.episodes_of(show)
    state.seed_history("ada_t", 120, start=now - 330 * day, step=2.7 * day, catalogue=40)
    for n, item in enumerate([matrix, *episodes, inception]):
        state.add_play("ada_t", item, now - (n + 1) * 0.7 * day)
        state.add_play("ben_t", item, now - (n + 3) * 1.9 * day)
    state.add_to_watchlist("ada_t", inception)
    state.add_to_watchlist("ben_t", matrix)
    with service.api() as api:
        for user in people:
            response = api.post(
                f"/api/v1/users/{user['id']}/sync", json={"kind": "all", "direction": "import"}
            )
            response.raise_for_status()
            run_id = response.json()["run_id"]
            wait_until(
                lambda run_id=run_id: (
                    api.get(f"/api/v1/sync/runs/{run_id}").json()["status"]
                    not in ("queued", "running")
                ),
                timeout=60,
                what="the import",
            )
        api.post(
            f"/api/v1/users/{people[0]['id']}/identities",
            json={"source": "revenge", "external_id": "ada-revenge"},
        ).raise_for_status()
    start = {
        "event": "start",
        "user_id": "ada-revenge",
        "session_id": "screenshots",
        "content_type": "movie",
        "progress": 37,
        "movie": {"title": "The Matrix", "year": 1999, "ids": {"imdb": "tt0133093"}},
    }
    hook = f"{service.url}/webhooks/revenge?token={WEBHOOK_TOKEN}"
    httpx.post(hook, json=start, timeout=10).raise_for_status()


def slug(label: str) -> str:
    return label.lower().replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots", help="output folder")
    parser.add_argument(
        "--page", action="append", default=[], help="only this page (navigation label); repeatable"
    )
    parser.add_argument(
        "--theme",
        choices=("light", "dark"),
        default="light",
        help="the theme chosen with the header toggle (dark files are named dark-<size>-<page>)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    wanted = {p.lower() for p in args.page}
    pages = [(label, path) for label, path, _ in NAV if not wanted or label.lower() in wanted]
    overflowing: list[str] = []
    started = time.monotonic()

    state = FakeTrakt()
    state.device_interval = 1
    with serve_in_thread(state) as fake_url, tempfile.TemporaryDirectory() as tmp:
        fake = FakeTraktServer(state, fake_url)
        service = start_service(
            Path(tmp) / "data", fake.service_env(TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD)
        )
        try:
            seed(service, fake)
            with chromium() as driver:
                driver.get(service.url + "/login")
                type_into(driver, "login-password", PASSWORD)
                click(driver, "login-submit")
                wait_for_path(driver, "/")
                driver.execute_script(
                    "localStorage.setItem('trakt-plugin-theme', arguments[0])", args.theme
                )
                prefix = "dark-" if args.theme == "dark" else ""
                for size, (width, height) in SIZES.items():
                    set_viewport(driver, width, height)
                    for label, path in pages:
                        driver.get(service.url + path)
                        settle(driver)
                        target = out / f"{prefix}{size}-{slug(label)}.png"
                        driver.save_screenshot(str(target))
                        overflow = int(
                            driver.execute_script(
                                "return document.documentElement.scrollWidth - window.innerWidth"
                            )
                        )
                        note = f"  scrolls sideways by {overflow} px" if overflow > 0 else ""
                        unlabelled = driver.execute_script(UNLABELLED_CONTROLS_JS, "body")
                        if unlabelled:
                            note += f"  {len(unlabelled)} controls without a label"
                            if size == "desktop":
                                for html in unlabelled:
                                    print(f"    unlabelled: {html}")
                        if overflow > 0 and size == "phone":
                            overflowing.append(label)
                        print(f"{size:8} {label:12} {target.name}{note}")
        finally:
            service.stop()
    print(f"{2 * len(pages)} screenshots in {out} ({time.monotonic() - started:.0f} s)")
    if overflowing:
        print("sideways scrolling at 390 px: " + ", ".join(overflowing))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
