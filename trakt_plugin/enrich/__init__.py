"""Enrichment, stats and VIP features (SPEC §8): metadata lookups with a store cache,
ledger and Trakt stats, and the VIP-gated lists and recommendations.

:func:`enrichment` hands out the services of one running app (built once per context).
"""

from .services import Enrichment, enrichment

__all__ = ["Enrichment", "enrichment"]
