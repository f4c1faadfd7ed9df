"""Periodic re-read of each connected user's Trakt profile (username, VIP flags)."""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import select

from ..connections import ConnectionService
from ..context import AppContext
from ..store.models import TraktConnection

log = logging.getLogger(__name__)


def _connected_users(ctx: AppContext) -> list[str]:
    with ctx.session() as session:
        query = select(TraktConnection.user_id).where(TraktConnection.state == "connected")
        return list(session.exec(query).all())


async def check_vip(ctx: AppContext, connections: ConnectionService) -> None:
    """Failures are per user: a refused refresh marks that user for re-auth (the service does
    it), an unreachable Trakt is retried at the next interval, nothing here is fatal."""
    for user_id in await asyncio.to_thread(_connected_users, ctx):
        await connections.refresh_profile(user_id)
