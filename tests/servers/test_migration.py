"""The media-server tables come from migration 0010, equal to the models, and go on downgrade."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlmodel import SQLModel

from trakt_plugin.store.engine import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    make_engine,
    migrate,
)

MIGRATION = MIGRATIONS_DIR / "versions" / "0010_media_servers.py"
TABLES = ("mediaserver", "serveraccounttoken")

pytestmark = pytest.mark.skipif(
    not MIGRATION.is_file(), reason="migration 0010 waits for 0007-0009 to join the chain"
)


def test_migration_creates_the_tables_as_the_models_describe(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    inspector = inspect(engine)
    for name in TABLES:
        table = SQLModel.metadata.tables[name]
        columns = {c["name"]: c for c in inspector.get_columns(name)}
        assert set(columns) == {c.name for c in table.columns}, name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (name, column.name)
    keys = inspector.get_foreign_keys("serveraccounttoken")
    assert keys[0]["referred_table"] == "mediaserver"
    assert keys[0]["options"].get("ondelete") == "CASCADE"
    assert inspector.get_pk_constraint("serveraccounttoken")["constrained_columns"] == [
        "server_id",
        "account_id",
    ]
    command.downgrade(alembic_config(engine), "0009")
    assert current_revision(engine) == "0009"
    assert not any(inspect(engine).has_table(name) for name in TABLES)
    engine.dispose()
