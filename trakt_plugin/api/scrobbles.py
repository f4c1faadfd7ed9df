"""Scrobble outbox rows (list, retry, discard) and the rejected-webhook log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import BaseModel

from ..scrobble.service import RowStateError, ScrobbleService
from ..store import scrobble_repo
from ..store.models import RejectedDelivery, Scrobble, as_utc
from .common import ERRORS, MAX_INTEGER_CURSOR, Ctx, Cursor, Limit, integer_cursor, not_found

router = APIRouter(tags=["scrobbles"], responses=ERRORS)

StatusFilter = Literal["pending", "sent", "skipped", "dead", "discarded"]
# Row ids are SQLite integers: a larger number is no row of ours (and would not bind).
RowId = Annotated[int, Path(ge=1, lt=MAX_INTEGER_CURSOR, description="the row's id")]


class ScrobbleRow(BaseModel):
    """One Trakt call of the outbox (SPEC §9.1). ``parked``: waiting for a reconnect."""

    id: int
    user_id: str
    action: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    item: dict[str, Any]
    event_time: datetime
    progress: float | None
    parked: bool
    trakt_history_id: int | None


class ScrobbleList(BaseModel):
    items: list[ScrobbleRow]
    next_cursor: str | None


class RejectedRow(BaseModel):
    """A refused webhook body; ``body`` is its first bytes as text (undecodable bytes escaped)."""

    id: int
    received_at: datetime
    source: str
    status: int
    reason: str
    content_type: str | None
    size: int
    body: str


class RejectedList(BaseModel):
    items: list[RejectedRow]
    next_cursor: str | None


def scrobble_row(row: Scrobble) -> ScrobbleRow:
    assert row.id is not None
    return ScrobbleRow(
        id=row.id,
        user_id=row.user_id,
        action=row.action,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=as_utc(row.next_attempt_at) if row.status == "pending" else None,
        created_at=as_utc(row.created_at) or row.created_at,
        sent_at=as_utc(row.sent_at),
        item=json.loads(row.item),
        event_time=as_utc(row.event_time) or row.event_time,
        progress=row.progress,
        parked=row.parked_at is not None,
        trakt_history_id=row.trakt_history_id,
    )


def _service(request: Request) -> ScrobbleService:
    service: ScrobbleService = request.app.state.context.services["scrobbling"]
    return service


@router.get("/scrobbles", response_model=ScrobbleList)
def list_scrobbles(
    ctx: Ctx,
    user_id: str | None = None,
    status: StatusFilter | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ScrobbleList:
    """Outbox rows, newest first (``status`` also accepts ``discarded``)."""
    with ctx.session() as session:
        rows = scrobble_repo.list_scrobbles(
            session, user_id=user_id, status=status, before=integer_cursor(cursor), limit=limit + 1
        )
    page = rows[:limit]
    more = len(rows) > limit and page[-1].id is not None
    return ScrobbleList(
        items=[scrobble_row(r) for r in page],
        next_cursor=str(page[-1].id) if more else None,
    )


@router.post(
    "/scrobbles/{scrobble_id}/retry",
    response_model=ScrobbleRow,
    responses={409: {"description": "the row is sent, skipped or discarded"}},
)
def retry_scrobble(ctx: Ctx, request: Request, scrobble_id: RowId) -> ScrobbleRow:
    """A dead (or waiting) row goes back to pending and is sent at once; attempts are kept."""
    service = _service(request)
    try:
        row = service.retry(scrobble_id)
    except RowStateError as exc:
        raise HTTPException(409, str(exc)) from None
    if row is None:
        raise not_found("scrobble")
    service.drain.wake_threadsafe(row.user_id)
    return scrobble_row(row)


@router.delete(
    "/scrobbles/{scrobble_id}",
    status_code=204,
    response_class=Response,
    responses={409: {"description": "the row was already sent"}},
)
def discard_scrobble(ctx: Ctx, request: Request, scrobble_id: RowId) -> Response:
    """Discard a row: it is kept with status ``discarded`` and never sent or pending again."""
    try:
        row = _service(request).discard(scrobble_id)
    except RowStateError as exc:
        raise HTTPException(409, str(exc)) from None
    if row is None:
        raise not_found("scrobble")
    return Response(status_code=204)


@router.get("/webhooks/rejected", response_model=RejectedList)
def rejected(ctx: Ctx, limit: Limit = 100, cursor: Cursor = None) -> RejectedList:
    """Webhook deliveries answered 400, 413 or 415 (newest first, the last 200 kept)."""
    with ctx.session() as session:
        rows = scrobble_repo.list_rejected(session, before=integer_cursor(cursor), limit=limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return RejectedList(
        items=[_rejected(r) for r in page],
        next_cursor=str(page[-1].id) if more else None,
    )


def _rejected(row: RejectedDelivery) -> RejectedRow:
    assert row.id is not None
    return RejectedRow(
        id=row.id,
        received_at=as_utc(row.received_at) or row.received_at,
        source=row.source,
        status=row.status,
        reason=row.reason,
        content_type=row.content_type,
        size=row.size,
        body=bytes(row.body).decode("utf-8", "backslashreplace"),
    )
