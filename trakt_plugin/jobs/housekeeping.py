"""Daily clean-up of expired one-time values."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from ..store.engine import make_engine
from ..store.models import OAuthState, utcnow

INTERVAL = timedelta(hours=6)


def purge_expired_states(database_url: str) -> int:
    """Delete OAuth redirect states past their expiry. Permanent failures are only logged."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            result = connection.execute(
                delete(OAuthState).where(OAuthState.expires_at < utcnow())  # type: ignore[arg-type]
            )
            return int(result.rowcount or 0)
    finally:
        engine.dispose()
