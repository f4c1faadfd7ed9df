"""Connecting Trakt accounts through the API against the fake Trakt, end to end."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import FakeTraktServer, Service, connect_user, wait_until


def test_device_flow_connects_with_username_and_vip(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    service: Service = service_factory(fake_trakt.service_env())
    user = connect_user(service, fake_trakt, "Alice", "alice_t", vip=True)
    assert user["trakt"]["state"] == "connected"
    assert user["trakt"]["username"] == "alice_t"
    assert user["trakt"]["vip"] is True
    assert user["trakt"]["expires_at"]
    assert user["trakt"]["last_error"] is None
    device_calls = fake_trakt.state.requests_to("/oauth/device/token", "POST")
    assert device_calls and all(r.body.get("client_secret") for r in device_calls)


def test_device_flow_denied_is_reported(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    service: Service = service_factory(fake_trakt.service_env())
    with service.api() as api:
        user = api.post("/api/v1/users", json={"display_name": "Bob"}).json()
        code = api.post(f"/api/v1/users/{user['id']}/trakt/device").json()
        assert set(code) == {"user_code", "verification_url", "expires_in"}
        assert api.get(f"/api/v1/users/{user['id']}").json()["trakt"]["state"] == "pending"
        fake_trakt.state.deny(code["user_code"])
        final = wait_until(
            lambda: (
                (t := api.get(f"/api/v1/users/{user['id']}").json()["trakt"])["state"] != "pending"
                and t
            ),
            what="denial noticed",
        )
        assert final["state"] == "disconnected"
        assert "denied" in final["last_error"]


def test_redirect_flow_checks_state(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    redirect = "http://127.0.0.1:9/oauth/trakt/callback"
    service: Service = service_factory(fake_trakt.service_env(TRAKT_REDIRECT_URI=redirect))
    fake_trakt.state.add_user("carol_t")
    with service.api() as api:
        user = api.post("/api/v1/users", json={"display_name": "Carol"}).json()
        url = api.get(f"/api/v1/users/{user['id']}/trakt/authorize").json()["url"]
        query = parse_qs(urlsplit(url).query)
        assert urlsplit(url).path == "/oauth/authorize"
        assert query["redirect_uri"] == [redirect]
        assert query["client_id"] == [fake_trakt.state.client_id]
        state = query["state"][0]

        code = fake_trakt.state.mint_auth_code("carol_t", redirect)
        wrong = httpx.get(
            f"{service.url}/oauth/trakt/callback", params={"code": code, "state": "forged-state"}
        )
        assert wrong.status_code == 400
        assert "state" in wrong.json()["error"]

        right = httpx.get(
            f"{service.url}/oauth/trakt/callback", params={"code": code, "state": state}
        )
        assert right.status_code == 200, right.text
        trakt = api.get(f"/api/v1/users/{user['id']}").json()["trakt"]
        assert trakt["state"] == "connected" and trakt["username"] == "carol_t"

        reused = httpx.get(
            f"{service.url}/oauth/trakt/callback",
            params={"code": code, "state": state},
            headers={"Accept": "text/html"},
        )
        assert reused.status_code == 400
        assert "already used" in reused.text


def test_refused_refresh_requires_reauth_then_reconnect_works(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    service: Service = service_factory(fake_trakt.service_env())
    user = connect_user(service, fake_trakt, "Dana", "dana_t")
    fake = fake_trakt.state
    fake.expire_tokens("dana_t")
    fake.refresh_tokens.clear()  # Trakt forgot the refresh token: refresh answers 400
    with service.api() as api:
        verified = api.post(f"/api/v1/users/{user['id']}/trakt/verify").json()
        assert verified["state"] == "reauth_required"
        assert verified["last_error"]
        health = api.get("/api/v1/health").json()
        assert health["reauth_required"] == 1
        before = len(fake.requests)
        again = api.post(f"/api/v1/users/{user['id']}/trakt/verify").json()
        assert again["state"] == "reauth_required"
        assert len(fake.requests) == before, "no Trakt calls for a user that must re-authorise"

        code = api.post(f"/api/v1/users/{user['id']}/trakt/device").json()
        fake.approve(code["user_code"], "dana_t")
        wait_until(
            lambda: api.get(f"/api/v1/users/{user['id']}").json()["trakt"]["state"] == "connected",
            what="reconnected",
        )
        assert api.post(f"/api/v1/users/{user['id']}/trakt/verify").json()["state"] == "connected"


def test_expired_access_token_is_refreshed_and_rotation_respected(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    service: Service = service_factory(fake_trakt.service_env())
    user = connect_user(service, fake_trakt, "Eve", "eve_t")
    fake = fake_trakt.state
    for _ in range(3):
        fake.expire_tokens("eve_t")
        with service.api() as api:
            assert api.post(f"/api/v1/users/{user['id']}/trakt/verify").json()["state"] == (
                "connected"
            )
    assert fake.refreshes == 3
    assert fake.refresh_reuse == []
    # The newest pair was committed: a restart keeps using it without re-authorising.
    service.stop()
    restarted: Service = service_factory(fake_trakt.service_env())
    with restarted.api() as api:
        assert api.post(f"/api/v1/users/{user['id']}/trakt/verify").json()["state"] == ("connected")
    assert fake.refresh_reuse == []


def test_disconnect_revokes_and_forgets(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    service: Service = service_factory(fake_trakt.service_env())
    user = connect_user(service, fake_trakt, "Finn", "finn_t")
    with service.api() as api:
        assert api.delete(f"/api/v1/users/{user['id']}/trakt").status_code == 204
        trakt = api.get(f"/api/v1/users/{user['id']}").json()["trakt"]
        assert trakt["state"] == "disconnected" and trakt["username"] is None
    assert fake_trakt.state.revoked, "the token was revoked at Trakt"


def test_not_configured_and_unknown_user(service_factory) -> None:  # type: ignore[no-untyped-def]
    service: Service = service_factory({"TRAKT_PLUGIN_API_TOKEN": "t" * 20})
    with httpx.Client(base_url=service.url, headers={"Authorization": "Bearer " + "t" * 20}) as api:
        user = api.post("/api/v1/users", json={"display_name": "Gus"}).json()
        answer = api.post(f"/api/v1/users/{user['id']}/trakt/device")
        assert answer.status_code == 409
        assert "client id" in answer.json()["error"]
        # an unknown person is a 404 before anything else is looked at
        assert api.post("/api/v1/users/nope/trakt/device").status_code == 404


def test_trakt_down_gives_502_naming_trakt(service_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        "TRAKT_PLUGIN_API_TOKEN": "t" * 20,
        "TRAKT_CLIENT_ID": "cid-123456",
        "TRAKT_CLIENT_SECRET": "csecret-123456",
        "TRAKT_API_URL": dead,
        "TRAKT_AUTH_URL": dead,
    }
    service: Service = service_factory(env)
    with httpx.Client(
        base_url=service.url, headers={"Authorization": "Bearer " + "t" * 20}, timeout=60
    ) as api:
        user = api.post("/api/v1/users", json={"display_name": "Hal"}).json()
        answer = api.post(f"/api/v1/users/{user['id']}/trakt/device")
        assert answer.status_code == 502
        assert "Trakt" in answer.json()["error"]
        check = api.post("/api/v1/settings/test-connection").json()
        assert check["ok"] is False and "Trakt" in check["error"]


# ---------------------------------------------------------------- signing in again (SPEC §4)


def _trakt(api: httpx.Client, user_id: str) -> dict[str, Any]:
    trakt: dict[str, Any] = api.get(f"/api/v1/users/{user_id}").json()["trakt"]
    return trakt


def _calls_go_out(api: httpx.Client, fake: FakeTraktServer, user_id: str, username: str) -> None:
    """A call that needs the user's token reaches Trakt with a token of `username`."""
    before = len(fake.state.requests_to("/users/settings"))
    assert api.post(f"/api/v1/users/{user_id}/trakt/verify").json()["state"] == "connected"
    calls = fake.state.requests_to("/users/settings")[before:]
    assert [(c.status, c.user) for c in calls] == [(200, username)]


