"""Media servers in the configuration (SPEC §3, §12): YAML entries, defaults, tokens masked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import base_env
from tests.fake_plex import free_port
from tests.servers.conftest import PlexRig, build_rig
from tests.test_config import run_cli
from trakt_plugin.config import ConfigError, effective_items, load_settings

PLEX_TOKEN = "plex-owner-token-in-the-environment"
EMBY_TOKEN = "emby-api-key-written-in-the-file"


def _config(
    tmp_path: Path,
    url: str = "http://10.0.0.2:32400/",
    emby_url: str = "https://emby.example:8920",
) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
integrations:
  trakt:
    watch_interval: 7
    sync:
      server_watched: false
    servers:
      - kind: plex
        name: Living room
        url: {url}
        token: ${{PLEX_TOKEN}}
        live: watch
      - {{kind: emby, name: Den, url: "{emby_url}", token: {EMBY_TOKEN}}}
"""
    )
    return path


def test_defaults() -> None:
    settings = load_settings({}).settings
    assert settings.servers == []
    assert settings.watch_interval == 5
    assert settings.sync.server_watched and settings.sync.server_ratings


def test_yaml_servers_are_read_with_tokens_from_the_environment(tmp_path: Path) -> None:
    env = {"TRAKT_PLUGIN_CONFIG": str(_config(tmp_path)), "PLEX_TOKEN": PLEX_TOKEN}
    loaded = load_settings(env)
    plex, emby = loaded.settings.servers
    assert (plex.kind, plex.name, plex.url, plex.token, plex.live) == (
        "plex",
        "Living room",
        "http://10.0.0.2:32400",
        PLEX_TOKEN,
        "watch",
    )
    assert (emby.kind, emby.token, emby.live) == ("emby", EMBY_TOKEN, "webhook")
    assert loaded.settings.watch_interval == 7 and not loaded.settings.sync.server_watched
    assert loaded.source_of("servers") == "yaml"
    items = {key: value for key, value, _ in effective_items(loaded)}
    assert [server["token"] for server in items["servers"]] == ["****", "****"]
    assert items["servers"][0]["url"] == "http://10.0.0.2:32400"
    assert PLEX_TOKEN not in str(items) and EMBY_TOKEN not in str(items)


def test_servers_from_the_environment_as_json() -> None:
    env = {
        "TRAKT_PLUGIN_SERVERS": '[{"kind": "jellyfin", "name": "J", "url": "http://j:8096", '
        f'"token": "{EMBY_TOKEN}"}}]',
        "TRAKT_PLUGIN_WATCH_INTERVAL": "2",
    }
    loaded = load_settings(env)
    assert loaded.settings.servers[0].kind == "jellyfin"
    assert loaded.settings.watch_interval == 2


@pytest.mark.parametrize(
    ("entry", "key", "shown"),
    [
        ('{kind: kodi, name: a, url: "http://h", token: t}', "servers.0.kind", "kodi"),
        ('{kind: plex, name: a, url: "ftp://h", token: t}', "servers.0.url", "ftp://h"),
        ('{kind: plex, name: a, url: "http://h?X-Plex-Token=leak", token: t}', "servers.0.url", ""),
        ('{kind: plex, name: "", url: "http://h", token: t}', "servers.0.name", ""),
        ('{kind: plex, name: a, url: "http://h", token: t, extra: 1}', "servers.0.extra", ""),
        (
            "{kind: plex, name: a, url: 'http://h', token: '%s'}" % ("s" * 501),
            "servers.0.token",
            "",
        ),
        ('{kind: plex, name: a, url: "http://h", token: t, live: poll}', "servers.0.live", ""),
    ],
)
def test_invalid_entries_name_the_key_and_never_print_a_token(
    tmp_path: Path, entry: str, key: str, shown: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"integrations:\n  trakt:\n    servers:\n      - {entry}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({"TRAKT_PLUGIN_CONFIG": str(path)})
    message = str(caught.value)
    assert message.startswith(f"{key} = ") and str(path) in message
    assert shown in message
    assert "leak" not in message and "s" * 100 not in message


def test_an_unset_token_variable_is_a_missing_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"TRAKT_PLUGIN_CONFIG": str(_config(tmp_path))})
    assert str(caught.value).startswith("servers.0.token = ")
    assert "Field required" in str(caught.value)


def test_duplicate_names_and_bad_json_are_refused(tmp_path: Path) -> None:
    twice = '[{"kind":"plex","name":"A","url":"http://a","token":"x1"},' + (
        '{"kind":"plex","name":"a","url":"http://b","token":"x2"}]'
    )
    with pytest.raises(ConfigError, match="used twice"):
        load_settings({"TRAKT_PLUGIN_SERVERS": twice})
    with pytest.raises(ConfigError) as caught:
        load_settings({"TRAKT_PLUGIN_SERVERS": f"not json {EMBY_TOKEN}"})
    assert EMBY_TOKEN not in str(caught.value)


def test_dashboard_saved_values_never_carry_servers() -> None:
    saved = {"servers": [{"kind": "plex", "name": "x", "url": "http://x", "token": "t"}]}
    assert load_settings({}, saved=saved).settings.servers == []


def test_check_config_never_prints_a_server_token(tmp_path: Path) -> None:
    env = base_env(
        tmp_path / "data", TRAKT_PLUGIN_CONFIG=str(_config(tmp_path)), PLEX_TOKEN=PLEX_TOKEN
    )
    result = run_cli(["check-config"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "Living room" in output and "watch_interval = 7 [yaml]" in output
    assert PLEX_TOKEN not in output and EMBY_TOKEN not in output


async def test_yaml_servers_are_upserted_and_checked_at_startup(
    tmp_path: Path, plex: PlexRig
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {
        "TRAKT_PLUGIN_CONFIG": str(_config(tmp_path, plex.url, nobody)),
        "PLEX_TOKEN": PLEX_TOKEN,
    }
    plex.fake.set_token("olivia", PLEX_TOKEN)
    ctx, service, _ = build_rig(tmp_path / "data", **env)
    service.load_yaml(ctx.settings.servers)
    await service.start()
    for _ in range(200):  # the checks run in the background; wait for both outcomes
        servers = {s.name: s for s in await service.list_servers(after=None, limit=10)}
        if all(s.checked_at is not None for s in servers.values()):
            break
        await asyncio.sleep(0.05)
    await service.stop()
    assert servers["Living room"].state == "ok" and servers["Living room"].source == "yaml"
    assert servers["Den"].state == "unreachable"
    assert all(s.token not in (PLEX_TOKEN, EMBY_TOKEN) for s in servers.values())
    ctx.engine.dispose()
