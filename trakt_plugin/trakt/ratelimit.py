"""Per-user request budget shared by every feature that talks to Trakt (docs §7.1).

* writes (POST/PUT/DELETE) of one user go out one at a time, at least `post_interval` seconds
  after the previous one *finished* (so their arrival at Trakt is never closer than that);
  waiting writes leave in priority order (scrobbles before bulk sync), then in arrival order;
* GETs of one user stay under `get_per_5min` in a rolling five-minute window; unauthenticated
  GETs share one app-wide bucket (Trakt counts them per client_id);
* a 429 pauses that user's bucket (writes and reads) for Retry-After.

The clock and sleep are injected so tests can check ordering without waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = ["APP_BUCKET", "GET_WINDOW", "Priority", "RateBudget"]

# Trakt: AUTHED_API_POST_LIMIT is 1 call per second per user.
DEFAULT_POST_INTERVAL = 1.0
# Trakt: AUTHED_API_GET_LIMIT / UNAUTHED_API_GET_LIMIT are 1000 calls per 5 minutes.
DEFAULT_GETS_PER_WINDOW = 1000
GET_WINDOW = 300.0
# Bucket of requests made without a user token (counted per app by Trakt).
APP_BUCKET = "__app__"

WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Priority(IntEnum):
    """Order of writes waiting in one user's queue (lower leaves first)."""

    SCROBBLE = 0  # live playback: "watching now" loses its meaning if it waits
    NORMAL = 1  # single writes from the API/dashboard, outbox history adds
    BULK = 2  # sync batches: can wait behind everything else


@dataclass
class _Bucket:
    next_write_at: float = 0.0
    paused_until: float = 0.0
    writing: bool = False
    gets: deque[float] = field(default_factory=deque)
    queue: list[tuple[int, int]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        """Wake everyone waiting for a change of this bucket."""
        self.changed.set()
        self.changed = asyncio.Event()


class RateBudget:
    """Rate budget for every Trakt user of one process (see the module docstring)."""

    def __init__(
        self,
        *,
        post_interval: float = DEFAULT_POST_INTERVAL,
        get_per_5min: int = DEFAULT_GETS_PER_WINDOW,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.post_interval = post_interval
        self.get_per_window = get_per_5min
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, _Bucket] = {}
        self._seq = itertools.count()

    def _bucket(self, key: str | None) -> _Bucket:
        name = key or APP_BUCKET
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket()
        return bucket

    def pause(self, key: str | None, seconds: float) -> None:
        """Hold every request of `key` for `seconds` (after a 429)."""
        bucket = self._bucket(key)
        bucket.paused_until = max(bucket.paused_until, self._clock() + seconds)
        bucket.notify()

    def paused_for(self, key: str | None) -> float:
        """Seconds left of a 429 pause for `key` (0 when not paused)."""
        return max(0.0, self._bucket(key).paused_until - self._clock())

    @asynccontextmanager
    async def slot(
        self, key: str | None, method: str, priority: int = Priority.NORMAL
    ) -> AsyncIterator[None]:
        """Wait for the budget, then hold the slot while the request is in flight."""
        if method.upper() in WRITE_METHODS:
            bucket = await self._acquire_write(key, priority)
            try:
                yield
            finally:
                bucket.writing = False
                bucket.next_write_at = max(bucket.next_write_at, self._clock() + self.post_interval)
                bucket.notify()
        else:
            await self._acquire_get(key)
            yield

    async def _acquire_get(self, key: str | None) -> None:
        bucket = self._bucket(key)
        while True:
            now = self._clock()
            while bucket.gets and bucket.gets[0] <= now - GET_WINDOW:
                bucket.gets.popleft()
            wait = bucket.paused_until - now
            if len(bucket.gets) >= self.get_per_window:
                wait = max(wait, bucket.gets[0] + GET_WINDOW - now)
            if wait <= 0:
                bucket.gets.append(now)
                return
            await self._sleep(wait)

    async def _acquire_write(self, key: str | None, priority: int) -> _Bucket:
        bucket = self._bucket(key)
        entry = (int(priority), next(self._seq))
        heapq.heappush(bucket.queue, entry)
        try:
            while True:
                if bucket.queue[0] != entry or bucket.writing:
                    await bucket.changed.wait()
                    continue
                now = self._clock()
                wait = max(bucket.next_write_at, bucket.paused_until) - now
                if wait <= 0:
                    heapq.heappop(bucket.queue)
                    bucket.writing = True
                    bucket.next_write_at = now + self.post_interval
                    bucket.notify()
                    return bucket
                await self._sleep(wait)
        except BaseException:
            if entry in bucket.queue:
                bucket.queue.remove(entry)
                heapq.heapify(bucket.queue)
                bucket.notify()
            raise
