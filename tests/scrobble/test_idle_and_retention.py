"""Idle sessions are finalised from their last progress; old raw events are purged.

In process, on a real SQLite file: the service's own recorder and store work, with a moved
``now`` instead of waiting hours.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from tests import pg
from tests.webhooks.payloads import Media, revenge
from trakt_plugin.connections import ConnectionService, TraktGateway
from trakt_plugin.context import build_context
from trakt_plugin.events.parsers import parse_event
from trakt_plugin.jobs.scheduler import build_scheduler
from trakt_plugin.scrobble.outbox import body_hash
from trakt_plugin.scrobble.service import ScrobbleService
from trakt_plugin.store import repo
from trakt_plugin.store.models import Play, Scrobble, TraktConnection, WebhookEvent, as_utc

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)


def _service(databases: pg.ServiceDatabases, threshold: int = 90) -> ScrobbleService:
    environ = {
        "TRAKT_PLUGIN_DATA_DIR": str(databases.root / "data"),
        "TRAKT_SCROBBLE_THRESHOLD": str(threshold),
        **databases.env("data"),  # SQLite or PostgreSQL (TRAKT_PLUGIN_TEST_DB)
    }
    ctx = build_context(environ)
    gateway = TraktGateway(ctx)
    return ScrobbleService(ctx, gateway, ConnectionService(ctx, gateway), build_scheduler())


def _record(service: ScrobbleService, event: str, progress: float, at: datetime) -> None:
    body = revenge(event, "idle-user", MATRIX, progress, occurred_at=at.isoformat())
    parsed = parse_event("revenge", body.content_type, body.content, at)
    assert not hasattr(parsed, "reason")
    service.recorder.record(parsed, body_hash("revenge", body.content), at)  # type: ignore[arg-type]


def test_an_idle_session_past_the_threshold_becomes_one_history_add(
    service_databases: pg.ServiceDatabases,
) -> None:
    """Any event at or past T completes a playback at once, so an idle session is past T only
    when the threshold was lowered meanwhile (here 90 while playing, 80 when finalising)."""
    playing = _service(service_databases, threshold=90)
    with playing.ctx.session() as session, session.begin():
        user = repo.create_user(session, display_name="Idle")
        repo.link_identity(session, user_id=user.id, source="revenge", external_id="idle-user")
        session.add(TraktConnection(user_id=user.id, state="connected"))
    start = datetime.now(UTC) - timedelta(hours=6)
    _record(playing, "start", 5, start)
    _record(playing, "progress", 85, start + timedelta(minutes=90))
    service = _service(service_databases, threshold=80)
    ctx = service.ctx
    assert service.finalise_idle(start + timedelta(hours=2)) == []  # not idle for 4 h yet
    assert service.finalise_idle(start + timedelta(hours=6)) == [user.id]
    assert service.finalise_idle(start + timedelta(hours=7)) == []  # finalised once
    with ctx.session() as session:
        plays = session.exec(select(Play)).all()
        rows = session.exec(select(Scrobble).where(Scrobble.action == "history_add")).all()
    assert len(plays) == 1 and plays[0].user_id == user.id
    assert as_utc(plays[0].watched_at) == start + timedelta(minutes=90)
    assert len(rows) == 1 and rows[0].completion and rows[0].status == "pending"
    assert json.loads(rows[0].item)["movie"]["ids"]["imdb"] == "tt0133093"


def test_an_idle_session_below_the_threshold_is_only_closed(
    service_databases: pg.ServiceDatabases,
) -> None:
    service = _service(service_databases)
    start = datetime.now(UTC) - timedelta(hours=6)
    _record(service, "start", 5, start)
    _record(service, "pause", 40, start + timedelta(minutes=30))
    assert service.finalise_idle(start + timedelta(hours=6)) == []
    with service.ctx.session() as session:
        assert session.exec(select(Play)).all() == []


def test_raw_events_past_retention_are_purged_but_plays_stay(
    service_databases: pg.ServiceDatabases,
) -> None:
    service = _service(service_databases)
    old = datetime.now(UTC) - timedelta(days=40)
    _record(service, "start", 5, old)
    _record(service, "stop", 95, old + timedelta(hours=2))
    _record(service, "start", 5, datetime.now(UTC))
    assert service.purge_events() == 2
    with service.ctx.session() as session:
        assert len(session.exec(select(WebhookEvent)).all()) == 1
        assert len(session.exec(select(Play)).all()) == 1
