"""Throttling of admin-password and setup-code attempts (SPEC §11).

Each attempt is written to the store as ``pending`` *before* the secret is checked and counts as
a failure until the check says otherwise, so a burst of parallel attempts cannot slip past the
limit; one attempt per client is evaluated at a time (the others wait their turn, each counted;
past ``MAX_WAITING`` waiting ones, more are refused outright).
Limits: 5 failures per client and 20 in all within 5 minutes. The counts live in the store, so a
restart does not clear them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine
from sqlmodel import Session

from ..store import auth_repo
from ..store.engine import begin_write
from ..store.models import as_utc, utcnow

MAX_FAILURES_PER_CLIENT = 5
MAX_FAILURES_OVERALL = 20  # bounds guessing spread over many addresses
MAX_WAITING = 20  # attempts of one client queued behind the one being checked
WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class Verdict:
    outcome: Literal["ok", "wrong", "throttled", "busy"]
    retry_after: float = 0.0  # seconds, when throttled
    attempts_left: int = 0  # for this client, after a wrong attempt

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class AttemptGuard:
    """Reserves, checks and settles attempts; see the module docstring."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queues: dict[str, tuple[asyncio.Lock, list[None]]] = {}
        self._reserve_lock = threading.Lock()  # one reservation at a time in this process

    async def check(self, client: str, verify: Callable[[], bool]) -> Verdict:
        """Run ``verify`` (in a thread) for ``client`` if the limits allow it."""
        lock, waiting = self._queues.setdefault(client, (asyncio.Lock(), []))
        if len(waiting) >= MAX_WAITING:
            return Verdict("busy")
        waiting.append(None)
        try:
            async with lock:
                return await self._checked(client, verify)
        finally:
            waiting.pop()
            if not waiting:
                self._queues.pop(client, None)

    async def _checked(self, client: str, verify: Callable[[], bool]) -> Verdict:
        reserved = await asyncio.to_thread(self._reserve, client)
        if isinstance(reserved, Verdict):
            return reserved
        ok = False
        try:
            ok = await asyncio.to_thread(verify)
        finally:
            left = await asyncio.to_thread(self._settle, client, reserved, ok)
        return Verdict("ok") if ok else Verdict("wrong", attempts_left=left)

    def _reserve(self, client: str) -> int | Verdict:
        now = utcnow()
        since = now - WINDOW
        with self._reserve_lock, self._engine.connect() as conn:
            begin_write(conn)
            with Session(bind=conn) as session:
                auth_repo.purge_attempts(session, before=since)
                mine = auth_repo.count_failures(session, since=since, client=client)
                everyone = auth_repo.count_failures(session, since=since)
                if mine >= MAX_FAILURES_PER_CLIENT or everyone >= MAX_FAILURES_OVERALL:
                    limited = client if mine >= MAX_FAILURES_PER_CLIENT else None
                    oldest = auth_repo.oldest_failure(session, since=since, client=limited)
                    session.flush()
                    conn.commit()
                    return Verdict("throttled", retry_after=_until_free(oldest, now))
                attempt_id = auth_repo.add_attempt(session, client=client)
            conn.commit()
        return attempt_id

    def _settle(self, client: str, attempt_id: int, ok: bool) -> int:
        with Session(self._engine) as session, session.begin():
            auth_repo.settle_attempt(session, attempt_id=attempt_id, ok=ok)
            since = utcnow() - WINDOW
            failures = auth_repo.count_failures(session, since=since, client=client)
        return max(0, MAX_FAILURES_PER_CLIENT - failures)


def _until_free(oldest: datetime | None, now: datetime) -> float:
    if oldest is None:
        return 1.0
    free_at = (as_utc(oldest) or now) + WINDOW
    return max(1.0, (free_at - now).total_seconds())
