"""The in-process scheduler: APScheduler 3.x with its job store in the service's own database.

Jobs are coordinators: each has an interval constant and sorts its failures into "reauthorise",
"retry later" or "permanent" (see the job modules). Job callables are module-level functions so
the SQLAlchemy job store can persist them by reference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine

log = logging.getLogger(__name__)

JOB_DEFAULTS = {
    # None: a retry that fell due while the process was down still runs at start (the 1 s default
    # would silently drop it).
    "misfire_grace_time": None,
    "coalesce": True,
    "max_instances": 1,
}


def build_scheduler(engine: Engine) -> AsyncIOScheduler:
    return AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")},
        job_defaults=JOB_DEFAULTS,
        timezone="UTC",
    )


def ensure_interval_job(
    scheduler: AsyncIOScheduler,
    job_id: str,
    func: Callable[..., Any],
    interval: timedelta,
    **kwargs: Any,
) -> None:
    """Add a periodic job unless it is already stored with the same interval.

    Re-adding with ``replace_existing=True`` at every start would push the next run back, so a
    stored job is kept as it is when its interval did not change.
    """
    existing = scheduler.get_job(job_id)
    trigger_interval = getattr(getattr(existing, "trigger", None), "interval", None)
    if existing is not None and trigger_interval == interval:
        return
    scheduler.add_job(
        func,
        "interval",
        id=job_id,
        seconds=interval.total_seconds(),
        replace_existing=True,
        **kwargs,
    )
