"""Health and metrics: ``/healthz`` (open), ``/api/v1/health`` and ``/metrics`` (bearer token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import create_engine, func, text
from sqlalchemy.pool import NullPool
from sqlmodel import select

from ..context import AppContext
from ..jobs.scheduler import PERIODIC, product_time
from ..store.models import TraktConnection, User
from .common import Ctx

router = APIRouter(tags=["health"])


def database_ok(ctx: AppContext) -> bool:
    """Whether the store can be read right now: a fresh connection (a pooled one answers from
    its page cache, or over a socket that is no longer there) reads a real table."""
    fresh = create_engine(ctx.engine.url, poolclass=NullPool)
    try:
        with fresh.connect() as connection:
            connection.execute(text("SELECT version_num FROM alembic_version")).all()
        return True
    except Exception:
        return False
    finally:
        fresh.dispose()


def periodic_jobs(scheduler: Any) -> dict[str, dict[str, Any]]:
    """Each periodic job's interval and next run (what saved settings changed shows here)."""
    jobs: dict[str, dict[str, Any]] = {}
    for job in scheduler.get_jobs(PERIODIC) if scheduler else ():
        interval = getattr(job.trigger, "interval", None)
        jobs[job.id] = {
            "interval_seconds": int(interval.total_seconds()) if interval else None,
            "next_run_at": (
                product_time(job.next_run_time).isoformat() if job.next_run_time else None
            ),
        }
    return jobs


def health_report(ctx: AppContext) -> dict[str, Any]:
    scheduler = ctx.services.get("scheduler")
    db_ok = database_ok(ctx)
    reauth = outbox_depth = 0
    if db_ok:
        with ctx.session() as session:
            reauth = session.exec(
                select(func.count()).where(TraktConnection.state == "reauth_required")
            ).one()
        outbox_depth = ctx.services["outbox_depth"]() if "outbox_depth" in ctx.services else 0
    scheduler_ok = bool(scheduler and scheduler.running)
    gateway = ctx.services.get("trakt")
    watch = getattr(ctx.services.get("servers"), "watch", None)
    return {
        "status": "ok" if db_ok and scheduler_ok else "degraded",
        "version": ctx.version,
        "db": "ok" if db_ok else "error",
        "scheduler": "running" if scheduler_ok else "stopped",
        "outbox_depth": outbox_depth,
        "reauth_required": int(reauth),
        "jobs": periodic_jobs(scheduler),
        # Watched servers (live: "watch") whose watcher is waiting to reconnect (SPEC §12).
        "watch_reconnecting": [
            {
                "server_id": server_id,
                "last_error": state.last_error,
                "last_message_at": state.last_message_at.isoformat()
                if state.last_message_at
                else None,
            }
            for server_id, state in (watch.reconnecting().items() if watch else ())
        ],
        "rate": {
            "post_interval": gateway.budget.post_interval if gateway else None,
            "get_per_5min": gateway.budget.get_per_window if gateway else None,
        },
    }


@router.get("/health")
def health(ctx: Ctx) -> dict[str, Any]:
    """Database, scheduler, outbox depth and connections needing re-authorisation."""
    return health_report(ctx)


class StoreCollector(Collector):
    """Reads gauges from the store at scrape time."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self) -> Any:
        info = InfoMetricFamily("trakt_plugin", "Service version")
        info.add_metric([], {"version": self.ctx.version})
        yield info
        with self.ctx.session() as session:
            users = session.exec(select(func.count()).select_from(User)).one()
            states = session.exec(
                select(TraktConnection.state, func.count()).group_by(TraktConnection.state)
            ).all()
        yield GaugeMetricFamily("trakt_plugin_users", "People configured", value=users)
        gauge = GaugeMetricFamily(
            "trakt_plugin_connections", "Trakt connections by state", labels=["state"]
        )
        for state, count in states:
            gauge.add_metric([state], count)
        yield gauge
        report = health_report(self.ctx)
        yield GaugeMetricFamily(
            "trakt_plugin_outbox_depth", "Scrobble calls waiting", value=report["outbox_depth"]
        )


def metrics_text(ctx: AppContext) -> bytes:
    registry = CollectorRegistry()
    registry.register(StoreCollector(ctx))
    return generate_latest(registry)
