"""SPEC §6 edges against the fake Trakt: a completion at exactly 80 %, a stop with no known
position, and rows waiting for the app credentials (client id/secret) rather than for a user
to reconnect."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import select

from tests import pg
from tests.conftest import FakeTraktServer, Service, base_env, wait_until
from tests.webhooks.harness import FAST_ENV, Rig
from tests.webhooks.payloads import Media, revenge
from trakt_plugin.connections import ConnectionService, TraktGateway
from trakt_plugin.context import build_context
from trakt_plugin.events.model import PlaybackEvent
from trakt_plugin.events.parsers import parse_event
from trakt_plugin.scrobble.outbox import body_hash
from trakt_plugin.scrobble.service import ScrobbleService
from trakt_plugin.store import repo
from trakt_plugin.store.models import Scrobble, TraktConnection

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
INCEPTION = Media("movie", "Inception", 2010, imdb="tt1375666", tmdb=27205)
CREDENTIALS = ("TRAKT_CLIENT_ID", "TRAKT_CLIENT_SECRET")


def _rows(rig: Rig, user_id: str, action: str) -> list[dict[str, Any]]:
    return [r for r in rig.rows(user_id) if r["action"] == action]


def test_a_completion_at_exactly_80_percent_goes_out_as_a_scrobble_stop(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(TRAKT_SCROBBLE_THRESHOLD="80")
    cy = rig.user("Cy", {"revenge": "cy"}, "cy_t")
    rig.deliver("revenge", revenge("start", "cy", MATRIX, 10))
    rig.settled(cy)
    rig.deliver("revenge", revenge("stop", "cy", MATRIX, 80))
    rig.settled(cy)
    calls = rig.calls("cy_t")
    assert [path for path, _ in calls][:2] == ["/scrobble/start", "/scrobble/stop"]
    assert calls[1][1]["progress"] == 80
    # Trakt's own line is "above 80 %" (the fake follows it) and answers this stop with
    # "pause": the play then goes in through the history, so there is still exactly one.
    assert [path for path, _ in calls][2:] == ["/sync/history"]
    plays = rig.plays("cy_t")
    assert len(plays) == 1
    (stop,) = _rows(rig, cy, "scrobble_stop")
    assert stop["status"] == "sent"
    assert len(rig.ledger(cy)) == 1


def test_a_stop_with_no_known_position_sends_nothing_and_records_why(rig: Rig) -> None:
    dee = rig.user("Dee", {"revenge": "dee"}, "dee_t")
    rig.deliver("revenge", revenge("start", "dee", MATRIX, None))  # a start at the 1 % floor
    rig.settled(dee)
    answer = rig.deliver("revenge", revenge("stop", "dee", MATRIX, None))
    assert answer["kind"] == "stop"
    # A stop arriving alone, for a session nothing is known about, is no different.
    rig.deliver("revenge", revenge("stop", "dee", INCEPTION, None, session_id="s9"))
    rig.settled(dee)
    assert rig.paths("dee_t") == ["/scrobble/start"]  # no pause resetting the resume point
    skipped = _rows(rig, dee, "scrobble_pause")
    assert len(skipped) == 2
    for row in skipped:
        assert row["status"] == "skipped"
        assert "position" in row["last_error"]
    assert rig.fake.state.requests_to("/scrobble/pause") == []
    assert rig.ledger(dee) == []


def test_rows_wait_for_missing_app_credentials_and_go_out_once_they_are_set(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    env = fake_trakt.service_env(**FAST_ENV)
    with_credentials = Rig(service_factory(env), fake_trakt)
    eve = with_credentials.user("Eve", {"revenge": "eve"}, "eve_t")
    with_credentials.service.stop()

    bare = {k: v for k, v in env.items() if k not in CREDENTIALS}
    rig = Rig(service_factory(bare), fake_trakt)
    rig.deliver("revenge", revenge("stop", "eve", MATRIX, 95))
    parked = wait_until(
        lambda: [r for r in rig.rows(eve, "pending") if r["parked"]], what="the row to wait"
    )
    reason = parked[0]["last_error"]
    assert "client id" in reason and "client secret" in reason
    assert "reconnect" not in reason
    with rig.service.api() as api:  # the user's own connection is fine
        assert api.get(f"/api/v1/users/{eve}").json()["trakt"]["state"] == "connected"
    assert rig.calls("eve_t") == []
    rig.service.stop()

    configured = Rig(service_factory(env), fake_trakt)
    configured.settled(eve)
    (row,) = [r for r in configured.rows(eve) if r["item"]["movie"]["title"] == "The Matrix"]
    assert row["status"] == "sent" and not row["parked"]
    assert len(configured.plays("eve_t")) == 1


async def _until(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        result = await asyncio.to_thread(condition)
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _service_without_credentials(
    databases: pg.ServiceDatabases, fake_trakt: FakeTraktServer
) -> tuple[ScrobbleService, str]:
    """In process: a scrobbler whose settings lack the app credentials, and a user connected
    to the fake (tokens in the store) whose Revenge identity is ``fay``."""
    fake = fake_trakt.state
    env = base_env(
        databases.root / "data",
        TRAKT_API_URL=fake_trakt.url,
        TRAKT_AUTH_URL=fake_trakt.url,
        **FAST_ENV,
        **databases.env("data"),  # SQLite or PostgreSQL (TRAKT_PLUGIN_TEST_DB)
    )
    ctx = build_context(env)
    gateway = TraktGateway(ctx)
    # A scheduler that is never started: retries are not needed here.
    scheduler = AsyncIOScheduler(timezone="UTC")
    service = ScrobbleService(ctx, gateway, ConnectionService(ctx, gateway), scheduler)
    fake.add_user("fay_t")
    issued = fake.issue_tokens("fay_t")
    created = datetime.fromtimestamp(issued.created_at, UTC)
    with ctx.session() as session, session.begin():
        user = repo.create_user(session, display_name="Fay")
        repo.link_identity(session, user_id=user.id, source="revenge", external_id="fay")
        session.add(
            TraktConnection(
                user_id=user.id,
                state="connected",
                access_token=ctx.box.encrypt(issued.access_token),
                refresh_token=ctx.box.encrypt(issued.refresh_token),
                token_created_at=created,
                expires_in=issued.expires_in,
                expires_at=created + timedelta(seconds=issued.expires_in),
                username="fay_t",
            )
        )
        return service, user.id


def _rows_of(service: ScrobbleService, user_id: str) -> list[Scrobble]:
    with service.ctx.session() as session:
        return list(session.exec(select(Scrobble).where(Scrobble.user_id == user_id)).all())


async def _stop_waiting_for_credentials(service: ScrobbleService, user_id: str) -> None:
    """Record a completing stop and wait until its row is parked for the app credentials."""
    now = datetime.now(UTC)
    body = revenge("stop", "fay", MATRIX, 95, occurred_at=now.isoformat())
    event = parse_event("revenge", body.content_type, body.content, now)
    assert isinstance(event, PlaybackEvent)
    accepted = await asyncio.to_thread(
        service.recorder.record, event, body_hash("revenge", body.content), now
    )
    assert accepted.wake == user_id
    service.drain.wake(user_id)
    waiting = await _until(
        lambda: [r for r in _rows_of(service, user_id) if r.parked_at is not None],
        "the row to wait",
    )
    assert "client id" in str(waiting[0].last_error)


async def _sent(service: ScrobbleService, user_id: str, fake: Any) -> None:
    (sent,) = await _until(
        lambda: [r for r in _rows_of(service, user_id) if r.status == "sent"], "the row to go out"
    )
    assert sent.parked_at is None
    assert json.loads(sent.item)["movie"]["title"] == "The Matrix"
    assert len(fake.history("fay_t")) == 1


async def test_saving_the_app_credentials_releases_the_waiting_rows_at_the_next_check(
    service_databases: pg.ServiceDatabases, fake_trakt: FakeTraktServer
) -> None:
    """The credentials arrive through the settings (no restart); the periodic check
    (``Drain.release_app_waiting``) sends what waited."""
    fake = fake_trakt.state
    service, user_id = _service_without_credentials(service_databases, fake_trakt)
    await service.drain.start()
    try:
        await _stop_waiting_for_credentials(service, user_id)
        assert await service.drain.release_app_waiting() == []  # still not configured

        service.ctx.save_settings(
            {"client_id": fake.client_id, "client_secret": fake.client_secret}
        )
        assert await service.drain.release_app_waiting() == [user_id]
        await _sent(service, user_id, fake)
        assert await service.drain.release_app_waiting() == []  # nothing waits any more
    finally:
        await service.stop()
        service.ctx.engine.dispose()


async def test_a_settings_listener_releases_the_waiting_rows_at_once(
    service_databases: pg.ServiceDatabases, fake_trakt: FakeTraktServer
) -> None:
    fake = fake_trakt.state
    service, user_id = _service_without_credentials(service_databases, fake_trakt)
    await service.drain.start()
    try:
        await _stop_waiting_for_credentials(service, user_id)
        old = service.ctx.settings
        service.ctx.save_settings(
            {"client_id": fake.client_id, "client_secret": fake.client_secret}
        )
        # Listeners are called from the thread that saved the settings.
        await asyncio.to_thread(service.settings_changed, old, service.ctx.settings)
        await _sent(service, user_id, fake)
    finally:
        await service.stop()
        service.ctx.engine.dispose()
