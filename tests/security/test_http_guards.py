"""HTTP-level guards of the running service (SPEC §11): Host allow-list, security headers,
the API token checked before the body is read, the body cap, and who counts as the client."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.conftest import API_TOKEN, WEBHOOK_TOKEN, Service
from trakt_plugin.config import dashboard_url_problem
from trakt_plugin.security.clients import client_address, is_loopback, parse_networks

MIB = 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_foreign_host_names_are_refused_on_a_loopback_bind(service: Service) -> None:
    for path in ("/healthz", "/login", "/api/v1/users", f"/webhooks/plex?token={WEBHOOK_TOKEN}"):
        answer = httpx.get(f"{service.url}{path}", headers={"Host": "rebind.attacker.example"})
        assert answer.status_code == 400, path
        assert answer.json() == {"error": "unknown host name in the Host header"}
    port = service.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert httpx.get(f"{service.url}/healthz", headers={"Host": host}).status_code == 200


def test_allowed_hosts_and_the_redirect_uri_widen_the_list(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory(
        {
            "TRAKT_PLUGIN_ALLOWED_HOSTS": "media.home.arpa, nas.local",
            "TRAKT_REDIRECT_URI": "https://trakt.example.org/oauth/trakt/callback",
        }
    )
    for host in ("media.home.arpa", "NAS.local:8765", "trakt.example.org"):
        assert httpx.get(f"{service.url}/healthz", headers={"Host": host}).status_code == 200
    assert httpx.get(f"{service.url}/healthz", headers={"Host": "evil.example"}).status_code == 400


def test_any_host_name_is_served_when_listening_on_all_addresses(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory({"TRAKT_PLUGIN_HOST": "0.0.0.0"})
    answer = httpx.get(f"{service.url}/healthz", headers={"Host": "media.example"})
    assert answer.status_code == 200


def test_answers_carry_the_security_headers(service: Service) -> None:
    for path in ("/login", "/setup", "/healthz", "/api/v1/users"):
        headers = httpx.get(f"{service.url}{path}").headers
        assert headers["x-frame-options"] == "DENY", path
        assert headers["content-security-policy"] == "frame-ancestors 'none'", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path


def test_a_huge_body_without_the_token_is_never_read(service: Service) -> None:
    pid = service.process.pid
    before = rss_kib(pid)

    def body() -> Iterator[bytes]:
        for _ in range(32):
            yield b"[" * MIB

    for content in (b"[" * (32 * MIB), body()):
        answer = httpx.post(
            f"{service.url}/api/v1/users/x/history",
            content=content,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        assert answer.status_code == 401
    assert (rss_kib(pid) - before) < 30 * 1024
    not_json = httpx.post(f"{service.url}/api/v1/users", content=b"not json")
    assert not_json.status_code == 401


def test_bodies_over_8_mib_answer_413_even_with_the_token(service: Service) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(9):
            yield b" " * MIB

    with service.api() as api:
        declared = api.post("/api/v1/users", content=b" " * (9 * MIB))
        assert declared.status_code == 413
        streamed = api.post("/api/v1/users", content=body())
        assert streamed.status_code == 413
        assert streamed.json() == {"error": "request body larger than 8 MiB"}
        fine = api.post("/api/v1/users", json={"display_name": "Ann" + " " * MIB})
        assert fine.status_code == 201  # surrounding spaces are trimmed: the name is "Ann"
        assert fine.json()["display_name"] == "Ann"


def test_the_api_token_is_required_before_anything_else(service: Service) -> None:
    wrong = {"Authorization": "Bearer " + API_TOKEN[:-1] + "x"}
    for method, path in (("GET", "/api/v1/health"), ("DELETE", "/api/v1/users/1")):
        answer = httpx.request(method, f"{service.url}{path}", headers=wrong)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"


def test_every_path_under_the_api_answers_json(service: Service) -> None:
    with service.api() as api:
        answer = api.get("/api/v1/users/a%0Ab")
    assert answer.status_code == 404
    assert "error" in answer.json()


def test_forwarded_headers_name_the_client_only_behind_trusted_proxies() -> None:
    none = parse_networks([])
    proxies = parse_networks(["127.0.0.1", "10.0.0.0/8"])
    spoofed = {"x-forwarded-for": "203.0.113.5"}
    assert client_address("127.0.0.1", spoofed, none) == "127.0.0.1"
    assert client_address("192.0.2.1", spoofed, proxies) == "192.0.2.1"
    assert client_address("127.0.0.1", spoofed, proxies) == "203.0.113.5"
    # The nearest untrusted hop counts, not what the client wrote first.
    chain = {"x-forwarded-for": "1.2.3.4, 198.51.100.7, 10.1.2.3"}
    assert client_address("127.0.0.1", chain, proxies) == "198.51.100.7"
    assert client_address("127.0.0.1", {"forwarded": 'for="[2001:db8::1]:4711"'}, proxies) == (
        "2001:db8::1"
    )
    assert client_address("127.0.0.1", {"x-real-ip": "198.51.100.8"}, proxies) == "198.51.100.8"
    assert is_loopback("::ffff:127.0.0.1") and not is_loopback("192.0.2.1")
    assert ipaddress.ip_network("10.0.0.0/8") in proxies


def test_trakt_urls_from_the_dashboard_must_be_https_off_loopback() -> None:
    assert dashboard_url_problem("api_url", "http://evil.example") is not None
    assert dashboard_url_problem("auth_url", "ftp://evil.example") is not None
    assert dashboard_url_problem("api_url", "https://api.trakt.tv") is None
    assert dashboard_url_problem("api_url", "http://127.0.0.1:9000") is None
    assert dashboard_url_problem("api_url", "http://localhost:9000") is None
    assert dashboard_url_problem("proxy", "http://proxy.lan:3128") is None
