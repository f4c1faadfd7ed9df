"""Sync engine (SPEC §7): history, watchlist and ratings, each import / export / bidirectional.

``service.SyncService`` queues and runs; ``history``, ``watchlist`` and ``ratings`` are the
steps; ``run.RunState`` is what a running step shares; ``repo`` is the store work; ``items`` and
``matching`` decide when two plays or items are the same.
"""

from .service import DIRECTIONS, KINDS, SyncError, SyncService, scheduled_steps

__all__ = ["DIRECTIONS", "KINDS", "SyncError", "SyncService", "scheduled_steps"]
