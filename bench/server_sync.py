"""Watched sync benchmark (SPEC §12 "Cost"): one person with 20,000 movies and 100,000 episodes
on a media server, half of them watched on each side, against the fake Plex (or Jellyfin / Emby)
and the fake Trakt with its rate limits off.

Both sides hold the same items with the same ids (the fake library builders' id functions).
Item i of the library (movies, then episodes) is watched on the server when i % 4 is 0 or 1 and
has a play on Trakt when i % 4 is 1 or 2: a quarter to export, a quarter to mark on the server,
a quarter watched on both, a quarter on neither. A share of the library has no ids (the
builders' default): those stay ``unmatched``, their Trakt plays ``not_in_library``.

Run 1 (bidirectional) prints its wall time and the run's own duration, status and counts, the
requests to Trakt by endpoint and to the server by path (each with when the first and the last
one ran, seconds after the start: a timeline of the phases), the smallest and largest page asked
of the server's library, the service's peak RSS (VmHWM) and the posters downloaded meanwhile
(the downloader waits for the run's end). Run 2 (nothing changed) must write
nothing.

Goals: run 1 under 60 s; library pages of at least 500 items; afterwards every matched item is
watched on both sides or on neither; run 2 sends no POST to Trakt and no write to the server.
Exits 1 when one is missed.

Run: `.venv/bin/python bench/server_sync.py [--kind plex|jellyfin|emby] [--scale 0.1]`.
"""

from __future__ import annotations

import argparse
import bisect
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from goals import Goals  # noqa: E402
from proc import cpu_seconds, memory_mb  # noqa: E402

from tests.conftest import FakeTraktServer, connect_user, start_service  # noqa: E402
from tests.fake_trakt.server import serve_in_thread  # noqa: E402
from tests.fake_trakt.state import FakeTrakt, Item  # noqa: E402

MOVIES = 20_000
EPISODES = 100_000
# Plex: shows of 5 seasons × 20 episodes; Jellyfin/Emby: series of 50 in seasons of 10.
PLEX_SEASONS, PLEX_EPISODES = 5, 20
JELLYFIN_SERIES, JELLYFIN_SEASON = 50, 10
GOAL_SECONDS = 60.0
GOAL_PAGE = 500
TIMEOUT = 900.0
FINISHED = ("succeeded", "partial", "failed")
USERNAME = "bench"
DAY = 86400
YEAR = 365 * DAY
JELLYFIN_KEY = "fake-jellyfin-api-key-bench-0123456"
SERVER_WATCHED = (0, 1)  # i % 4: watched on the server
TRAKT_PLAYED = (1, 2)  # i % 4: a play on Trakt


@dataclass
class Pair:
    """One movie or episode of the library and the same item in the Trakt catalogue."""

    server: Any
    trakt: Item
    matched: bool  # the server's copy carries ids


@dataclass
class World:
    """A fake media server with its library, and what the service needs to reach it."""

    kind: str
    fake: Any
    url: str
    token: str
    identity: tuple[str, str]  # (source, external id) of the bench person's account
    pairs: list[Pair] = field(default_factory=list)
    catalogue: list[Item] = field(default_factory=list)  # shows and episodes' shows included
    stop: Callable[[], None] = lambda: None
    watched: Callable[[Pair], bool] = lambda pair: False
    writes: Callable[[], list[Any]] = list
    page_size: Callable[[Any], int | None] = lambda request: None
    endpoint: Callable[[Any], str] = lambda request: ""


def _when(i: int, now: float) -> float:
    return now - DAY - (i * 617) % (3 * YEAR)


# ---------------------------------------------------------------- Plex


