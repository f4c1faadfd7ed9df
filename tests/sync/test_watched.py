"""The watched kind (SPEC §12): watched state between media servers and Trakt, both ways.

The real service against the fake Trakt and the fake Plex / Jellyfin / Emby servers; the same
items exist on both sides with the same external ids."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import WEBHOOK_TOKEN, Service, wait_until
from tests.fake_jellyfin import FakeJellyfin, LiveServer
from tests.fake_plex import FakePlex, PlexServerThread
from tests.fake_trakt import Item
from tests.sync.conftest import SyncWorld, sync_env
from tests.webhooks import payloads

JELLYFIN_KEY = "fake-jellyfin-api-key-watched-0123"
DAY = 86400


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M")


@dataclass
class Pair:
    """One movie or episode on Trakt and on the server (``key``: the server's item)."""

    trakt: Item
    server: Any


@dataclass
class ServerWorld:
    world: SyncWorld
    kind: str
    fake: Any
    url: str
    token: str
    movies: list[Pair] = field(default_factory=list)
    episodes: list[Pair] = field(default_factory=list)
    server_id: str = ""

    @property
    def trakt(self) -> Any:
        return self.world.fake.state

    def add_server(self) -> None:
        with self.world.api() as api:
            answer = api.post(
                "/api/v1/servers",
                json={"kind": self.kind, "name": f"{self.kind} box", "url": self.url,
                      "token": self.token, "live": "off"},
            )  # fmt: skip
        assert answer.status_code == 201, answer.text
        assert answer.json()["state"] == "ok", answer.json()
        self.server_id = answer.json()["id"]

    def link(self, source: str, external_id: str, user_id: str | None = None) -> None:
        with self.world.api() as api:
            answer = api.post(
                f"/api/v1/users/{user_id or self.world.user_id}/identities",
                json={"source": source, "external_id": external_id},
            )
        assert answer.status_code == 201, answer.text

    def sync(self, direction: str, dry_run: bool = False) -> dict[str, Any]:
        with self.world.api() as api:
            answer = api.post(
                f"/api/v1/users/{self.world.user_id}/sync",
                json={"kind": "watched", "direction": direction, "dry_run": dry_run,
                      "server_id": self.server_id},
            )  # fmt: skip
        assert answer.status_code == 202, answer.text
        run_id = answer.json()["run_id"]
        self.world.wait(run_id)
        return self.world.run(run_id, items_limit=10000)

    def undo(self, run_id: str) -> dict[str, Any]:
        with self.world.api() as api:
            answer = api.post(f"/api/v1/sync/runs/{run_id}/undo")
        assert answer.status_code == 202, answer.text
        undo_id = answer.json()["run_id"]
        self.world.wait(undo_id)
        return self.world.run(undo_id, items_limit=10000)

    def trakt_plays(self, pair: Pair) -> list[Any]:
        return [p for p in self.trakt.history("ann") if p.item is pair.trakt]


def _catalogue(world: SyncWorld, movies: int, episodes: int) -> tuple[list[Item], list[Item]]:
    fake = world.fake.state
    movie_items = [
        fake.add_movie(f"Watched Movie {i}", 2000 + i,
                       {"trakt": 91_000 + i, "slug": f"watched-movie-{i}",
                        "imdb": f"tt{9_100_000 + i}", "tmdb": 191_000 + i})
        for i in range(movies)
    ]  # fmt: skip
    show = fake.add_show(
        "Watched Show", 2010, {"trakt": 92_000, "slug": "watched-show", "tvdb": 392_000,
                               "tmdb": 292_000, "imdb": "tt9200000"}
    )  # fmt: skip
    episode_items = [
        fake.add_episode(show, 1, n + 1, {"trakt": 93_000 + n, "tvdb": 793_000 + n,
                                          "tmdb": 593_000 + n, "imdb": f"tt{9_300_000 + n}"})
        for n in range(episodes)
    ]  # fmt: skip
    return movie_items, episode_items


@pytest.fixture
def plex_world(world: SyncWorld) -> Iterator[ServerWorld]:
    fake = FakePlex(friendly_name="Living Room", owner_name="olivia")
    server = PlexServerThread(fake)
    server.start()
    try:
        sw = ServerWorld(world, "plex", fake, server.url, fake.owner_token)
        movies, episodes = _catalogue(world, 4, 3)
        section = fake.add_section("Movies", "movie")
        shows = fake.add_section("TV Shows", "show")
        for item in movies:
            ids = {"imdb": item.ids["imdb"], "tmdb": item.ids["tmdb"]}
            sw.movies.append(Pair(item, fake.add_movie(section, item.title, year=item.year,
                                                       ids=ids)))  # fmt: skip
        show_ids = {"tvdb": 392_000, "tmdb": 292_000, "imdb": "tt9200000"}
        show = fake.add_show(shows, "Watched Show", year=2010, ids=show_ids)
        for item in episodes:
            ids = {"tvdb": item.ids["tvdb"], "tmdb": item.ids["tmdb"], "imdb": item.ids["imdb"]}
            sw.episodes.append(Pair(item, fake.add_episode(show, 1, item.number or 0, ids=ids)))
        fake.add_movie(section, "Home Video", agent="none", guid="local://9")  # no ids
        yield sw
    finally:
        server.stop()


@pytest.fixture(params=["jellyfin", "emby"])
def jellyfin_world(world: SyncWorld, request: pytest.FixtureRequest) -> Iterator[ServerWorld]:
    fake = FakeJellyfin(request.param, api_key=JELLYFIN_KEY)
    server = LiveServer(fake).start()
    try:
        sw = ServerWorld(world, request.param, fake, server.url, JELLYFIN_KEY)
        movies, episodes = _catalogue(world, 4, 3)
        for item in movies:
            ids = {"Imdb": item.ids["imdb"], "Tmdb": str(item.ids["tmdb"])}
            movie = fake.add_movie(item.title, year=item.year, provider_ids=ids,
                                   runtime_minutes=100)  # fmt: skip
            sw.movies.append(Pair(item, movie))
        series = fake.add_series("Watched Show", year=2010,
                                 provider_ids={"Tvdb": "392000", "Tmdb": "292000"})  # fmt: skip
        for item in episodes:
            ids = {"Tvdb": str(item.ids["tvdb"]), "Tmdb": str(item.ids["tmdb"])}
            sw.episodes.append(
                Pair(item, fake.add_episode(series, 1, item.number or 0, provider_ids=ids))
            )
        fake.add_movie("Home Video", provider_ids={})
        yield sw
    finally:
        server.stop()


def _outcomes(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for entry in run["items"]:
        item = entry["item"]
        title = (item.get("movie") or item.get("episode") or {}).get("title") or ""
        out.append((entry["action"], entry["outcome"], title))
    return out


# ---------------------------------------------------------------- export


def test_plex_export_adds_one_play_per_item_trakt_lacks(plex_world: ServerWorld) -> None:
    sw, plex, trakt = plex_world, plex_world.fake, plex_world.trakt
    sw.add_server()
    sw.link("plex", "olivia")
    now = int(trakt.clock())
    m0, m1, m2, m3 = sw.movies
    plex.add_play(plex.owner, m0.server, now - 3 * DAY)  # watched on the server only
    plex.add_play(plex.owner, m1.server, now - 2 * DAY)  # watched on both sides
    trakt.add_play("ann", m1.trakt, now - 5 * DAY)
    plex.set_state(plex.owner, sw.episodes[0].server, view_count=2, last_viewed_at=now - DAY)

    run = sw.sync("export")

    assert run["status"] == "succeeded", run
    assert [_time(p.watched_at) for p in sw.trakt_plays(m0)] == [_time(now - 3 * DAY)]
    assert len(sw.trakt_plays(m1)) == 1  # already there: nothing added
    assert [_time(p.watched_at) for p in sw.trakt_plays(sw.episodes[0])] == [_time(now - DAY)]
    assert not sw.trakt_plays(m2) and not sw.trakt_plays(m3)
    counts = run["counts"]
    assert counts["added"] == 2 and counts["already"] == 1 and counts["unmatched"] == 1
    assert ("match", "unmatched", "Home Video") in _outcomes(run)
    ledger = [p for p in sw.world.ledger() if p["source"] == "plex"]
    assert len(ledger) == 2 and all(p["trakt_history_id"] for p in ledger)

    again = sw.sync("export")
    assert again["status"] == "succeeded", again
    assert again["counts"]["added"] == 0 and again["counts"]["already"] == 3
    assert len(trakt.history("ann")) == 3


def test_a_play_already_in_the_ledger_is_not_exported_again(plex_world: ServerWorld) -> None:
    """A live scrobble (here reported through the ledger API) is a play: never a second one."""
    sw, plex, trakt = plex_world, plex_world.fake, plex_world.trakt
    sw.add_server()
    sw.link("plex", "olivia")
    m0 = sw.movies[0]
    plex.add_play(plex.owner, m0.server, int(trakt.clock()) - 600)
    with sw.world.api() as api:
        body = {"plays": [{"type": "movie", "movie": {"title": m0.trakt.title, "year": 2000,
                           "ids": {"imdb": m0.trakt.ids["imdb"]}},
                           "watched_at": "2026-01-01T10:00:00Z"}]}  # fmt: skip
        assert api.post(f"/api/v1/users/{sw.world.user_id}/history", json=body).status_code == 200

    run = sw.sync("export")

    assert run["counts"]["added"] == 0 and run["counts"]["already"] == 1, run
    assert not sw.trakt_plays(m0)  # the ledger's own play goes out with the history export


def test_a_play_scrobbled_live_is_not_added_again(plex_world: ServerWorld) -> None:
    """A playback scrobbled live through the webhook, then seen watched on the server: the
    export adds nothing (Trakt already has that play)."""
    sw, plex, trakt = plex_world, plex_world.fake, plex_world.trakt
    sw.add_server()
    sw.link("plex", "olivia")
    m0 = sw.movies[0]
    media = payloads.Media(
        "movie", m0.trakt.title, m0.trakt.year, m0.trakt.ids["imdb"],
        local_id=str(m0.server.rating_key),
    )  # fmt: skip
    for event, progress in (("start", 0), ("stop", 95)):
        body = payloads.plex(event, "olivia", media, progress, server=plex.machine_identifier)
        answer = httpx.post(
            f"{sw.world.service.url}/webhooks/plex",
            content=body.content,
            headers={"Content-Type": body.content_type},
            params={"token": WEBHOOK_TOKEN},
            timeout=20,
        )
        assert answer.status_code == 202, answer.text
    wait_until(lambda: len(sw.trakt_plays(m0)) == 1, timeout=30, what="the live play on Trakt")
    wait_until(
        lambda: any(p["trakt_history_id"] for p in sw.world.ledger()),
        timeout=30,
        what="the scrobble's history id in the ledger",
    )
    plex.add_play(plex.owner, m0.server, int(trakt.clock()))  # the server saw it end too

    run = sw.sync("export")

    assert run["status"] == "succeeded", run
    assert run["counts"]["added"] == 0 and run["counts"]["already"] == 1, run["counts"]
    assert len(sw.trakt_plays(m0)) == 1
    assert len(trakt.requests_to("/sync/history", "POST")) == 0


def test_jellyfin_export_times_the_play_at_the_end_of_the_last_playback(
    jellyfin_world: ServerWorld,
) -> None:
    sw, jf = jellyfin_world, jellyfin_world.fake
    sw.add_server()
    alice = jf.add_user("alice")
    sw.link(sw.kind, alice.id)
    started = sw.trakt.clock() - 2 * DAY
    jf.mark_played(alice, sw.movies[0].server, date=started)  # runtime 100 minutes

    run = sw.sync("export")

    assert run["status"] == "succeeded", run
    plays = sw.trakt_plays(sw.movies[0])
    assert [_time(p.watched_at) for p in plays] == [_time(started + 100 * 60)]
    assert JELLYFIN_KEY not in sw.world.service.log()


# ---------------------------------------------------------------- import


def test_jellyfin_import_marks_for_the_linked_user_only(jellyfin_world: ServerWorld) -> None:
    sw, jf, trakt = jellyfin_world, jellyfin_world.fake, jellyfin_world.trakt
    sw.add_server()
    alice, bob = jf.add_user("alice"), jf.add_user("bob")
    sw.link(sw.kind, alice.id)
    when = trakt.clock() - 4 * DAY
    trakt.add_play("ann", sw.movies[1].trakt, when - DAY)
    trakt.add_play("ann", sw.movies[1].trakt, when)  # the latest Trakt time dates the mark
    trakt.add_play("ann", sw.episodes[2].trakt, when)
    absent = trakt.add_movie("Not On The Server", 1999, {"trakt": 99_001, "imdb": "tt9999001"})
    trakt.add_play("ann", absent, when)

    run = sw.sync("import")

    assert run["status"] == "succeeded", run
    played = {i.id for i in jf.played_items(alice)}
    assert played == {sw.movies[1].server.id, sw.episodes[2].server.id}
    assert jf.played_items(bob) == []
    data = jf.user_data(alice, sw.movies[1].server)
    assert data.last_played is not None  # Trakt keeps the minute
    assert when - 60 < data.last_played <= when
    outcomes = _outcomes(run)
    assert ("mark", "not_in_library", "Not On The Server") in outcomes
    assert ("match", "unmatched", "Home Video") in outcomes
    assert run["counts"]["marked"] == 2 and run["counts"]["not_in_library"] == 1
    assert not any(r.method == "POST" for r in sw.world.trakt_requests()), "import wrote to Trakt"

    again = sw.sync("import")
    assert again["counts"]["marked"] == 0 and again["counts"]["already"] == 2


def test_plex_account_without_its_token_is_not_writable(plex_world: ServerWorld) -> None:
    sw, plex, trakt = plex_world, plex_world.fake, plex_world.trakt
    kid = plex.add_account("kid", token=None)
    sw.add_server()
    sw.link("plex", "kid")
    trakt.add_play("ann", sw.movies[0].trakt, trakt.clock() - DAY)
    plex.requests.clear()

    run = sw.sync("import")

    assert run["status"] == "succeeded", run
    assert ("mark", "not_writable", sw.movies[0].trakt.title) in _outcomes(run)
    assert run["counts"]["not_writable"] == 1
    assert plex.watched_keys(kid) == set()
    assert plex.watched_keys(plex.owner) == set()  # nor marked for the account that could be
    assert not [r for r in plex.requests if r.is_write]


# ---------------------------------------------------------------- both ways, dry run, undo


def test_bidirectional_dry_run_then_run_then_undo(plex_world: ServerWorld) -> None:
    sw, plex, trakt = plex_world, plex_world.fake, plex_world.trakt
    kid = plex.add_account("kid")  # writable (own token), not linked: never touched
    sw.add_server()
    sw.link("plex", "olivia")
    now = int(trakt.clock())
    m0, m1, m2, _m3 = sw.movies
    plex.add_play(plex.owner, m0.server, now - DAY)  # server only → Trakt
    trakt.add_play("ann", m1.trakt, now - DAY)  # Trakt only → server
    plex.add_play(plex.owner, m2.server, now - DAY)  # both
    trakt.add_play("ann", m2.trakt, now - DAY)
    plex.requests.clear()
    trakt.clear_log()

    preview = sw.sync("bidirectional", dry_run=True)
    assert preview["status"] == "succeeded", preview
    assert ("add", "planned", m0.trakt.title) in _outcomes(preview)
    assert ("mark", "planned", m1.trakt.title) in _outcomes(preview)
    assert not [r for r in plex.requests if r.is_write]
    assert not [r for r in sw.world.trakt_requests() if r.method == "POST"]
    assert plex.watched_keys(plex.owner) == {m0.server.rating_key, m2.server.rating_key}
    assert not [p for p in sw.world.ledger() if p["source"] == "plex"]  # nor here

    run = sw.sync("bidirectional")
    assert run["status"] == "succeeded", run
    watched_keys = plex.watched_keys(plex.owner)
    on_trakt = {p.item.ids["trakt"] for p in trakt.history("ann")}
    assert watched_keys == {m0.server.rating_key, m1.server.rating_key, m2.server.rating_key}
    assert on_trakt == {m0.trakt.ids["trakt"], m1.trakt.ids["trakt"], m2.trakt.ids["trakt"]}
    assert plex.watched_keys(kid) == set()

    undo = sw.undo(run["id"])
    assert undo["status"] == "succeeded", undo
    assert plex.watched_keys(plex.owner) == {m0.server.rating_key, m2.server.rating_key}
    assert {p.item.ids["trakt"] for p in trakt.history("ann")} == {
        m1.trakt.ids["trakt"], m2.trakt.ids["trakt"],
    }  # fmt: skip


def test_sigkill_mid_export_resumes_without_a_duplicate(
    plex_world: ServerWorld, service_factory: Callable[..., Service]
) -> None:
    sw, plex, trakt = plex_world, plex_world.fake, plex_world.trakt
    shows = plex.section("TV Shows")
    show = trakt.add_show("Long Show", 2001, {"trakt": 94_000, "tvdb": 394_000})
    plex_show = plex.add_show(shows, "Long Show", year=2001, ids={"tvdb": 394_000})
    total = 600  # three history batches of 250 at most
    for n in range(total):
        season, number = 1 + n // 100, 1 + n % 100
        ids = {"tvdb": 894_000 + n}
        trakt.add_episode(show, season, number, {"trakt": 95_000 + n, **ids})
        episode = plex.add_episode(plex_show, season, number, ids=ids)
        plex.set_state(plex.owner, episode, view_count=1, last_viewed_at=1_700_000_000 + n * 60)
    sw.add_server()
    sw.link("plex", "olivia")
    trakt.latency = 0.3  # each answer takes a moment, so the kill lands mid-export
    with sw.world.api() as api:
        answer = api.post(f"/api/v1/users/{sw.world.user_id}/sync",
                          json={"kind": "watched", "direction": "export"})  # fmt: skip
    run_id = answer.json()["run_id"]
    wait_until(
        lambda: any(r.path == "/sync/history" and r.method == "POST" for r in trakt.requests),
        timeout=60,
        what="the first history batch sent",
    )
    assert sw.world.service.stop(signal.SIGKILL) == -signal.SIGKILL
    trakt.latency = 0.0

    sw.world.service = service_factory(sync_env(sw.world.fake), name="data")
    run = sw.world.wait(run_id, timeout=120)

    assert run["status"] == "succeeded", run
    plays = [p for p in trakt.history("ann") if p.item.show is show]
    assert len(plays) == total
    assert len({id(p.item) for p in plays}) == total  # one play per episode, none twice


def test_sigkill_mid_marks_resumes_without_marking_twice(
    plex_world: ServerWorld, service_factory: Callable[..., Service]
) -> None:
    sw, plex, trakt = plex_world, plex_world.fake, plex_world.trakt
    shows = plex.section("TV Shows")
    show = trakt.add_show("Marked Show", 2002, {"trakt": 96_000, "tvdb": 396_000})
    plex_show = plex.add_show(shows, "Marked Show", year=2002, ids={"tvdb": 396_000})
    episodes = []
    for n in range(600):  # three commits of marks at least
        season, number = 1 + n // 100, 1 + n % 100
        ids = {"tvdb": 896_000 + n}
        item = trakt.add_episode(show, season, number, {"trakt": 97_000 + n, **ids})
        trakt.add_play("ann", item, 1_700_000_000 + n * 60)
        episodes.append(plex.add_episode(plex_show, season, number, ids=ids))
    sw.add_server()
    sw.link("plex", "olivia")
    plex.latency = 0.02  # each answer takes a moment, so the kill lands mid-marks
    with sw.world.api() as api:
        answer = api.post(f"/api/v1/users/{sw.world.user_id}/sync",
                          json={"kind": "watched", "direction": "import"})  # fmt: skip
    run_id = answer.json()["run_id"]
    wait_until(
        lambda: sum(r.path == "/:/scrobble" for r in plex.requests) >= 50,
        timeout=60,
        what="the marks under way",
    )
    assert sw.world.service.stop(signal.SIGKILL) == -signal.SIGKILL
    assert sum(r.path == "/:/scrobble" for r in plex.requests) < len(episodes)
    plex.latency = 0.0

    sw.world.service = service_factory(sync_env(sw.world.fake), name="data")
    run = sw.world.wait(run_id, timeout=120)

    assert run["status"] == "succeeded", run
    # marked once each: a second /:/scrobble would make viewCount 2
    assert [plex.state(plex.owner, e).view_count for e in episodes] == [1] * len(episodes)
    assert len([p for p in trakt.history("ann") if p.item.show is show]) == len(episodes)


# ---------------------------------------------------------------- ratings, kind "all"


def test_plex_ratings_fill_the_empty_side_and_never_overwrite(plex_world: ServerWorld) -> None:
    sw, plex, trakt = plex_world, plex_world.fake, plex_world.trakt
    sw.add_server()
    sw.link("plex", "olivia")
    m0, m1, m2, m3 = sw.movies
    plex.rate(plex.owner, m0.server, 7.5)  # Plex only → Trakt 8 (nearest, half up)
    trakt.rate("ann", m1.trakt, 9)  # Trakt only → Plex 9
    plex.rate(plex.owner, m2.server, 4.0)  # both, different: left alone
    trakt.rate("ann", m2.trakt, 6)
    plex.rate(plex.owner, m3.server, 0.2)  # Plex → Trakt at least 1
    before = {key: value[0] for key, value in trakt.ratings["ann"].items()}
    plex.requests.clear()
    trakt.clear_log()

    preview = sw.sync("bidirectional", dry_run=True)  # plans the ratings, writes none
    assert preview["status"] == "succeeded", preview
    planned = {title for action, outcome, title in _outcomes(preview)
               if (action, outcome) == ("rate", "planned")}  # fmt: skip
    assert planned == {m0.trakt.title, m1.trakt.title, m3.trakt.title}, _outcomes(preview)
    assert not [r for r in plex.requests if r.is_write]
    assert not [r for r in sw.world.trakt_requests() if r.method == "POST"]
    assert {key: value[0] for key, value in trakt.ratings["ann"].items()} == before
    assert plex.state(plex.owner, m1.server).user_rating is None

    run = sw.sync("bidirectional")

    assert run["status"] == "succeeded", run
    on_trakt = {key: value[0] for key, value in trakt.ratings["ann"].items()}
    assert on_trakt == {id(m0.trakt): 8, id(m1.trakt): 9, id(m2.trakt): 6, id(m3.trakt): 1}
    assert plex.state(plex.owner, m1.server).user_rating == 9
    assert plex.state(plex.owner, m2.server).user_rating == 4.0
    assert plex.state(plex.owner, m0.server).user_rating == 7.5

    plex.requests.clear()
    again = sw.sync("bidirectional")
    assert again["status"] == "succeeded", again
    assert not [r for r in plex.requests if r.is_write]
    assert {key: value[0] for key, value in trakt.ratings["ann"].items()} == on_trakt


def test_kind_all_includes_the_watched_step_for_a_linked_person(plex_world: ServerWorld) -> None:
    sw, plex, trakt = plex_world, plex_world.fake, plex_world.trakt
    sw.add_server()
    sw.link("plex", "olivia")
    plex.add_play(plex.owner, sw.movies[0].server, int(trakt.clock()) - DAY)

    run = sw.world.sync("all", "bidirectional")

    assert run["status"] == "succeeded", run
    assert {"kind": "watched", "direction": "bidirectional"} in run["steps"]
    assert len(sw.trakt_plays(sw.movies[0])) == 1


@pytest.mark.parametrize("server_watched", [True, False])
def test_scheduled_runs_include_the_watched_step_unless_switched_off(
    plex_world: ServerWorld, service_factory: Callable[..., Service], server_watched: bool
) -> None:
    """SPEC §12: scheduled runs sync watched state for a person with a linked account, unless
    ``sync.server_watched`` is false. The schedule is reached by moving the test clock."""
    sw, plex, trakt = plex_world, plex_world.fake, plex_world.trakt
    sw.add_server()
    sw.link("plex", "olivia")
    m0 = sw.movies[0]
    plex.add_play(plex.owner, m0.server, int(trakt.clock()) - DAY)
    assert sw.world.service.stop() == 0
    env = {
        "TRAKT_PLUGIN_TEST_CLOCK": "1",
        "TRAKT_PLUGIN_SYNC__SERVER_WATCHED": str(server_watched).lower(),
        "TRAKT_PLUGIN_SYNC__AUTO_IMPORT_HISTORY": "true",  # a scheduled run either way
    }
    sw.world.service = service_factory(sync_env(sw.world.fake, **env), name="data")

    with sw.world.api() as api:
        assert api.post("/api/v1/test/clock", json={"advance_seconds": 3700}).status_code == 200

        def scheduled() -> list[dict[str, Any]]:
            items = api.get("/api/v1/sync/runs", params={"user_id": sw.world.user_id}).json()
            return [r for r in items["items"] if r["trigger"] == "schedule"]

        wait_until(
            lambda: [r for r in scheduled() if r["status"] in ("succeeded", "partial", "failed")],
            timeout=60,
            what="a scheduled run",
        )
        runs = scheduled()
    assert len(runs) == 1 and runs[0]["status"] == "succeeded", runs
    run = sw.world.run(runs[0]["id"])
    has_watched = any(step["kind"] == "watched" for step in run["steps"])
    assert has_watched is server_watched, run["steps"]
    assert len(sw.trakt_plays(m0)) == (1 if server_watched else 0)


def test_an_account_linked_from_the_server_owns_its_webhooks(plex_world: ServerWorld) -> None:
    """Linking a server account (its identity, as the Servers page does) makes that
    account's webhooks the person's (SPEC §12 Accounts); no token reaches the log."""
    sw = plex_world
    sw.add_server()
    with sw.world.api() as api:
        accounts = api.get(f"/api/v1/servers/{sw.server_id}/accounts").json()["items"]
        owner = next(a for a in accounts if a["name"] == "olivia")
        identity = owner["identity"]
        linked = api.post(f"/api/v1/users/{sw.world.user_id}/identities", json=identity)
        assert linked.status_code == 201, linked.text
        accounts = api.get(f"/api/v1/servers/{sw.server_id}/accounts").json()["items"]
    assert next(a for a in accounts if a["name"] == "olivia")["user_id"] == sw.world.user_id

    body = payloads.plex("start", "olivia", payloads.Media("movie", "Heat", imdb="tt0113277"), 5)
    answer = httpx.post(
        f"{sw.world.service.url}/webhooks/plex",
        content=body.content,
        headers={"Content-Type": body.content_type},
        params={"token": WEBHOOK_TOKEN},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["user_id"] == sw.world.user_id
    assert sw.token not in sw.world.service.log()


def test_jellyfin_and_emby_accounts_linked_from_the_server_own_their_webhooks(
    jellyfin_world: ServerWorld,
) -> None:
    """Two users on the server, each linked from the accounts list to a different person: each
    user's webhooks belong to that person (SPEC §12 Accounts, §4)."""
    sw, jf = jellyfin_world, jellyfin_world.fake
    alice, bob = jf.add_user("alice"), jf.add_user("bob")
    sw.add_server()
    with sw.world.api() as api:
        ben = api.post("/api/v1/users", json={"display_name": "Ben"}).json()["id"]
        accounts = {
            a["name"]: a
            for a in api.get(f"/api/v1/servers/{sw.server_id}/accounts").json()["items"]
        }
        assert set(accounts) == {"alice", "bob"}
        for name, person in (("alice", sw.world.user_id), ("bob", ben)):
            linked = api.post(f"/api/v1/users/{person}/identities",
                              json=accounts[name]["identity"])  # fmt: skip
            assert linked.status_code == 201, linked.text
        accounts = {
            a["name"]: a
            for a in api.get(f"/api/v1/servers/{sw.server_id}/accounts").json()["items"]
        }
    assert accounts["alice"]["user_id"] == sw.world.user_id and accounts["bob"]["user_id"] == ben

    m0 = sw.movies[0].trakt
    media = payloads.Media("movie", m0.title, year=m0.year, imdb=m0.ids["imdb"])
    for user, person in ((alice, sw.world.user_id), (bob, ben)):
        if sw.kind == "jellyfin":  # the webhook plugin sends the dashed form
            dashed = "-".join((user.id[:8], user.id[8:12], user.id[12:16], user.id[16:20],
                               user.id[20:]))  # fmt: skip
            body = payloads.jellyfin("start", dashed, user.name, media, 5, session=user.name)
        else:
            body = payloads.emby("start", user.id, user.name, media, 5, session=user.name)
        answer = httpx.post(
            f"{sw.world.service.url}/webhooks/{sw.kind}",
            content=body.content,
            headers={"Content-Type": body.content_type},
            params={"token": WEBHOOK_TOKEN},
            timeout=20,
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["user_id"] == person, (user.name, answer.json())
    assert JELLYFIN_KEY not in sw.world.service.log()


def test_jellyfin_and_emby_bidirectional_dry_run_run_again_and_undo(
    jellyfin_world: ServerWorld,
) -> None:
    """Acceptance 5 for the API-key servers: the dry run writes nothing on either side, the run
    leaves both watched sets equal (for the linked user only), a second run writes nothing, and
    undo reverses exactly the run's changes on both sides."""
    sw, jf, trakt = jellyfin_world, jellyfin_world.fake, jellyfin_world.trakt
    alice, bob = jf.add_user("alice"), jf.add_user("bob")
    sw.add_server()
    sw.link(sw.kind, alice.id)
    now = trakt.clock()
    m0, m1, m2, _m3 = sw.movies
    e0 = sw.episodes[0]
    jf.mark_played(alice, m0.server, date=now - 3 * DAY)  # server only → Trakt
    trakt.add_play("ann", m1.trakt, now - 2 * DAY)  # Trakt only → server
    trakt.add_play("ann", e0.trakt, now - 2 * DAY)
    jf.mark_played(alice, m2.server, date=now - DAY)  # both
    trakt.add_play("ann", m2.trakt, now - DAY)
    jf.mark_played(bob, m1.server, date=now - DAY)  # another user's: never read or changed
    before = {"alice": {i.id for i in jf.played_items(alice)}, "bob": {m1.server.id}}
    jf.clear_log()
    trakt.clear_log()

    preview = sw.sync("bidirectional", dry_run=True)
    assert preview["status"] == "succeeded", preview
    assert ("add", "planned", m0.trakt.title) in _outcomes(preview)
    assert ("mark", "planned", m1.trakt.title) in _outcomes(preview)
    assert jf.writes == []
    assert not [r for r in sw.world.trakt_requests() if r.method == "POST"]
    assert {i.id for i in jf.played_items(alice)} == before["alice"]

    run = sw.sync("bidirectional")
    assert run["status"] == "succeeded", run
    matched = sw.movies + sw.episodes
    on_trakt = {id(p.item) for p in trakt.history("ann")}
    played = {i.id for i in jf.played_items(alice)}
    assert {id(p.trakt) for p in matched if p.server.id in played} == on_trakt
    assert on_trakt == {id(m0.trakt), id(m1.trakt), id(m2.trakt), id(e0.trakt)}
    assert {i.id for i in jf.played_items(bob)} == before["bob"]
    assert run["counts"]["marked"] == 2 and run["counts"]["added"] == 1, run["counts"]

    jf.clear_log()
    trakt.clear_log()
    again = sw.sync("bidirectional")
    assert again["status"] == "succeeded", again
    assert jf.writes == []
    assert not [r for r in sw.world.trakt_requests() if r.method == "POST"]

    undo = sw.undo(run["id"])
    assert undo["status"] == "succeeded", undo
    assert {i.id for i in jf.played_items(alice)} == before["alice"]
    assert {i.id for i in jf.played_items(bob)} == before["bob"]
    assert {id(p.item) for p in trakt.history("ann")} == {id(m1.trakt), id(m2.trakt), id(e0.trakt)}
    assert len(trakt.history("ann")) == 3
