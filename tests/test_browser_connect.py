"""In a real browser: connect Trakt by device code, see re-auth, and never see a secret."""

from __future__ import annotations

import httpx
import pytest

from tests.browser import chromium, click, type_into, wait_for, wait_for_path, wait_for_text
from tests.conftest import API_TOKEN, WEBHOOK_TOKEN, FakeTraktServer, Service, wait_until

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"


def log_in(driver, service: Service) -> None:  # type: ignore[no-untyped-def]
    driver.get(service.url + "/login")
    type_into(driver, "login-password", PASSWORD)
    click(driver, "login-submit")
    wait_for_path(driver, "/")


def test_connect_refresh_reauth_disconnect_without_leaking_secrets(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    fake = fake_trakt.state
    fake.add_user("ivy_t", vip=True)
    service: Service = service_factory(fake_trakt.service_env(TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD))
    answers: list[str] = []
    seen_tokens: set[str] = set()

    def remember_tokens() -> None:
        seen_tokens.update(fake.tokens)
        seen_tokens.update(fake.refresh_tokens)

    with service.api() as api, chromium() as driver:
        user = api.post("/api/v1/users", json={"display_name": "Ivy"}).json()
        log_in(driver, service)
        driver.get(service.url + "/users")
        click(driver, "connect-device")
        user_code = wait_for(driver, "[data-test=device-user-code]").text.strip()
        assert user_code
        fake.approve(user_code, "ivy_t")
        wait_for_text(driver, f"[data-test=connection-{user['id']}]", "connected")
        wait_for_text(driver, f"[data-test=connection-{user['id']}]", "VIP")
        remember_tokens()
        pages = [driver.page_source]

        # Refresh (expired access token), then a refused refresh: re-auth shows on the overview.
        fake.expire_tokens("ivy_t")
        answers.append(api.post(f"/api/v1/users/{user['id']}/trakt/verify").text)
        remember_tokens()
        assert fake.refreshes == 1
        fake.expire_tokens("ivy_t")
        fake.refresh_tokens.clear()
        answers.append(api.post(f"/api/v1/users/{user['id']}/trakt/verify").text)
        driver.get(service.url + "/")
        wait_for_text(driver, "[data-test=reauth-alert]", "Ivy")
        pages.append(driver.page_source)

        for path in ("/users", "/settings"):
            driver.get(service.url + path)
            wait_for_text(driver, "body", "trakt-plugin")
            pages.append(driver.page_source)

        answers.append(api.get(f"/api/v1/users/{user['id']}").text)
        answers.append(api.get("/api/v1/users").text)
        answers.append(api.get("/api/v1/health").text)
        answers.append(api.get("/metrics").text)
        answers.append(httpx.get(f"{service.url}/api/v1/openapi.json").text)
        assert api.delete(f"/api/v1/users/{user['id']}/trakt").status_code == 204
        wait_until(lambda: fake.revoked, what="token revoked")

    service.stop()
    secrets = seen_tokens | {fake.client_secret, API_TOKEN, WEBHOOK_TOKEN}
    assert len(seen_tokens) >= 4
    log = service.log()
    for secret in secrets:
        assert secret not in log, "secret in the service log"
        for answer in answers:
            assert secret not in answer, "secret in an API answer"
        for page in pages:
            assert secret not in page, "secret in dashboard HTML"