def test_connected_user_abandoning_a_device_sign_in_stays_connected(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    env = fake_trakt.service_env()
    service: Service = service_factory(env)
    user = connect_user(service, fake_trakt, "Jo", "jo_t")
    with service.api() as api:
        started = api.post(f"/api/v1/users/{user['id']}/trakt/device")
        assert started.status_code == 202
        assert _trakt(api, user["id"])["state"] == "connected"  # not pending: old tokens work
        _calls_go_out(api, fake_trakt, user["id"], "jo_t")
    service.stop()  # the sign-in is abandoned: its polling dies with the process

    restarted: Service = service_factory(env)
    with restarted.api() as api:
        trakt = _trakt(api, user["id"])
        assert trakt["state"] == "connected" and trakt["username"] == "jo_t"
        _calls_go_out(api, fake_trakt, user["id"], "jo_t")

        # a sign-in whose code expires leaves the connection as it was, and says why
        code = api.post(f"/api/v1/users/{user['id']}/trakt/device").json()
        fake_trakt.state.expire_device_code(code["user_code"])
        trakt = wait_until(
            lambda: (t := _trakt(api, user["id"]))["last_error"] and t, what="expiry noticed"
        )
        assert trakt["state"] == "connected" and "expired" in trakt["last_error"]
        _calls_go_out(api, fake_trakt, user["id"], "jo_t")
    assert fake_trakt.state.refresh_reuse == []


def test_connected_user_signing_in_again_switches_to_the_new_tokens(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    service: Service = service_factory(fake_trakt.service_env())
    user = connect_user(service, fake_trakt, "Kim", "kim_t")
    fake_trakt.state.add_user("kim_other_t")
    with service.api() as api:
        code = api.post(f"/api/v1/users/{user['id']}/trakt/device").json()
        _calls_go_out(api, fake_trakt, user["id"], "kim_t")  # the old tokens until it succeeds
        fake_trakt.state.approve(code["user_code"], "kim_other_t")
        trakt = wait_until(
            lambda: (t := _trakt(api, user["id"]))["username"] == "kim_other_t" and t,
            what="the new account in use",
        )
        assert trakt["state"] == "connected" and trakt["last_error"] is None
        _calls_go_out(api, fake_trakt, user["id"], "kim_other_t")


def test_denied_redirect_records_the_error_and_keeps_the_state(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    redirect = "http://127.0.0.1:9/oauth/trakt/callback"
    env = fake_trakt.service_env(TRAKT_REDIRECT_URI=redirect)
    service: Service = service_factory(env)
    connected = connect_user(service, fake_trakt, "Lee", "lee_t")

    def link_state(api: httpx.Client, user_id: str) -> str:
        url = api.get(f"/api/v1/users/{user_id}/trakt/authorize").json()["url"]
        return parse_qs(urlsplit(url).query)["state"][0]

    def deny(state: str) -> httpx.Response:
        return httpx.get(
            f"{service.url}/oauth/trakt/callback",
            params={"error": "access_denied", "state": state},
        )

    with service.api() as api:
        # a connected person: stays connected while the link is open, and after the denial
        state = link_state(api, connected["id"])
        assert _trakt(api, connected["id"])["state"] == "connected"
        denied = deny(state)
        assert denied.status_code == 400 and "denied" in denied.json()["error"]
        trakt = _trakt(api, connected["id"])
        assert trakt["state"] == "connected" and "denied" in trakt["last_error"]
        _calls_go_out(api, fake_trakt, connected["id"], "lee_t")
        # the denied link is used up
        code = fake_trakt.state.mint_auth_code("lee_t", redirect)
        reused = httpx.get(
            f"{service.url}/oauth/trakt/callback", params={"code": code, "state": state}
        )
        assert reused.status_code == 400 and "already used" in reused.json()["error"]

        # a person who was not connected: pending while the link is open, back after the denial
        newcomer = api.post("/api/v1/users", json={"display_name": "Max"}).json()
        state = link_state(api, newcomer["id"])
        assert _trakt(api, newcomer["id"])["state"] == "pending"
        assert deny(state).status_code == 400
        trakt = _trakt(api, newcomer["id"])
        assert trakt["state"] == "disconnected" and "denied" in trakt["last_error"]

        # a link opened and never used: a restart leaves the connected person connected
        link_state(api, connected["id"])
    service.stop()
    restarted: Service = service_factory(env)
    with restarted.api() as api:
        assert _trakt(api, connected["id"])["state"] == "connected"
        _calls_go_out(api, fake_trakt, connected["id"], "lee_t")


# ---------------------------------------------------------------- "Test connection" (SPEC §10)


def test_connection_check_names_a_wrong_client_id(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    service: Service = service_factory(fake_trakt.service_env(TRAKT_CLIENT_ID="wrong-client-id"))
    with service.api() as api:
        check = api.post("/api/v1/settings/test-connection").json()
    assert check["ok"] is False
    assert "client id" in check["error"] and "403" in check["error"]
    assert "wrong-client-id" not in check["error"]
    probes = [r for r in fake_trakt.state.requests if r.path == "/genres/movies"]
    assert len(probes) == 1


def test_connection_check_with_the_right_client_id_is_ok(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    service: Service = service_factory(fake_trakt.service_env())
    with service.api() as api:
        check = api.post("/api/v1/settings/test-connection").json()
    assert check["ok"] is True and isinstance(check["ms"], int)


def test_connection_check_sends_nothing_before_the_app_credentials_exist(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    env = fake_trakt.service_env()
    del env["TRAKT_CLIENT_ID"], env["TRAKT_CLIENT_SECRET"]
    service: Service = service_factory(env)
    with service.api() as api:
        check = api.post("/api/v1/settings/test-connection").json()
    assert check["ok"] is False and "client id" in check["error"]
    assert fake_trakt.state.requests == []
