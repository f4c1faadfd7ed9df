"""The in-process scheduler: APScheduler 3.x with in-memory job stores.

Jobs are coordinators: each has an interval constant and sorts its failures into "reauthorise",
"retry later" or "permanent" (see the job modules). Nothing durable lives in the scheduler:
periodic jobs are added at every start, and a scrobble retry's due time is the outbox row's
``next_attempt_at`` in the store, which the drain re-arms at start.

Time: APScheduler reads the real clock (``datetime.now`` inside the scheduler), the product reads
:mod:`trakt_plugin.clock`, which a test process can move ahead. Rather than teaching APScheduler a
second clock (its internals read ``datetime.now`` in several places), the scheduler stays on real
time and follows the product clock in two ways: a due time computed from the product clock is
converted with :func:`scheduler_time` before it is handed to the scheduler, and when the clock
jumps ahead :func:`clock_moved` brings every job's next run that much sooner (never before now)
and wakes the scheduler. A periodic job that fell due then runs once (jobs coalesce), as after a
suspended machine wakes up, and its next run is one interval after that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .. import clock

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


def scheduler_time(moment: datetime) -> datetime:
    """A moment of the product clock as the scheduler's (real) time, e.g. a retry's ``run_date``."""
    return moment - timedelta(seconds=clock.offset())


def product_time(moment: datetime) -> datetime:
    """A moment of the scheduler (a job's ``next_run_time``) on the product clock."""
    return moment + timedelta(seconds=clock.offset())


def clock_moved(scheduler: AsyncIOScheduler, seconds: float) -> int:
    """The product clock jumped ``seconds`` ahead: every scheduled job's next run comes that much
    sooner (never before now), then the scheduler looks for due jobs at once. Call it on the
    event loop (the scheduler's own thread), so no run is computed between two moves. Returns
    how many jobs fell due."""
    now = datetime.now(UTC)
    jump = timedelta(seconds=seconds)
    due = 0
    for job in scheduler.get_jobs():
        if job.next_run_time is None:  # paused
            continue
        moved = max(job.next_run_time - jump, now)
        if moved >= job.next_run_time:
            continue
        try:
            job.modify(next_run_time=moved)
        except JobLookupError:  # a one-off job that ran (and was removed) meanwhile
            continue
        due += moved <= now
    if scheduler.running:
        scheduler.wakeup()
    return due
