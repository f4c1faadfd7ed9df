"""The media-server tables come from migration 0007, equal to the models, and go on downgrade."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect
from sqlmodel import SQLModel

from trakt_plugin.store.engine import (
    alembic_config,
    current_revision,
    make_engine,
    migrate,
)

TABLES = ("mediaserver", "serveraccounttoken")


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
    command.downgrade(alembic_config(engine), "0006")
    assert current_revision(engine) == "0006"
    assert not any(inspect(engine).has_table(name) for name in TABLES)
    engine.dispose()
