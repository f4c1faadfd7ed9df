"""``/api/v1/test/clock``: read and move the product clock (test processes only).

The router is included only in a process started with ``TRAKT_PLUGIN_TEST_CLOCK=1`` (see
:mod:`trakt_plugin.clock`): otherwise the paths do not exist (404) and the OpenAPI document does
not name them. Like all of ``/api/v1`` it needs the bearer token. Tests use it to make scheduled
work (syncs, VIP checks, idle sessions, give-up, expiries, cache ages) fall due without sleeping.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from .. import clock
from ..jobs.scheduler import clock_moved
from .common import ERRORS, Ctx

router = APIRouter(tags=["test"], responses={k: ERRORS[k] for k in (401, 422)})

# Ten years: far beyond any interval of the product, small enough for datetime arithmetic.
MAX_ADVANCE = 10 * 366 * 86400


class ClockMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    advance_seconds: float = Field(
        ge=0, le=MAX_ADVANCE, allow_inf_nan=False, description="seconds to move ahead"
    )


class ClockNow(BaseModel):
    now: datetime = Field(description="the product clock's now (UTC)")
    offset_seconds: float = Field(description="how far it runs ahead of the real clock")
    jobs_due: int = Field(0, description="scheduled jobs the move made due at once")


def _answer(jobs_due: int = 0) -> ClockNow:
    return ClockNow(now=clock.now(), offset_seconds=clock.offset(), jobs_due=jobs_due)


@router.get("/test/clock", response_model=ClockNow)
async def read_clock(ctx: Ctx) -> ClockNow:
    """The product clock's now."""
    return _answer()


@router.post("/test/clock", response_model=ClockNow)
async def move_clock(body: ClockMove, ctx: Ctx) -> ClockNow:
    """Move the clock ahead; scheduled jobs come that much sooner and those due run once.
    Runs on the event loop, the scheduler's thread (see ``jobs.scheduler.clock_moved``)."""
    clock.advance(body.advance_seconds)
    scheduler = ctx.services.get("scheduler")
    due = clock_moved(scheduler, body.advance_seconds) if scheduler is not None else 0
    return _answer(due)
