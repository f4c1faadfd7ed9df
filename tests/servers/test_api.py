"""/api/v1/servers (SPEC §12) in process, against the fake Plex on loopback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.servers.conftest import (
    JELLYFIN_KEY,
    ApiRig,
    JellyfinRig,
    PlexRig,
    api_client,
    build_rig,
)
from trakt_plugin.servers.service import ServerService
from trakt_plugin.store.models import MediaServer, ServerAccountToken

SERVER_KEYS = {
    "id",
    "kind",
    "name",
    "url",
    "live",
    "state",
    "server_name",
    "version",
    "last_error",
    "checked_at",
    "watch",
    "source",
}


async def _add(api: ApiRig, url: str, token: str, **extra: Any) -> Any:
    body = {"kind": "plex", "name": "Living room", "url": url, "token": token, **extra}
    answer = await api.client.post("/api/v1/servers", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_adding_a_server_checks_it_at_once(api: ApiRig, plex: PlexRig) -> None:
    server = await _add(api, plex.url + "/", plex.fake.owner_token, live="watch")
    assert set(server) == SERVER_KEYS
    assert server["kind"] == "plex" and server["name"] == "Living room"
    assert server["url"] == plex.url  # trailing slash dropped
    assert server["live"] == "watch" and server["source"] == "dashboard"
    assert server["state"] == "ok" and server["last_error"] is None
    assert server["server_name"] == "Living Room" and server["version"] == plex.fake.version
    assert server["checked_at"].endswith(("Z", "+00:00"))
    assert server["watch"] == {"state": "off", "last_message_at": None}
    assert plex.fake.owner_token not in str(server)
    assert (await api.client.get(f"/api/v1/servers/{server['id']}")).json() == server


async def test_a_wrong_token_answers_201_unauthorized_with_the_reason(
    api: ApiRig, plex: PlexRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "not-the-right-token-5a4b3c2d"
    server = await _add(api, plex.url, token)
    assert server["state"] == "unauthorized"
    assert "refused the token" in server["last_error"]
    assert server["server_name"] is None
    assert token not in str(server) and token not in caplog.text


async def test_a_stopped_server_is_unreachable_and_test_refreshes_the_state(
    api: ApiRig, plex: PlexRig
) -> None:
    plex.server.stop()
    server = await _add(api, plex.url, plex.fake.owner_token, live="off")
    assert server["state"] == "unreachable"
    assert "cannot reach" in server["last_error"]
    plex.server.start()
    fresh = await api.client.post(f"/api/v1/servers/{server['id']}/test")
    assert fresh.status_code == 200
    assert fresh.json()["state"] == "ok" and fresh.json()["last_error"] is None
    assert fresh.json()["checked_at"] > server["checked_at"]
    plex.server.stop()
    down = (await api.client.post(f"/api/v1/servers/{server['id']}/test")).json()
    assert down["state"] == "unreachable"
    assert down["server_name"] == "Living Room"  # what it said last time is kept


async def test_a_token_that_is_not_the_owners_is_unauthorized(api: ApiRig, plex: PlexRig) -> None:
    kid = plex.fake.add_account("kid")
    assert kid.token
    server = await _add(api, plex.url, kid.token)
    assert server["state"] == "unauthorized"
    assert "owner" in server["last_error"] and kid.token not in server["last_error"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "kodi"}, "kind"),
        ({"kind": None}, "kind"),
        ({"url": "ftp://host"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": "plex.local:32400"}, "url"),
        ({"url": "http://host:32400/?X-Plex-Token=abc"}, "url"),
        ({"url": "http://user:pw@host"}, "url"),
        ({"url": "http://a..b:8096"}, "url"),
        ({"url": "http://" + "a" * 64 + ".lan"}, "url"),
        ({"url": 5}, "url"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"token": ""}, "token"),
        ({"token": "t" * 501}, "token"),
        ({"token": 12345}, "token"),
        ({"live": "poll"}, "live"),
    ],
)
async def test_validation_names_the_field(api: ApiRig, change: dict[str, Any], field: str) -> None:
    body = {"kind": "plex", "name": "n", "url": "http://host:32400", "token": "tok", **change}
    answer = await api.client.post("/api/v1/servers", json=body)
    assert answer.status_code == 422
    assert answer.json()["field"] == field
    assert set(answer.json()) == {"error", "field"}
    if isinstance(change.get("token"), str) and change["token"]:
        assert change["token"] not in answer.text
    assert (await api.client.get("/api/v1/servers")).json()["items"] == []


async def test_missing_fields_are_named(api: ApiRig) -> None:
    answer = await api.client.post(
        "/api/v1/servers", json={"kind": "plex", "name": "n", "url": "http://h"}
    )
    assert answer.status_code == 422 and answer.json()["field"] == "token"


async def test_list_get_patch_delete(api: ApiRig, plex: PlexRig) -> None:
    first = await _add(api, plex.url, plex.fake.owner_token, name="A")
    second = await _add(api, plex.url, plex.fake.owner_token, name="B")
    listing = (await api.client.get("/api/v1/servers")).json()
    assert set(listing) == {"items", "next_cursor"} and listing["next_cursor"] is None
    assert {s["id"] for s in listing["items"]} == {first["id"], second["id"]}
    page = (await api.client.get("/api/v1/servers", params={"limit": 1})).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = (await api.client.get("/api/v1/servers", params={"cursor": page["next_cursor"]})).json()
    assert [s["id"] for s in page["items"] + rest["items"]] == sorted([first["id"], second["id"]])

    renamed = await api.client.patch(
        f"/api/v1/servers/{first['id']}", json={"name": "Den", "live": "off"}
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["live"]) == ("Den", "off")
    assert renamed.json()["checked_at"] == first["checked_at"]  # nothing to re-check

    wrong = await api.client.patch(
        f"/api/v1/servers/{first['id']}", json={"token": "bad-token-xyz"}
    )
    assert wrong.status_code == 200 and wrong.json()["state"] == "unauthorized"
    assert "bad-token-xyz" not in wrong.text
    right = await api.client.patch(
        f"/api/v1/servers/{first['id']}", json={"token": plex.fake.owner_token}
    )
    assert right.json()["state"] == "ok"

    extra = await api.client.patch(f"/api/v1/servers/{first['id']}", json={"source": "yaml"})
    assert extra.status_code == 422 and extra.json()["field"] == "source"
    bad = await api.client.patch(f"/api/v1/servers/{first['id']}", json={"url": "nope"})
    assert bad.status_code == 422 and bad.json()["field"] == "url"

    assert (await api.client.delete(f"/api/v1/servers/{first['id']}")).status_code == 204
    gone = await api.client.get(f"/api/v1/servers/{first['id']}")
    assert gone.status_code == 404 and gone.json() == {"error": "server not found"}
    for method, path in (
        ("DELETE", ""),
        ("POST", "/test"),
        ("GET", "/accounts"),
        ("PATCH", "/accounts/1"),
    ):
        body = {"token": "x"} if method == "PATCH" else None
        answer = await api.client.request(method, f"/api/v1/servers/{first['id']}{path}", json=body)
        assert answer.status_code == 404, (method, path)


async def test_accounts_show_identities_links_and_writability(api: ApiRig, plex: PlexRig) -> None:
    kid = plex.fake.add_account("kid")
    assert kid.token
    olivia = api.link("Olivia", "plex", "OLIVIA")  # matching ignores case (SPEC §4)
    server = await _add(api, plex.url, plex.fake.owner_token)
    answer = await api.client.get(f"/api/v1/servers/{server['id']}/accounts")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"items", "next_cursor"} and body["next_cursor"] is None
    accounts = {a["account_id"]: a for a in body["items"]}
    assert accounts["1"] == {
        "account_id": "1",
        "name": "olivia",
        "identity": {"source": "plex", "external_id": "olivia"},
        "user_id": olivia,
        "writable": True,
        "reason": None,
    }
    kid_account = accounts[str(kid.id)]
    assert kid_account["user_id"] is None and not kid_account["writable"]
    assert "token" in kid_account["reason"]

    path = f"/api/v1/servers/{server['id']}/accounts/{kid.id}"
    refused = await api.client.patch(path, json={"token": "not-kids-token-123"})
    assert refused.status_code == 422 and refused.json()["field"] == "token"
    assert "not-kids-token-123" not in refused.text
    given = await api.client.patch(path, json={"token": kid.token})
    assert given.status_code == 200, given.text
    assert given.json()["writable"] and given.json()["reason"] is None
    assert kid.token not in given.text
    again = {
        a["account_id"]: a for a in (await api.client.get(path.rsplit("/", 1)[0])).json()["items"]
    }
    assert again[str(kid.id)]["writable"]

    # The stored token is the one the service writes with (and only for that account).
    section = plex.fake.add_section("Films", "movie")
    heat = plex.fake.add_movie(section, "Heat", ids={"imdb": "tt0113277"})
    with api.service.client(server["id"]) as client:
        client.mark_watched(str(kid.id), str(heat.rating_key))
    assert plex.fake.watched_keys(kid) == {heat.rating_key}
    assert plex.fake.watched_keys("olivia") == set()

    unknown = await api.client.patch(
        f"/api/v1/servers/{server['id']}/accounts/999", json={"token": "abc"}
    )
    assert unknown.status_code == 404
    owner = await api.client.patch(
        f"/api/v1/servers/{server['id']}/accounts/1", json={"token": plex.fake.owner_token}
    )
    assert owner.status_code == 409


async def test_accounts_of_an_unreachable_server_answer_502_and_record_the_state(
    api: ApiRig, plex: PlexRig
) -> None:
    server = await _add(api, plex.url, plex.fake.owner_token)
    plex.server.stop()
    answer = await api.client.get(f"/api/v1/servers/{server['id']}/accounts")
    assert answer.status_code == 502 and "cannot reach" in answer.json()["error"]
    stored = await api.client.get(f"/api/v1/servers/{server['id']}")
    assert stored.json()["state"] == "unreachable"


async def test_tokens_are_encrypted_at_rest_and_never_answered(
    api: ApiRig, plex: PlexRig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kid = plex.fake.add_account("kid")
    assert kid.token
    server = await _add(api, plex.url, plex.fake.owner_token)
    await api.client.patch(
        f"/api/v1/servers/{server['id']}/accounts/{kid.id}", json={"token": kid.token}
    )
    answers = [
        (await api.client.get("/api/v1/servers")).text,
        (await api.client.get(f"/api/v1/servers/{server['id']}")).text,
        (await api.client.post(f"/api/v1/servers/{server['id']}/test")).text,
        (await api.client.get(f"/api/v1/servers/{server['id']}/accounts")).text,
        (await api.client.get("/api/v1/openapi.json")).text,
    ]
    for token in (plex.fake.owner_token, kid.token):
        assert all(token not in text for text in answers)
        assert token not in caplog.text
    with api.ctx.session() as session:
        row = session.get(MediaServer, server["id"])
        account = session.get(ServerAccountToken, (server["id"], str(kid.id)))
    assert row is not None and account is not None
    assert row.token != plex.fake.owner_token and account.token != kid.token
    assert api.ctx.box.decrypt(row.token) == plex.fake.owner_token
    api.ctx.engine.dispose()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("trakt-plugin.db*"))
    assert plex.fake.owner_token.encode() not in raw and kid.token.encode() not in raw


async def test_yaml_servers_are_read_only(tmp_path: Path, plex: PlexRig) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "integrations:\n  trakt:\n    servers:\n"
        f"      - {{kind: plex, name: Attic, url: '{plex.url}', token: '${{PLEX_TOKEN}}',"
        " live: watch}\n"
    )
    env = {"TRAKT_PLUGIN_CONFIG": str(config), "PLEX_TOKEN": plex.fake.owner_token}
    ctx, service, root = build_rig(tmp_path / "data", **env)
    service.load_yaml(ctx.settings.servers)
    service.load_yaml(ctx.settings.servers)  # every startup: no duplicates
    async with api_client(root) as client:
        items = (await client.get("/api/v1/servers")).json()["items"]
        assert len(items) == 1
        yaml_server = items[0]
        assert yaml_server["source"] == "yaml" and yaml_server["live"] == "watch"
        assert yaml_server["name"] == "Attic"
        server_id = yaml_server["id"]
        tested = (await client.post(f"/api/v1/servers/{server_id}/test")).json()
        assert tested["state"] == "ok"
        patched = await client.patch(f"/api/v1/servers/{server_id}", json={"name": "Other"})
        assert patched.status_code == 409 and "YAML" in patched.json()["error"]
        assert (await client.delete(f"/api/v1/servers/{server_id}")).status_code == 409
        assert (await client.get(f"/api/v1/servers/{server_id}/accounts")).status_code == 200

    # An entry removed from the file is removed from the store.
    service.load_yaml([])
    with ctx.session() as session:
        assert session.get(MediaServer, server_id) is None
    ctx.engine.dispose()


async def test_without_the_service_the_routes_answer_503(api: ApiRig) -> None:
    del api.ctx.services["servers"]
    answer = await api.client.get("/api/v1/servers")
    assert answer.status_code == 503 and "error" in answer.json()


async def test_routes_need_the_bearer_token(api: ApiRig) -> None:
    answer = await api.client.get("/api/v1/servers", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401


async def test_jellyfin_and_emby_servers_and_their_accounts(
    api: ApiRig, jellyfin: JellyfinRig
) -> None:
    alice = jellyfin.fake.add_user("alice")
    bob = jellyfin.fake.add_user("bob")
    wrong = await _add(api, jellyfin.url, "f" * 32, kind=jellyfin.kind, name="Wrong key")
    assert wrong["state"] == "unauthorized" and "f" * 32 not in str(wrong)
    server = await _add(api, jellyfin.url, JELLYFIN_KEY, kind=jellyfin.kind, name="Den")
    assert server["state"] == "ok", server["last_error"]
    assert server["server_name"] == jellyfin.fake.server_name
    assert server["version"] == jellyfin.fake.version

    # Alice linked by her id as a webhook names it (Jellyfin's dashed form is normalised);
    # Bob by his name (Emby webhooks also send User.Name, SPEC §4).
    person = (await api.client.post("/api/v1/users", json={"display_name": "Alice"})).json()
    dashed = "-".join(
        (alice.id[:8], alice.id[8:12], alice.id[12:16], alice.id[16:20], alice.id[20:])
    )
    external = dashed.upper() if jellyfin.kind == "jellyfin" else alice.id
    linked = await api.client.post(
        f"/api/v1/users/{person['id']}/identities",
        json={"source": jellyfin.kind, "external_id": external},
    )
    assert linked.status_code == 201
    bob_user = api.link("Bob", jellyfin.kind, "BOB")

    answer = await api.client.get(f"/api/v1/servers/{server['id']}/accounts")
    assert answer.status_code == 200, answer.text
    accounts = {a["name"]: a for a in answer.json()["items"]}
    assert accounts["alice"] == {
        "account_id": alice.id,
        "name": "alice",
        "identity": {"source": jellyfin.kind, "external_id": alice.id},
        "user_id": person["id"],
        "writable": True,
        "reason": None,
    }
    assert accounts["bob"]["user_id"] == bob_user
    assert accounts["bob"]["identity"]["external_id"] == bob.id

    own_token = await api.client.patch(
        f"/api/v1/servers/{server['id']}/accounts/{alice.id}", json={"token": "abc"}
    )
    assert own_token.status_code == 409 and "API key" in own_token.json()["error"]
    assert JELLYFIN_KEY not in (await api.client.get("/api/v1/servers")).text


async def test_jellyfin_and_emby_wrong_key_and_stopped_server(
    api: ApiRig, jellyfin: JellyfinRig, caplog: pytest.LogCaptureFixture
) -> None:
    """SPEC §12 for the API-key servers: a wrong key is 'unauthorized' with the reason, a
    stopped server 'unreachable'; neither key reaches an answer or the log."""
    caplog.set_level(logging.DEBUG)
    wrong_key = "0123456789abcdef0123456789abcdef"
    wrong = await _add(api, jellyfin.url, wrong_key, kind=jellyfin.kind, name="Wrong key")
    assert wrong["state"] == "unauthorized"
    assert "refused the token" in wrong["last_error"] and "401" in wrong["last_error"]
    assert wrong["server_name"] is None

    server = await _add(api, jellyfin.url, JELLYFIN_KEY, kind=jellyfin.kind, name="Den")
    assert server["state"] == "ok"
    jellyfin.server.stop()
    down = await api.client.post(f"/api/v1/servers/{server['id']}/test")
    assert down.status_code == 200
    assert down.json()["state"] == "unreachable"
    assert "cannot reach" in down.json()["last_error"]
    added_down = await _add(api, jellyfin.url, JELLYFIN_KEY, kind=jellyfin.kind, name="Off")
    assert added_down["state"] == "unreachable"
    accounts = await api.client.get(f"/api/v1/servers/{server['id']}/accounts")
    assert accounts.status_code == 502

    answers = [
        str(wrong),
        str(server),
        down.text,
        str(added_down),
        accounts.text,
        (await api.client.get("/api/v1/servers")).text,
    ]
    for key in (wrong_key, JELLYFIN_KEY):
        assert all(key not in text for text in answers)
        assert key not in caplog.text


async def test_the_wrong_kind_of_server_says_so(api: ApiRig, plex: PlexRig) -> None:
    """A Plex URL entered as Jellyfin (and the other way round) is not 'ok'."""
    as_jellyfin = await _add(api, plex.url, plex.fake.owner_token, kind="jellyfin")
    assert as_jellyfin["state"] != "ok"
    assert as_jellyfin["last_error"]


async def test_an_answer_no_rule_foresaw_is_a_state_not_a_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        kind = "plex"

        def info(self) -> None:
            raise RuntimeError("secret-in-a-message")

        def accounts(self) -> None:
            raise KeyError("secret-in-a-message")

        def close(self) -> None:
            pass

    ctx, _, root = build_rig(tmp_path / "data")
    ctx.services["servers"] = ServerService(ctx, client_factory=lambda _: Broken())  # type: ignore[arg-type,return-value]
    async with api_client(root) as client:
        body = {"kind": "plex", "name": "x", "url": "http://h:32400", "token": "tok-123"}
        created = await client.post("/api/v1/servers", json=body)
        assert created.status_code == 201
        assert created.json()["state"] == "unreachable"
        assert "RuntimeError" in created.json()["last_error"]
        accounts = await client.get(f"/api/v1/servers/{created.json()['id']}/accounts")
        assert accounts.status_code == 502 and "KeyError" in accounts.json()["error"]
    assert "secret-in-a-message" not in caplog.text
    ctx.engine.dispose()
