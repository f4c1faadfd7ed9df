"""The in-process scheduler: APScheduler 3.x with in-memory job stores.

Jobs are coordinators: each has an interval constant and sorts its failures into "reauthorise",
"retry later" or "permanent" (see the job modules). Nothing durable lives in the scheduler:
periodic jobs are added at every start, and a scrobble retry's due time is the outbox row's
``next_attempt_at`` in the store, which the drain re-arms at start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

JOB_DEFAULTS = {
    # None: a retry that fell due while the process was down still runs at start (the 1 s default
    # would silently drop it).
    "misfire_grace_time": None,
    "coalesce": True,
    "max_instances": 1,
}


PERIODIC = "periodic"


def build_scheduler() -> AsyncIOScheduler:
    return AsyncIOScheduler(
        jobstores={"default": MemoryJobStore(), PERIODIC: MemoryJobStore()},
        job_defaults=JOB_DEFAULTS,
        timezone="UTC",
    )


def add_periodic(
    scheduler: AsyncIOScheduler,
    job_id: str,
    func: Callable[..., Any],
    interval: timedelta,
    *,
    first_run_in: timedelta | None = None,
) -> None:
    """A periodic in-memory job (first run after ``first_run_in``, default one interval)."""
    from datetime import UTC, datetime

    start = datetime.now(UTC) + (first_run_in if first_run_in is not None else interval)
    scheduler.add_job(
        func,
        "interval",
        id=job_id,
        seconds=interval.total_seconds(),
        next_run_time=start,
        jobstore=PERIODIC,
        replace_existing=True,
    )
