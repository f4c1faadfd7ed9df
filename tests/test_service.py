"""The running service over real HTTP: health, auth, users and identities, shutdown."""

from __future__ import annotations

import signal
import time

import httpx

from tests.conftest import Service


def test_healthz_is_open_and_api_needs_the_bearer_token(service: Service) -> None:
    assert httpx.get(f"{service.url}/healthz").json()["status"] == "ok"
    anonymous = httpx.get(f"{service.url}/api/v1/users")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": "missing or invalid bearer token"}
    wrong = httpx.get(f"{service.url}/api/v1/users", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    with service.api() as api:
        answer = api.get("/api/v1/users")
        assert answer.status_code == 200
        assert answer.json() == {"items": [], "next_cursor": None}


def test_health_and_metrics(service: Service) -> None:
    assert httpx.get(f"{service.url}/metrics").status_code == 401
    with service.api() as api:
        health = api.get("/api/v1/health").json()
        assert health["db"] == "ok"
        assert health["scheduler"] == "running"
        assert health["reauth_required"] == 0
        assert "outbox_depth" in health
        metrics = api.get("/metrics")
        assert metrics.status_code == 200
        assert "trakt_plugin_users 0.0" in metrics.text


def test_dashboard_needs_login_and_first_visit_goes_to_setup(service: Service) -> None:
    first = httpx.get(f"{service.url}/", follow_redirects=False)
    assert first.status_code == 307
    assert first.headers["location"].endswith("/login")
    login = httpx.get(f"{service.url}/login", follow_redirects=False)
    assert login.headers["location"].endswith("/setup")
    for page in ("/users", "/settings"):
        answer = httpx.get(f"{service.url}{page}", follow_redirects=False)
        assert answer.status_code == 307 and answer.headers["location"].endswith("/login")


def test_users_and_identities_crud(service: Service) -> None:
    with service.api() as api:
        created = api.post("/api/v1/users", json={"display_name": "Alice"})
        assert created.status_code == 201
        alice = created.json()
        assert alice["display_name"] == "Alice"
        assert alice["identities"] == []
        assert alice["trakt"]["state"] == "disconnected"
        assert set(alice["trakt"]) >= {"state", "username", "vip", "expires_at", "last_error"}

        jellyfin_id = "F0E1D2C3-B4A5-9687-7869-5A4B3C2D1E0F"
        linked = api.post(
            f"/api/v1/users/{alice['id']}/identities",
            json={"source": "jellyfin", "external_id": jellyfin_id},
        )
        assert linked.status_code == 201
        assert linked.json()["external_id"] == "f0e1d2c3b4a5968778695a4b3c2d1e0f"
        api.post(
            f"/api/v1/users/{alice['id']}/identities",
            json={"source": "plex", "external_id": "AliceP"},
        )

        renamed = api.patch(f"/api/v1/users/{alice['id']}", json={"display_name": "Alice B"})
        assert renamed.json()["display_name"] == "Alice B"
        fetched = api.get(f"/api/v1/users/{alice['id']}").json()
        assert {(i["source"], i["external_id"]) for i in fetched["identities"]} == {
            ("jellyfin", "f0e1d2c3b4a5968778695a4b3c2d1e0f"),
            ("plex", "AliceP"),
        }

        for name in ("Bob", "Carol"):
            api.post("/api/v1/users", json={"display_name": name})
        page = api.get("/api/v1/users", params={"limit": 2}).json()
        assert len(page["items"]) == 2 and page["next_cursor"]
        rest = api.get("/api/v1/users", params={"limit": 2, "cursor": page["next_cursor"]}).json()
        assert len(rest["items"]) == 1 and rest["next_cursor"] is None

        assert api.get("/api/v1/identities/unlinked").json() == {"items": [], "next_cursor": None}
        assert api.delete(f"/api/v1/users/{alice['id']}").status_code == 204
        missing = api.get(f"/api/v1/users/{alice['id']}")
        assert missing.status_code == 404
        assert missing.json() == {"error": "user not found"}


def test_bad_input_gets_a_clear_4xx(service: Service) -> None:
    with service.api() as api:
        empty = api.post("/api/v1/users", json={"display_name": "   "})
        assert empty.status_code == 422
        assert empty.json()["field"] == "display_name"
        missing = api.post("/api/v1/users", json={})
        assert missing.status_code == 422 and missing.json()["field"] == "display_name"
        malformed = api.post(
            "/api/v1/users", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert malformed.status_code == 400
        assert "error" in malformed.json()
        user = api.post("/api/v1/users", json={"display_name": "Dan"}).json()
        bad_source = api.post(
            f"/api/v1/users/{user['id']}/identities", json={"source": "kodi", "external_id": "x"}
        )
        assert bad_source.status_code == 422 and bad_source.json()["field"] == "source"
        too_big = api.get("/api/v1/users", params={"limit": 5000})
        assert too_big.status_code == 422 and too_big.json()["field"] == "limit"


def test_openapi_document_and_docs_need_the_token(service: Service) -> None:
    for path in ("/api/v1/openapi.json", "/api/v1/docs"):
        assert httpx.get(f"{service.url}{path}").status_code == 401, path
    with service.api() as api:
        document = api.get("/api/v1/openapi.json").json()
        assert "/users" in document["paths"]
        assert "/users/{user_id}/identities" in document["paths"]
        docs = api.get("/api/v1/docs")
    assert docs.status_code == 200 and "/users/{user_id}/identities" in docs.text
    # No script, stylesheet or image from another host.
    assert "http://" not in docs.text and "https://" not in docs.text


def test_sigterm_exits_cleanly_and_quickly(service: Service) -> None:
    started = time.monotonic()
    code = service.stop(signal.SIGTERM, timeout=10)
    assert code == 0
    assert time.monotonic() - started < 10


def test_machine_endpoints_create_no_browser_sessions(service: Service) -> None:
    """Webhooks and API calls arrive without cookies; each must not open a dashboard session
    (NiceGUI keeps per-session storage forever)."""
    for path in ("/healthz", "/api/v1/users", "/webhooks/plex", "/metrics"):
        answer = (
            httpx.post(f"{service.url}{path}")
            if "webhooks" in path
            else httpx.get(f"{service.url}{path}")
        )
        assert "set-cookie" not in answer.headers, path
    # Nor does a visit to the login page: a session id exists only after a login (SPEC §11).
    assert "set-cookie" not in httpx.get(f"{service.url}/login").headers
