"""Scrobbling: the pure policy, the durable outbox and its drain (SPEC §6).

:func:`install_scrobbling` is the one entry point the composition root calls.
"""

from __future__ import annotations

from typing import Any

from ..context import AppContext


def install_scrobbling(ctx: AppContext, app: Any) -> None:
    """Register the webhook route, the Scrobbles page, the jobs and the drain on ``app``.

    Needs ``ctx.services["trakt"]``, ``["connections"]`` and ``["scheduler"]`` (call it after
    they are installed). The API router is ``trakt_plugin.api.scrobbles.router``.
    """
    from ..events.routes import install_webhook_route
    from ..ui import scrobbles as scrobbles_page
    from .service import ScrobbleService

    service = ScrobbleService(
        ctx, ctx.services["trakt"], ctx.services["connections"], ctx.services["scheduler"]
    )
    ctx.services["scrobbling"] = service
    ctx.services["outbox_depth"] = service.outbox_depth
    install_webhook_route(ctx, app, service)
    scrobbles_page.register(ctx)
    app.on_startup(service.start)
    app.on_shutdown(service.stop)
