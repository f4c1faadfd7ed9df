"""Dashboard sessions (SPEC §11), kept in the store.

The browser holds a random session id in an ``HttpOnly``, ``SameSite=Lax`` cookie (``Secure``
over HTTPS); the store keeps only its SHA-256. A session id exists only once a login succeeded,
so an id picked up before the login can never become authenticated (no fixation). Sessions end
after 12 hours idle or 7 days in all, at logout, and when the admin password changes: each
session records the password epoch it was issued under.

A login is checked over the dashboard's websocket, which cannot set cookies: it yields a
single-use ticket (valid for a minute) that the browser trades for the cookie at
``/auth/session``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from ..store import auth_repo
from ..store.models import as_utc, utcnow

COOKIE_NAME = "trakt_plugin_session"
IDLE_LIMIT = timedelta(hours=12)
ABSOLUTE_LIMIT = timedelta(days=7)
TOUCH_EVERY = timedelta(minutes=1)  # last-seen writes at most this often per session
TICKET_SECONDS = 60.0


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SessionStore:
    """Creates, validates and ends dashboard sessions."""

    def __init__(self, engine: Engine, password_epoch: Callable[[], int]) -> None:
        self._engine = engine
        self._epoch = password_epoch
        self._tickets: dict[str, tuple[float, int]] = {}
        self._tickets_lock = threading.Lock()

    # -------------------------------------------------------- login tickets

    def issue_ticket(self, epoch: int) -> str:
        """A single-use ticket for a login that was just checked under ``epoch``."""
        ticket = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._tickets_lock:
            self._tickets = {k: v for k, v in self._tickets.items() if v[0] > now}
            self._tickets[_hash(ticket)] = (now + TICKET_SECONDS, epoch)
        return ticket

    def redeem_ticket(self, ticket: str) -> str | None:
        """A new session id for a valid ticket (used up), else None."""
        with self._tickets_lock:
            entry = self._tickets.pop(_hash(ticket), None)
        if entry is None or entry[0] < time.monotonic() or entry[1] != self._epoch():
            return None
        session_id = secrets.token_urlsafe(32)
        with Session(self._engine) as session, session.begin():
            auth_repo.add_session(session, id_hash=_hash(session_id), password_epoch=entry[1])
        return session_id

    # -------------------------------------------------------- sessions

    def is_valid(self, session_id: str | None) -> bool:
        """True while the session exists, is within its limits, and predates no password change."""
        if not session_id or len(session_id) > 200:
            return False
        now = utcnow()
        id_hash = _hash(session_id)
        with Session(self._engine) as session, session.begin():
            row = auth_repo.get_session(session, id_hash=id_hash)
            if row is None:
                return False
            created, seen = as_utc(row.created_at) or now, as_utc(row.last_seen_at) or now
            if (
                row.password_epoch != self._epoch()
                or now - created > ABSOLUTE_LIMIT
                or now - seen > IDLE_LIMIT
            ):
                auth_repo.delete_session(session, id_hash=id_hash)
                return False
            if now - seen > TOUCH_EVERY:
                row.last_seen_at = now
                session.add(row)
        return True

    def end(self, session_id: str | None) -> None:
        if session_id:
            with Session(self._engine) as session, session.begin():
                auth_repo.delete_session(session, id_hash=_hash(session_id))

    def purge_expired(self) -> None:
        now = utcnow()
        with Session(self._engine) as session, session.begin():
            auth_repo.purge_sessions(
                session, created_before=now - ABSOLUTE_LIMIT, seen_before=now - IDLE_LIMIT
            )
