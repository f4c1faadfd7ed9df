"""Watch mode latency (SPEC §12 "live without webhooks"): from a playback change made on a fake
media server to the fake Trakt receiving the matching scrobble call.

Each playback is a start at 0 %, a pause at 30 %, a resume and a stop at 95 %, made on the fake
server (Jellyfin/Emby `FakeJellyfin`, Plex `FakePlex`); the time is taken right before the change
is made and compared with the fake Trakt's log time (`LoggedRequest.t`, the same monotonic clock)
of the matching `/scrobble/start|pause|start|stop`. Every playback is a different movie, so no
dedupe rule of §6 suppresses a call; each call is checked to name the playback's movie.

The service runs as a subprocess with its defaults: `rate.post_interval` 1 s (a user's POSTs
leave at least 1 s after the previous one finished) and `watch_interval` 5 s. The fake Trakt's
rate limits are off. So that the POST spacing is not what is measured, the next change of a
person is made only once `post_interval` + 0.25 s have passed since that person's previous
call reached Trakt.

Modes:
* Jellyfin over its websocket (one person, changes back to back after the idle time). Goal:
  median under 1 s.
* Jellyfin polling `GET /Sessions` (websocket refused), every `watch_interval` = 5 s. No goal:
  the latency is bounded by the interval (about half of it on average, up to all of it). Each
  change waits a random 0-5 s more so it falls at a random point of the poll cycle, and five
  people play at once (their changes interleave) to keep the run short.
* Plex over its notifications websocket (one person), when the Plex watcher exists. Goal:
  median under 1 s.

Run: `.venv/bin/python bench/watch_latency.py [--playbacks 30]`; exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from _rig import BenchRig, bench_rig
from goals import Goals

from tests.fake_jellyfin import FakeJellyfin, LiveServer

GOAL_MEDIAN = 1.0  # seconds, SPEC §12: "from the server's playback to the Trakt call"
POST_INTERVAL = 1.0  # the service's default rate.post_interval, left as it is
IDLE_AFTER_CALL = POST_INTERVAL + 0.25  # a person's next change waits this long after its call
WATCH_INTERVAL = 5  # the default (and config.py allows no less than 1)
POLL_PEOPLE = 5
CALL_TIMEOUT = 30.0
MOVIE_MINUTES = 120
MOVIE_MS = MOVIE_MINUTES * 60_000
KEY = "fake-jellyfin-api-key-watch-latency"
# Never the real plex.tv from a bench (the fake owner token must not leave the machine).
DEAD_PLEX_TV = "http://127.0.0.1:9"
# (event, position in % or None, the Trakt call it must cause)
STEPS = (
    ("start", 0, "/scrobble/start"),
    ("pause", 30, "/scrobble/pause"),
    ("resume", None, "/scrobble/start"),
    ("stop", 95, "/scrobble/stop"),
)


@dataclass
class Person:
    """One connected user: their Trakt username, the server account they are linked through, and
    the movies (server item, imdb id) they will play."""

    username: str
    account: Any
    movies: list[tuple[Any, str]] = field(default_factory=list)


@dataclass
class Player:
    """What a kind of fake server needs to play: start(account, item) → session, pause(session,
    ms), resume(session), stop(session, ms)."""

    start: Callable[[Any, Any], Any]
    pause: Callable[[Any, int], Any]
    resume: Callable[[Any], Any]
    stop: Callable[[Any, int], Any]


@dataclass
class Result:
    mode: str
    latencies: dict[str, list[float]]  # event → seconds
    note: str
    goal: bool
    other_posts: int

    @property
    def every(self) -> list[float]:
        return [s for values in self.latencies.values() for s in values]


# ------------------------------------------------------------------ measuring


def scrobbles(rig: BenchRig, username: str, path: str) -> list[Any]:
    """The person's answered POSTs to `path` (answered: the fake has set `user` by then)."""
    return [
        r for r in list(rig.fake.requests)
        if r.path == path and r.method == "POST" and r.status is not None and r.user == username
    ]  # fmt: skip


def posts(rig: BenchRig, username: str) -> int:
    return sum(1 for r in list(rig.fake.requests) if r.method == "POST" and r.user == username)


