"""Sync runs: start one, list them, read one with its per-item outcomes, undo an export."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from ..store.models import SyncRun, as_utc
from ..sync import SyncError, SyncService
from ..sync import repo as sync_repo
from ..sync.items import iso
from ..sync.run import COUNTS, WATCHED_COUNTS
from .common import ERRORS, MAX_INTEGER_CURSOR, Ctx, Cursor, Limit, integer_cursor

router = APIRouter(tags=["sync"], responses=ERRORS)

RUN = SyncRun.__table__  # type: ignore[attr-defined]
# Items shown with a run by default; a 20,000-play import pages through ?items_cursor=.
DEFAULT_RUN_ITEMS = 1000
# Items shown with each run of the list (§9.1: a run carries "items"); the rest are read with
# GET /sync/runs/{run_id}, from the run's items_next_cursor.
LIST_RUN_ITEMS = 20


class SyncRequest(BaseModel):
    kind: Literal["history", "watchlist", "ratings", "watched", "all"] = "all"
    direction: Literal["import", "export", "bidirectional"] = "bidirectional"
    dry_run: bool = False
    # The watched kind: one media server (None: every server where the user has an account).
    server_id: Annotated[str | None, Field(max_length=36)] = None


class Accepted(BaseModel):
    run_id: str
    status: str


class RunList(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


def service_of(request: Request) -> SyncService:
    service: SyncService = request.app.state.context.services["sync"]
    return service


def _time(value: Any) -> str | None:
    moment = as_utc(value)
    return iso(moment) if moment is not None else None


def run_public(
    conn: Connection, row: Any, *, items_limit: int = DEFAULT_RUN_ITEMS, after: int = 0
) -> dict[str, Any]:
    """A run in §9.1 shape (plus progress, steps, duration and an items cursor)."""
    items = sync_repo.run_items(conn, run_id=row.id, after=after, limit=items_limit + 1)
    started, finished = as_utc(row.started_at), as_utc(row.finished_at)
    steps = json.loads(row.steps or "[]")
    # The watched kind's counts (§12) come with the runs that have its step (an undo: its run's).
    counted = (*COUNTS, *WATCHED_COUNTS) if row.kind in ("watched", "all") else COUNTS
    duration = (finished - started).total_seconds() if started and finished else None
    return {
        "id": row.id,
        "user_id": row.user_id,
        "kind": row.kind,
        "direction": row.direction,
        "dry_run": bool(row.dry_run),
        "status": row.status,
        "server_id": row.server_id,
        "counts": {name: getattr(row, name) for name in counted},
        "requests": row.requests,
        "started_at": _time(row.started_at),
        "finished_at": _time(row.finished_at),
        "duration_seconds": duration,
        "error": row.error,
        "trigger": row.trigger,
        "undo_of": row.undo_of,
        "steps": [{"kind": k, "direction": d} for k, d in steps],
        "progress": {"done": row.progress_done, "total": row.progress_total},
        "items": [
            {
                "action": item["action"],
                "kind": item["kind"],
                "item": json.loads(item["item"]),
                "outcome": item["outcome"],
                "detail": item["detail"],
            }
            for item in items[:items_limit]
        ],
        "items_next_cursor": str(items[items_limit - 1]["id"])
        if len(items) > items_limit and items_limit > 0
        else None,
    }


def _refused(exc: SyncError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


@router.post("/users/{user_id}/sync", status_code=202, response_model=Accepted)
async def start_sync(ctx: Ctx, user_id: str, body: SyncRequest, request: Request) -> Accepted:
    """Queue a run; while one of the user's runs is active, that one is answered."""
    try:
        run = await service_of(request).request(
            user_id, body.kind, body.direction, dry_run=body.dry_run, server_id=body.server_id
        )
    except SyncError as exc:
        raise _refused(exc) from None
    return Accepted(run_id=run.id, status=run.status)


@router.get("/sync/runs", response_model=RunList)
def list_runs(
    ctx: Ctx,
    user_id: Annotated[str | None, Query()] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> RunList:
    """Runs, newest first, each with its first 20 items (``items_next_cursor`` is set when it
    has more: read the run itself with ``?items_cursor=`` for the rest)."""
    offset = integer_cursor(cursor) or 0
    query = sa.select(RUN).order_by(RUN.c.created_at.desc()).offset(offset).limit(limit + 1)
    if user_id is not None:
        query = query.where(RUN.c.user_id == user_id)
    with ctx.engine.connect() as conn:
        rows = list(conn.execute(query))
        items = [run_public(conn, row, items_limit=LIST_RUN_ITEMS) for row in rows[:limit]]
    return RunList(items=items, next_cursor=str(offset + limit) if len(rows) > limit else None)


@router.get("/sync/runs/{run_id}")
def get_run(
    ctx: Ctx,
    run_id: str,
    items_limit: Annotated[int, Query(ge=0, le=10000)] = DEFAULT_RUN_ITEMS,
    items_cursor: Annotated[int, Query(ge=0, lt=MAX_INTEGER_CURSOR)] = 0,
) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        row = conn.execute(sa.select(RUN).where(RUN.c.id == run_id)).first()
        if row is None:
            raise HTTPException(404, "run not found")
        return run_public(conn, row, items_limit=items_limit, after=items_cursor)


@router.post("/sync/runs/{run_id}/undo", status_code=202)
async def undo_run(ctx: Ctx, run_id: str, request: Request) -> JSONResponse:
    """Remove from Trakt exactly what an export run added (by history id)."""
    try:
        run = await service_of(request).undo(run_id)
    except SyncError as exc:
        raise _refused(exc) from None
    return JSONResponse({"run_id": run.id, "status": run.status}, status_code=202)
