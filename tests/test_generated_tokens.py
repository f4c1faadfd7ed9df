"""Without TRAKT_PLUGIN_API_TOKEN the service generates its own API token, keeps it encrypted in
the store, and the same token keeps opening the API after a restart (SPEC §3, §11)."""

from __future__ import annotations

from collections.abc import Callable

from tests import pg
from tests.conftest import API_TOKEN, Service
from trakt_plugin.crypto import SecretBox, generate_token, load_key_material


def _stored_token(service: Service, name: str) -> str:
    """The generated token as the service stored it, decrypted with the data dir's key."""
    rows = pg.query(
        pg.store_url(service), "SELECT ciphertext FROM appsecret WHERE name = :n", {"n": name}
    )
    assert rows, f"no {name} in the store"
    return SecretBox(load_key_material(None, service.data_dir)).decrypt(rows[0]["ciphertext"])


def _status(service: Service, token: str) -> int:
    with service.api(token) as api:
        return api.get("/api/v1/users").status_code


def test_the_generated_api_token_opens_the_api_and_survives_a_restart(
    service_factory: Callable[..., Service],
) -> None:
    first = service_factory(name="gen")  # no TRAKT_PLUGIN_API_TOKEN: the service makes one
    assert "TRAKT_PLUGIN_API_TOKEN" not in first.env
    token = _stored_token(first, "api_token")
    assert len(token) >= 43  # 32 random bytes, URL-safe
    assert _status(first, token) == 200
    assert token not in first.log()  # shown masked in the dashboard, never logged
    assert first.stop() == 0

    again = service_factory(name="gen")  # same data dir, same (absent) setting
    assert again.data_dir == first.data_dir
    assert _stored_token(again, "api_token") == token
    assert _status(again, token) == 200
    assert _status(again, generate_token()) == 401
    assert _status(again, token[:-1] + ("A" if token[-1] != "A" else "B")) == 401
    assert _status(again, API_TOKEN) == 401  # the test suite's usual token is not it either
    assert token not in again.log()
