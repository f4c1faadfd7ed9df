"""The poster downloader: a background job that fetches pending posters into
``<data_dir>/posters/`` once each, never on a page's path.

* Cues: a periodic job (:data:`INTERVAL`), a nudge after any commit that recorded new pending
  posters (``repo.record`` marks the connection; the service listens to the engine's commits),
  and a nudge when this process's sync runs end.
* Second to sync runs: while one executes (``busy``) no round starts. Posters are cosmetic; a
  large first import finds tens of thousands, and downloading them alongside the import and
  the server marks made the run take half as long again. They arrive right after the run.
  The import only stages what each page found (``repo.stage``); each round first turns staged
  pages into poster rows (``repo.unstage``).
* A few at a time (:data:`CONCURRENCY`); one download per URL (rows sharing it share the file).
* Through the Trakt proxy setting (:func:`~trakt_plugin.trakt.client.proxy_http_client`, the one
  place that builds an HTTP client for Trakt), with the product's User-Agent.
* Bounded: at most :data:`MAX_BYTES`, ``Content-Type: image/*`` (not SVG, which can carry
  script), and the bytes must be a WebP, PNG, JPEG, GIF or AVIF image. Anything else is refused
  (``failed``); a 404 means Trakt has none (``missing``).
* Failures sorted like every job's: transport errors, 429 and 5xx are retried later with a
  growing delay, at most :data:`MAX_ATTEMPTS` times, then ``failed``; other answers are
  permanent.
* Files are written 0600 (atomically: a temporary file, then a rename) into a 0700 directory,
  named by the content's hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, Engine, event

from ..trakt.client import DEFAULT_USER_AGENT, proxy_http_client
from . import repo

log = logging.getLogger(__name__)

T = TypeVar("T")

# The periodic cue; new posters also nudge the job at once (see the module docstring).
INTERVAL = timedelta(minutes=1)
# Downloads in flight at once: gentle with Trakt's image host and the proxy.
CONCURRENCY = 3
# A commit that recorded new posters nudges the job this much later (see _on_commit).
COMMIT_SETTLE = 0.5
# URLs taken per round of the job.
BATCH = 12
# Staged history pages (posters/repo.stage) turned into poster rows per round.
UNSTAGE_PAGES = 20
# A poster is a few tens of KiB; anything this large is not one.
MAX_BYTES = 2 * 1024 * 1024
# Transport errors, 429 and 5xx: tried this many times in all, then "failed".
MAX_ATTEMPTS = 5
# The wait before the n-th retry is RETRY_BASE * 2**(n-1): 1, 2, 4, 8 minutes.
RETRY_BASE = timedelta(minutes=1)
# One download may take this long in all (connect, redirects, body).
DOWNLOAD_TIMEOUT = 30.0
DIR_NAME = "posters"
ACCEPT = "image/webp,image/avif,image/png,image/jpeg,image/*;q=0.8"


def sniff(data: bytes) -> str | None:
    """The image format of ``data`` by its magic bytes (the file's extension), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "avif"
    return None


CONTENT_TYPES = {
    "webp": "image/webp",
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "avif": "image/avif",
}


@dataclass(frozen=True)
class Outcome:
    """What one download came to: ``ok`` (with the bytes), ``missing``, ``failed`` (refused,
    permanent) or ``retry`` (try again later)."""

    kind: str
    reason: str = ""
    data: bytes = b""
    ext: str = ""


class PosterService:
    """Downloads pending posters (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        proxy: Any,
        *,
        timeout: float = DOWNLOAD_TIMEOUT,
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self._engine = engine
        self._busy = busy  # a sync run is executing: wait for its end (module docstring)
        self.directory = (data_dir / DIR_NAME).resolve()
        self._proxy = proxy  # a callable giving the current proxy setting
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None
        self._http_proxy: str | None = None
        self._lock = asyncio.Lock()
        self._again = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False
        event.listen(engine, "commit", self._on_commit)
        event.listen(engine, "rollback", self._on_rollback)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._make_dir)
        self.nudge()  # what an earlier run left pending

    async def stop(self) -> None:
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _make_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    # ------------------------------------------------------------ cues

    def _on_commit(self, conn: Connection) -> None:
        # The event fires before the commit itself: a round started now could read the store
        # before the new rows are there and end, leaving them for the job's next minute.
        if conn.info.pop(repo.PENDING_FLAG, 0):
            self.nudge(delay=COMMIT_SETTLE)

    def _on_rollback(self, conn: Connection) -> None:
        conn.info.pop(repo.PENDING_FLAG, None)

    def nudge(self, delay: float = 0.0) -> None:
        """Run the downloader soon, after ``delay`` seconds (from any thread; a no-op before
        start)."""
        loop = self._loop
        if loop is None or self._stopped or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.call_later(delay, self._spawn)
        else:
            loop.call_soon_threadsafe(loop.call_later, delay, self._spawn)

    def _spawn(self) -> None:
        if self._stopped:
            return
        task = asyncio.get_running_loop().create_task(self.run_once())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ the job

    async def run_once(self) -> None:
        """Download what is due, round after round, until nothing is (the periodic job)."""
        if self._lock.locked():
            self._again = True  # the running round picks the new ones up
            return
        async with self._lock:
            try:
                await self._rounds()
            except Exception:
                log.exception("poster downloads failed; the next run tries again")

    async def _rounds(self) -> None:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(url: str) -> None:
            async with gate:
                try:
                    await self._download(url)
                except Exception:  # a store or disk failure: this URL waits for the next run
                    log.exception("poster download failed")

        while not self._stopped and not self._busy():
            self._again = False
            staged = await self._db(lambda conn: repo.unstage(conn, limit=UNSTAGE_PAGES))
            urls = await self._db(lambda conn: repo.due_urls(conn, limit=BATCH))
            await asyncio.gather(*(one(u) for u in urls))
            # A nudge while this round ran (even while it read nothing due): look again.
            if len(urls) < BATCH and not staged and not self._again:
                return

    async def _download(self, url: str) -> None:
        shared = await self._db(lambda conn: repo.file_of_url(conn, url))
        if shared and (self.directory / shared).is_file():
            await self._db(lambda conn: repo.finish(conn, url, state=repo.OK, path=shared))
            return
        try:
            outcome = await asyncio.wait_for(self.fetch(url), self._timeout)
        except TimeoutError:
            outcome = Outcome("retry", "timed out")
        host = urlsplit(url).hostname or "?"
        if outcome.kind == "ok":
            name = await asyncio.to_thread(self._write, outcome.data, outcome.ext)
            await self._db(lambda conn: repo.finish(conn, url, state=repo.OK, path=name))
        elif outcome.kind == "missing":
            await self._db(lambda conn: repo.finish(conn, url, state=repo.MISSING))
        elif outcome.kind == "failed":
            log.warning("poster from %s refused: %s", host, outcome.reason)
            await self._db(lambda conn: repo.finish(conn, url, state=repo.FAILED))
        else:

            def later(conn: Connection) -> None:
                tries = repo.attempts_of(conn, url) + 1
                if tries >= MAX_ATTEMPTS:
                    repo.finish(conn, url, state=repo.FAILED)
                else:
                    repo.retry_later(conn, url, after=RETRY_BASE * 2 ** (tries - 1))

            log.info("poster from %s not downloaded (%s); trying again later", host, outcome.reason)
            await self._db(later)

    async def fetch(self, url: str) -> Outcome:
        """One bounded GET of ``url`` through the proxy setting."""
        http = self._client()
        headers = {"User-Agent": DEFAULT_USER_AGENT, "Accept": ACCEPT}
        try:
            async with http.stream("GET", url, headers=headers, follow_redirects=True) as resp:
                status = resp.status_code
                if status in (404, 410):
                    return Outcome("missing", f"answered {status}")
                if status == 429 or status >= 500:
                    return Outcome("retry", f"answered {status}")
                if status != 200:
                    return Outcome("failed", f"answered {status}")
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if not ctype.startswith("image/") or ctype == "image/svg+xml":
                    return Outcome("failed", f"not an image ({ctype or 'no content type'})")
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_BYTES:
                    return Outcome("failed", f"too large ({declared} bytes)")
                data = bytearray()
                async for chunk in resp.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_BYTES:
                        return Outcome("failed", f"larger than {MAX_BYTES} bytes")
        except httpx.HTTPError as exc:
            return Outcome("retry", type(exc).__name__)
        ext = sniff(bytes(data[:16]))
        if ext is None:
            return Outcome("failed", f"the bytes are no image ({ctype})")
        return Outcome("ok", data=bytes(data), ext=ext)

    def _client(self) -> httpx.AsyncClient:
        """The HTTP client for the current proxy setting (rebuilt when it changes)."""
        proxy = self._proxy()
        if self._http is None or proxy != self._http_proxy:
            old = self._http
            self._http = proxy_http_client(proxy, self._timeout)
            self._http_proxy = proxy
            if old is not None:
                task = asyncio.get_running_loop().create_task(old.aclose())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return self._http

    def _write(self, data: bytes, ext: str) -> str:
        """Store ``data`` (0600, atomically) and return its file name."""
        self._make_dir()
        name = f"{hashlib.sha256(data).hexdigest()[:32]}.{ext}"
        target = self.directory / name
        if target.is_file():
            return name
        fd, temp_name = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.directory)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, target)  # the same bytes from a parallel download: either wins
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return name

    async def _db(self, work: Callable[[Connection], T]) -> T:
        def call() -> T:
            with self._engine.begin() as conn:
                return work(conn)

        return await asyncio.to_thread(call)