@contextmanager
def plex_world(scale: float, now: float) -> Iterator[World]:
    from tests.fake_plex import FakePlex, PlexServerThread, build_library
    from tests.fake_plex.builder import episode_ids, movie_ids, show_ids

    fake = FakePlex(friendly_name="Bench Plex", owner_name="bench-owner")
    shows = max(1, round(EPISODES * scale / (PLEX_SEASONS * PLEX_EPISODES)))
    # No legacy agents: their episodes are named by show + season/number, which the fake Trakt
    # looks up with a scan of its whole catalogue per episode (it would time the fake).
    lib = build_library(
        fake, movies=round(MOVIES * scale), shows=shows, seasons=PLEX_SEASONS,
        episodes=PLEX_EPISODES, legacy=0.0, accounts=(), seed=1, now=int(now),
    )  # fmt: skip
    world = World("plex", fake, "", fake.owner_token, ("plex", "bench-owner"))
    for i, movie in enumerate(lib.movies):
        ids = movie_ids(i)
        trakt = Item("movie", movie.title, movie.year,
                     {"trakt": 10_000_000 + i, "slug": f"bench-movie-{i}", "imdb": ids["imdb"],
                      "tmdb": int(ids["tmdb"])}, 90)  # fmt: skip
        world.pairs.append(Pair(movie, trakt, bool(movie.ids)))
    trakt_shows: dict[int, Item] = {}
    for s, show in enumerate(lib.shows):
        ids = show_ids(s)
        trakt_shows[show.rating_key] = Item(
            "show", show.title, show.year,
            {"trakt": 20_000_000 + s, "slug": f"bench-show-{s}", "imdb": ids["imdb"],
             "tmdb": int(ids["tmdb"]), "tvdb": int(ids["tvdb"])}, 45,
        )  # fmt: skip
    for e, episode in enumerate(lib.episodes):
        ids = episode_ids(e)
        season = episode.parent
        assert season is not None and season.parent is not None
        trakt = Item("episode", episode.title, None,
                     {"trakt": 30_000_000 + e, "imdb": ids["imdb"], "tmdb": int(ids["tmdb"]),
                      "tvdb": int(ids["tvdb"])}, 45, show=trakt_shows[season.parent.rating_key],
                     season=season.index, number=episode.index)  # fmt: skip
        world.pairs.append(Pair(episode, trakt, bool(episode.ids)))
    world.catalogue = [*trakt_shows.values(), *(p.trakt for p in world.pairs)]
    for i, pair in enumerate(world.pairs):
        if i % 4 in SERVER_WATCHED:
            fake.set_state(fake.owner, pair.server, view_count=1, last_viewed_at=int(_when(i, now)))

    def page_size(request: Any) -> int | None:
        size = request.headers.get("x-plex-container-size") or request.query.get(
            "X-Plex-Container-Size"
        )
        return int(size) if size else None

    owner = fake.owner
    world.watched = lambda pair: fake.state(owner, pair.server).view_count > 0
    world.writes = fake.writes
    world.page_size = page_size
    world.endpoint = lambda r: (
        f"{r.method} {re.sub(r'/metadata/[0-9,]+', '/metadata/{key}', r.path)}"
    )
    server = PlexServerThread(fake)
    world.url = server.start()
    try:
        yield world
    finally:
        server.stop()


# ---------------------------------------------------------------- Jellyfin / Emby


