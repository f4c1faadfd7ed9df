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
503 (the sender may try again). Parsing and the write run in one worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from ..context import AppContext
from ..crypto import same_secret
from ..scrobble.outbox import body_hash
from ..store import scrobble_repo
from ..store.models import utcnow
from .model import SOURCES, BadPayload, Ignored, UnsupportedMediaType
from .parsers import parse_event

log = logging.getLogger(__name__)

# SPEC §5: bodies over 1 MiB are refused (a Plex payload with its thumbnail is far smaller).
MAX_BODY = 1024 * 1024
TOKEN_HEADER = "x-webhook-token"


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


class WebhookHandler:
    """The route's work, with the service it records into."""

    def __init__(self, ctx: AppContext, service: Any) -> None:
        self.ctx = ctx
        self.service = service

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

    def _process(
        self, source: str, content_type: str | None, body: bytes, received_at: datetime
    ) -> tuple[JSONResponse, str | None]:
        """Parse and record (in a worker thread); also returns whose drain to wake."""
        try:
            event = parse_event(source, content_type, body, received_at)
        except UnsupportedMediaType as exc:
            self._reject(source, 415, exc.reason, content_type, body, len(body))
            return _error(415, exc.reason), None
        except BadPayload as exc:
            self._reject(source, 400, exc.reason, content_type, body, len(body))
            return _error(400, exc.reason), None
        if isinstance(event, Ignored):
            return JSONResponse({"ignored": event.reason}, 200), None
        accepted = self.service.recorder.record(event, body_hash(source, body), received_at)
        answer: dict[str, Any] = {
            "event_id": accepted.event_id,
            "kind": accepted.kind,
            "user_id": accepted.user_id,
        }
        if accepted.duplicate:
            answer["duplicate"] = True
        return JSONResponse(answer, 202), accepted.wake

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
            response, wake = await asyncio.to_thread(
                self._process, source, content_type, body, received_at
            )
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
        if wake:
            self.service.drain.wake(wake)
        return response


def install_webhook_route(ctx: AppContext, app: Any, service: Any) -> None:
    """Register ``POST /webhooks/{source}`` on the root application."""
    handler = WebhookHandler(ctx, service)

    async def webhook(source: str, request: Request) -> JSONResponse:
        return await handler.handle(source, request)

    app.add_api_route(
        "/webhooks/{source}",
        webhook,
        methods=["POST"],
        include_in_schema=False,
        status_code=202,
    )
