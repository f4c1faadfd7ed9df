"""Store: upgrades keep data; secrets at rest are never plaintext; SQLite runs in WAL mode."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import inspect, text

from tests.conftest import Service, base_env
from trakt_plugin.context import build_context
from trakt_plugin.store.engine import current_revision, make_engine, migrate


def test_upgrade_from_previous_migration_keeps_every_row(
    tmp_path: Path,
    service_factory,  # type: ignore[no-untyped-def]
) -> None:
    data_dir = tmp_path / "data"
    engine = make_engine(f"sqlite:///{data_dir / 'trakt-plugin.db'}")
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    now = datetime(2026, 11, 1, 12, 0, 0)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO user (id, display_name, created_at) VALUES (:id, :name, :at)"),
            [
                {"id": f"00000000-0000-0000-0000-00000000000{i}", "name": f"Person {i}", "at": now}
                for i in range(3)
            ],
        )
        connection.execute(
            text(
                "INSERT INTO identity (user_id, source, external_id, match_key, events, "
                "created_at) VALUES (:uid, 'plex', :ext, :key, 0, :at)"
            ),
            {"uid": "00000000-0000-0000-0000-000000000001", "ext": "Bob", "key": "bob", "at": now},
        )
        connection.execute(
            text(
                "INSERT INTO appsetting (key, value, updated_at) "
                "VALUES ('setting:scrobble_threshold', '80', :at)"
            ),
            {"at": now},
        )
    engine.dispose()

    service: Service = service_factory({"TRAKT_PLUGIN_API_TOKEN": "t" * 20}, name="data")
    with httpx.Client(base_url=service.url, headers={"Authorization": "Bearer " + "t" * 20}) as api:
        users = api.get("/api/v1/users").json()["items"]
        assert sorted(u["display_name"] for u in users) == ["Person 0", "Person 1", "Person 2"]
        bob = next(u for u in users if u["display_name"] == "Person 1")
        assert bob["identities"] == [{"source": "plex", "external_id": "Bob", "name": None}]
        assert all(u["trakt"]["state"] == "disconnected" for u in users)
    service.stop()

    engine = make_engine(f"sqlite:///{data_dir / 'trakt-plugin.db'}")
    assert current_revision(engine) != "0001"
    tables = set(inspect(engine).get_table_names())
    assert {"traktconnection", "oauthstate", "dashboardsession", "loginattempt"} <= tables
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        saved = connection.execute(
            text("SELECT value FROM appsetting WHERE key = 'setting:scrobble_threshold'")
        ).scalar()
        assert saved == "80"
    engine.dispose()


def test_no_plaintext_secret_in_data_dir_after_full_setup(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ctx = build_context(base_env(data_dir))
    client_secret = "the-client-secret-0123456789-abcdef"
    ctx.save_settings({"client_id": "client-id-abc", "client_secret": client_secret})
    ctx.set_first_admin_password("correct horse battery")
    assert ctx.settings.client_secret == client_secret
    assert ctx.check_admin_password("correct horse battery")
    api_token, webhook_token = ctx.api_token, ctx.webhook_token
    ctx.engine.dispose()

    # A second start reads the same values back (decrypting them).
    again = build_context(base_env(data_dir))
    assert (again.api_token, again.webhook_token) == (api_token, webhook_token)
    assert again.settings.client_secret == client_secret
    again.engine.dispose()

    needles = [client_secret, api_token, webhook_token, "correct horse battery"]
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "trakt-plugin.db" for p in files)
    for path in files:
        raw = path.read_bytes()
        for needle in needles:
            assert needle.encode() not in raw, f"plaintext secret in {path.name}"
    key_file = data_dir / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
