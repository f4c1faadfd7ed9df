"""Watch mode through the running service: a Jellyfin/Emby server added with ``live: "watch"``
is followed without webhooks, and its playbacks reach Trakt like webhook ones (SPEC §12)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import FakeTraktServer, Service, connect_user, wait_until
from tests.fake_jellyfin import FakeJellyfin, LiveServer

KEY = "fake-jellyfin-api-key-watch-service"
RUNTIME_MS = 100 * 60_000


@dataclass
class WatchWorld:
    service: Service
    trakt: Any
    jf: FakeJellyfin
    server: LiveServer
    server_id: str
    user_id: str
    movie: Any

    def server_view(self) -> dict[str, Any]:
        with self.service.api() as api:
            answer = api.get(f"/api/v1/servers/{self.server_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def watch_state(self) -> str:
        return str(self.server_view()["watch"]["state"])

    def calls(self, path: str) -> int:
        return len(self.trakt.requests_to(path, "POST"))


@pytest.fixture
def watch_world(
    request: pytest.FixtureRequest,
    service_factory: Callable[..., Service],
    fake_trakt: FakeTraktServer,
) -> Iterator[WatchWorld]:
    kind = getattr(request, "param", "jellyfin")  # Emby where a test asks for both
    jf = FakeJellyfin(kind, api_key=KEY)
    server = LiveServer(jf).start()
    try:
        service = service_factory(fake_trakt.service_env())
        user = connect_user(service, fake_trakt, "Ann", "ann")
        fake_trakt.state.add_movie("Heat", 1995, {"trakt": 96_001, "imdb": "tt0113277"})
        movie = jf.add_movie("Heat", year=1995, provider_ids={"Imdb": "tt0113277"},
                             runtime_minutes=RUNTIME_MS // 60_000)  # fmt: skip
        alice = jf.add_user("alice")
        with service.api() as api:
            body = {"kind": kind, "name": "Den", "url": server.url, "token": KEY,
                    "live": "watch"}  # fmt: skip
            added = api.post("/api/v1/servers", json=body)
            assert added.status_code == 201, added.text
            identity = {"source": kind, "external_id": alice.id}
            linked = api.post(f"/api/v1/users/{user['id']}/identities", json=identity)
            assert linked.status_code == 201, linked.text
        world = WatchWorld(
            service, fake_trakt.state, jf, server, added.json()["id"], user["id"], movie
        )
        wait_until(lambda: world.watch_state() == "connected", timeout=20, what="watching")
        yield world
    finally:
        server.stop()


@pytest.mark.parametrize("watch_world", ["jellyfin", "emby"], indirect=True)
def test_a_watched_playback_reaches_trakt_as_start_pause_start_stop_and_one_play(
    watch_world: WatchWorld,
) -> None:
    w = watch_world
    session = w.jf.start_playback("alice", w.movie, position_ms=0)
    wait_until(lambda: w.calls("/scrobble/start") == 1, timeout=20, what="start")
    w.jf.pause(session, position_ms=RUNTIME_MS // 3)
    wait_until(lambda: w.calls("/scrobble/pause") == 1, timeout=20, what="pause")
    w.jf.resume(session)
    wait_until(lambda: w.calls("/scrobble/start") == 2, timeout=20, what="resume")
    # the client stops at 95 % with no progress report since the resume at a third
    w.jf.stop_playback(session, position_ms=int(RUNTIME_MS * 0.95))
    wait_until(lambda: w.calls("/scrobble/stop") == 1, timeout=20, what="stop")

    plays = w.trakt.history("ann")
    assert len(plays) == 1 and plays[0].item.title == "Heat"
    assert w.server_view()["watch"]["last_message_at"] is not None


def test_a_stop_at_half_way_is_a_pause_and_no_play(watch_world: WatchWorld) -> None:
    w = watch_world
    session = w.jf.start_playback("alice", w.movie, position_ms=0)
    wait_until(lambda: w.calls("/scrobble/start") == 1, timeout=20, what="start")
    w.jf.stop_playback(session, position_ms=RUNTIME_MS // 2)

    wait_until(lambda: w.calls("/scrobble/pause") == 1, timeout=20, what="pause")
    pause = w.trakt.requests_to("/scrobble/pause", "POST")[0]
    assert round(pause.body["progress"]) == 50
    assert w.trakt.history("ann") == [] and w.calls("/scrobble/stop") == 0


def test_an_unlinked_account_is_listed_and_nothing_is_sent(watch_world: WatchWorld) -> None:
    w = watch_world
    bob = w.jf.add_user("bob")

    def listed(events: int) -> bool:
        with w.service.api() as api:
            items = api.get("/api/v1/identities/unlinked").json()["items"]
        return any(i["external_id"] == bob.id and i["events"] >= events for i in items)

    session = w.jf.start_playback(bob, w.movie, position_ms=0)
    wait_until(lambda: listed(1), timeout=20, what="bob listed as unlinked")
    w.jf.stop_playback(session, position_ms=int(RUNTIME_MS * 0.95))
    wait_until(lambda: listed(2), timeout=20, what="bob's stop recorded")
    assert not [r for r in w.trakt.requests if r.path.startswith("/scrobble")]


def test_a_server_restart_mid_playback_reconnects_and_still_gives_one_play(
    watch_world: WatchWorld,
) -> None:
    w = watch_world
    session = w.jf.start_playback("alice", w.movie, position_ms=0)
    w.jf.progress(session, RUNTIME_MS // 2)
    wait_until(lambda: w.calls("/scrobble/start") == 1, timeout=20, what="start")

    w.server.stop()
    wait_until(lambda: w.watch_state() == "reconnecting", timeout=20, what="reconnecting")
    with w.service.api() as api:
        health = api.get("/api/v1/health").json()
    assert [s["server_id"] for s in health["watch_reconnecting"]] == [w.server_id]
    w.jf.progress(session, int(RUNTIME_MS * 0.96))  # played on while we could not see it
    w.server.start()
    wait_until(lambda: w.watch_state() == "connected", timeout=30, what="connected again")
    w.jf.stop_playback(session, position_ms=int(RUNTIME_MS * 0.97))

    wait_until(lambda: len(w.trakt.history("ann")) == 1, timeout=20, what="one play")
    with w.service.api() as api:
        assert api.get("/api/v1/health").json()["watch_reconnecting"] == []


def test_switching_watch_off_closes_the_watcher_and_back_on_opens_it(
    watch_world: WatchWorld,
) -> None:
    w = watch_world
    assert len(w.jf.sockets) == 1
    with w.service.api() as api:
        changed = api.patch(f"/api/v1/servers/{w.server_id}", json={"live": "off"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["watch"]["state"] == "off"
    wait_until(lambda: not w.jf.sockets, timeout=20, what="the websocket closed")

    with w.service.api() as api:
        changed = api.patch(f"/api/v1/servers/{w.server_id}", json={"live": "watch"})
    assert changed.status_code == 200, changed.text
    wait_until(lambda: w.watch_state() == "connected", timeout=20, what="watching again")
    assert len(w.jf.sockets) == 1


def test_sigkill_mid_playback_then_restart_loses_and_duplicates_nothing(
    watch_world: WatchWorld,
    service_factory: Callable[..., Service],
    fake_trakt: FakeTraktServer,
) -> None:
    w = watch_world
    session = w.jf.start_playback("alice", w.movie, position_ms=0)
    w.jf.progress(session, RUNTIME_MS // 2)
    wait_until(lambda: w.calls("/scrobble/start") == 1, timeout=20, what="start")
    assert w.service.stop(signal.SIGKILL) == -signal.SIGKILL

    w.jf.progress(session, int(RUNTIME_MS * 0.9))  # played on while the service was down
    w.service = service_factory(fake_trakt.service_env(), name="data")  # same data dir
    wait_until(lambda: w.watch_state() == "connected", timeout=30, what="watching again")
    w.jf.stop_playback(session, position_ms=int(RUNTIME_MS * 0.97))

    wait_until(lambda: w.calls("/scrobble/stop") >= 1, timeout=30, what="stop")
    assert len(w.trakt.history("ann")) == 1
