"""In a real browser: the Servers page (SPEC §10, §12) against the fake Plex and Jellyfin.

One service, one fake Plex, one fake Jellyfin and one signed-in Chromium serve the module; each
test adds its own servers under its own names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import ElementClickInterceptedException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser import (
    WAIT_SECONDS,
    choose,
    chromium,
    click,
    type_into,
    wait_for,
    wait_for_path,
    wait_for_text,
)
from tests.conftest import API_TOKEN, Service, start_service, wait_until
from tests.fake_jellyfin import FakeJellyfin, LiveServer
from tests.fake_plex import FakePlex, PlexServerThread

pytestmark = pytest.mark.browser

PASSWORD = "a-long-admin-password"
JELLYFIN_KEY = "fake-jellyfin-api-key-for-the-browser"
EMBY_KEY = "fake-emby-api-key-for-the-browser-0123"
ATTIC_TOKEN = "attic-plex-token-from-the-environment"


@dataclass
class Rig:
    service: Service
    driver: WebDriver
    plex: FakePlex
    plex_server: PlexServerThread
    jellyfin: FakeJellyfin
    jellyfin_server: LiveServer

    def open(self) -> None:
        self.driver.get(self.service.url + "/servers")
        wait_for(self.driver, "[data-test=add-server-submit]")

    def server(self, name: str) -> dict[str, Any]:
        """The server named ``name`` as the API shows it (waits until it exists)."""

        def find() -> dict[str, Any] | None:
            with self.service.api() as api:
                items = api.get("/api/v1/servers").json()["items"]
            return next((item for item in items if item["name"] == name), None)

        found = wait_until(find, what=f"server {name}")
        assert isinstance(found, dict)
        return found

    def accounts(self, server_id: str) -> dict[str, dict[str, Any]]:
        with self.service.api() as api:
            answer = api.get(f"/api/v1/servers/{server_id}/accounts")
        assert answer.status_code == 200, answer.text
        return {item["name"]: item for item in answer.json()["items"]}

    def add(self, kind: str, name: str, url: str, token: str, live: str | None = None) -> str:
        """Fill in and submit the form; answers the new card's selector."""
        choose(self.driver, "[data-test=add-server] [data-test=server-kind]", kind)
        type_into(self.driver, "server-name", name)
        type_into(self.driver, "server-url", url)
        type_into(self.driver, "server-token", token)
        if live is not None:
            choose(self.driver, "[data-test=add-server] [data-test=server-live]", live)
        click(self.driver, "add-server-submit")
        card = f"[data-test=server-{self.server(name)['id']}]"
        wait_for(self.driver, f"{card} [data-test=server-state]")
        return card

    def assert_no_secret(self, *secrets: str) -> None:
        """Neither the page nor the service's log holds any of ``secrets``."""
        source, log = self.driver.page_source, self.service.log()
        for secret in secrets:
            assert secret not in source
            assert secret not in log


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp: Path = tmp_path_factory.mktemp("servers-page")
    plex = FakePlex(friendly_name="Living Room", owner_name="olivia")
    plex.add_account("kid")
    plex_server = PlexServerThread(plex)
    plex_server.start()
    jellyfin = FakeJellyfin("jellyfin", api_key=JELLYFIN_KEY)
    for name in ("alice", "bob", "carol"):
        jellyfin.add_user(name)
    jellyfin_server = LiveServer(jellyfin).start()
    config = tmp / "config.yaml"
    config.write_text(
        "integrations:\n  trakt:\n    servers:\n"
        "      - kind: plex\n        name: Attic\n"
        f"        url: {plex_server.url}\n        token: ${{ATTIC_TOKEN}}\n"
    )
    service = start_service(
        tmp / "data",
        {
            "TRAKT_PLUGIN_ADMIN_PASSWORD": PASSWORD,
            "TRAKT_PLUGIN_API_TOKEN": API_TOKEN,
            "TRAKT_PLUGIN_CONFIG": str(config),
            "ATTIC_TOKEN": ATTIC_TOKEN,
        },
    )
    try:
        with chromium() as driver:
            driver.get(service.url + "/login")
            type_into(driver, "login-password", PASSWORD)
            click(driver, "login-submit")
            wait_for_path(driver, "/")
            yield Rig(service, driver, plex, plex_server, jellyfin, jellyfin_server)
    finally:
        service.stop()
        plex_server.stop()
        jellyfin_server.stop()


