"""The scrobbling service of one process: recorder, drain, and the store work of jobs and API."""

from __future__ import annotations

import json
import logging
import random
from datetime import datetime, timedelta
from functools import partial

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ..config import Settings
from ..connections import ConnectionService, TraktGateway
from ..context import AppContext
from ..jobs import scrobble_jobs
from ..jobs.lease import once_per_period
from ..jobs.scheduler import add_periodic, scheduler_time
from ..store import locks, scrobble_repo
from ..store.engine import begin_write, write_lock
from ..store.models import Scrobble, utcnow
from .drain import Drain
from .outbox import EventRecorder, record_consequences, session_owner
from .policy import SessionState, finalise_idle
from .trakt_items import identifications
from .writes import Writes

log = logging.getLogger(__name__)

# Retry wake-ups live in memory: the outbox rows are the durable truth and every pending row is
# picked up again at start, so persisting these jobs would only add writes on the event loop.
RETRY_JOBSTORE = "scrobble-retries"
RETRYABLE_STATUSES = ("dead", "pending")
# Rows parked for the missing app credentials are released this soon after the credentials
# are saved (settings have no change signal the scrobbler could wait on; the check costs no
# store access while nothing waits).
APP_CREDENTIALS_CHECK = timedelta(seconds=30)
# Several processes (PostgreSQL): how often each looks for users whose rows nobody sends (their
# process died); the outbox claim keeps two from sending one user's rows.
OUTBOX_SWEEP_INTERVAL = timedelta(seconds=20)


class RowStateError(Exception):
    """The row is in a status that does not allow the operation (→ 409)."""


