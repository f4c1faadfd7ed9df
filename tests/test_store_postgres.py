"""The store on a real PostgreSQL server (SPEC §13): migrations and the same tables as SQLite."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from trakt_plugin.store.engine import current_revision, make_engine, migrate


def _tables(url: str) -> dict[str, set[str]]:
    engine = make_engine(url)
    try:
        found = inspect(engine)
        return {
            table: {column["name"] for column in found.get_columns(table)}
            for table in found.get_table_names()
        }
    finally:
        engine.dispose()


def test_migrations_run_to_head_on_postgresql(pg_database: str, tmp_path: Path) -> None:
    engine = make_engine(pg_database)
    try:
        migrate(engine, "0001")
        assert current_revision(engine) == "0001"
        migrate(engine)
        head = current_revision(engine)
        migrate(engine)  # a second start changes nothing
        assert current_revision(engine) == head
    finally:
        engine.dispose()
    sqlite = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        migrate(sqlite)
        assert current_revision(sqlite) == head
    finally:
        sqlite.dispose()
    # Both engines end with the same tables and columns.
    assert _tables(pg_database) == _tables(f"sqlite:///{tmp_path / 'store.db'}")
