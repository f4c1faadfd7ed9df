"""The service honours TRAKT_PROXY for every Trakt call, OAuth included (real microsocks)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FakeTraktServer, Service, connect_user, free_port

MICROSOCKS_BIND = "127.0.0.2"  # microsocks' outgoing address: how the fake tells proxied peers


@pytest.fixture
def microsocks(tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("microsocks")
    assert binary, "microsocks is not installed (make test installs it)"
    port = free_port()
    with (tmp_path / "microsocks.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "-i", "127.0.0.1", "-p", str(port), "-b", MICROSOCKS_BIND],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.02)
    yield port
    process.terminate()
    process.wait(timeout=5)


def test_every_call_of_the_service_goes_through_the_proxy(
    service_factory,
    fake_trakt: FakeTraktServer,
    microsocks: int,  # type: ignore[no-untyped-def]
) -> None:
    # The service names Trakt's API host "localhost": only the proxy resolves it (socks5h).
    # OAuth answers only on the auth host, here the fake's IP (as in tests/trakt).
    url = fake_trakt.url.replace("127.0.0.1", "localhost")
    fake_trakt.state.auth_hostnames = {"127.0.0.1"}
    env = fake_trakt.service_env(
        TRAKT_API_URL=url,
        TRAKT_AUTH_URL=fake_trakt.url,
        TRAKT_PROXY=f"socks5h://127.0.0.1:{microsocks}",
    )
    service: Service = service_factory(env)
    user = connect_user(service, fake_trakt, "Jo", "jo_t")
    fake = fake_trakt.state
    fake.expire_tokens("jo_t")
    with service.api() as api:
        assert api.post(f"/api/v1/users/{user['id']}/trakt/verify").json()["state"] == ("connected")
        check = api.post("/api/v1/settings/test-connection").json()
        assert check["ok"] is True
        assert check["via"] == f"socks5h://127.0.0.1:{microsocks}"
        assert isinstance(check["ms"], int)
    paths = {r.path for r in fake.requests}
    assert {"/oauth/device/code", "/oauth/device/token", "/oauth/token", "/users/settings"} <= paths
    assert {r.peer[0] for r in fake.requests if r.peer} == {MICROSOCKS_BIND}


def test_proxy_down_is_named_in_errors(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    dead = free_port()
    env = fake_trakt.service_env(TRAKT_PROXY=f"socks5h://proxyuser:proxypass@127.0.0.1:{dead}")
    service: Service = service_factory(env)
    with service.api() as api:
        user = api.post("/api/v1/users", json={"display_name": "Kim"}).json()
        answer = api.post(f"/api/v1/users/{user['id']}/trakt/device")
        assert answer.status_code == 502
        assert f"127.0.0.1:{dead}" in answer.json()["error"]
        assert "proxy" in answer.json()["error"]
        check = api.post("/api/v1/settings/test-connection").json()
        assert check["ok"] is False
        assert f"127.0.0.1:{dead}" in check["error"] and "proxy" in check["error"]
        assert "proxypass" not in answer.text + str(check)
