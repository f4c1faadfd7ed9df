"""``POST /webhooks/{source}`` (SPEC §5): authenticate, bound, parse, record, answer.

| answer | when                                                                              |
|--------|-----------------------------------------------------------------------------------|
| 202    | ``{"event_id", "kind", "user_id"}`` once the event and its calls are committed     |
| 200    | ``{"ignored": reason}``: not playback of a movie or episode                        |
| 400    | ``{"error"}``: malformed body (kept in the rejected-deliveries log)                 |
| 401    | wrong or missing token (``?token=`` or ``X-Webhook-Token``, constant-time compare)  |
| 404    | unknown source                                                                    |
| 413    | body over 1 MiB (logged, first bytes kept)                                        |
| 415    | content type the source never sends (logged)                                      |

No input produces a 5xx: anything unexpected while handling a body is a 400 naming no
internals, and the body goes to the rejected log. Only a store that cannot be written answers
503 (the sender may try again).

Group commit (:class:`IngestWriter`): parsing and the write run in ONE writer thread. Requests
queue their bodies; the writer takes everything waiting (up to :data:`MAX_BATCH`), parses it and
records the events in one transaction (one bad event does not fail the others, see
:meth:`~..scrobble.outbox.EventRecorder.record_many`), and answers each request only after that
transaction committed. One thread and a FIFO queue: events are recorded in the order they
arrived, so a session's events keep their order. An idle writer takes a lone event at once (no
waiting for a batch to fill). When it finds several waiting, a burst is under way: it pauses
:data:`BURST_WAIT` for the rest of the burst first (a group-commit delay, as PostgreSQL's
``commit_delay`` applies only when other transactions are active). The burst then shares one
transaction, and the pause leaves the interpreter to the web server while it reads the burst's
requests: at concurrency 16 it cut the CPU per event by about a fifth here (interleaved runs with
and without it, ``bench/webhook_ingest.py``'s service), for at most half a millisecond more
latency under load.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from ..context import AppContext
from ..crypto import same_secret
from ..scrobble.outbox import Accepted, Delivery, body_hash
from ..store import scrobble_repo
from ..store.models import utcnow
from .model import SOURCES, BadPayload, Ignored, UnsupportedMediaType
from .parsers import parse_event

log = logging.getLogger(__name__)

# SPEC §5: bodies over 1 MiB are refused (a Plex payload with its thumbnail is far smaller).
MAX_BODY = 1024 * 1024
TOKEN_HEADER = "x-webhook-token"
# Events recorded per transaction at most: bounds how long the write lock is held (a few ms).
MAX_BATCH = 32
# The group-commit pause when a batch finds a burst waiting (see the module docstring): long
# enough for the web server to read a burst's requests, short beside a write (~3 ms).
BURST_WAIT = 0.0005


class TooLarge(Exception):
    """The body passed :data:`MAX_BODY`; ``head`` holds what was read."""

    def __init__(self, size: int, head: bytes) -> None:
        super().__init__(size)
        self.size = size
        self.head = head


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge(int(declared), b"")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        chunks.append(chunk)
        if size > MAX_BODY:
            raise TooLarge(size, b"".join(chunks))
    return b"".join(chunks)


@dataclass(frozen=True)
class Received:
    """A delivery whose body was read, waiting for the writer."""

    source: str
    content_type: str | None
    body: bytes
    received_at: datetime


@dataclass(frozen=True)
class Handled:
    """The writer's answer to one delivery: the response, a refusal to log, whose drain to wake."""

    response: JSONResponse
    reject: tuple[int, str] | None = None
    wake: str | None = None


Outcome = Handled | Exception
_Waiting = tuple[Received, asyncio.AbstractEventLoop, "asyncio.Future[Handled]"]


