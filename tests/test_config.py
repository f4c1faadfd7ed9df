"""Settings: sources and precedence, ${VAR} expansion, validation messages, masking."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import base_env
from trakt_plugin.config import ConfigError, effective_items, load_settings

YAML = """
integrations:
  trakt:
    client_id: ${MY_CLIENT_ID}
    client_secret: ${MY_CLIENT_SECRET}
    redirect_uri: ${UNSET_REDIRECT}
    proxy: tor
    auto_scrobble: false
    scrobble_threshold: 85
    sync:
      sync_interval: 7200
      bidirectional_watchlist: false
    metadata:
      fetch_ratings: false
    vip:
      check_interval: 86400
    scrobble:
      dedupe_window: 600
"""


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trakt_plugin", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_threshold_out_of_range_stops_with_one_clear_line(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data", TRAKT_SCROBBLE_THRESHOLD="150")
    result = run_cli(["check-config"], env, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "scrobble_threshold" in lines[0]
    assert "150" in lines[0]
    assert "between 1 and 100" in lines[0]


def test_yaml_with_env_references_loads_and_unset_reference_is_absent(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(YAML)
    environ = {
        "TRAKT_PLUGIN_CONFIG": str(config),
        "MY_CLIENT_ID": "abc123clientid",
        "MY_CLIENT_SECRET": "s3cr3t-value-xyz",
    }
    loaded = load_settings(environ)
    settings = loaded.settings
    assert settings.client_id == "abc123clientid"
    assert settings.client_secret == "s3cr3t-value-xyz"
    assert settings.redirect_uri == "http://127.0.0.1:8765/oauth/trakt/callback"  # default
    assert settings.proxy == "socks5h://127.0.0.1:9050"
    assert settings.auto_scrobble is False
    assert settings.scrobble_threshold == 85
    assert settings.sync.sync_interval == 7200
    assert settings.sync.bidirectional_watchlist is False
    assert settings.metadata.fetch_ratings is False
    assert settings.vip.check_interval == 86400
    assert settings.scrobble.dedupe_window == 600
    assert loaded.source_of("scrobble_threshold") == "yaml"
    assert loaded.source_of("redirect_uri") == "default"


def test_environment_beats_yaml_and_documented_names_beat_generic(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(YAML)
    environ = {
        "TRAKT_PLUGIN_CONFIG": str(config),
        "TRAKT_SCROBBLE_THRESHOLD": "95",
        "TRAKT_PLUGIN_SCROBBLE_THRESHOLD": "70",
        "TRAKT_PLUGIN_SCROBBLE__DEDUPE_WINDOW": "60",
        "TRAKT_PLUGIN_SYNC__SYNC_INTERVAL": "900",
    }
    loaded = load_settings(environ)
    assert loaded.settings.scrobble_threshold == 95
    assert loaded.settings.scrobble.dedupe_window == 60
    assert loaded.settings.sync.sync_interval == 900
    assert loaded.source_of("scrobble.dedupe_window") == "environment"


def test_saved_values_rank_below_yaml_and_above_defaults(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(YAML)
    saved = {"scrobble_threshold": 60, "sync.auto_export_plays": False}
    loaded = load_settings({"TRAKT_PLUGIN_CONFIG": str(config)}, saved=saved)
    assert loaded.settings.scrobble_threshold == 85  # YAML wins
    assert loaded.settings.sync.auto_export_plays is False  # saved beats default
    assert loaded.source_of("sync.auto_export_plays") == "saved"


@pytest.mark.parametrize(
    ("environ", "key", "allowed"),
    [
        ({"TRAKT_API_URL": "ftp://x"}, "api_url", "http"),
        ({"TRAKT_PROXY": "gopher://p:1"}, "proxy", "socks5h"),
        ({"TRAKT_CLIENT_ID": "your_client_id"}, "client_id", "placeholder"),
        ({"TRAKT_PLUGIN_API_TOKEN": "short"}, "api_token", "16"),
        ({"TRAKT_PLUGIN_SECRET_KEY": "too-short"}, "secret_key", "32"),
        ({"TRAKT_PLUGIN_ADMIN_PASSWORD": "1234"}, "admin_password", "8"),
        ({"TRAKT_PLUGIN_PORT": "99999"}, "port", "65535"),
        ({"TRAKT_AUTO_SCROBBLE": "maybe"}, "auto_scrobble", "bool"),
    ],
)
def test_invalid_values_name_key_and_rule(environ: dict[str, str], key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(key)
    assert allowed in message


def test_unreadable_yaml_and_unknown_key(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("integrations: [trakt: {")
    with pytest.raises(ConfigError, match="unreadable YAML"):
        load_settings({"TRAKT_PLUGIN_CONFIG": str(broken)})
    typo = tmp_path / "typo.yaml"
    typo.write_text("integrations:\n  trakt:\n    scrobble_treshold: 80\n")
    with pytest.raises(ConfigError, match="scrobble_treshold"):
        load_settings({"TRAKT_PLUGIN_CONFIG": str(typo)})


def test_check_config_masks_every_secret(tmp_path: Path) -> None:
    secrets = {
        "TRAKT_CLIENT_SECRET": "client-secret-value-123",
        "TRAKT_PLUGIN_ADMIN_PASSWORD": "admin-password-456",
        "TRAKT_PLUGIN_API_TOKEN": "api-token-value-7890abcdef",
        "TRAKT_PLUGIN_WEBHOOK_TOKEN": "webhook-token-value-12345",
        "TRAKT_PLUGIN_SECRET_KEY": "k" * 40,
        "TRAKT_PROXY": "socks5h://proxyuser:proxypass@127.0.0.1:1080",
    }
    env = base_env(tmp_path / "data", TRAKT_CLIENT_ID="visible-client-id", **secrets)
    result = run_cli(["check-config"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "visible-client-id" in output
    for value in [*secrets.values(), "proxypass", "proxyuser"]:
        if value.startswith("socks5h"):
            continue
        assert value not in output, value
    assert "client_secret = **** [environment]" in output


def test_effective_items_cover_every_yaml_key() -> None:
    keys = {key for key, _, _ in effective_items(load_settings({}))}
    for expected in (
        "sync.auto_import_history",
        "metadata.fetch_ids",
        "vip.enable_lists",
        "scrobble.give_up_after",
        "rate.post_interval",
        "events.retention_days",
        "default_user",
        "sync.propagate_unwatched",
        "metadata.ratings_ttl",
    ):
        assert expected in keys


def test_version_and_help(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    assert "trakt-plugin 0.1.0" in run_cli(["version"], env, tmp_path).stdout
    help_text = run_cli(["--help"], env, tmp_path).stdout
    for command in ("serve", "check-config", "version"):
        assert command in help_text
