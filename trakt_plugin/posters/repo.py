"""The ``poster`` table: plain functions over a SQLAlchemy connection (they run inside the
caller's transaction, e.g. a history import page's).

States: ``pending`` (URL known, not downloaded yet), ``ok`` (``path`` names the file),
``missing`` (Trakt has no poster, or its image answered 404), ``failed`` (refused or too many
failed tries). Several rows may share a URL (one item under several keys, or episodes of one
show): the file is downloaded once and every row gets its path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from ..store.dialect import insert_for
from ..store.models import Poster, PosterFound, utcnow

PENDING = "pending"
OK = "ok"
MISSING = "missing"
FAILED = "failed"

# Set on the connection by record(); the downloader's commit listener turns it into a nudge.
PENDING_FLAG = "posters_pending"

_T = Poster.__table__  # type: ignore[attr-defined]
_STAGED = PosterFound.__table__  # type: ignore[attr-defined]


def _now() -> datetime:
    return utcnow()


def record(conn: Connection, found: Mapping[str, str | None]) -> int:
    """Store what Trakt said about each key: a URL (``pending``) or None (``missing``).

    A key already known keeps its row (its poster is downloaded once), except that a key
    without a poster (``missing``/``failed``) takes a URL that turns up later. Returns the
    number of rows that became ``pending`` (the downloader's cue)."""
    if not found:
        return 0
    now = _now()
    keys = list(found)
    known: dict[str, tuple[str | None, str]] = {}
    for start in range(0, len(keys), 500):
        rows = conn.execute(
            select(_T.c.item_key, _T.c.url, _T.c.state).where(
                _T.c.item_key.in_(keys[start : start + 500])
            )
        )
        known.update({r.item_key: (r.url, r.state) for r in rows})
    fresh = [
        {"item_key": k, "url": u, "state": PENDING if u else MISSING, "attempts": 0,
         "updated_at": now}
        for k, u in found.items()
        if k not in known
    ]  # fmt: skip
    if fresh:
        conn.execute(insert_for(conn)(_T).on_conflict_do_nothing(), fresh)
    revived = [
        k
        for k, u in found.items()
        if u and k in known and known[k][1] in (MISSING, FAILED) and known[k][0] != u
    ]
    for key in revived:
        conn.execute(
            update(_T)
            .where(_T.c.item_key == key)
            .values(url=found[key], state=PENDING, attempts=0, path=None, next_attempt_at=None,
                    updated_at=now)
        )  # fmt: skip
    pending = sum(1 for r in fresh if r["state"] == PENDING) + len(revived)
    if pending:
        conn.info[PENDING_FLAG] = int(conn.info.get(PENDING_FLAG, 0)) + pending
    return pending


def stage(conn: Connection, found: Mapping[str, str | None]) -> None:
    """Keep what a history page found, as one row, for :func:`unstage`: a large import finds
    hundreds of thousands of keys, and storing them one by one cost a third of its time while
    the downloads wait for the run's end anyway."""
    if not found:
        return
    conn.execute(insert(_STAGED).values(found=json.dumps(found), created_at=_now()))
    conn.info[PENDING_FLAG] = int(conn.info.get(PENDING_FLAG, 0)) + 1  # the downloader's cue


def unstage(conn: Connection, *, limit: int) -> int:
    """:func:`record` up to ``limit`` staged pages, oldest first; answers how many. (Two
    processes may take the same pages: recording is idempotent.)"""
    rows = conn.execute(
        select(_STAGED.c.id, _STAGED.c.found).order_by(_STAGED.c.id).limit(limit)
    ).all()
    for row in rows:
        record(conn, json.loads(row.found))
    if rows:
        conn.execute(delete(_STAGED).where(_STAGED.c.id.in_([row.id for row in rows])))
    return len(rows)


def due_urls(conn: Connection, *, limit: int, now: datetime | None = None) -> list[str]:
    """Up to ``limit`` distinct URLs of pending rows whose next try is due.

    Read through the state index, a few rows per URL wanted, without grouping or sorting: after
    a large import tens of thousands of rows are pending, and a round runs every ``limit``
    downloads, so a query that grouped them all each round cost more CPU than the import. (On
    SQLite the index gives the rows in the order they were stored: oldest first.)"""
    moment = now or _now()
    rows = conn.execute(
        select(_T.c.url)
        .where(
            _T.c.state == PENDING,
            _T.c.url.is_not(None),
            or_(_T.c.next_attempt_at.is_(None), _T.c.next_attempt_at <= moment),
        )
        .limit(limit * 8)
    )
    return list(dict.fromkeys(r.url for r in rows))[:limit]


def file_of_url(conn: Connection, url: str) -> str | None:
    """The file of another row with this URL that was downloaded already."""
    return conn.execute(
        select(_T.c.path).where(_T.c.url == url, _T.c.state == OK).limit(1)
    ).scalar_one_or_none()


def attempts_of(conn: Connection, url: str) -> int:
    return int(
        conn.execute(
            select(func.max(_T.c.attempts)).where(_T.c.url == url, _T.c.state == PENDING)
        ).scalar_one_or_none()
        or 0
    )


def finish(conn: Connection, url: str, *, state: str, path: str | None = None) -> None:
    """Every pending row with ``url`` ends as ``state`` (``ok`` with ``path``)."""
    conn.execute(
        update(_T)
        .where(_T.c.url == url, _T.c.state == PENDING)
        .values(state=state, path=path, next_attempt_at=None, updated_at=_now())
    )


def retry_later(conn: Connection, url: str, *, after: timedelta) -> None:
    conn.execute(
        update(_T)
        .where(_T.c.url == url, _T.c.state == PENDING)
        .values(attempts=_T.c.attempts + 1, next_attempt_at=_now() + after, updated_at=_now())
    )


@dataclass(frozen=True)
class Stored:
    state: str
    path: str | None


def get(conn: Connection, item_key: str) -> Stored | None:
    row = conn.execute(select(_T.c.state, _T.c.path).where(_T.c.item_key == item_key)).one_or_none()
    return Stored(row.state, row.path) if row is not None else None


def counts(conn: Connection) -> dict[str, int]:
    """Rows per state (tests, the dashboard's health line)."""
    rows = conn.execute(select(_T.c.state, func.count()).group_by(_T.c.state))
    return {state: int(n) for state, n in rows}