class ScrobbleService:
    """Everything scrobbling needs at run time, built once by :func:`install_scrobbling`."""

    def __init__(
        self,
        ctx: AppContext,
        gateway: TraktGateway,
        connections: ConnectionService,
        scheduler: AsyncIOScheduler,
    ) -> None:
        self.ctx = ctx
        self.scheduler = scheduler
        self.recorder = EventRecorder(ctx)
        self.drain = Drain(ctx, gateway, connections, self._schedule_retry, random.Random())
        scheduler.add_jobstore(MemoryJobStore(), RETRY_JOBSTORE)
        connections.on_reconnected(self.drain.resume)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        add_periodic(
            self.scheduler,
            "scrobble-idle-finalise",
            once_per_period(
                self.ctx.engine,
                "scrobble-idle-finalise",
                scrobble_jobs.IDLE_INTERVAL,
                partial(scrobble_jobs.finalise_idle_sessions, self),
            ),
            scrobble_jobs.IDLE_INTERVAL,
        )
        add_periodic(
            self.scheduler,
            "scrobble-event-retention",
            once_per_period(
                self.ctx.engine,
                "scrobble-event-retention",
                scrobble_jobs.RETENTION_INTERVAL,
                partial(scrobble_jobs.purge_old_events, self),
            ),
            scrobble_jobs.RETENTION_INTERVAL,
            first_run_in=scrobble_jobs.RETENTION_FIRST_RUN,
        )
        add_periodic(
            self.scheduler,
            "scrobble-app-credentials",
            self.release_app_waiting,
            APP_CREDENTIALS_CHECK,
        )
        if locks.shared(self.ctx.engine):
            # Rows a process left behind when it died are sent by the others (SPEC §13).
            add_periodic(
                self.scheduler, "scrobble-outbox-sweep", self.drain.sweep, OUTBOX_SWEEP_INTERVAL
            )
        await self.drain.start()

    async def stop(self) -> None:
        await self.drain.stop()

    async def release_app_waiting(self) -> None:
        """Periodic: send the rows that waited for the app credentials once they are set.
        A store failure is logged; the next run tries again."""
        try:
            released = await self.drain.release_app_waiting()
        except Exception:
            log.exception("releasing rows that waited for the app credentials failed")
            return
        if released:
            log.info("app credentials set: sending the waiting calls of %d users", len(released))

    def settings_changed(self, old: Settings, new: Settings) -> None:
        """A settings listener (any thread): new app credentials release the waiting rows at
        once instead of at the next periodic check."""
        if (old.client_id, old.client_secret) != (new.client_id, new.client_secret):
            self.drain.credentials_changed()

    def _schedule_retry(self, user_id: str, due: datetime) -> None:
        try:
            self.scheduler.add_job(
                scrobble_jobs.retry_due,
                "date",
                run_date=scheduler_time(due),  # due is a product-clock moment
                id=f"scrobble-retry:{user_id}",
                replace_existing=True,
                jobstore=RETRY_JOBSTORE,
                misfire_grace_time=None,
                args=(self, user_id),
            )
        except Exception:
            log.exception("could not schedule a scrobble retry (picked up again at start)")

    # ------------------------------------------------------------ store work (threads)

    def outbox_depth(self) -> int:
        with self.ctx.session() as session:
            return scrobble_repo.outbox_depth(session)

    def finalise_idle(self, now: datetime | None = None) -> list[str]:
        """Finalise idle sessions; returns the users whose drains have new rows."""
        now = now or utcnow()
        settings = self.ctx.settings
        idle_after = timedelta(seconds=settings.scrobble.idle_finalise)
        users: set[str] = set()
        # Under the recorder's write lock: an event arriving for a session at the moment it is
        # finalised is recorded either before (then the session is no longer idle) or after.
        with write_lock(self.ctx.engine), self.ctx.session() as session, session.begin():
            begin_write(session.connection())  # and of every other process (PostgreSQL)
            writes = Writes()
            for row in scrobble_repo.idle_sessions(session, before=now - idle_after):
                state = SessionState.from_dict(json.loads(row.state_json))
                decision = finalise_idle(
                    state,
                    now,
                    idle_after,
                    threshold=settings.scrobble_threshold,
                    auto_scrobble=settings.auto_scrobble,
                )
                row.state_json = json.dumps(decision.state.to_dict())
                row.open = False
                session.add(row)
                item = json.loads(row.item)
                wake = record_consequences(
                    session.connection(),
                    writes,
                    owner=session_owner(row.owner),
                    decision=decision,
                    item=item,
                    item_key=row.item_key,
                    session_key=row.session_key,
                    source=row.source,
                    event=None,
                    has_ids=bool(identifications(item)),
                )
                if wake:
                    users.add(wake)
            writes.flush(session.connection())
        return sorted(users)

    def purge_events(self, now: datetime | None = None) -> int:
        cutoff = (now or utcnow()) - timedelta(days=self.ctx.settings.events.retention_days)
        with self.ctx.session() as session, session.begin():
            return scrobble_repo.purge_events(session, before=cutoff)

    def retry(self, row_id: int) -> Scrobble | None:
        """Dead (or waiting) row → pending, due now; attempts are kept. None: no such row."""
        with self.ctx.session() as session, session.begin():
            row = session.get(Scrobble, row_id)
            if row is None:
                return None
            if row.status not in RETRYABLE_STATUSES:
                raise RowStateError(f"a {row.status} row cannot be retried")
            row.status = "pending"
            row.next_attempt_at = utcnow()
            row.first_failed_at = None  # a fresh give-up clock: a person asked for it
            row.parked_at = None
            if row.last_error == "not matched":
                row.ident = 0
            session.add(row)
            return row

    def discard(self, row_id: int) -> Scrobble | None:
        """Mark a row discarded: kept for the record, never sent, never pending again. The play
        it carries (a completion's) is marked not to export, ``play.sync_state = "discarded"``:
        the sync never sends it either (SPEC §7)."""
        from ..sync.repo import mark_play_discarded  # the sync owns the play's export state

        with self.ctx.session() as session, session.begin():
            row = session.get(Scrobble, row_id)
            if row is None:
                return None
            if row.status == "sent":
                raise RowStateError("a sent row cannot be discarded")
            row.status = "discarded"
            row.next_attempt_at = None
            session.add(row)
            if row.play_id is not None:
                mark_play_discarded(session.connection(), play_id=row.play_id)
            return row
