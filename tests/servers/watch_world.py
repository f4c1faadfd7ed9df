"""A running service watching a fake Plex, Jellyfin or Emby server (``live: "watch"``), with one
person linked to one of its accounts: the world of the watch-mode service tests. Import
``watch_world`` (a fixture, parametrised over the three kinds) into a test module to use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import pg
from tests.conftest import FakeTraktServer, Service, connect_user, wait_until
from tests.fake_jellyfin import FakeJellyfin, LiveServer
from tests.fake_plex import FakePlex, PlexServerThread
from tests.posters.test_posters_service import signed_in_cookie
from trakt_plugin.security.sessions import COOKIE_NAME

KEY = "fake-jellyfin-api-key-watch-service"
RUNTIME_MS = 100 * 60_000
KINDS = ["plex", "jellyfin", "emby"]


class Player:
    """One fake media server, driven the same way whatever its kind: the linked account
    plays, pauses, resumes, reports progress, stops at a position, or vanishes."""

    kind: str
    url: str
    token: str
    linked: Any  # the account linked to Ann
    linked_id: str  # its identity's external id (SPEC §4)
    movie: Any
    server: Any  # stop() / start() on the same port: a restart

    def start(self, account: Any, at_ms: int = 0) -> Any:
        raise NotImplementedError

    def pause(self, session: Any, at_ms: int) -> None:
        raise NotImplementedError

    def resume(self, session: Any) -> None:
        raise NotImplementedError

    def progress(self, session: Any, at_ms: int) -> None:
        raise NotImplementedError

    def stop(self, session: Any, at_ms: int) -> None:
        raise NotImplementedError

    def vanish(self, session: Any) -> None:
        """Gone from the session list without a stop (a client that crashed)."""
        raise NotImplementedError

    def add_account(self, name: str) -> tuple[Any, str]:
        """Another account of the server: (account, its identity's external id)."""
        raise NotImplementedError

    def sockets(self) -> int:
        raise NotImplementedError


class PlexPlayer(Player):
    def __init__(self) -> None:
        self.kind = "plex"
        self.fake = FakePlex(friendly_name="Living Room", owner_name="olivia")
        self.server = PlexServerThread(self.fake)
        self.url = self.server.start()
        self.token = self.fake.owner_token
        self.linked, self.linked_id = self.fake.owner, "olivia"
        section = self.fake.add_section("Movies", "movie")
        self.movie = self.fake.add_movie(
            section, "Heat", year=1995, ids={"imdb": "tt0113277"}, duration=RUNTIME_MS
        )

    def start(self, account: Any, at_ms: int = 0) -> Any:
        return self.fake.start_session(account, self.movie, offset=at_ms)

    def pause(self, session: Any, at_ms: int) -> None:
        self.fake.pause(session, at_ms)

    def resume(self, session: Any) -> None:
        self.fake.resume(session)

    def progress(self, session: Any, at_ms: int) -> None:
        self.fake.progress(session, at_ms)

    def stop(self, session: Any, at_ms: int) -> None:
        self.fake.stop_session(session, offset=at_ms)

    def vanish(self, session: Any) -> None:
        self.fake.end_session(session)

    def add_account(self, name: str) -> tuple[Any, str]:
        return self.fake.add_account(name), name

    def sockets(self) -> int:
        return len(self.fake.sockets)


class JellyfinPlayer(Player):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fake = FakeJellyfin(kind, api_key=KEY)
        self.server = LiveServer(self.fake).start()
        self.url, self.token = self.server.url, KEY
        self.movie = self.fake.add_movie(
            "Heat", year=1995, provider_ids={"Imdb": "tt0113277"},
            runtime_minutes=RUNTIME_MS // 60_000,
        )  # fmt: skip
        self.linked = self.fake.add_user("alice")
        self.linked_id = self.linked.id

    def start(self, account: Any, at_ms: int = 0) -> Any:
        return self.fake.start_playback(account, self.movie, position_ms=at_ms)

    def pause(self, session: Any, at_ms: int) -> None:
        self.fake.pause(session, position_ms=at_ms)

    def resume(self, session: Any) -> None:
        self.fake.resume(session)

    def progress(self, session: Any, at_ms: int) -> None:
        self.fake.progress(session, at_ms)

    def stop(self, session: Any, at_ms: int) -> None:
        self.fake.stop_playback(session, position_ms=at_ms)

    def vanish(self, session: Any) -> None:
        self.fake.end_session(session)

    def add_account(self, name: str) -> tuple[Any, str]:
        user = self.fake.add_user(name)
        return user, user.id

    def sockets(self) -> int:
        return len(self.fake.sockets)


@dataclass
class WatchWorld:
    service: Service
    trakt: Any
    player: Player
    server_id: str
    user_id: str

    def server_view(self) -> dict[str, Any]:
        with self.service.api() as api:
            answer = api.get(f"/api/v1/servers/{self.server_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def watch_state(self) -> str:
        return str(self.server_view()["watch"]["state"])

    def card(self) -> str:
        """The Servers page as a signed-in browser first receives it (the card's text is in
        the page NiceGUI sends)."""
        cookie = signed_in_cookie(self.service)
        with httpx.Client(base_url=self.service.url, timeout=10) as browser:
            browser.cookies.set(COOKIE_NAME, cookie)
            page = browser.get("/servers")
        assert page.status_code == 200, page.status_code
        return page.text

    def calls(self, path: str) -> int:
        return len(self.trakt.requests_to(path, "POST"))

    def scrobbles(self) -> list[str]:
        """The scrobble calls Trakt received, in order."""
        return [r.path for r in self.trakt.requests if r.path.startswith("/scrobble/")]

    def watched(self, raw_kind: str) -> list[float | None]:
        """The progress of each stored event the watcher made of that kind (``watch.start``…)."""
        rows = pg.query(
            pg.store_url(self.service),
            "SELECT progress FROM webhookevent WHERE raw_kind = :kind ORDER BY id",
            {"kind": raw_kind},
        )
        return [row["progress"] for row in rows]

    def seen_at(self, progress: float) -> bool:
        """Whether the watcher stored an event of this playback at ``progress`` percent."""
        rows = pg.query(
            pg.store_url(self.service),
            "SELECT 1 FROM webhookevent WHERE raw_kind LIKE 'watch.%' AND progress = :progress",
            {"progress": progress},
        )
        return bool(rows)

    def idle(self) -> bool:
        with self.service.api() as api:
            pending = api.get("/api/v1/scrobbles", params={"status": "pending"})
        return not pending.json()["items"]

    def diagnosis(self) -> str:
        """The watcher's stored events, the scrobble rows and Trakt's answers, for a failure."""
        url = pg.store_url(self.service)
        events = pg.query(url, "SELECT id, raw_kind, progress, note FROM webhookevent ORDER BY id")
        rows = pg.query(
            url,
            "SELECT id, action, status, progress, attempts, last_error, next_attempt_at"
            " FROM scrobble ORDER BY id",
        )
        answers = [(r.method, r.path, r.status) for r in self.trakt.requests]
        return f"events: {events}\nscrobbles: {rows}\ntrakt: {answers}"

    def ledger(self) -> list[dict[str, Any]]:
        with self.service.api() as api:
            return list(api.get(f"/api/v1/users/{self.user_id}/history").json()["items"])


def add_watched_server(service: Service, player: Player, user_id: str) -> str:
    with service.api() as api:
        body = {"kind": player.kind, "name": "Den", "url": player.url, "token": player.token,
                "live": "watch"}  # fmt: skip
        added = api.post("/api/v1/servers", json=body)
        assert added.status_code == 201, added.text
        identity = {"source": player.kind, "external_id": player.linked_id}
        linked = api.post(f"/api/v1/users/{user_id}/identities", json=identity)
        assert linked.status_code == 201, linked.text
    return str(added.json()["id"])


@pytest.fixture(params=KINDS)
def watch_world(
    request: pytest.FixtureRequest,
    service_factory: Callable[..., Service],
    fake_trakt: FakeTraktServer,
) -> Iterator[WatchWorld]:
    player: Player = PlexPlayer() if request.param == "plex" else JellyfinPlayer(request.param)
    try:
        service = service_factory(fake_trakt.service_env())
        user = connect_user(service, fake_trakt, "Ann", "ann")
        fake_trakt.state.add_movie("Heat", 1995, {"trakt": 96_001, "imdb": "tt0113277"})
        server_id = add_watched_server(service, player, user["id"])
        world = WatchWorld(service, fake_trakt.state, player, server_id, user["id"])
        wait_until(lambda: world.watch_state() == "connected", timeout=20, what="watching")
        yield world
        # shown by pytest only when the test failed: what the service did, stored and sent
        print(world.service.log()[-20_000:])
        print(world.diagnosis())
    finally:
        player.server.stop()
