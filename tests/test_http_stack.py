"""Every Trakt call, OAuth included, uses plain httpx (authlib's httpx2 switch stays off)."""

from __future__ import annotations

import importlib.util

import httpx

from trakt_plugin.trakt.client import proxy_http_client


async def test_trakt_http_client_is_httpx_async_client() -> None:
    http = proxy_http_client("socks5h://127.0.0.1:9050", 5)
    try:
        assert type(http) is httpx.AsyncClient
        assert http.trust_env is False  # only our own proxy setting applies
    finally:
        await http.aclose()


def test_httpx2_is_not_installed() -> None:
    # authlib >= 1.9 silently moves to httpx2 when it is importable.
    assert importlib.util.find_spec("httpx2") is None
