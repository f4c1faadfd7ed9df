"""Periodic clean-up of expired one-time values and dashboard sessions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from ..context import AppContext
from ..store.models import OAuthState, utcnow

INTERVAL = timedelta(hours=6)


def purge_expired_states(ctx: AppContext) -> int:
    """Delete OAuth redirect states past their expiry, and ended dashboard sessions."""
    ctx.sessions.purge_expired()
    with ctx.engine.begin() as connection:
        result = connection.execute(
            delete(OAuthState).where(OAuthState.expires_at < utcnow())  # type: ignore[arg-type]
        )
        return int(getattr(result, "rowcount", 0) or 0)
