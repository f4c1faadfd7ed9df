"""In a real browser: now playing, a dead scrobble with its reason, and discarding it."""

from __future__ import annotations

import httpx
import pytest

from tests.browser import chromium, click, type_into, wait_for, wait_for_path, wait_for_text
from tests.conftest import WEBHOOK_TOKEN, FakeTraktServer, Service, connect_user, wait_until

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"


def revenge(event: str, progress: float, session: str = "s1") -> dict[str, object]:
    return {
        "event": event,
        "user_id": "lee-revenge",
        "session_id": session,
        "content_type": "movie",
        "progress": progress,
        "movie": {"title": "The Matrix", "year": 1999, "ids": {"imdb": "tt0133093"}},
    }


def test_now_playing_and_a_dead_scrobble_discarded(
    service_factory,  # type: ignore[no-untyped-def]
    fake_trakt: FakeTraktServer,
) -> None:
    service: Service = service_factory(fake_trakt.service_env(TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD))
    user = connect_user(service, fake_trakt, "Lee", "lee_t")
    hook = f"{service.url}/webhooks/revenge?token={WEBHOOK_TOKEN}"
    with service.api() as api:
        api.post(
            f"/api/v1/users/{user['id']}/identities",
            json={"source": "revenge", "external_id": "lee-revenge"},
        )
        assert httpx.post(hook, json=revenge("start", 10)).status_code == 202
        wait_until(
            lambda: api.get("/api/v1/scrobbles", params={"status": "sent"}).json()["items"],
            what="start sent",
        )
        # Trakt refuses the next scrobble call for good (locked account): the row goes dead.
        fake_trakt.state.fail_next(1, 423, path="/scrobble/pause")
        assert httpx.post(hook, json=revenge("pause", 40)).status_code == 202
        dead = wait_until(
            lambda: api.get("/api/v1/scrobbles", params={"status": "dead"}).json()["items"],
            what="pause dead",
        )[0]
        assert dead["last_error"]

        with chromium() as driver:
            driver.get(service.url + "/login")
            type_into(driver, "login-password", PASSWORD)
            click(driver, "login-submit")
            wait_for_path(driver, "/")
            wait_for_text(driver, "[data-test=now-playing]", "The Matrix")
            wait_for_text(driver, "[data-test=dead-alert]", "failed")

            driver.get(service.url + "/scrobbles")
            row = f"[data-test=scrobble-{dead['id']}]"
            wait_for_text(driver, row, "dead")
            wait_for_text(driver, row, dead["last_error"][:20])
            # the page says what a discard means before the button is pressed (issue: a
            # discarded play once reached Trakt through the next sync)
            wait_for_text(driver, "[data-test=discard-note]", "never exported")
            wait_for(driver, f"{row} [data-test=discard]").click()
            wait_for_text(driver, row, "discarded")

        statuses = {r["id"]: r["status"] for r in api.get("/api/v1/scrobbles").json()["items"]}
        assert statuses[dead["id"]] == "discarded"
