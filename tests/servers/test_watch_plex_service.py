"""Watch mode for Plex beside the Plex webhook (issue 13 acceptance 4): both on for one server, ten
playbacks each seen both ways, exactly ten plays."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import pg
from tests.conftest import WEBHOOK_TOKEN, FakeTraktServer, Service, connect_user, wait_until
from tests.fake_plex import FakePlex, PlexServerThread
from tests.webhooks import payloads

DURATION_MS = payloads.DURATION_MS


@dataclass
class PlexWatch:
    service: Service
    trakt: Any
    plex: FakePlex
    server_id: str
    movies: list[Any]

    def calls(self, path: str) -> int:
        return len(self.trakt.requests_to(path, "POST"))

    def webhook(self, event: str, item: Any, progress: float, player: str) -> None:
        media = payloads.Media("movie", item.title, imdb=item.ids["imdb"],
                               local_id=str(item.rating_key))  # fmt: skip
        body = payloads.plex(event, "olivia", media, progress, player=player,
                             server=self.plex.machine_identifier)  # fmt: skip
        answer = httpx.post(
            f"{self.service.url}/webhooks/plex",
            content=body.content,
            headers={"Content-Type": body.content_type},
            params={"token": WEBHOOK_TOKEN},
            timeout=20,
        )
        assert answer.status_code == 202, answer.text

    def stored(self, movie: Any, raw_kind: str) -> int:
        """How many stored events of this movie's playback have that raw kind (a trailing dot:
        that prefix): ``watch.start`` from the watcher, ``media.play`` from the webhook."""
        pattern = raw_kind + "%" if raw_kind.endswith(".") else raw_kind
        rows = pg.query(
            pg.store_url(self.service),
            "SELECT count(*) AS n FROM webhookevent"
            " WHERE raw_kind LIKE :kind AND session_key LIKE :session",
            {"kind": pattern, "session": f"%:{movie.rating_key}"},
        )
        return int(rows[0]["n"])

    def idle(self) -> bool:
        with self.service.api() as api:
            return not api.get("/api/v1/scrobbles", params={"status": "pending"}).json()["items"]


@pytest.fixture
def plex_watch(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> Iterator[PlexWatch]:
    plex = FakePlex(friendly_name="Living Room", owner_name="olivia")
    server = PlexServerThread(plex)
    server.start()
    try:
        service = service_factory(fake_trakt.service_env())
        user = connect_user(service, fake_trakt, "Olivia", "olivia")
        section = plex.add_section("Movies", "movie")
        movies = []
        for i in range(10):
            ids = {"imdb": f"tt{9_800_000 + i}"}
            fake_trakt.state.add_movie(f"Watch Movie {i}", 2000 + i, {"trakt": 98_000 + i, **ids})
            movies.append(plex.add_movie(section, f"Watch Movie {i}", year=2000 + i, ids=ids,
                                         duration=DURATION_MS))  # fmt: skip
        with service.api() as api:
            body = {"kind": "plex", "name": "Living Room", "url": server.url,
                    "token": plex.owner_token, "live": "watch"}  # fmt: skip
            added = api.post("/api/v1/servers", json=body)
            assert added.status_code == 201, added.text
            identity = {"source": "plex", "external_id": "olivia"}
            assert api.post(f"/api/v1/users/{user['id']}/identities", json=identity).is_success
        world = PlexWatch(service, fake_trakt.state, plex, added.json()["id"], movies)

        def connected() -> bool:
            with service.api() as api:
                return bool(
                    api.get(f"/api/v1/servers/{world.server_id}").json()["watch"]["state"]
                    == "connected"
                )

        wait_until(connected, timeout=20, what="watching")
        yield world
    finally:
        server.stop()


def test_webhook_and_watcher_both_on_ten_playbacks_give_ten_plays(plex_watch: PlexWatch) -> None:
    """Each playback is seen both ways (the test waits until the watcher stored its start and
    its stop): for even ones the watcher comes first, for odd ones the webhook does."""
    w = plex_watch
    for n, movie in enumerate(w.movies):
        watcher_first = n % 2 == 0
        session = w.plex.start_session(w.plex.owner, movie, offset=0)
        player = session.machine_identifier
        if watcher_first:
            wait_until(lambda m=movie: w.stored(m, "watch.start"), timeout=20, what="watched")
        w.webhook("start", movie, 0, player)
        wait_until(lambda m=movie: w.stored(m, "watch.start"), timeout=20, what="watched")
        w.plex.progress(session, DURATION_MS // 2)
        if watcher_first:
            w.plex.stop_session(session, offset=DURATION_MS * 95 // 100)
            wait_until(lambda m=movie: w.stored(m, "watch.stop"), timeout=20, what="stop")
        w.webhook("scrobble", movie, 90, player)
        w.webhook("stop", movie, 95, player)
        if not watcher_first:
            w.plex.stop_session(session, offset=DURATION_MS * 95 // 100)
            wait_until(lambda m=movie: w.stored(m, "watch.stop"), timeout=20, what="stop")
        assert w.stored(movie, "media.") == 3  # the webhooks: play, scrobble, stop

    wait_until(lambda: len(w.trakt.history("olivia")) >= 10, timeout=60, what="ten plays")
    wait_until(w.idle, timeout=60, what="the outbox empty")
    titles = sorted(p.item.title for p in w.trakt.history("olivia"))
    assert titles == sorted(m.title for m in w.movies)  # exactly ten, one per movie
    completions = w.calls("/scrobble/stop") + w.calls("/sync/history")
    assert completions == 10
