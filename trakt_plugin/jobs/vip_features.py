"""Periodic refresh of the VIP features (lists, recommendations) of every connected user.

Runs every :data:`INTERVAL` and right after a user (re)connects. Failures are per user and
feature (see :meth:`VipService.refresh_user`): unreachable Trakt → retried at the next run;
refused token → the connection service marks re-auth; a user no longer VIP → data dropped.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ..connections import ConnectionService
from ..context import AppContext
from ..enrich import enrichment
from .scheduler import add_periodic

# Lists and recommendations change as people use Trakt; a refresh costs 2 GETs plus one per
# list and user, which is nothing against 1000 GETs per 5 minutes.
INTERVAL = timedelta(hours=6)
JOB_ID = "vip-features"


async def refresh_vip_features(ctx: AppContext) -> None:
    await enrichment(ctx).vip.refresh_all()


def install(ctx: AppContext, scheduler: AsyncIOScheduler) -> None:
    """Add the periodic job and refresh a user's features when they (re)connect."""
    add_periodic(scheduler, JOB_ID, partial(refresh_vip_features, ctx), INTERVAL)
    connections: ConnectionService = ctx.services["connections"]

    async def on_connect(user_id: str) -> None:
        await enrichment(ctx).vip.refresh_user(user_id)

    connections.on_reconnected(on_connect)