def measure(
    rig: BenchRig, person: Person, path: str, imdb: str, change: Callable[[], Any]
) -> tuple[float, Any]:
    """Make `change` on the fake server; seconds until Trakt got the person's next `path`."""
    seen = len(scrobbles(rig, person.username, path))
    made = time.monotonic()
    result = change()
    while len(calls := scrobbles(rig, person.username, path)) <= seen:
        if time.monotonic() > made + CALL_TIMEOUT:
            raise RuntimeError(f"{person.username}: no {path} within {CALL_TIMEOUT:.0f} s")
        time.sleep(0.002)
    call = calls[seen]
    got = ((call.body or {}).get("movie") or {}).get("ids", {}).get("imdb")
    if got not in (None, imdb):
        raise RuntimeError(f"{person.username}: {path} for {got}, expected {imdb}")
    # the POST spacing of this person runs out before their next change
    time.sleep(max(0.0, call.t + IDLE_AFTER_CALL - time.monotonic()))
    return call.t - made, result


def make_change(player: Player, event: str, account: Any, item: Any, session: Any, ms: int) -> Any:
    if event == "start":
        return player.start(account, item)
    if event == "pause":
        return player.pause(session, ms)
    if event == "resume":
        return player.resume(session)
    return player.stop(session, ms)


def play_all(
    rig: BenchRig, person: Person, player: Player, jitter: float, seed: int
) -> dict[str, list[float]]:
    """The person's playbacks one after another; latency per event kind."""
    rng = random.Random(seed)
    out: dict[str, list[float]] = {event: [] for event, _, _ in STEPS}
    for item, imdb in person.movies:
        session: Any = None
        for event, percent, path in STEPS:
            time.sleep(rng.uniform(0, jitter))
            ms = 0 if percent is None else MOVIE_MS * percent // 100
            change = partial(make_change, player, event, person.account, item, session, ms)
            seconds, made = measure(rig, person, path, imdb, change)
            if event == "start":
                session = made
            out[event].append(seconds)
    return out


def run_people(
    rig: BenchRig, mode: str, people: list[Person], player: Player, jitter: float, note: str,
    goal: bool,
) -> Result:  # fmt: skip
    settle(rig)
    before = {p.username: posts(rig, p.username) for p in people}
    with ThreadPoolExecutor(len(people)) as pool:
        futures = [pool.submit(play_all, rig, p, player, jitter, i) for i, p in enumerate(people)]
        parts = [f.result() for f in futures]
    latencies = {event: [s for part in parts for s in part[event]] for event, _, _ in STEPS}
    expected = sum(len(p.movies) for p in people) * len(STEPS)
    other = sum(posts(rig, p.username) - before[p.username] for p in people) - expected
    return Result(mode, latencies, note, goal, other)


