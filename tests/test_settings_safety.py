"""Settings can never lock people out, take effect without a restart, and health can fail
(SPEC §3, §9): through the running service, its dashboard and its command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests import pg
from tests.browser import choose, chromium, click, type_into, wait_for, wait_for_text
from tests.conftest import API_TOKEN, WEBHOOK_TOKEN, Service, base_env, wait_until
from trakt_plugin.context import build_context
from trakt_plugin.store import repo

PASSWORD = "a-long-admin-password"
ENV = {
    "TRAKT_PLUGIN_ADMIN_PASSWORD": PASSWORD,
    "TRAKT_PLUGIN_API_TOKEN": API_TOKEN,
    "TRAKT_PLUGIN_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
}


def log_in(driver, service: Service) -> None:  # type: ignore[no-untyped-def]
    driver.get(service.url + "/login")
    type_into(driver, "login-password", PASSWORD)
    click(driver, "login-submit")
    wait_for_text(driver, "body", "People")


def save_setting(driver, service: Service, key: str, value: str) -> None:  # type: ignore[no-untyped-def]
    driver.get(service.url + "/settings")
    type_into(driver, f"setting-{key}", value)
    click(driver, "save-settings")


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trakt_plugin", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.browser
def test_a_bad_value_in_the_dashboard_is_refused_and_never_saved(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory(ENV, name="bad")
    with chromium() as driver:
        log_in(driver, service)
        save_setting(driver, service, "scrobble_threshold", "150")
        wait_for_text(driver, "body", "between 1 and 100")
    service.stop()
    again = service_factory(ENV, name="bad")  # starts: nothing invalid was stored
    with again.api() as api:
        assert api.get("/api/v1/health").json()["db"] == "ok"
    result = run_cli(["check-config"], again.env, again.data_dir.parent)
    assert "scrobble_threshold = 90.0 [default]" in result.stdout


def test_an_invalid_saved_value_from_an_older_version_is_ignored_with_a_warning(
    service_factory: Callable[..., Service],
    service_databases: pg.ServiceDatabases,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "old"
    ctx = build_context(base_env(data_dir, **service_databases.env("old")))
    with ctx.session() as session, session.begin():  # as an older version could have saved it
        repo.save_setting(session, key="scrobble_threshold", value=150)
        repo.save_setting(session, key="sync.sync_interval", value=7200)
    ctx.engine.dispose()

    service = service_factory(ENV, name="old")
    assert "ignoring a saved setting" in service.log() and "scrobble_threshold" in service.log()
    with service.api() as api:
        jobs = api.get("/api/v1/health").json()["jobs"]
    assert jobs["sync"]["interval_seconds"] == 7200  # the valid saved value still applies

    result = run_cli(["check-config"], service.env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sync.sync_interval = 7200 [saved]" in result.stdout
    assert "scrobble_threshold = 90.0 [default]" in result.stdout
    assert "scrobble_threshold" in result.stderr  # the warning names it


@pytest.mark.browser
def test_intervals_and_rate_limits_saved_in_the_dashboard_apply_at_once(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory(ENV)
    with service.api() as api:
        before = api.get("/api/v1/health").json()
    assert before["jobs"]["sync"]["interval_seconds"] == 3600
    with chromium() as driver:
        log_in(driver, service)
        driver.get(service.url + "/settings")
        # Durations are entered as a number and a unit, and saved in seconds.
        choose(driver, "[data-test='setting-sync.sync_interval-unit']", "minutes")
        type_into(driver, "setting-sync.sync_interval", "2")
        choose(driver, "[data-test='setting-vip.check_interval-unit']", "minutes")
        type_into(driver, "setting-vip.check_interval", "10")
        click(driver, "advanced-settings")  # the rate limits are folded away
        type_into(driver, "setting-rate.post_interval", "2.5")
        click(driver, "save-settings")
        wait_for_text(driver, "body", "Saved.")
        wait_for(driver, "[data-test=save-settings]")

    def applied() -> dict[str, object] | None:
        with service.api() as api:
            health = api.get("/api/v1/health").json()
        return health if health["jobs"]["sync"]["interval_seconds"] == 120 else None

    health = wait_until(applied, what="sync rescheduled")
    assert health["jobs"]["vip-check"]["interval_seconds"] == 600
    assert health["rate"]["post_interval"] == 2.5


def test_healthz_fails_when_the_database_cannot_be_read(
    service: Service, service_databases: pg.ServiceDatabases
) -> None:
    assert httpx.get(f"{service.url}/healthz").status_code == 200
    service_databases.lose(service.data_dir.name)
    answer = httpx.get(f"{service.url}/healthz")
    assert answer.status_code == 503
    assert answer.json()["db"] == "error"


@pytest.mark.parametrize(
    "url",
    ["not a url", "nosuchdialect://host/db", "postgresql+nosuchdriver://u:secretpw@127.0.0.1/db"],
)
def test_an_unusable_database_url_stops_with_one_line(tmp_path: Path, url: str) -> None:
    env = base_env(tmp_path / "data", TRAKT_PLUGIN_DATABASE_URL=url)
    result = run_cli(["serve"], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("invalid configuration: database_url"), lines
    assert "secretpw" not in result.stderr and "Traceback" not in result.stderr