def _settle(waiting: Sequence[_Waiting], outcomes: Sequence[Outcome]) -> None:
    """On the event loop: hand each waiting request its outcome (unless it gave up)."""
    for (_, _, future), outcome in zip(waiting, outcomes, strict=True):
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class IngestWriter:
    """The single writer thread of webhook deliveries (group commit, see the module docstring).

    ``work`` handles a batch and returns one outcome per delivery, in order; it runs only in
    the writer thread. If it raises, every delivery of the batch gets that exception.
    """

    def __init__(
        self,
        work: Callable[[Sequence[Received]], list[Outcome]],
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self._work = work
        self._pause = pause
        self._queue: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def submit(self, received: Received) -> Handled:
        """Queue a delivery and wait until the writer handled it (its transaction committed)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Handled] = loop.create_future()
        self._ensure_started()
        self._queue.put((received, loop, future))
        return await future

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="webhook-writer", daemon=True
                )
                self._thread.start()

    def _next_batch(self) -> list[_Waiting]:
        """Wait for a delivery; take it with what else is waiting, after the burst pause when
        that is more than one (see the module docstring)."""
        batch = [self._queue.get()]
        self._take_waiting(batch)
        if 1 < len(batch) < MAX_BATCH:
            self._pause(BURST_WAIT)
            self._take_waiting(batch)
        return batch

    def _take_waiting(self, batch: list[_Waiting]) -> None:
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _run(self) -> None:
        # A daemon thread for the life of the process: requests in flight at shutdown are
        # awaiting their outcomes, which it still delivers; a kill loses only unanswered ones.
        while True:
            batch = self._next_batch()
            try:
                outcomes = self._work([received for received, _, _ in batch])
            except Exception as exc:
                outcomes = [exc] * len(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[int]] = {}
            for index, (_, loop, _) in enumerate(batch):
                by_loop.setdefault(loop, []).append(index)
            for loop, indexes in by_loop.items():
                if not loop.is_closed():
                    loop.call_soon_threadsafe(
                        _settle, [batch[i] for i in indexes], [outcomes[i] for i in indexes]
                    )


class WebhookHandler:
    """The route's work, with the service it records into."""

    def __init__(self, ctx: AppContext, service: Any) -> None:
        self.ctx = ctx
        self.service = service
        self.writer = IngestWriter(self._process_batch)

    def _reject(
        self,
        source: str,
        status: int,
        reason: str,
        content_type: str | None,
        body: bytes,
        size: int,
    ) -> None:
        try:
            with self.ctx.session() as session, session.begin():
                scrobble_repo.record_rejected(
                    session,
                    source=source,
                    status=status,
                    reason=reason,
                    content_type=content_type,
                    body=body,
                    size=size,
                )
        except Exception:
            log.exception("could not keep a rejected webhook body")

    def _parse(self, received: Received) -> Handled | Delivery:
        """Parse one body (in the writer thread): a final answer, or an event to record."""
        source, content_type, body = received.source, received.content_type, received.body
        try:
            event = parse_event(source, content_type, body, received.received_at)
        except UnsupportedMediaType as exc:
            return Handled(_error(415, exc.reason), reject=(415, exc.reason))
        except BadPayload as exc:
            return Handled(_error(400, exc.reason), reject=(400, exc.reason))
        if isinstance(event, Ignored):
            return Handled(JSONResponse({"ignored": event.reason}, 200))
        return Delivery(event, body_hash(source, body), received.received_at)

    def _process_batch(self, batch: Sequence[Received]) -> list[Outcome]:
        """Parse a batch and record its events in one transaction (in the writer thread)."""
        outcomes: list[Outcome | None] = [None] * len(batch)
        deliveries: list[Delivery] = []
        where: list[int] = []
        for index, received in enumerate(batch):
            try:
                parsed = self._parse(received)
            except Exception as exc:  # a parser bug: this body gets a 400, the others go on
                outcomes[index] = exc
                continue
            if isinstance(parsed, Handled):
                outcomes[index] = parsed
            else:
                deliveries.append(parsed)
                where.append(index)
        if deliveries:
            try:
                results: list[Accepted | Exception] = self.service.recorder.record_many(deliveries)
            except Exception as exc:  # the transaction itself failed: nothing was stored
                results = [exc] * len(deliveries)
            for index, result in zip(where, results, strict=True):
                outcomes[index] = result if isinstance(result, Exception) else _answer(result)
        assert all(outcome is not None for outcome in outcomes)
        return [outcome for outcome in outcomes if outcome is not None]

    async def handle(self, source: str, request: Request) -> JSONResponse:
        if source not in SOURCES:
            return _error(404, f"unknown source: use one of {', '.join(SOURCES)}")
        token = request.query_params.get("token") or request.headers.get(TOKEN_HEADER)
        if not same_secret(token, self.ctx.webhook_token):
            return _error(401, "missing or wrong webhook token")
        content_type = request.headers.get("content-type")
        try:
            body = await _read_body(request)
        except TooLarge as exc:
            reason = f"body over {MAX_BODY} bytes"
            await asyncio.to_thread(
                self._reject, source, 413, reason, content_type, exc.head, exc.size
            )
            return _error(413, reason)
        except Exception:
            return _error(400, "the body could not be read")
        received_at = utcnow()
        try:
            handled = await self.writer.submit(Received(source, content_type, body, received_at))
        except OperationalError:
            log.exception("the store could not record a webhook event")
            return _error(503, "the event could not be stored right now; send it again")
        except Exception as exc:
            log.exception("unexpected failure handling a %s webhook", source)
            reason = f"the event could not be processed ({type(exc).__name__})"
            await asyncio.to_thread(
                self._reject, source, 400, reason, content_type, body, len(body)
            )
            return _error(400, reason)
        if handled.reject is not None:
            status, reason = handled.reject
            await asyncio.to_thread(
                self._reject, source, status, reason, content_type, body, len(body)
            )
        if handled.wake:
            self.service.drain.wake(handled.wake)
        return handled.response


def _answer(accepted: Accepted) -> Handled:
    answer: dict[str, Any] = {
        "event_id": accepted.event_id,
        "kind": accepted.kind,
        "user_id": accepted.user_id,
    }
    if accepted.duplicate:
        answer["duplicate"] = True
    return Handled(JSONResponse(answer, 202), wake=accepted.wake)


def install_webhook_route(ctx: AppContext, app: Any, service: Any) -> None:
    """Register ``POST /webhooks/{source}`` on the root application.

    Each known source gets a route of its own at the front of the router: a delivery is matched
    at once, not after every dashboard page (about thirty routes, a regex each), and has no path
    parameter to validate. ``/webhooks/{source}`` behind them answers unknown sources (404).
    """
    handler = WebhookHandler(ctx, service)

    def endpoint(source: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def webhook(request: Request) -> JSONResponse:
            return await handler.handle(source, request)

        return webhook

    async def unknown_source(source: str, request: Request) -> JSONResponse:
        return await handler.handle(source, request)

    for source in SOURCES:
        _add_route(app, f"/webhooks/{source}", endpoint(source))
        app.router.routes.insert(0, app.router.routes.pop())
    _add_route(app, "/webhooks/{source}", unknown_source)


def _add_route(app: Any, path: str, endpoint: Callable[..., Awaitable[JSONResponse]]) -> None:
    app.add_api_route(path, endpoint, methods=["POST"], include_in_schema=False, status_code=202)
