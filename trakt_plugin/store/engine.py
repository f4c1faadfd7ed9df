"""Engine creation and migrations at startup.

SQLite gets WAL (kill -9 safe, readers never block the writer), a busy timeout and foreign keys;
these pragmas and :func:`begin_write`'s ``BEGIN IMMEDIATE`` are the only SQLite-specific SQL in
the project. PostgreSQL (SPEC §13) sessions run in UTC (timestamps are stored without a zone),
and :func:`begin_write` takes a transaction-level advisory lock there: the transactions that read,
decide and write (the webhook recorder, idle finalising, pins, ratings, the login throttle) are
serialised across every process on the database, as SQLite's single writer serialises them.

The write lock of one process (:func:`write_lock`) exists for SQLite only, whose waiting writers
sleep in its busy handler; on PostgreSQL it is a no-op (writers wait on row locks, in order).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine.url import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000  # writers wait for each other instead of failing with "database is locked"
# The advisory lock key of begin_write on PostgreSQL ("trakt-plugin writer"); other keys of the
# product live in store/locks.py.
WRITER_LOCK_KEY = 0x7472616B74  # "trakt"
# Connections a PostgreSQL process keeps (SQLAlchemy's default pool of 5 + 10): the outbox drain
# holds one per user being sent while a call is in flight, beside the request threads.
PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 20


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
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":  # the driver the product ships (psycopg 3)
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_MAX_OVERFLOW,
            # Naive timestamps are UTC: a server in another zone must not shift aware values.
            # No JIT: the stats statements' per-play subplans cost enough on paper to trigger
            # it, and compiling them took seconds, many times the statement itself.
            connect_args={"options": "-c timezone=UTC -c jit=off"},
        )
    return create_engine(url, pool_pre_ping=True)


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(engine: Engine) -> AbstractContextManager[Any]:
    """A process lock for the busiest writers of ``engine`` (webhook recorder, outbox drain).

    SQLite has one writer at a time; a writer that finds the lock taken sleeps in its busy
    handler in growing steps (1, 2, 5, 10… ms) however soon the lock is free again. Writers of
    one process that wait on this lock instead are handed it at once. Hold it only around
    short transactions. On PostgreSQL: no lock (see the module docstring).
    """
    if not is_sqlite(engine):
        return contextlib.nullcontext()
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
    nest inside it. On PostgreSQL the transaction takes the writers' advisory lock (held to its
    commit or rollback), shared by every process on the database.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})")


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