def test_plex_servers_right_and_wrong_token_account_token_live_mode_and_delete(rig: Rig) -> None:
    driver, plex = rig.driver, rig.plex
    rig.open()
    wait_for_text(driver, "nav, .q-drawer", "Servers")

    # The YAML server: shown with its source, read-only (no delete).
    attic = f"[data-test=server-{rig.server('Attic')['id']}]"
    wait_for_text(driver, f"{attic} [data-test=server-source]", "yaml")
    assert not driver.find_elements(By.CSS_SELECTOR, f"{attic} [data-test=server-delete]")

    card = rig.add("Plex", "Living room", rig.plex_server.url, plex.owner_token, "Off (sync only)")
    wait_for_text(driver, f"{card} [data-test=server-state]", "ok")
    details = wait_for(driver, f"{card} [data-test=server-details]").text
    assert "Living Room" in details and f"version {plex.version}" in details
    assert "checked" in details
    wait_for_text(driver, f"{card} [data-test=server-watch]", "watch: off")
    assert rig.server("Living room")["live"] == "off"
    # The form forgot the token.
    token_field = wait_for(driver, "input[data-test=server-token]")
    assert token_field.get_attribute("value") == ""

    wrong_token = "not-the-right-plex-token-5a4b3c2d"
    wrong = rig.add("Plex", "Wrong key", rig.plex_server.url, wrong_token)
    wait_for_text(driver, f"{wrong} [data-test=server-state]", "unauthorized")
    wait_for_text(driver, f"{wrong} [data-test=server-error]", "refused the token")

    # The live mode changes from the card.
    choose(driver, f"{card} [data-test=server-live-mode]", "Watch the server")
    wait_until(lambda: rig.server("Living room")["live"] == "watch", what="live mode saved")

    # Accounts: the kid's account cannot be written until its own token is saved.
    click_in(driver, card, "load-accounts")
    kid = plex.account("kid")
    assert kid.token
    row = f"{card} [data-test=account-{kid.id}]"
    wait_for_text(driver, f"{row} [data-test=account-writable]", "read only")
    type_into_css(driver, row, "account-token", "a-token-plex-refuses-1234")
    click_in(driver, row, "save-account-token")
    wait_for_text(driver, f"{row} [data-test=account-token-error]", "refused this token")
    type_into_css(driver, row, "account-token", kid.token)
    click_in(driver, row, "save-account-token")
    wait_for_text(driver, f"{row} [data-test=account-writable]", "can write")
    assert rig.accounts(rig.server("Living room")["id"])["kid"]["writable"] is True

    rig.assert_no_secret(plex.owner_token, wrong_token, kid.token, ATTIC_TOKEN)

    # Delete asks first, then the card and the server are gone.
    wrong_id = rig.server("Wrong key")["id"]
    click_in(driver, wrong, "server-delete")
    click(driver, "server-delete-confirm")
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: not d.find_elements(By.CSS_SELECTOR, wrong))
    with rig.service.api() as api:
        assert api.get(f"/api/v1/servers/{wrong_id}").status_code == 404

    # A fresh page shows the same, and still no token.
    rig.open()
    wait_for_text(driver, f"{card} [data-test=server-state]", "ok")
    rig.assert_no_secret(plex.owner_token, wrong_token, kid.token, ATTIC_TOKEN)


def test_jellyfin_accounts_are_linked_to_a_new_and_an_existing_person(rig: Rig) -> None:
    driver, jellyfin = rig.driver, rig.jellyfin
    with rig.service.api() as api:
        bobby = api.post("/api/v1/users", json={"display_name": "Bobby"}).json()
        someone = api.post("/api/v1/users", json={"display_name": "Someone else"}).json()
    rig.open()
    card = rig.add("Jellyfin", "Den", rig.jellyfin_server.url, JELLYFIN_KEY)
    wait_for_text(driver, f"{card} [data-test=server-state]", "ok")
    details = wait_for(driver, f"{card} [data-test=server-details]").text
    assert jellyfin.server_name in details and jellyfin.version in details
    server_id = rig.server("Den")["id"]

    click_in(driver, card, "load-accounts")
    alice, bob, carol = (jellyfin.user(name) for name in ("alice", "bob", "carol"))
    alice_row, bob_row, carol_row = (
        f"{card} [data-test=account-{user.id}]" for user in (alice, bob, carol)
    )
    wait_for_text(driver, f"{alice_row} [data-test=account-person]", "not linked")

    # "Create person": a person named after the account, linked in one click.
    click_in(driver, alice_row, "create-person")
    wait_for_text(driver, f"{alice_row} [data-test=account-person]", "linked to alice")

    # "Link to person": an existing person.
    choose(driver, f"{bob_row} [data-test=link-person]", "Bobby")
    click_in(driver, bob_row, "link-account")
    wait_for_text(driver, f"{bob_row} [data-test=account-person]", "linked to Bobby")

    accounts = rig.accounts(server_id)
    assert accounts["bob"]["user_id"] == bobby["id"]
    with rig.service.api() as api:
        users = {u["display_name"]: u for u in api.get("/api/v1/users").json()["items"]}
    assert accounts["alice"]["user_id"] == users["alice"]["id"]
    assert {"source": "jellyfin", "external_id": alice.id, "name": "alice"} in users["alice"][
        "identities"
    ]

    # Linked elsewhere since the page listed it: the page says so and links nothing.
    with rig.service.api() as api:
        answer = api.post(
            f"/api/v1/users/{someone['id']}/identities",
            json={"source": "jellyfin", "external_id": carol.id},
        )
        assert answer.status_code == 201
    click_in(driver, carol_row, "create-person")
    wait_for_text(driver, ".q-notifications", "already linked to Someone else")
    assert rig.accounts(server_id)["carol"]["user_id"] == someone["id"]
    with rig.service.api() as api:
        names = [u["display_name"] for u in api.get("/api/v1/users").json()["items"]]
    assert "carol" not in names
    rig.assert_no_secret(JELLYFIN_KEY)


