"""The outbox drain: one asyncio worker per user sends that user's pending rows in event order.

The store is the durable truth; the in-memory part is only a wake-up. The webhook route wakes a
user's worker right after its commit (no polling delay); at startup every user with pending rows
is woken (kill -9 safety). A row not yet due makes the worker schedule an APScheduler date job
(``jobs.scrobble_jobs.retry_due``) and sleep until it or a new event wakes it. A user whose
connection needs re-authorisation has their rows parked; :meth:`Drain.resume` (registered with
``ConnectionService.on_reconnected``) releases them. While the Trakt app credentials (client id
and secret) are missing, rows are parked with :data:`APP_CREDENTIALS_REASON` instead, and
:meth:`Drain.release_app_waiting` (at start and periodically) releases them once the credentials
are configured.

Completions are written ahead: before a stop or history add goes out the row is marked
``ambiguous``, so a crash mid-request makes the next attempt read Trakt's history first.

Several processes on one PostgreSQL (SPEC §13): each step (read the next row, send it, store the
outcome) runs under the user's claim (``store.locks.try_claim``, an advisory lock the server drops
if the process dies), so one process at a time sends a user's rows, in order, and a row whose
outcome was stored is never sent again by another. A process that finds the claim taken looks
again after :data:`CLAIM_RETRY`; every process sweeps for users with waiting rows periodically.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from ..connections import ConnectionService, NotConfigured, TraktGateway
from ..context import AppContext
from ..store import locks, scrobble_repo
from ..store.engine import write_lock
from ..store.models import Play, Scrobble, as_utc, utcnow
from .attempt import Attempt, Job, Outcome
from .policy import should_skip_stale, use_history_for_late_completion

log = logging.getLogger(__name__)

# The first retry waits about half a request timeout (see attempt.backoff).
RETRY_BASE_SHARE = 0.5
# A request that timed out may still be processed by Trakt for a while: an ambiguous write is
# checked against the history only this many request timeouts after it was sent.
SETTLE_TIMEOUTS = 2

# Several processes (SPEC §13): the advisory claim of a user's queue, and how soon a process that
# found it taken looks again.
CLAIM_NAMESPACE = "outbox"
CLAIM_RETRY = timedelta(seconds=1)

# Why rows wait while the app itself cannot talk to Trakt (not a matter of the user's connection).
APP_CREDENTIALS_REASON = (
    "waiting for the Trakt app credentials: set client id and client secret (settings page)"
)
RECONNECT_REASON = "waiting for the user to (re)connect Trakt"

Scheduler = Callable[[str, datetime], None]


class Drain:
    """Per-user senders of the outbox."""

    def __init__(
        self,
        ctx: AppContext,
        gateway: TraktGateway,
        connections: ConnectionService,
        schedule_retry: Scheduler,
        rng: random.Random | None = None,
    ) -> None:
        self._ctx = ctx
        self._gateway = gateway
        self._connections = connections
        self._schedule_retry = schedule_retry
        self._rng = rng or random.Random()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # Shared with the webhook recorder: the drain's short writes queue behind an ingest
        # batch in this lock instead of sleeping in SQLite's busy handler (and vice versa).
        self._write = write_lock(ctx.engine)
        # Users whose rows wait for the app credentials; None until the store was asked once
        # (rows parked by an earlier process are found there).
        self._app_waiting: set[str] | None = None

    # ------------------------------------------------------------ waking

    def wake(self, user_id: str) -> None:
        """Make the user's worker look at the outbox now (starting it if needed)."""
        if self._closing:
            return
        signal = self._wakes.get(user_id)
        if signal is None:  # not setdefault(): that builds an Event on every delivery
            signal = self._wakes[user_id] = asyncio.Event()
        signal.set()
        task = self._tasks.get(user_id)
        if task is None or task.done():
            self._tasks[user_id] = asyncio.create_task(self._run(user_id), name=f"drain-{user_id}")

    def wake_threadsafe(self, user_id: str) -> None:
        """:meth:`wake` from a worker thread (sync API routes)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.wake, user_id)

    async def start(self) -> None:
        """Pick up every pending row left by the previous process."""
        self._loop = asyncio.get_running_loop()
        await self.release_app_waiting()
        users = await asyncio.to_thread(self._users_with_pending)
        for user_id in users:
            self.wake(user_id)

    async def release_app_waiting(self) -> list[str]:
        """Once the app credentials are configured: release and send the rows that waited for
        them. Returns the users released. Cheap when there is nothing to do (no store access)."""
        if not self._gateway.configured:
            return []
        if self._app_waiting is not None and not self._app_waiting:
            return []
        users = await asyncio.to_thread(self._users_parked_for_app)
        users |= self._app_waiting or set()
        self._app_waiting = set()
        for user_id in sorted(users):
            await self.resume(user_id)
        return sorted(users)

    def credentials_changed(self) -> None:
        """Settings were saved (any thread): release rows waiting for the app credentials."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._closing:
            return

        def release() -> None:
            task = loop.create_task(self.release_app_waiting())
            task.add_done_callback(_log_failure)

        loop.call_soon_threadsafe(release)

    async def resume(self, user_id: str) -> None:
        """After a (re)connect: release the user's parked rows and send them."""
        await asyncio.to_thread(self._unpark, user_id)
        self.wake(user_id)

    async def stop(self) -> None:
        self._closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------ store access (threads)

    def _users_with_pending(self) -> list[str]:
        with self._ctx.session() as session:
            return scrobble_repo.users_with_pending(session)

    def _users_parked_for_app(self) -> set[str]:
        with self._ctx.session() as session:
            return set(scrobble_repo.users_parked(session, reason=APP_CREDENTIALS_REASON))

    def _unpark(self, user_id: str) -> None:
        with self._write, self._ctx.session() as session, session.begin():
            scrobble_repo.unpark_user(session, user_id=user_id, now=utcnow())

    def _next(self, user_id: str) -> Scrobble | None:
        with self._ctx.session() as session:
            return scrobble_repo.next_pending(session, user_id=user_id)

    def _known_history_ids(self, row: Scrobble) -> frozenset[int]:
        with self._ctx.session() as session:
            ids = session.exec(
                select(Play.trakt_history_id).where(
                    Play.user_id == row.user_id,
                    Play.item_key == row.item_key,
                    col(Play.trakt_history_id).is_not(None),
                    col(Play.id) != (row.play_id or -1),
                )
            ).all()
        return frozenset(int(i) for i in ids if i is not None)

    def _update(self, row_id: int, **fields: Any) -> None:
        with self._write, self._ctx.session() as session, session.begin():
            row = session.get(Scrobble, row_id)
            if row is None:
                return
            if row.status != "pending" and fields.get("status") in (None, "pending"):
                return  # skipped or discarded meanwhile: a retry must not revive it
            for name, value in fields.items():
                setattr(row, name, value)
            session.add(row)
            history_id = fields.get("trakt_history_id")
            if history_id is not None and row.play_id is not None:
                play = session.get(Play, row.play_id)
                if play is not None:
                    play.trakt_history_id = history_id
                    session.add(play)

    def _park(self, user_id: str, reason: str) -> None:
        with self._write, self._ctx.session() as session, session.begin():
            scrobble_repo.park_user(session, user_id=user_id, now=utcnow(), reason=reason)

    # ------------------------------------------------------------ the worker

    async def _run(self, user_id: str) -> None:
        wake = self._wakes.setdefault(user_id, asyncio.Event())
        while not self._closing:
            wake.clear()
            try:
                # One process at a time sends a user's rows (several processes on PostgreSQL),
                # from reading the next row to storing its outcome; granted at once on SQLite.
                claim = await asyncio.to_thread(
                    locks.try_claim, self._ctx.engine, CLAIM_NAMESPACE, user_id
                )
                if claim is None:
                    # Another process is sending them: look again shortly, so a row queued
                    # here is never left behind when that process is done.
                    self._schedule_retry(user_id, utcnow() + CLAIM_RETRY)
                    await wake.wait()
                    continue
                try:
                    step = await self._step(user_id, wake)
                finally:
                    await asyncio.to_thread(claim.release)
                # A wake-up that came while the claim was being released is for a row stored
                # after this step looked: look again rather than end with it unheard (a
                # resume's start once waited for the next event that way).
                if step == "done" and not wake.is_set():
                    return
                if step == "wait":
                    await wake.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Never let a bug kill the user's worker silently: log, pause, go on.
                log.exception("scrobble drain error for one user; retrying shortly")
                self._schedule_retry(user_id, utcnow() + timedelta(seconds=5))
                await wake.wait()

    async def _step(self, user_id: str, wake: asyncio.Event) -> str:
        """Send the user's next row if due: "next", "wait" (for a wake-up) or "done"."""
        row = await asyncio.to_thread(self._next, user_id)
        if row is None:
            return "next" if wake.is_set() else "done"
        due = self._due(row)
        if due is not None and due > utcnow():
            self._schedule_retry(user_id, due)
            return "wait"
        if not await self._attempt(row):
            return "done"  # parked: resume() wakes the worker again
        return "next"

    async def sweep(self) -> None:
        """Wake every user with rows waiting (several processes: rows whose process died)."""
        for user_id in await asyncio.to_thread(self._users_with_pending):
            task = self._tasks.get(user_id)
            if task is None or task.done():
                self.wake(user_id)

    def _settle(self) -> timedelta:
        """How long a request that got no answer may still be processed by Trakt."""
        return timedelta(seconds=self._ctx.settings.scrobble.http_timeout * SETTLE_TIMEOUTS)

    def _due(self, row: Scrobble) -> datetime | None:
        """When the row may go: an ambiguous one not before its last try has settled."""
        due = as_utc(row.next_attempt_at)
        last = as_utc(row.last_attempt_at)
        if row.ambiguous and last is not None:
            settled = last + self._settle()
            due = settled if due is None else max(due, settled)
        return due

    async def _attempt(self, row: Scrobble) -> bool:
        """One attempt at ``row``; False when the user's rows were parked."""
        assert row.id is not None
        settings = self._ctx.settings.scrobble
        now = utcnow()
        event_time = as_utc(row.event_time) or now
        first_failed = as_utc(row.first_failed_at)
        if first_failed is not None and now - first_failed > timedelta(
            seconds=settings.give_up_after
        ):
            reason = f"gave up after {settings.give_up_after} s of failures: {row.last_error}"
            await asyncio.to_thread(self._update, row.id, status="dead", last_error=reason[:500])
            return True
        if should_skip_stale(row.action, event_time, now, timedelta(seconds=settings.stale_start)):
            note = "stale: older than scrobble.stale_start, no longer watching now"
            await asyncio.to_thread(
                self._update, row.id, status="skipped", last_error=note, next_attempt_at=None
            )
            return True
        # The app credentials first: without them no user has a token source either, and the
        # rows must say what they really wait for.
        if not self._gateway.configured:
            return await self._wait_for_app(row.user_id)
        user = await self._connections.token_source(row.user_id)
        if user is None:
            if not self._gateway.configured:  # removed in the meantime
                return await self._wait_for_app(row.user_id)
            await asyncio.to_thread(self._park, row.user_id, RECONNECT_REASON)
            return False
        try:
            client = self._gateway.client()
        except NotConfigured:
            return await self._wait_for_app(row.user_id)
        action = row.action
        late = use_history_for_late_completion(
            event_time, now, timedelta(seconds=settings.live_window)
        )
        if row.completion and action == "scrobble_stop" and late:
            action = "history_add"  # Trakt would stamp a stop with now, not the real time
        job = Job(
            id=row.id,
            action=action,
            item=json.loads(row.item),
            progress=row.progress,
            event_time=event_time,
            watched_at=as_utc(row.watched_at) or (event_time if action == "history_add" else None),
            completion=row.completion,
            ambiguous=row.ambiguous,
            ident=row.ident,
            attempts=row.attempts,
        )
        if row.completion:
            known = await asyncio.to_thread(self._known_history_ids, row)
            job = replace(job, known_history_ids=known)
            # Written ahead: a crash from here on leaves the row marked for a history check.
            await asyncio.to_thread(
                self._update,
                row.id,
                action=action,
                watched_at=job.watched_at,
                ambiguous=True,
                last_attempt_at=now,
            )
        attempt = Attempt(
            client,
            user,
            job,
            now=now,
            retry_base=settings.http_timeout * RETRY_BASE_SHARE,
            settle=self._settle(),
            rng=self._rng,
        )
        outcome = await attempt.run(action)
        if outcome.status == "park":
            await asyncio.to_thread(self._store_sync, row, outcome, job)
            await asyncio.to_thread(self._park, row.user_id, outcome.error or "reconnect Trakt")
            return False
        await self._store(row, outcome, job)
        return True

    async def _wait_for_app(self, user_id: str) -> bool:
        """Park the user's rows until the app credentials are configured; always False."""
        await asyncio.to_thread(self._park, user_id, APP_CREDENTIALS_REASON)
        if self._app_waiting is None:
            self._app_waiting = set()
        self._app_waiting.add(user_id)
        return False

    async def _store(self, row: Scrobble, outcome: Outcome, job: Job | None = None) -> None:
        await asyncio.to_thread(self._store_sync, row, outcome, job)

    def _store_sync(self, row: Scrobble, outcome: Outcome, job: Job | None) -> None:
        assert row.id is not None
        now = utcnow()
        fields: dict[str, Any] = {
            "attempts": row.attempts + 1,
            "last_error": outcome.error[:500] if outcome.error else None,
            "last_attempt_at": now,
        }
        if outcome.ident is not None:
            fields["ident"] = outcome.ident
        if outcome.status == "sent":
            fields.update(
                status="sent",
                sent_at=now,
                next_attempt_at=None,
                ambiguous=False,
                trakt_history_id=outcome.history_id,
            )
        elif outcome.status == "dead":
            fields.update(status="dead", next_attempt_at=None, ambiguous=False)
        elif outcome.status == "retry":
            fields.update(
                next_attempt_at=outcome.retry_at,
                first_failed_at=as_utc(row.first_failed_at) or now,
                ambiguous=bool(row.ambiguous or outcome.ambiguous),
            )
        else:  # park: the give-up clock starts (it stops while parked)
            fields.update(
                first_failed_at=as_utc(row.first_failed_at) or now,
                ambiguous=bool(row.ambiguous),
            )
        if job is not None and not row.completion:
            fields.pop("ambiguous", None)
        self._update(row.id, **fields)


def _log_failure(task: asyncio.Task[list[str]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "releasing rows after the app credentials were set failed", exc_info=task.exception()
        )
