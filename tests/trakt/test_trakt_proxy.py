"""The proxy setting: SOCKS with remote DNS, a real microsocks, and a proxy that is down.

* A recording SOCKS5 proxy (tests/fake_trakt/socks.py) resolves only names from its own table;
  the client talks to `api.trakt.test` / `auth.trakt.test`, which this machine cannot resolve,
  so a working request proves the name travelled unresolved (ATYP 3) to the proxy.
* microsocks (Debian package) binds its outgoing connections to 127.0.0.2 (`-b`): the fake, on
  uvicorn at 127.0.0.1, sees that peer address on every request that went through it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fake_trakt import FakeClock, FakeTrakt, free_port, serve_in_thread
from tests.fake_trakt.socks import ATYP_DOMAIN, RecordingSocks5
from tests.fake_trakt.testing import Saver, assert_no_secrets, connect, make_client
from trakt_plugin.trakt import (
    TOR_PROXY,
    TraktAuth,
    describe_proxy,
    errors,
    normalize_proxy,
    proxy_http_client,
)

MICROSOCKS_BIND = "127.0.0.2"
TIMEOUT = 5.0


@pytest.fixture
def served(fake: FakeTrakt) -> Iterator[int]:
    """The fake on a real socket (127.0.0.1); yields its port."""
    with serve_in_thread(fake) as base_url:
        yield int(base_url.rsplit(":", 1)[1])


async def exercise(
    fake: FakeTrakt, http: httpx.AsyncClient, api_url: str, auth_url: str, clock: FakeClock
) -> None:
    """OAuth (device code + token refresh) and API calls through `http`."""
    client = make_client(fake, http, api_url=api_url, auth_url=auth_url)
    auth = TraktAuth(client)
    code = await auth.device_code()
    fake.approve(code.user_code, "alice")
    await auth.poll_device_token(code.device_code)
    user = connect(fake, client, clock, lifetime=30, saver=Saver())
    clock.advance(25)  # the next call refreshes first (OAuth through the proxy too)
    assert (await client.user_settings(user)).user.username == "alice"
    await client.get_history(user)


@pytest.mark.asyncio
@pytest.mark.parametrize("scheme", ["socks5h", "socks5"])
async def test_socks_sends_hostnames_for_the_proxy_to_resolve(
    fake: FakeTrakt, served: int, clock: FakeClock, scheme: str
) -> None:
    names = {"api.trakt.test": "127.0.0.1", "auth.trakt.test": "127.0.0.1"}
    async with RecordingSocks5(names) as proxy:
        url = proxy.url.replace("socks5h", scheme)
        async with proxy_http_client(url, TIMEOUT) as http:
            await exercise(
                fake, http, f"http://api.trakt.test:{served}", f"http://auth.trakt.test:{served}",
                clock,
            )  # fmt: skip
    assert proxy.connects, "nothing went through the proxy"
    assert {(c.atyp, c.host) for c in proxy.connects} <= {
        (ATYP_DOMAIN, "api.trakt.test"),
        (ATYP_DOMAIN, "auth.trakt.test"),
    }
    hosts = {r.host for r in fake.requests}
    assert hosts == {"api.trakt.test", "auth.trakt.test"}
    assert {r.path for r in fake.requests} >= {
        "/oauth/device/code", "/oauth/device/token", "/oauth/token", "/users/settings",
        "/sync/history",
    }  # fmt: skip


@pytest.mark.asyncio
async def test_every_request_goes_through_a_real_microsocks(
    fake: FakeTrakt, served: int, clock: FakeClock, tmp_path: Path
) -> None:
    binary = shutil.which("microsocks")
    if binary is None:
        pytest.fail("microsocks is not installed (make test installs it)")
    port = free_port()
    log_path = tmp_path / "microsocks.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "-i", "127.0.0.1", "-p", str(port), "-b", MICROSOCKS_BIND],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port)
        fake.auth_hostnames = {"127.0.0.1"}  # auth host by IP, API host by name
        async with proxy_http_client(f"socks5h://127.0.0.1:{port}", TIMEOUT) as http:
            await exercise(
                fake, http, f"http://localhost:{served}", f"http://127.0.0.1:{served}", clock
            )
    finally:
        process.terminate()
        process.wait(timeout=5)
    peers = {r.peer[0] for r in fake.requests if r.peer}
    assert peers == {MICROSOCKS_BIND}, peers  # every request, OAuth included
    assert {r.host for r in fake.requests} == {"localhost", "127.0.0.1"}
    assert any(r.path == "/oauth/token" for r in fake.requests)
    output = log_path.read_text()
    assert f"connected to localhost:{served}" in output
    assert f"connected to 127.0.0.1:{served}" in output


@pytest.mark.asyncio
async def test_direct_requests_come_from_the_ordinary_loopback(
    fake: FakeTrakt, served: int, clock: FakeClock
) -> None:
    async with proxy_http_client(None, TIMEOUT) as http:
        client = make_client(fake, http, api_url=f"http://127.0.0.1:{served}")
        user = connect(fake, client, clock)
        await client.user_settings(user)
    assert {r.peer[0] for r in fake.requests if r.peer} == {"127.0.0.1"}


@pytest.mark.asyncio
@pytest.mark.parametrize("scheme", ["socks5h", "socks5", "http"])
async def test_proxy_down_names_the_proxy_without_credentials(
    fake: FakeTrakt, clock: FakeClock, scheme: str
) -> None:
    port = free_port()
    async with proxy_http_client(f"{scheme}://bob:hunter2@127.0.0.1:{port}", TIMEOUT) as http:
        client = make_client(fake, http)
        user = connect(fake, client, clock)
        with pytest.raises(errors.ProxyError) as caught:
            await client.user_settings(user)
        with pytest.raises(errors.ProxyError) as oauth:
            await TraktAuth(client).device_code()
    for exc in (caught.value, oauth.value):
        assert f"{scheme}://127.0.0.1:{port}" in str(exc)
        assert exc.proxy == f"{scheme}://127.0.0.1:{port}"
        assert not errors.is_ambiguous(exc)
        assert_no_secrets(exc, "hunter2", "bob:", user.tokens.access_token, fake.client_secret)


@pytest.mark.asyncio
async def test_proxy_that_cannot_reach_trakt_is_named(fake: FakeTrakt, clock: FakeClock) -> None:
    async with RecordingSocks5({}) as proxy, proxy_http_client(proxy.url, TIMEOUT) as http:
        client = make_client(fake, http)
        user = connect(fake, client, clock)
        with pytest.raises(errors.ProxyError) as caught:
            await client.user_settings(user)
    assert proxy.url in str(caught.value)
    assert proxy.connects[0].host == "api.trakt.test"


def test_proxy_setting_values() -> None:
    assert normalize_proxy("tor") == TOR_PROXY == "socks5h://127.0.0.1:9050"
    assert normalize_proxy(" TOR ") == TOR_PROXY
    assert normalize_proxy(None) is None and normalize_proxy("") is None
    for good in ("socks5://h:1080", "http://proxy:3128", "https://proxy:443"):
        assert normalize_proxy(good) == good
    with pytest.raises(ValueError, match="socks5h://host:port") as caught:
        normalize_proxy("ftp://user:secret@proxy:21")
    assert "secret" not in str(caught.value)
    assert describe_proxy("socks5h://u:p@[::1]:9050") == "socks5h://[::1]:9050"
    assert describe_proxy(None) == "direct"


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"microsocks did not listen on {port}")
