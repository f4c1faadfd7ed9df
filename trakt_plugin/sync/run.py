"""What every step of a run shares: counters, the request count, checkpoints, 429 pauses.

A step commits once per page or batch (:meth:`RunState.commit`): its store changes, the items'
outcomes, the run's counters and the checkpoint go in one short transaction, so a run cut by a
crash resumes right after the last commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from ..trakt import errors
from ..trakt.client import Page, TokenSource, TraktClient
from ..trakt.models import LastActivities
from . import repo
from .items import dumps

log = logging.getLogger(__name__)

T = TypeVar("T")

# The client itself retries a 429 a few times; past that the run waits Retry-After and goes on,
# up to this many consecutive waits per request before the run gives up (a block of ~minutes).
MAX_RATE_LIMIT_WAITS = 30
# A 429 without Retry-After (Cloudflare's own): wait this long.
DEFAULT_RATE_LIMIT_WAIT = 10.0
COUNTS = ("imported", "added", "removed", "skipped", "not_found")
# The watched kind's own counts (SPEC §12); every run carries them (zero for other kinds).
WATCHED_COUNTS = ("marked", "unmarked", "already", "not_in_library", "unmatched", "not_writable")
# A dry run's items have this outcome; they count under the action's counter.
PLANNED = "planned"
PLANNED_COUNTS = {"import": "imported", "add": "added", "remove": "removed", "mark": "marked",
                  "unmark": "unmarked"}  # fmt: skip
# Outcomes that count as "skipped": nothing to do, or not done and not an error.
SKIPPED_OUTCOMES = frozenset(
    {"skipped", "linked", "duplicate", "no_ids", "watched", "limit", "unsupported", "held"}
    | {"existing"}  # an add Trakt answered as already there
)


class StopKind(Exception):
    """A 420: adds of this kind stop; the run ends partial naming the limit."""


class CountingSource:
    """A token source that counts the requests made with it (every attempt asks for a token)."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source
        self.requests = 0

    @property
    def key(self) -> str:
        return self._source.key

    async def access_token(self) -> str:
        self.requests += 1
        return await self._source.access_token()

    async def refresh_after_401(self, failed_token: str) -> str:
        return await self._source.refresh_after_401(failed_token)


