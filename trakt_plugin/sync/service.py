"""The sync service: queues runs (one per user at a time), executes them as tasks, resumes them
after a restart, undoes export runs, and is what the scheduler and the connect hook call.

A run is ``GET /sync/last_activities`` and then, for each (kind, direction) step whose side
changed since the last good sync, that step. When nothing changed on either side the first
request is the whole run; a history change that our own writes caused (live scrobbles) counts as
no change, others are read newest first (``history.read_mode``). Failures are sorted like every
job's: re-authorisation needed (failed, says so), Trakt unavailable or rate-limited for too long
(failed: the next run retries), a plan limit (partial, names the limit).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from sqlalchemy import Connection
from sqlmodel import select

from ..config import Settings
from ..connections import ConnectionService, NotConfigured, TraktGateway
from ..context import AppContext
from ..store import locks
from ..store.models import (
    ACTIVE_RUN_STATUSES,
    MediaServer,
    SyncRun,
    TraktConnection,
    User,
    utcnow,
)
from ..trakt import errors
from ..trakt.models import LastActivities
from ..trakt.ratelimit import Priority
from . import history, ratings, repo, watched, watchlist
from .history import BATCH
from .items import aware
from .run import CountingSource, RunState, StopKind

log = logging.getLogger(__name__)

KINDS = ("history", "watchlist", "ratings")
DIRECTIONS = ("import", "export", "bidirectional")
FINISHED = ("succeeded", "partial", "failed")
# Trakt reports activities that never happened with the epoch (or not at all).
NEVER = ("None", "1970-01-01")

Step = tuple[str, str]


class SyncError(Exception):
    """A request the service refuses; the message is for people (→ 404/409)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def scheduled_steps(settings: Settings) -> list[Step]:
    """The steps of a scheduled (or first-after-connect) run, as the sync flags say."""
    flags = settings.sync
    steps: list[Step] = []
    if flags.auto_import_history and flags.auto_export_plays:
        steps.append(("history", "bidirectional"))
    elif flags.auto_import_history:
        steps.append(("history", "import"))
    elif flags.auto_export_plays:
        steps.append(("history", "export"))
    if flags.bidirectional_watchlist:
        steps.append(("watchlist", "bidirectional"))
    return steps


def _blank(marker: str) -> bool:
    return all(part.startswith(NEVER) for part in marker.split("|"))


MARKERS: dict[str, Callable[[LastActivities], str]] = {
    "history": history.marker,
    "watchlist": watchlist.marker,
    "ratings": ratings.marker,
}