@contextmanager
def jellyfin_world(kind: str, scale: float, now: float) -> Iterator[World]:
    from tests.fake_jellyfin import FakeJellyfin, LiveServer, build_library
    from tests.fake_jellyfin.library import episode_ids, movie_ids, series_ids

    fake = FakeJellyfin(kind, api_key=JELLYFIN_KEY)
    lib = build_library(
        fake, movies=round(MOVIES * scale), episodes=round(EPISODES * scale),
        episodes_per_series=JELLYFIN_SERIES, episodes_per_season=JELLYFIN_SEASON,
        users=("bench",), watched=0.0, in_progress=0.0, seed=1,
    )  # fmt: skip
    user = lib.users[0]
    world = World(kind, fake, "", JELLYFIN_KEY, (kind, user.id))
    unmatched = {id(item) for item in lib.unmatched}
    for i, movie in enumerate(lib.movies):
        ids = movie_ids(i)
        trakt = Item("movie", movie.name, movie.year,
                     {"trakt": 10_000_000 + i, "slug": f"bench-movie-{i}", "imdb": ids["Imdb"],
                      "tmdb": int(ids["Tmdb"])}, 90)  # fmt: skip
        world.pairs.append(Pair(movie, trakt, id(movie) not in unmatched))
    trakt_series: dict[str, Item] = {}
    series_of = {series.id: series for series in lib.series}
    for s, series in enumerate(lib.series):
        ids = series_ids(s)
        trakt_series[series.id] = Item(
            "show", series.name, series.year,
            {"trakt": 20_000_000 + s, "slug": f"bench-show-{s}", "imdb": ids["Imdb"],
             "tmdb": int(ids["Tmdb"]), "tvdb": int(ids["Tvdb"])}, 45,
        )  # fmt: skip
    for e, episode in enumerate(lib.episodes):
        ids = episode_ids(e)
        trakt_ids: dict[str, Any] = {"trakt": 30_000_000 + e, "tvdb": int(ids["Tvdb"]),
                                     "tmdb": 6_000_000 + e}  # fmt: skip
        if "Imdb" in ids:
            trakt_ids["imdb"] = ids["Imdb"]
        assert episode.series_id is not None
        trakt = Item("episode", episode.name, None, trakt_ids, 45,
                     show=trakt_series[episode.series_id], season=episode.season,
                     number=episode.number)  # fmt: skip
        # An episode is matched by its own ids, else by its series' ids and its numbers.
        matched = id(episode) not in unmatched or id(series_of[episode.series_id]) not in unmatched
        world.pairs.append(Pair(episode, trakt, matched))
    world.catalogue = [*trakt_series.values(), *(p.trakt for p in world.pairs)]
    for i, pair in enumerate(world.pairs):
        if i % 4 in SERVER_WATCHED:
            fake.set_user_data(user, pair.server, played=True, play_count=1,
                               last_played=_when(i, now))  # fmt: skip

    def page_size(request: Any) -> int | None:
        size = request.query.get("limit") or request.query.get("Limit")
        return int(size) if size else None

    world.watched = lambda pair: bool(fake.user_data(user, pair.server).played)
    world.writes = lambda: fake.writes
    world.page_size = page_size
    world.endpoint = lambda r: f"{r.method} {r.route or r.local_path}"
    server = LiveServer(fake).start()
    world.url = server.url
    world.stop = server.stop
    try:
        yield world
    finally:
        server.stop()


# ---------------------------------------------------------------- the runs


def _trakt_endpoint(request: Any) -> str:
    path = re.sub(r"/\d+(?=/|$)", "/{id}", request.path)
    ranged = " (a time range)" if "start_at" in request.query else ""
    return f"{request.method} {path}{ranged}"


