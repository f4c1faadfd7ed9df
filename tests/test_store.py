"""Store: upgrades keep data; secrets at rest are never plaintext; SQLite runs in WAL mode.

Both engines (TRAKT_PLUGIN_TEST_DB): the store is the data dir's SQLite file or a PostgreSQL
database of its own (tests/pg.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import inspect, text

from tests import pg
from tests.conftest import Service, base_env
from trakt_plugin.context import build_context
from trakt_plugin.store.engine import current_revision, is_sqlite, make_engine, migrate


def test_upgrade_from_previous_migration_keeps_every_row(
    service_databases: pg.ServiceDatabases,
    service_factory,  # type: ignore[no-untyped-def]
) -> None:
    url = service_databases.url("data", migrated=False)  # the store the service will open
    engine = make_engine(url)
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    now = datetime(2026, 11, 1, 12, 0, 0)
    with engine.begin() as connection:
        connection.execute(
            text('INSERT INTO "user" (id, display_name, created_at) VALUES (:id, :name, :at)'),
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

    engine = make_engine(url)
    assert current_revision(engine) != "0001"
    tables = set(inspect(engine).get_table_names())
    assert {"traktconnection", "oauthstate", "dashboardsession", "loginattempt"} <= tables
    with engine.connect() as connection:
        if is_sqlite(engine):  # a journal mode is SQLite's alone
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        saved = connection.execute(
            text("SELECT value FROM appsetting WHERE key = 'setting:scrobble_threshold'")
        ).scalar()
        assert saved == "80"
    engine.dispose()


def test_no_plaintext_secret_at_rest_after_full_setup(
    tmp_path: Path, service_databases: pg.ServiceDatabases
) -> None:
    data_dir = tmp_path / "data"
    env = base_env(data_dir, **service_databases.env("data"))
    ctx = build_context(env)
    client_secret = "the-client-secret-0123456789-abcdef"
    ctx.save_settings({"client_id": "client-id-abc", "client_secret": client_secret})
    ctx.set_first_admin_password("correct horse battery")
    assert ctx.settings.client_secret == client_secret
    assert ctx.check_admin_password("correct horse battery")
    api_token, webhook_token = ctx.api_token, ctx.webhook_token
    ctx.engine.dispose()

    # A second start reads the same values back (decrypting them).
    again = build_context(env)
    assert (again.api_token, again.webhook_token) == (api_token, webhook_token)
    assert again.settings.client_secret == client_secret
    again.engine.dispose()

    needles = [client_secret, api_token, webhook_token, "correct horse battery"]
    # Every row of the store as the database answers it (either engine)...
    url = service_databases.url("data")
    engine = make_engine(url)
    tables = inspect(engine).get_table_names()
    engine.dispose()
    for table in tables:
        rows = repr(pg.query(url, f'SELECT * FROM "{table}"'))
        for needle in needles:
            assert needle not in rows, f"plaintext secret in table {table}"
    # ...and every file in the data dir (SQLite's database and journal among them).
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "trakt-plugin.db" for p in files) == (not pg.wanted())
    for path in files:
        raw = path.read_bytes()
        for needle in needles:
            assert needle.encode() not in raw, f"plaintext secret in {path.name}"
    key_file = data_dir / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