@dataclass
class RunState:
    """A run in progress (one per task)."""

    engine: Engine
    client: TraktClient
    source: CountingSource
    run_id: str
    user_id: str
    dry_run: bool
    checkpoint: dict[str, Any]
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((*COUNTS, *WATCHED_COUNTS), 0)
    )
    progress_done: int = 0
    progress_total: int = 0
    partial_reasons: list[str] = field(default_factory=list)
    wrote: bool = False  # something was written to Trakt (its last_activities moved)
    activities: LastActivities | None = None
    started: float = field(default_factory=time.monotonic)
    requests_before: int = 0
    # The watched kind: the run's server (None: all), the media-server service, and in a dry run
    # the plays the history step would have imported (the ledger does not hold them).
    server_id: str | None = None
    servers: Any = None
    planned_imports: list[tuple[dict[str, Any], datetime]] = field(default_factory=list)
    # ... and the local ratings the ratings import would have stored (None: the row dropped).
    planned_ratings: list[tuple[dict[str, Any], int | None]] = field(default_factory=list)

    # ------------------------------------------------------------ store

    async def db(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction, off the event loop."""

        def call() -> T:
            with self.engine.begin() as conn:
                return work(conn)

        return await asyncio.to_thread(call)

    def item_row(
        self,
        kind: str,
        action: str,
        outcome: str,
        item: dict[str, Any],
        *,
        detail: str | None = None,
        play_id: int | None = None,
        trakt_id: int | None = None,
    ) -> dict[str, Any]:
        """A run-item row; counts the outcome."""
        if outcome == PLANNED:
            self.counts[PLANNED_COUNTS.get(action, "skipped")] += 1
        elif outcome in self.counts:
            self.counts[outcome] += 1
        elif outcome in SKIPPED_OUTCOMES:
            self.counts["skipped"] += 1
        return {
            "run_id": self.run_id,
            "kind": kind,
            "action": action,
            "outcome": outcome,
            "item": dumps(item),
            "detail": detail[:200] if detail else None,
            "play_id": play_id,
            "trakt_id": trakt_id,
        }

    async def commit(
        self,
        work: Callable[[Connection], None] | None = None,
        items: list[dict[str, Any]] | None = None,
        **checkpoint: Any,
    ) -> None:
        """One page or batch done: its changes, outcomes, counters and checkpoint together."""
        self.checkpoint.update(checkpoint)
        snapshot = json.dumps(self.checkpoint)
        values = self.run_values()

        def write(conn: Connection) -> None:
            if work is not None:
                work(conn)
            repo.add_run_items(conn, items or [])
            repo.update_run(conn, self.run_id, checkpoint=snapshot, **values)

        await self.db(write)

    def run_values(self) -> dict[str, Any]:
        return {
            **self.counts,
            "requests": self.requests_before + self.source.requests,
            "progress_done": self.progress_done,
            "progress_total": self.progress_total,
        }

    def step_done(self, name: str) -> bool:
        return name in self.checkpoint.get("done", [])

    def phase(self, step: str) -> dict[str, Any]:
        """The checkpoint of one step (phase, page, batch...)."""
        value = self.checkpoint.setdefault("steps", {}).setdefault(step, {})
        assert isinstance(value, dict)
        return value

    async def finish_step(self, name: str, work: Callable[[Connection], None] | None) -> None:
        done = [*self.checkpoint.get("done", []), name]
        await self.commit(work, done=done)

    # ------------------------------------------------------------ Trakt

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """One request; a 429 the client gave up on pauses the run for Retry-After."""
        waits = 0
        while True:
            try:
                return await make()
            except errors.RateLimited as exc:
                waits += 1
                if waits > MAX_RATE_LIMIT_WAITS:
                    raise
                await self._pause(exc)

    async def pages(
        self,
        make: Callable[[int], AsyncIterator[Page[T]]],
        start_page: int,
        on_page: Callable[[Page[T]], Awaitable[bool | None]],
        *,
        read_ahead: bool = False,
    ) -> None:
        """Walk pages from ``start_page`` until the last, or until ``on_page`` answers True;
        a 429 pauses and resumes at the page that failed. ``read_ahead``: ask for the next page
        while ``on_page`` handles this one (only where every page is read: a stop would leave
        one request wasted)."""
        page_number = start_page
        waits = 0
        while True:
            source = make(page_number)
            pages = _ahead(source) if read_ahead else source
            try:
                async for page in pages:
                    stop = await on_page(page)
                    waits = 0
                    page_number = page.number + 1
                    if stop:
                        break
                return
            except errors.RateLimited as exc:
                waits += 1
                if waits > MAX_RATE_LIMIT_WAITS:
                    raise
                await self._pause(exc)
            finally:  # no request for the pages not read
                await _close(pages)
                if pages is not source:
                    await _close(source)

    async def _pause(self, exc: errors.RateLimited) -> None:
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RATE_LIMIT_WAIT
        log.info("sync run %s paused %.1f s by Trakt's rate limit", self.run_id, wait)
        await asyncio.sleep(wait)


async def _ahead(pages: AsyncIterator[Page[T]]) -> AsyncIterator[Page[T]]:
    """``pages``, the next one asked for while the caller handles the one given."""

    async def following() -> Page[T]:
        return await anext(pages)

    pending = asyncio.ensure_future(following())
    try:
        while True:
            try:
                page = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(following())
            yield page
    finally:
        pending.cancel()  # (nothing when it has ended)
        await asyncio.wait([pending])
        if not pending.cancelled():
            pending.exception()  # seen: the failure of a page nobody will handle is no error


async def _close(pages: AsyncIterator[Any]) -> None:
    close = getattr(pages, "aclose", None)
    if close is not None:
        await close()
