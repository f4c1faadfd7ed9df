"""Watch mode through the running service when things go away (SPEC §12, issue 13 acceptance 2
and 3): the media server restarts mid-playback, the service is SIGKILLed mid-playback, watching is
switched off and on. Every test runs against each of the three fakes."""

from __future__ import annotations

import signal
from collections.abc import Callable

from tests.conftest import FakeTraktServer, Service, wait_until
from tests.servers.watch_world import RUNTIME_MS, WatchWorld, watch_world

__all__ = ["watch_world"]  # the fixture


def test_a_server_restart_mid_playback_reconnects_and_still_gives_one_play(
    watch_world: WatchWorld,
) -> None:
    w, p = watch_world, watch_world.player
    assert "watch: connected" in w.card()
    session = p.start(p.linked)
    p.progress(session, RUNTIME_MS // 2)
    wait_until(lambda: w.calls("/scrobble/start") == 1, timeout=20, what="start")

    p.server.stop()  # its websocket drops; it refuses connections until started again
    wait_until(lambda: w.watch_state() == "reconnecting", timeout=20, what="reconnecting")
    assert "watch: reconnecting" in w.card()
    with w.service.api() as api:
        health = api.get("/api/v1/health").json()
    assert [s["server_id"] for s in health["watch_reconnecting"]] == [w.server_id]
    p.progress(session, int(RUNTIME_MS * 0.96))  # played on while we could not see it
    p.server.start()
    # the first retries come after 1, 2, 4… s: back within the backoff, not a minute later
    wait_until(lambda: w.watch_state() == "connected", timeout=30, what="connected again")
    assert "watch: connected" in w.card()
    p.stop(session, int(RUNTIME_MS * 0.97))

    wait_until(lambda: len(w.trakt.history("ann")) == 1, timeout=20, what="one play")
    wait_until(w.idle, timeout=20, what="the outbox empty")
    assert len(w.trakt.history("ann")) == 1 and len(w.ledger()) == 1
    assert _stops_taken(w) == 1
    with w.service.api() as api:
        assert api.get("/api/v1/health").json()["watch_reconnecting"] == []


def test_switching_watch_off_closes_the_watcher_and_back_on_opens_it(
    watch_world: WatchWorld,
) -> None:
    w, p = watch_world, watch_world.player
    assert p.sockets() == 1
    with w.service.api() as api:
        changed = api.patch(f"/api/v1/servers/{w.server_id}", json={"live": "off"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["watch"]["state"] == "off"
    wait_until(lambda: not p.sockets(), timeout=20, what="the websocket closed")

    with w.service.api() as api:
        changed = api.patch(f"/api/v1/servers/{w.server_id}", json={"live": "watch"})
    assert changed.status_code == 200, changed.text
    wait_until(lambda: w.watch_state() == "connected", timeout=20, what="watching again")
    assert p.sockets() == 1


def test_sigkill_mid_playback_then_restart_loses_and_duplicates_nothing(
    watch_world: WatchWorld,
    service_factory: Callable[..., Service],
    fake_trakt: FakeTraktServer,
) -> None:
    w, p = watch_world, watch_world.player
    session = p.start(p.linked)
    p.progress(session, RUNTIME_MS // 2)
    wait_until(lambda: w.calls("/scrobble/start") == 1, timeout=20, what="start")
    wait_until(lambda: w.seen_at(50.0), timeout=20, what="50 % stored")
    assert w.service.stop(signal.SIGKILL) == -signal.SIGKILL

    p.progress(session, int(RUNTIME_MS * 0.9))  # played on while the service was down
    w.service = service_factory(fake_trakt.service_env(), name="data")  # same data dir
    wait_until(lambda: w.watch_state() == "connected", timeout=30, what="watching again")
    p.stop(session, int(RUNTIME_MS * 0.97))

    wait_until(lambda: len(w.trakt.history("ann")) == 1, timeout=30, what="one play")
    wait_until(w.idle, timeout=30, what="the outbox empty")
    assert len(w.trakt.history("ann")) == 1 and len(w.ledger()) == 1
    assert _stops_taken(w) == 1  # (a restart within Trakt's second may first meet a 429)


def _stops_taken(w: WatchWorld) -> int:
    """Stops (or history adds) Trakt took: a 429 the outbox waited out and sent again is no
    second play."""
    paths = ("/scrobble/stop", "/sync/history")
    return sum(
        1
        for r in w.trakt.requests
        if r.method == "POST" and r.path in paths and r.status in (200, 201)
    )