def settle(rig: BenchRig, quiet: float = 1.5, timeout: float = 30.0) -> None:
    """Wait until the fake Trakt has heard nothing for `quiet` seconds (what connecting a user
    starts is over) so that no other write shares a person's POST spacing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = rig.fake.requests[-1].t if rig.fake.requests else 0.0
        if time.monotonic() - last >= quiet:
            return
        time.sleep(0.1)


def split(playbacks: int, people: int) -> list[int]:
    return [playbacks // people + (1 if i < playbacks % people else 0) for i in range(people)]


# ------------------------------------------------------------------ the service and servers


@contextmanager
def service() -> Iterator[BenchRig]:
    with bench_rig(
        TRAKT_PLUGIN_WATCH_INTERVAL=str(WATCH_INTERVAL), TRAKT_PLUGIN_PLEX_TV_URL=DEAD_PLEX_TV
    ) as rig:
        rig.fake.rate_limits = False
        yield rig


def add_server(rig: BenchRig, kind: str, url: str, token: str) -> str:
    with rig.api() as api:
        body = {"kind": kind, "name": "Bench", "url": url, "token": token, "live": "watch"}
        added = api.post("/api/v1/servers", json=body)
        if added.status_code != 201:
            raise RuntimeError(f"adding the {kind} server: {added.status_code} {added.text}")
        return str(added.json()["id"])


def link(rig: BenchRig, user_id: str, source: str, external_id: str) -> None:
    with rig.api() as api:
        linked = api.post(
            f"/api/v1/users/{user_id}/identities",
            json={"source": source, "external_id": external_id},
        )
        if linked.status_code != 201:
            raise RuntimeError(f"linking {external_id}: {linked.status_code} {linked.text}")


def wait_connected(rig: BenchRig, server_id: str) -> None:
    deadline = time.monotonic() + 30
    with rig.api() as api:
        while api.get(f"/api/v1/servers/{server_id}").json()["watch"]["state"] != "connected":
            if time.monotonic() > deadline:
                raise RuntimeError("the watcher did not connect")
            time.sleep(0.05)


def catalogue(rig: BenchRig, count: int, offset: int) -> list[tuple[str, str, int]]:
    """`count` movies known to the fake Trakt: (title, imdb id, year)."""
    movies = []
    for index in range(offset, offset + count):
        title, imdb, year = f"Bench Movie {index}", f"tt{9_100_000 + index}", 1990 + index % 30
        rig.fake.add_movie(title, year, {"trakt": 880_000 + index, "imdb": imdb},
                           runtime=MOVIE_MINUTES)  # fmt: skip
        movies.append((title, imdb, year))
    return movies


def jellyfin_mode(playbacks: int, *, polling: bool) -> Result:
    jf = FakeJellyfin("jellyfin", api_key=KEY)
    jf.socket_refused = polling  # every handshake 403: the watcher polls GET /Sessions
    server = LiveServer(jf).start()
    try:
        with service() as rig:
            people: list[Person] = []
            counts = split(playbacks, min(POLL_PEOPLE, playbacks) if polling else 1)
            for index, count in enumerate(counts):
                user_id = rig.connected_user(f"Jelly{index}", f"jelly-{index}")
                account = jf.add_user(f"viewer{index}")
                person = Person(f"Jelly{index}_t", account)
                for title, imdb, year in catalogue(rig, count, sum(counts[:index])):
                    item = jf.add_movie(title, year=year, provider_ids={"Imdb": imdb},
                                        runtime_minutes=MOVIE_MINUTES)  # fmt: skip
                    person.movies.append((item, imdb))
                people.append(person)
                link(rig, user_id, "jellyfin", account.id)
            server_id = add_server(rig, "jellyfin", server.url, KEY)
            wait_connected(rig, server_id)
            player = Player(
                start=lambda account, item: jf.start_playback(account, item, position_ms=0),
                pause=lambda session, ms: jf.pause(session, position_ms=ms),
                resume=lambda session: jf.resume(session),
                stop=lambda session, ms: jf.stop_playback(session, position_ms=ms),
            )
            if polling:
                polls = len(jf.requests_to("/Sessions", "GET"))
                result = run_people(
                    rig, f"jellyfin polling ({WATCH_INTERVAL} s)", people, player,
                    WATCH_INTERVAL, "", goal=False,
                )  # fmt: skip
                polls = len(jf.requests_to("/Sessions", "GET")) - polls
                result.note = (
                    f"{len(people)} people at once, each change 0-{WATCH_INTERVAL} s later at "
                    f"random; websocket refused, {polls} GET /Sessions during the run"
                )
                if jf.sockets:
                    raise RuntimeError("a websocket was open in the polling mode")
            else:
                result = run_people(rig, "jellyfin websocket", people, player, 0.0, "",
                                    goal=True)  # fmt: skip
                result.note = f"one person; {len(jf.sockets)} websocket open"
                if len(jf.sockets) != 1:
                    raise RuntimeError("the watcher was not on the websocket")
            return result
    finally:
        server.stop()


def plex_available() -> bool:
    """The Plex watcher exists and the factory builds it for kind "plex"."""
    from trakt_plugin.servers.base import NotSupported
    from trakt_plugin.servers.service import Connection
    from trakt_plugin.servers.watch.factory import make_watcher

    connection = Connection(server_id="bench", kind="plex", url=DEAD_PLEX_TV, token="bench")
    try:
        watcher = make_watcher(connection, WATCH_INTERVAL)
    except (NotSupported, ImportError):
        return False
    return type(watcher).__name__ == "PlexWatcher"


def plex_mode(playbacks: int) -> Result:
    """Plex over its notifications websocket (run only when `plex_available()`)."""
    from tests.fake_plex import FakePlex, PlexServerThread

    fake = FakePlex(friendly_name="Bench", owner_name="olivia")
    section = fake.add_section("Movies", "movie")
    server = PlexServerThread(fake)
    server.start()
    try:
        with service() as rig:
            user_id = rig.connected_user("Plex0", "plex-0")
            person = Person("Plex0_t", fake.owner)
            for title, imdb, year in catalogue(rig, playbacks, 0):
                item = fake.add_movie(section, title, year=year, ids={"imdb": imdb},
                                      duration=MOVIE_MS)  # fmt: skip
                person.movies.append((item, imdb))
            link(rig, user_id, "plex", fake.owner.name)
            server_id = add_server(rig, "plex", server.url, fake.owner_token)
            wait_connected(rig, server_id)
            player = Player(
                start=lambda account, item: fake.start_session(account, item, offset=0),
                pause=lambda session, ms: fake.pause(session, offset=ms),
                resume=lambda session: fake.resume(session),
                stop=lambda session, ms: fake.stop_session(session, offset=ms),
            )
            result = run_people(rig, "plex websocket", [person], player, 0.0, "", goal=True)
            result.note = f"one person (the owner); {len(fake.sockets)} websocket open"
            if len(fake.sockets) != 1:
                raise RuntimeError("the watcher was not on the websocket")
            return result
    finally:
        server.stop()


# ------------------------------------------------------------------ report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def report(results: list[Result], goals: Goals) -> None:
    print()
    print(f"{'mode':<28} {'events':>6} {'median':>8} {'p90':>8} {'max':>8}  goal")
    for r in results:
        every = r.every
        median = statistics.median(every)
        if r.goal:
            met = median < GOAL_MEDIAN
            name = r.mode.replace(" ", "_") + "_median"
            goals.add(name, f"{median:.3f}s", f"<{GOAL_MEDIAN:g}s", met)
            verdict = f"median < {GOAL_MEDIAN:g} s: {'met' if met else 'MISSED'}"
        else:
            verdict = f"none (bounded by the {WATCH_INTERVAL} s interval)"
        print(f"{r.mode:<28} {len(every):>6} {ms(median):>8} {ms(p90(every)):>8} "
              f"{ms(max(every)):>8}  {verdict}")  # fmt: skip
    print()
    for r in results:
        kinds = ", ".join(
            f"{event} {ms(statistics.median(v))}/{ms(p90(v))}" for event, v in r.latencies.items()
        )
        print(f"{r.mode}: median/p90 per event: {kinds}")
        print(f"  {r.note}; other POSTs by the bench people during the run: {r.other_posts}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--playbacks", type=int, default=30, help="playbacks per mode")
    args = parser.parse_args(argv)
    n = max(1, args.playbacks)
    print(
        f"watch mode: fake server change → fake Trakt scrobble call, {n} playbacks per mode "
        f"(start, pause at 30 %, resume, stop at 95 %: {4 * n} events); the service's POST "
        f"spacing ({POST_INTERVAL:g} s) kept, each person's next change made "
        f"{IDLE_AFTER_CALL:g} s after their previous call reached Trakt, so the spacing never "
        f"delays a measured call; fake Trakt rate limits off",
        flush=True,
    )
    results = []
    started = time.monotonic()
    results.append(jellyfin_mode(n, polling=False))
    print(f"  jellyfin websocket done ({time.monotonic() - started:.0f} s)", flush=True)
    results.append(jellyfin_mode(n, polling=True))
    print(f"  jellyfin polling done ({time.monotonic() - started:.0f} s)", flush=True)
    if plex_available():
        results.append(plex_mode(n))
        print(f"  plex websocket done ({time.monotonic() - started:.0f} s)", flush=True)
    else:
        print("plex: watcher not available (no PlexWatcher from servers/watch/factory.py yet; "
              "plex_mode() runs as soon as there is one)")  # fmt: skip
    goals = Goals("watch_latency")
    report(results, goals)
    print(f"\npolling: its latency is bounded by watch_interval ({WATCH_INTERVAL} s), no goal\n")
    return goals.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