class CpuSampler:
    """CPU seconds used by the service process (``/proc/<pid>/stat``) and by this process (the
    fakes, served in its threads), sampled every 0.1 s: what each phase of the timeline cost."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.samples: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), cpu_seconds(self._pid), time.process_time()))
            self._stop.wait(0.1)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic(), cpu_seconds(self._pid), time.process_time()))

    def between(self, start: float, end: float) -> tuple[float, float]:
        """(service, fakes) CPU seconds from ``start`` to ``end`` (monotonic)."""

        def at(moment: float) -> tuple[float, float]:
            index = bisect.bisect_left(self.samples, moment, key=lambda sample: sample[0])
            _, service, fakes = self.samples[min(index, len(self.samples) - 1)]
            return service, fakes

        (s0, f0), (s1, f1) = at(start), at(end)
        return s1 - s0, f1 - f0


def _timeline(
    requests: list[Any], name: Callable[[Any], str], t0: float, cpu: CpuSampler
) -> list[str]:
    """Requests by endpoint: count, first and last (seconds after the run started), and the
    CPU seconds the service and the fakes used over that span."""
    spans: dict[str, list[float]] = {}
    counts: Counter[str] = Counter()
    for request in requests:
        key = name(request)
        counts[key] += 1
        span = spans.setdefault(key, [request.t, request.t])
        span[0], span[1] = min(span[0], request.t), max(span[1], request.t)
    lines = []
    for key, (first, last) in sorted(spans.items(), key=lambda entry: entry[1][0]):
        service, fakes = cpu.between(first, last)
        lines.append(
            f"    {counts[key]:>7}  {key:<40} {first - t0:>5.1f} s → {last - t0:>5.1f} s"
            f"   CPU: service {service:>5.1f} s, fakes {fakes:>5.1f} s"
        )
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("plex", "jellyfin", "emby"), default="plex")
    parser.add_argument("--scale", type=float, default=1.0, help="library size (1 = 120,000)")
    args = parser.parse_args(argv)
    now = time.time()
    trakt = FakeTrakt()
    trakt.device_interval = 1
    trakt.rate_limits = False
    started = time.perf_counter()
    worlds = {"plex": lambda: plex_world(args.scale, now)}
    factory = worlds.get(args.kind, lambda: jellyfin_world(args.kind, args.scale, now))
    with (
        factory() as world,
        serve_in_thread(trakt) as trakt_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        played = [
            (pair.trakt, _when(i, now) + 3600)
            for i, pair in enumerate(world.pairs)
            if i % 4 in TRAKT_PLAYED
        ]
        trakt.seed_plays(USERNAME, world.catalogue, played)
        movies = sum(p.trakt.type == "movie" for p in world.pairs)
        print(
            f"{world.kind}: {movies} movies, {len(world.pairs) - movies} episodes "
            f"({sum(not p.matched for p in world.pairs)} not matchable: no ids); server watched "
            f"{sum(i % 4 in SERVER_WATCHED for i in range(len(world.pairs)))}, Trakt plays "
            f"{len(played)}; set up in {time.perf_counter() - started:.1f} s"
        )
        fake_trakt = FakeTraktServer(trakt, trakt_url)
        env = fake_trakt.service_env(
            TRAKT_PLUGIN_SYNC__AUTO_IMPORT_HISTORY="false",
            TRAKT_PLUGIN_SYNC__AUTO_EXPORT_PLAYS="false",
            TRAKT_PLUGIN_SYNC__BIDIRECTIONAL_WATCHLIST="false",
            TRAKT_PLUGIN_RATE__POST_INTERVAL="0",
        )
        service = start_service(Path(tmp) / "data", env)
        try:
            user = connect_user(service, fake_trakt, "Bench", USERNAME)
            return _measure(world, trakt, service, str(user["id"]), args.scale)
        finally:
            service.stop(signal.SIGTERM)


def _measure(world: World, trakt: FakeTrakt, service: Any, user_id: str, scale: float) -> int:
    with service.api() as api:
        api.timeout = 60
        answer = api.post(
            "/api/v1/servers",
            json={"kind": world.kind, "name": "bench", "url": world.url, "token": world.token,
                  "live": "off"},
        )  # fmt: skip
        assert answer.status_code == 201 and answer.json()["state"] == "ok", answer.text
        server_id = answer.json()["id"]
        source, external_id = world.identity
        answer = api.post(
            f"/api/v1/users/{user_id}/identities",
            json={"source": source, "external_id": external_id},
        )
        assert answer.status_code == 201, answer.text

        def run() -> tuple[dict[str, Any], float, float]:
            trakt.clear_log()
            world.fake.clear_log()
            t0 = time.monotonic()
            answer = api.post(
                f"/api/v1/users/{user_id}/sync",
                json={"kind": "watched", "direction": "bidirectional", "server_id": server_id},
            )
            assert answer.status_code == 202, answer.text
            run_id = answer.json()["run_id"]
            deadline = t0 + TIMEOUT
            while time.monotonic() < deadline:
                body = api.get(f"/api/v1/sync/runs/{run_id}", params={"items_limit": 0}).json()
                if body["status"] in FINISHED:
                    return body, time.monotonic() - t0, t0
                time.sleep(0.1)
            raise SystemExit("the run did not finish in time")

        with CpuSampler(service.process.pid) as cpu:
            first, wall, t0 = run()
            posters_during_run = sum(trakt.image_downloads.values())
            rss = memory_mb(service.process.pid, "VmHWM")
            trakt_log = [r for r in trakt.requests if r.user == USERNAME]
            server_log = list(world.fake.requests)
            pages = [s for s in map(world.page_size, server_log) if s is not None]
            on_trakt = {id(p.item) for p in trakt.plays if p.username == USERNAME}
            differ = [
                p
                for p in world.pairs
                if p.matched and world.watched(p) != (id(p.trakt) in on_trakt)
            ]
            second, wall2, t2 = run()
            trakt_posts = [r for r in trakt.requests if r.user == USERNAME and r.method != "GET"]
            server_writes = world.writes()
            rss2 = memory_mb(service.process.pid, "VmHWM")

    service_cpu, fakes_cpu = cpu.between(t0, t0 + wall)
    print(f"run 1 (bidirectional): {first['status']} in {wall:.1f} s (the run's own duration "
          f"{first['duration_seconds']:.1f} s); CPU: service {service_cpu:.1f} s, fakes "
          f"{fakes_cpu:.1f} s")  # fmt: skip
    print(f"  counts: {_counts(first)}")
    print(f"  requests to Trakt: {len(trakt_log)} (the run counted {first['requests']})")
    print("\n".join(_timeline(trakt_log, _trakt_endpoint, t0, cpu)))
    print(f"  requests to the server: {len(server_log)}")
    print("\n".join(_timeline(server_log, world.endpoint, t0, cpu)))
    print(f"  library pages asked: {len(pages)}, smallest {min(pages, default=0)}, "
          f"largest {max(pages, default=0)}")  # fmt: skip
    print(f"  matched items watched on one side only afterwards: {len(differ)}")
    print(f"  service peak RSS: {rss:.0f} MB")
    print(f"  posters downloaded during the run: {posters_during_run} (they wait for its end)")
    print(f"run 2 (nothing changed): {second['status']} in {wall2:.1f} s")
    print(f"  counts: {_counts(second)}")
    print(f"  requests to Trakt: {second['requests']}; writes: {len(trakt_posts)} to Trakt, "
          f"{len(server_writes)} to the server")  # fmt: skip
    print("\n".join(_timeline([r for r in trakt.requests if r.user == USERNAME],
                              _trakt_endpoint, t2, cpu)))  # fmt: skip
    print("\n".join(_timeline(list(world.fake.requests), world.endpoint, t2, cpu)))
    print(f"  service peak RSS after both runs: {rss2:.0f} MB")

    goals = [
        (f"run 1 under {GOAL_SECONDS:.0f} s", f"{wall:.1f} s", wall < GOAL_SECONDS),
        ("run 1 succeeded", first["status"], first["status"] == "succeeded"),
        (f"library pages ≥ {GOAL_PAGE}", str(min(pages, default=0)),
         bool(pages) and min(pages) >= GOAL_PAGE),
        ("watched sets equal afterwards", f"{len(differ)} differ", not differ),
        ("run 2 writes nothing", f"{len(trakt_posts)} + {len(server_writes)}",
         not trakt_posts and not server_writes),
        ("run 2 succeeded", second["status"], second["status"] == "succeeded"),
    ]  # fmt: skip
    print(f"\n{'goal':<32} {'measured':>14}  ok   ({world.kind}, scale {scale:g})")
    for name, measured, ok in goals:
        print(f"{name:<32} {measured:>14}  {'yes' if ok else 'NO'}")
    print()
    lines = Goals(f"server_sync.{world.kind}")
    lines.add("run1_s", f"{wall:.1f}s", f"<{GOAL_SECONDS:.0f}s", goals[0][2])
    lines.add("run1_status", str(first["status"]), "succeeded", goals[1][2])
    lines.add("smallest_page", str(min(pages, default=0)), f">={GOAL_PAGE}", goals[2][2])
    lines.add("watched_differ", str(len(differ)), "0", goals[3][2])
    lines.add("run2_writes", str(len(trakt_posts) + len(server_writes)), "0", goals[4][2])
    lines.add("run2_status", str(second["status"]), "succeeded", goals[5][2])
    return lines.finish()


def _counts(run: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in run["counts"].items() if v)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
