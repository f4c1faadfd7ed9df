"""Whose event is it? SPEC §4: match a linked identity, else ``default_user``, else unlinked.

An event carries its sender's ids and name (``PlaybackEvent.user_external_ids``, id first).
A linked identity matching any of them (case-insensitively) names the user. Without one, the
configured ``default_user`` (a display name or a user id) takes the event; otherwise the identity
is recorded as unlinked (``identity.user_id`` NULL) so it can be listed and linked later. Every
matched or recorded identity counts the event (``events``, ``last_seen``).

This runs on the webhook hot path, inside the recorder's write transaction, so it uses Core
statements on a :class:`~sqlalchemy.engine.Connection` (one SELECT and one UPDATE for a linked
sender) rather than ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, select
from sqlmodel import SQLModel

from ..store import repo
from .model import PlaybackEvent

IDENTITY_TABLE: Table = SQLModel.metadata.tables["identity"]
USER_TABLE: Table = SQLModel.metadata.tables["user"]
_I, _U = IDENTITY_TABLE.c, USER_TABLE.c
# Built once (see store.scrobble_repo): parameters go in at execute.
_MATCHING = select(_I.id, _I.user_id, _I.match_key, _I.name).where(
    _I.source == bindparam("b_source"), _I.match_key.in_(bindparam("b_keys", expanding=True))
)
_USER_BY_ID = select(_U.id).where(_U.id == bindparam("b_user"))
_USER_BY_NAME = (
    select(_U.id).where(func.lower(_U.display_name) == bindparam("b_name")).order_by(_U.id).limit(1)
)
_COUNT = (
    IDENTITY_TABLE.update()
    .where(_I.id == bindparam("b_id"))
    .values(events=_I.events + 1, last_seen=bindparam("b_now"))
)
_COUNT_AND_NAME = _COUNT.values(name=bindparam("b_name"))
_COUNT_MANY = (
    IDENTITY_TABLE.update()
    .where(_I.id == bindparam("b_id"))
    .values(events=_I.events + bindparam("b_n"), last_seen=bindparam("b_now"))
)
_COUNT_MANY_AND_NAME = _COUNT_MANY.values(name=bindparam("b_name"))


@dataclass
class PendingCounts:
    """The identity counts of one write transaction, written once per identity at its end
    (:meth:`flush`) instead of one UPDATE per event: ``identity id → [events, last seen,
    name to set]``."""

    counts: dict[int, list[Any]] = field(default_factory=dict)

    def add(self, identity_id: int, name: str | None, event: PlaybackEvent, now: datetime) -> None:
        entry = self.counts.setdefault(identity_id, [0, now, None])
        entry[0] += 1
        entry[1] = now
        if not name and event.user_name:
            entry[2] = event.user_name[:200]

    def flush(self, conn: Connection) -> None:
        for identity_id, (events, last_seen, name) in self.counts.items():
            params = {"b_id": identity_id, "b_n": events, "b_now": last_seen}
            if name:
                conn.execute(_COUNT_MANY_AND_NAME, {**params, "b_name": name})
            else:
                conn.execute(_COUNT_MANY, params)
        self.counts.clear()


@dataclass(frozen=True)
class Owner:
    """The resolved owner of an event.

    ``key`` names the owner in session state and dedupe (the user id, or ``identity:<id>`` while
    the identity is unlinked, or ``anonymous:<source>`` for events naming no one).
    """

    key: str
    user_id: str | None
    identity_id: int | None


def _default_user(conn: Connection, default_user: str | None) -> str | None:
    if not default_user:
        return None
    found = conn.execute(_USER_BY_ID, {"b_user": default_user}).scalar()
    if found is not None:
        return str(found)
    found = conn.execute(_USER_BY_NAME, {"b_name": default_user.strip().lower()}).scalar()
    return None if found is None else str(found)


def _matching(conn: Connection, event: PlaybackEvent) -> list[Any]:
    """Identity rows (``id``, ``user_id``, ``match_key``, ``name``) in the event's id order."""
    keys = [repo.match_key(value) for value in event.user_external_ids if value.strip()]
    if not keys:
        return []
    rows = conn.execute(_MATCHING, {"b_source": event.source, "b_keys": keys})
    found = {row.match_key: row for row in rows}
    return [found[key] for key in keys if key in found]


def resolve_owner(
    conn: Connection,
    event: PlaybackEvent,
    *,
    default_user: str | None,
    now: datetime,
    linked_cache: dict[tuple[str, tuple[str, ...]], Any] | None = None,
    pending: PendingCounts | None = None,
) -> Owner:
    """Resolve (and count) the event's sender inside the caller's write transaction.

    ``linked_cache`` (one per write transaction) remembers the linked identity of a sender:
    links cannot change while the transaction holds the write lock, and a group-commit batch
    often carries several events of one sender. ``pending``: count there (the caller flushes
    it before its commit) instead of with an UPDATE now.
    """
    cache_key = (event.source, event.user_external_ids)
    linked = linked_cache.get(cache_key) if linked_cache is not None else None
    if linked is None:
        matches = _matching(conn, event)
        linked = next((row for row in matches if row.user_id is not None), None)
        if linked is not None and linked_cache is not None:
            linked_cache[cache_key] = linked
    if linked is not None:
        _count(conn, linked.id, linked.name, event, now, pending)
        return Owner(str(linked.user_id), str(linked.user_id), int(linked.id))
    user_id = _default_user(conn, default_user)
    if user_id is not None:
        return Owner(user_id, user_id, None)
    if not event.user_external_ids:
        return Owner(f"anonymous:{event.source}", None, None)
    if matches:
        identity_id = int(matches[0].id)
        _count(conn, identity_id, matches[0].name, event, now, pending)
    else:
        identity_id = _unlinked(conn, event, now)
    return Owner(f"identity:{identity_id}", None, identity_id)


def _unlinked(conn: Connection, event: PlaybackEvent, now: datetime) -> int:
    """Record a new unlinked identity, already counting this event; returns its id."""
    external_id = event.user_external_ids[0].strip()
    values = {
        "source": event.source,
        "external_id": external_id[:200],
        "match_key": repo.match_key(external_id)[:200],
        "name": (event.user_name or None) and str(event.user_name)[:200],
        "events": 1,
        "last_seen": now,
    }
    key = conn.execute(IDENTITY_TABLE.insert(), values).inserted_primary_key
    assert key is not None
    return int(key[0])


def _count(
    conn: Connection,
    identity_id: int,
    name: str | None,
    event: PlaybackEvent,
    now: datetime,
    pending: PendingCounts | None = None,
) -> None:
    if pending is not None:
        pending.add(identity_id, name, event, now)
        return
    if not name and event.user_name:
        params = {"b_id": identity_id, "b_now": now, "b_name": event.user_name[:200]}
        conn.execute(_COUNT_AND_NAME, params)
    else:
        conn.execute(_COUNT, {"b_id": identity_id, "b_now": now})
