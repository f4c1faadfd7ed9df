"""Scheduled work of the scrobbler: retries when due, idle sessions, old raw events.

All three live in memory job stores: the outbox rows are the durable truth (every pending row
is picked up again at start, a due retry at once), and periodic jobs are re-added at every
start. Failures: store errors are logged and the next run tries again; a retry wake-up cannot
fail (the drain worker sorts the row's own failures into park / retry later / dead).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..scrobble.service import ScrobbleService

log = logging.getLogger(__name__)

# Idle sessions are looked for this often: one finalises at most this long after its idle time.
IDLE_INTERVAL = timedelta(minutes=5)
# Raw events past events.retention_days are deleted once a day, the first time soon after start
# (a service restarted daily would otherwise never purge).
RETENTION_INTERVAL = timedelta(hours=24)
RETENTION_FIRST_RUN = timedelta(minutes=5)


async def retry_due(service: ScrobbleService, user_id: str) -> None:
    """A row of ``user_id`` fell due: wake the user's drain worker."""
    service.drain.wake(user_id)


async def finalise_idle_sessions(service: ScrobbleService) -> None:
    """Finalise sessions idle for ``scrobble.idle_finalise`` (SPEC §6), then send what they add."""
    try:
        users = await asyncio.to_thread(service.finalise_idle)
    except Exception:
        log.exception("finalising idle playback sessions failed; the next run tries again")
        return
    for user_id in users:
        service.drain.wake(user_id)


async def purge_old_events(service: ScrobbleService) -> None:
    """Delete raw webhook events older than ``events.retention_days`` (plays and rows stay)."""
    try:
        deleted = await asyncio.to_thread(service.purge_events)
    except Exception:
        log.exception("purging old webhook events failed; the next run tries again")
        return
    if deleted:
        log.info("deleted %d raw webhook events past their retention", deleted)
