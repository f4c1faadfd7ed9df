"""Coordination between processes that share one PostgreSQL database (SPEC §13).

On SQLite there is one process, and every function here grants at once without touching the
store. On PostgreSQL:

- :func:`try_claim` — a transaction-level advisory lock on a connection of its own, held while
  the caller works and released by :meth:`Claim.release` (or by the server when the process dies:
  its connection closes). The outbox drain claims a user's queue this way, so one process at a
  time sends that user's calls, in order.
- :func:`claim` — the same lock, waited for: the token refresh of one connection.
- :func:`take_lease` — a ``joblease`` row with an expiry: a periodic job runs in the process that
  takes its lease, once per period, whichever processes are up.

Advisory keys are 64-bit hashes of ``namespace:name``; two names sharing a key would only wait
for each other.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, update

from .dialect import insert_for
from .models import JobLease

log = logging.getLogger(__name__)


def advisory_key(namespace: str, name: str) -> int:
    digest = hashlib.sha256(f"{namespace}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def shared(engine: Engine) -> bool:
    """Whether other processes may use this database (anything but SQLite)."""
    return engine.dialect.name != "sqlite"


@dataclass
class Claim:
    """A held claim; ``conn`` is None on SQLite (nothing to hold)."""

    conn: Connection | None = None

    def release(self) -> None:
        if self.conn is None:
            return
        conn, self.conn = self.conn, None
        try:
            conn.rollback()  # ends the transaction, and with it the advisory lock
            conn.close()
        except Exception:
            log.warning("releasing a claim failed; dropping its connection", exc_info=True)
            conn.invalidate()


def try_claim(engine: Engine, namespace: str, name: str) -> Claim | None:
    """The claim of ``namespace:name``, or None while another process holds it."""
    if not shared(engine):
        return Claim()
    conn = engine.connect()
    try:
        got = conn.exec_driver_sql(
            "SELECT pg_try_advisory_xact_lock(%(key)s)", {"key": advisory_key(namespace, name)}
        ).scalar()
    except BaseException:
        conn.close()
        raise
    if not got:
        Claim(conn).release()
        return None
    return Claim(conn)


def claim(engine: Engine, namespace: str, name: str) -> Claim:
    """Wait for, then hold, the claim of ``namespace:name`` (granted at once on SQLite)."""
    if not shared(engine):
        return Claim()
    conn = engine.connect()
    try:
        conn.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(%(key)s)", {"key": advisory_key(namespace, name)}
        )
    except BaseException:
        conn.close()
        raise
    return Claim(conn)


def take_lease(engine: Engine, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Whether ``holder`` may run job ``name`` now: its lease is free or expired, and is now held
    until ``now + ttl``. Concurrent takers wait on the row's lock; only the first one wins."""
    table = JobLease.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            insert_for(conn)(table)
            .values(name=name, holder="", expires_at=datetime(1970, 1, 1, tzinfo=UTC))
            .on_conflict_do_nothing()
        )
        taken = conn.execute(
            update(table)
            .where(table.c.name == name, table.c.expires_at <= now)
            .values(holder=holder, expires_at=now + ttl)
        )
        return int(getattr(taken, "rowcount", 0) or 0) == 1
