"""Engine creation and migrations at startup.

SQLite gets WAL (kill -9 safe, readers never block the writer), a busy timeout and foreign keys;
these pragmas and :func:`begin_write`'s ``BEGIN IMMEDIATE`` are the only SQLite-specific SQL in
the project.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine.url import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000  # writers wait for each other instead of failing with "database is locked"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # NORMAL is durable against process crashes (kill -9) in WAL mode; only power loss can
    # roll back the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; creates the SQLite file's directory when needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(engine: Engine) -> threading.Lock:
    """A process lock for the busiest writers of ``engine`` (webhook recorder, outbox drain).

    SQLite has one writer at a time; a writer that finds the lock taken sleeps in its busy
    handler in growing steps (1, 2, 5, 10… ms) however soon the lock is free again. Writers of
    one process that wait on this lock instead are handed it at once. Hold it only around
    short transactions.
    """
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(engine)
        if lock is None:
            lock = _WRITE_LOCKS[engine] = threading.Lock()
        return lock


def begin_write(connection: Connection) -> None:
    """Begin a write transaction on ``connection`` that holds the write lock from the start.

    pysqlite defers its BEGIN to the first INSERT/UPDATE/DELETE: reads before it run outside
    the transaction, and a SAVEPOINT issued there opens a transaction of its own that its
    RELEASE commits. ``BEGIN IMMEDIATE`` takes SQLite's write lock at once (waiting up to the
    busy timeout), so what the transaction reads cannot change before it commits and savepoints
    nest inside it. Other databases begin on the first statement as usual.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (the startup path uses head)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        return None if row is None else str(row[0])