def test_a_stopped_server_tests_unreachable(rig: Rig) -> None:
    driver = rig.driver
    fake = FakePlex(friendly_name="Garage", owner_name="gus")
    with PlexServerThread(fake) as garage:
        rig.open()
        card = rig.add("Plex", "Garage", garage.url, fake.owner_token)
        wait_for_text(driver, f"{card} [data-test=server-state]", "ok")
    # The fake is stopped: its port refuses connections now.
    click_in(driver, card, "server-test")
    wait_for_text(driver, f"{card} [data-test=server-state]", "unreachable")
    wait_for_text(driver, f"{card} [data-test=server-error]", "cannot reach")
    assert "Garage" in wait_for(driver, f"{card} [data-test=server-details]").text
    click_in(driver, card, "load-accounts")
    wait_for_text(driver, f"{card} [data-test=accounts-error]", "Cannot list the accounts")
    assert rig.server("Garage")["state"] == "unreachable"
    rig.assert_no_secret(fake.owner_token)


def test_emby_right_and_wrong_key_then_stopped(rig: Rig) -> None:
    """The third kind through the page: right key ok with name and version, a wrong key
    unauthorized with the reason, the server stopped unreachable; no key on the page or in the
    log."""
    driver = rig.driver
    emby = FakeJellyfin("emby", api_key=EMBY_KEY, server_name="Basement Emby")
    emby.add_user("dora")
    emby.add_user("eve")
    wrong_key = "0123456789abcdef0123456789abcdef"
    live = LiveServer(emby).start()
    try:
        rig.open()
        card = rig.add("Emby", "Basement", live.url, EMBY_KEY)
        wait_for_text(driver, f"{card} [data-test=server-state]", "ok")
        details = wait_for(driver, f"{card} [data-test=server-details]").text
        assert "Basement Emby" in details and emby.version in details
        wrong = rig.add("Emby", "Basement wrong", live.url, wrong_key)
        wait_for_text(driver, f"{wrong} [data-test=server-state]", "unauthorized")
        wait_for_text(driver, f"{wrong} [data-test=server-error]", "refused the token")
        click_in(driver, card, "load-accounts")
        for user in (emby.user("dora"), emby.user("eve")):
            row = f"{card} [data-test=account-{user.id}]"
            wait_for_text(driver, f"{row} [data-test=account-person]", "not linked")
    finally:
        live.stop()
    click_in(driver, card, "server-test")
    wait_for_text(driver, f"{card} [data-test=server-state]", "unreachable")
    wait_for_text(driver, f"{card} [data-test=server-error]", "cannot reach")
    assert rig.server("Basement")["state"] == "unreachable"
    rig.assert_no_secret(EMBY_KEY, wrong_key)


def click_in(driver: WebDriver, scope: str, test_id: str) -> None:
    """Click ``test_id`` inside ``scope``, scrolled to the middle of the window first (the
    notifications at the bottom may cover it)."""
    button = wait_for(driver, f"{scope} [data-test={test_id}]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    try:
        button.click()
    except ElementClickInterceptedException:  # a notification over it, near the window's foot
        driver.execute_script("arguments[0].click()", button)


def type_into_css(driver: WebDriver, scope: str, test_id: str, text: str) -> None:
    """Type into the text field ``test_id`` inside ``scope`` (Quasar puts the attribute on the
    <input> itself)."""
    field = wait_for(driver, f"{scope} input[data-test={test_id}]")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)