class SyncService:
    """Owns the sync tasks of this process."""

    def __init__(
        self, ctx: AppContext, gateway: TraktGateway, connections: ConnectionService
    ) -> None:
        self._ctx = ctx
        self._gateway = gateway
        self._connections = connections
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()
        self._resumer: asyncio.Task[None] | None = None
        self._idle_listeners: list[Callable[[], None]] = []
        connections.on_reconnected(self.on_connected)

    @property
    def running(self) -> bool:
        """Whether a run is executing in this process (background work may wait for it)."""
        return bool(self._tasks)

    def on_idle(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the event loop) each time this process's last run ends."""
        self._idle_listeners.append(listener)

    # ------------------------------------------------------------ asking for runs

    async def request(
        self,
        user_id: str,
        kind: str,
        direction: str,
        *,
        dry_run: bool = False,
        trigger: str = "api",
        steps: list[Step] | None = None,
        server_id: str | None = None,
    ) -> SyncRun:
        """Queue a run, or return the user's active one (one run per user at a time).

        ``kind`` "watched" syncs with the media servers (``server_id``: one of them; None: each
        server where the user has a linked account); "all" includes it when such a server may
        exist."""
        if steps is None:
            if kind == watched.KIND:
                steps = watched.steps_for(direction, [], self._ctx.settings)
            else:
                kinds = KINDS if kind == "all" else (kind,)
                steps = [(k, direction) for k in kinds]
                if kind == "all" and await self._has_server(user_id):
                    steps = watched.steps_for(direction, steps, self._ctx.settings)
        async with self._lock:
            run = await asyncio.to_thread(
                self._create, user_id, kind, direction, dry_run, trigger, steps, None, server_id
            )
            if run.id not in self._tasks and run.status in ACTIVE_RUN_STATUSES:
                self._spawn(run.id)
        return run

    def _create(
        self,
        user_id: str,
        kind: str,
        direction: str,
        dry_run: bool,
        trigger: str,
        steps: list[Step],
        undo_of: str | None = None,
        server_id: str | None = None,
    ) -> SyncRun:
        with self._ctx.session() as session, session.begin():
            if session.get(User, user_id) is None:
                raise SyncError("user not found", 404)
            if server_id is not None and session.get(MediaServer, server_id) is None:
                raise SyncError("server not found", 404)
            connection = session.get(TraktConnection, user_id)
            if connection is None or connection.state != "connected":
                raise SyncError("the user is not connected to Trakt")
            active = session.exec(
                select(SyncRun)
                .where(SyncRun.user_id == user_id)
                .where(SyncRun.status.in_(ACTIVE_RUN_STATUSES))  # type: ignore[attr-defined]
            ).first()
            if active is not None:
                return active
            run = SyncRun(
                user_id=user_id,
                kind=kind,
                direction=direction,
                dry_run=dry_run,
                trigger=trigger,
                steps=json.dumps(steps),
                undo_of=undo_of,
                server_id=server_id,
            )
            session.add(run)
            return run

    async def undo(self, run_id: str) -> SyncRun:
        """Queue the undo of an export run: remove exactly what it added on Trakt."""
        original = await asyncio.to_thread(self._undoable, run_id)
        async with self._lock:
            run = await asyncio.to_thread(
                self._create,
                original.user_id,
                original.kind,
                "export",
                False,
                "undo",
                [],
                original.id,
            )
            if run.undo_of != original.id:
                raise SyncError("another run of this user is in progress; try again after it")
            if run.id not in self._tasks:
                self._spawn(run.id)
        return run

    def _undoable(self, run_id: str) -> SyncRun:
        with self._ctx.session() as session:
            run = session.get(SyncRun, run_id)
            if run is None:
                raise SyncError("run not found", 404)
            if run.undo_of is not None or run.dry_run:
                raise SyncError("only a real export run can be undone")
            marks_server = run.kind in (watched.KIND, "all")  # an import marks server items
            if run.direction not in ("export", "bidirectional") and not marks_server:
                raise SyncError("only export and bidirectional runs add to Trakt")
            if run.status not in ("succeeded", "partial"):
                raise SyncError("the run has not finished")
            earlier = session.exec(
                select(SyncRun).where(SyncRun.undo_of == run_id).where(SyncRun.status != "failed")
            ).first()
            if earlier is not None:
                raise SyncError("the run was already undone")
            return run

    async def on_connected(self, user_id: str) -> None:
        """A user (re)connected: their ledger goes out with the first sync (SPEC §4)."""
        await self._scheduled_run(user_id, "connect")

    async def sync_all(self) -> None:
        """The periodic job: one scheduled run per connected user."""
        users = await asyncio.to_thread(self._connected_users)
        for user_id in users:
            await self._scheduled_run(user_id, "schedule")

    async def _scheduled_run(self, user_id: str, trigger: str) -> None:
        steps = scheduled_steps(self._ctx.settings)
        if self._ctx.settings.sync.server_watched and await self._has_server(user_id):
            steps = watched.steps_for("bidirectional", steps, self._ctx.settings)
        if not steps:
            return
        kinds = {k for k, _ in steps}
        directions = {d for _, d in steps}
        kind = steps[0][0] if len(kinds) == 1 else "all"
        direction = directions.pop() if len(directions) == 1 else "bidirectional"
        try:
            await self.request(user_id, kind, direction, trigger=trigger, steps=steps)
        except SyncError as exc:
            log.info("scheduled sync not started: %s", exc)

    async def _has_server(self, user_id: str) -> bool:
        def read() -> bool:
            with self._ctx.engine.connect() as conn:
                return repo.has_server_identity(conn, user_id=user_id)

        return await asyncio.to_thread(read)

    def _connected_users(self) -> list[str]:
        with self._ctx.session() as session:
            query = select(TraktConnection.user_id).where(TraktConnection.state == "connected")
            return list(session.exec(query).all())

    # ------------------------------------------------------------ tasks

    def start(self) -> None:
        """At startup: resume the runs a crash or shutdown interrupted."""
        self._resumer = asyncio.get_running_loop().create_task(self._resume_interrupted())

    async def _resume_interrupted(self) -> None:
        for run_id in await asyncio.to_thread(self._interrupted_runs):
            log.info("resuming sync run %s", run_id)
            self._spawn(run_id)

    def _interrupted_runs(self) -> list[str]:
        with self._ctx.engine.connect() as conn:
            return list(repo.interrupted_runs(conn))

    def _spawn(self, run_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(run_id))
        self._tasks[run_id] = task
        task.add_done_callback(lambda _t: self._ended(run_id))

    def _ended(self, run_id: str) -> None:
        self._tasks.pop(run_id, None)
        if not self._tasks:
            for listener in self._idle_listeners:
                listener()

    async def wait(self, run_id: str) -> None:
        """Wait for a run of this process to end (tests and the bench)."""
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.shield(task)

    async def _execute(self, run_id: str) -> None:
        # Several processes (SPEC §13): a run executes in one of them; another that found it
        # unfinished at its start leaves it alone while its process is alive.
        claim = await asyncio.to_thread(locks.try_claim, self._ctx.engine, "sync-run", run_id)
        if claim is None:
            return
        try:
            await self._execute_claimed(run_id)
        finally:
            await asyncio.to_thread(claim.release)

    async def _execute_claimed(self, run_id: str) -> None:
        run = await asyncio.to_thread(self._load, run_id)
        if run is None or run.status not in ACTIVE_RUN_STATUSES:
            return
        started = time.monotonic()
        try:
            source = await self._connections.token_source(run.user_id)
            if source is None:
                raise SyncError("the user is not connected to Trakt")
            state = RunState(
                engine=self._ctx.engine,
                client=self._gateway.client(),
                source=CountingSource(source),
                run_id=run.id,
                user_id=run.user_id,
                dry_run=run.dry_run,
                checkpoint=json.loads(run.checkpoint or "{}"),
                requests_before=run.requests,
                server_id=run.server_id,
                servers=self._ctx.services.get("servers"),
            )
            for name in state.counts:
                state.counts[name] = int(getattr(run, name))
            state.progress_done, state.progress_total = run.progress_done, run.progress_total
            await state.db(
                lambda conn: repo.update_run(
                    conn,
                    run.id,
                    status="running",
                    started_at=aware(run.started_at or utcnow()),
                )
            )
            if run.undo_of is not None:
                await self._undo(state, run.undo_of)
            else:
                await self._steps(state, [(k, d) for k, d in json.loads(run.steps)])
            status = "partial" if state.partial_reasons else "succeeded"
            error = "; ".join(state.partial_reasons) or None
            await self._finish(state, status, error)
        except asyncio.CancelledError:
            raise  # shutdown: the run stays "running" and resumes at the next start
        except errors.ReauthRequired:
            await self._fail(run_id, "Trakt asks this user to sign in again; reconnect on Users")
        except (SyncError, errors.TraktError, NotConfigured) as exc:
            await self._fail(run_id, str(exc))
        except Exception as exc:
            log.exception("sync run %s failed", run_id)
            await self._fail(run_id, f"internal error ({type(exc).__name__})")
        finally:
            log.info("sync run %s ended after %.1f s", run_id, time.monotonic() - started)

    def _load(self, run_id: str) -> SyncRun | None:
        with self._ctx.session() as session:
            return session.get(SyncRun, run_id)

    async def _finish(self, state: RunState, status: str, error: str | None) -> None:
        values = state.run_values()
        await state.db(
            lambda conn: repo.update_run(
                conn,
                state.run_id,
                status=status,
                error=error,
                finished_at=utcnow(),
                **values,
            )
        )

    async def _fail(self, run_id: str, message: str) -> None:
        def write() -> None:
            with self._ctx.engine.begin() as conn:
                repo.update_run(conn, run_id, status="failed", error=message, finished_at=utcnow())

        await asyncio.to_thread(write)

    # ------------------------------------------------------------ a run's steps

    async def _steps(self, state: RunState, steps: list[Step]) -> None:
        reads = watched.read_ahead(state, steps)  # the servers' libraries, during the import
        try:
            await self._run_steps(state, steps, reads)
        finally:
            if reads is not None:
                reads.stop()

    async def _run_steps(
        self, state: RunState, steps: list[Step], reads: watched.LibraryReads | None
    ) -> None:
        checkpoint = state.checkpoint
        if "activities" not in checkpoint:
            activities = await state.call(lambda: state.client.last_activities(state.source))
            checkpoint["activities"] = activities.model_dump(mode="json")
            await state.commit()
        state.activities = LastActivities.model_validate(checkpoint["activities"])
        fresh: dict[str, str] = checkpoint.setdefault("fresh", {})
        for kind, direction in steps:
            if state.step_done(kind):
                continue
            if kind == watched.KIND:  # the servers keep no change marker: it always runs
                flags = self._ctx.settings.sync
                await watched.run(
                    state,
                    watched.Options(direction, flags.propagate_unwatched, flags.server_ratings),
                    reads,
                )
                checkpoint["written"] = bool(checkpoint.get("written")) or state.wrote
                await state.finish_step(kind, None)
                continue
            current = MARKERS[kind](state.activities)
            stored = await state.db(partial(repo.get_marker, user_id=state.user_id, kind=kind))
            trakt_changed = current != stored and not (stored is None and _blank(current))
            mode = None
            if kind == history.KIND and trakt_changed:
                mode = await state.db(
                    partial(
                        history.read_mode,
                        user_id=state.user_id,
                        current=current,
                        stored=stored,
                        full_every=timedelta(seconds=self._ctx.settings.sync.full_import_every),
                    )
                )
                trakt_changed = mode is not None  # None: only our own writes moved it
            try:
                ran = await self._step(state, kind, direction, trakt_changed, mode)
            except StopKind as exc:
                state.partial_reasons.append(str(exc))
                ran = False
            if not state.dry_run and (ran or not trakt_changed):
                fresh[kind] = current
            checkpoint["written"] = bool(checkpoint.get("written")) or state.wrote
            await state.finish_step(kind, None)
        if state.dry_run:
            return
        if checkpoint.get("written") and fresh:
            after = await state.call(lambda: state.client.last_activities(state.source))
            fresh = {kind: MARKERS[kind](after) for kind in fresh}
        full_at = None
        if history.KIND in fresh:
            full_at = history.full_read_at(state.phase(history.KIND))

        def save(conn: Connection) -> None:
            for kind, marker in fresh.items():
                repo.set_marker(conn, user_id=state.user_id, kind=kind, marker=marker)
            if full_at is not None:  # the safety net's clock (history.read_mode)
                repo.set_marker(
                    conn, user_id=state.user_id, kind=history.FULL_MARKER, marker=full_at
                )

        await state.commit(save)

    async def _step(
        self, state: RunState, kind: str, direction: str, trakt_changed: bool, mode: str | None
    ) -> bool:
        """Run one step if either side changed; True when it took in the Trakt side (all of it,
        or for the history as much as ``mode`` asked)."""
        importing = direction in ("import", "bidirectional")
        exporting = direction in ("export", "bidirectional")
        in_progress = bool(state.phase(kind))
        if kind == "history":
            local = await history.local_changes(state) if exporting else 0
            if not (in_progress or (importing and trakt_changed) or local):
                return False
            return await history.run(state, direction, mode)
        counter = watchlist.local_changes if kind == "watchlist" else ratings.local_changes
        local = await state.db(lambda conn: counter(conn, state.user_id)) if exporting else 0
        if not (in_progress or trakt_changed or local):
            return False
        state.phase(kind)["phase"] = "running"
        if kind == "watchlist":
            await watchlist.run(state, direction)
        else:
            await ratings.run(state, direction)
        # An export reads Trakt's side only to compare: what was added there is still to import,
        # so the marker must not move past it.
        return importing

    # ------------------------------------------------------------ undo

    async def _undo(self, state: RunState, original: str) -> None:
        ids = await state.db(lambda conn: repo.run_added_history_ids(conn, run_id=original))
        progress = state.phase("undo")
        start = int(progress.get("batch", 0)) * BATCH
        state.progress_total = -(-len(ids) // BATCH)
        for offset in range(start, len(ids), BATCH):
            batch = ids[offset : offset + BATCH]
            answer = await state.call(
                partial(
                    state.client.remove_history,
                    state.source,
                    {"ids": batch},
                    priority=Priority.BULK,
                )
            )
            missing = set(answer.not_found.ids)
            rows = [
                state.item_row(
                    "history",
                    "remove",
                    "not_found" if hid in missing else "removed",
                    {"trakt_history_id": hid},
                    trakt_id=hid,
                )
                for hid in batch
            ]
            progress["batch"] = int(progress.get("batch", 0)) + 1
            state.progress_done = progress["batch"]

            def work(conn: Connection, batch: list[int] = batch) -> None:
                repo.undo_plays(conn, run_id=original, removed=batch)

            await state.commit(work, rows)
        await watchlist.undo(state, original)
        await watched.undo(state, original)
