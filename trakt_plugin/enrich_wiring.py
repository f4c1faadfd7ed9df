"""What enrichment, stats and VIP features add to the composition root, gathered in one place
so ``app.py`` needs one import: the API router, the dashboard pages and the periodic job.
"""

from __future__ import annotations

from .api.enrich import router as enrich_router
from .jobs.vip_features import install as install_enrich_jobs
from .ui import metadata as metadata_page
from .ui import stats as stats_page
from .ui import vip as vip_page

ENRICH_PAGES = (stats_page, metadata_page, vip_page)

__all__ = ["ENRICH_PAGES", "enrich_router", "install_enrich_jobs"]
