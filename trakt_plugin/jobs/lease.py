"""Periodic jobs once per period across processes (SPEC §13).

Every process schedules every periodic job; on a shared database (PostgreSQL) a run first takes
the job's lease (``store.locks.take_lease``) for a little less than one interval, and the
processes that find it taken skip that run. Should the holder die, the next tick of any other
process after the expiry runs it. On SQLite (one process) runs go ahead as before.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from ..store import locks
from ..store.models import utcnow

log = logging.getLogger(__name__)

# This process, as a lease holder.
HOLDER = secrets.token_hex(8)
# A lease lasts this share of the interval: the next tick (of whichever process) finds it free,
# a tick of another process within the period finds it taken.
LEASE_SHARE = 0.9


def once_per_period(
    engine: Engine,
    name: str,
    interval: timedelta | Callable[[], timedelta],
    func: Callable[[], Any],
) -> Callable[[], Awaitable[None]]:
    """``func`` (sync or async, no arguments) wrapped to run only in the lease holder."""

    async def run() -> None:
        if locks.shared(engine):
            period = interval() if callable(interval) else interval
            try:
                taken = await asyncio.to_thread(
                    locks.take_lease, engine, name, HOLDER, utcnow(), period * LEASE_SHARE
                )
            except Exception:
                log.exception("taking the lease of job %s failed; the next run tries again", name)
                return
            if not taken:
                log.debug("job %s ran in another process this period", name)
                return
        if inspect.iscoroutinefunction(getattr(func, "func", func)):
            await func()
        else:
            await asyncio.to_thread(func)  # a blocking job stays off the event loop

    run.__name__ = name
    return run
