"""The enrichment services of one running app, built on first use and kept in the context."""

from __future__ import annotations

from dataclasses import dataclass

from ..connections import ConnectionService, TraktGateway
from ..context import AppContext
from .metadata import MetadataService
from .runtimes import RuntimeFiller
from .stats import StatsService
from .vip import VipService

SERVICE_KEY = "enrichment"


@dataclass(frozen=True)
class Enrichment:
    metadata: MetadataService
    stats: StatsService
    vip: VipService
    runtimes: RuntimeFiller


def enrichment(ctx: AppContext) -> Enrichment:
    """The context's enrichment services (needs the ``trakt`` and ``connections`` services)."""
    found = ctx.services.get(SERVICE_KEY)
    if isinstance(found, Enrichment):
        return found
    gateway: TraktGateway = ctx.services["trakt"]
    connections: ConnectionService = ctx.services["connections"]
    metadata = MetadataService(ctx, gateway)
    built = Enrichment(
        metadata=metadata,
        stats=StatsService(ctx, gateway, connections),
        vip=VipService(ctx, gateway, connections),
        runtimes=RuntimeFiller(ctx, metadata),
    )
    ctx.services[SERVICE_KEY] = built
    return built
