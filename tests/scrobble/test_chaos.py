"""Playbacks by 5 users across the four sources while the fake Trakt fails 30 %
of scrobble/history calls (500, 502, 520, hangs, process-then-drop) with rate limits on, and the
service is SIGKILLed twice and restarted. Afterwards Trakt holds exactly one play per completed
playback and no other, each within a minute of its stop, and nothing is pending. Trakt's 409
would hide a stop sent twice (its window outlasts the run), so the fake's request log is read
too: Trakt processed at most one stop and one history add per playback, and never said 409.

The scaled-down run is in the normal suite; the full 500-playback run needs
TRAKT_PLUGIN_LONG_TESTS=1 (``make test-long``).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.conftest import start_service, wait_until
from tests.fake_trakt import FakeTrakt
from tests.fake_trakt.app import _episode_by_number, _history_targets, _resolve
from tests.webhooks.harness import Rig
from tests.webhooks.payloads import Body, Media, emby, jellyfin, plex, revenge

USERS = 5
SOURCES = ("revenge", "plex", "jellyfin", "emby")
FAULTS: tuple[int | str, ...] = (500, 502, 520, "hang", "drop_after_processing")
CHAOS_ENV = {
    "TRAKT_PLUGIN_SCROBBLE__HTTP_TIMEOUT": "1",
    "TRAKT_PLUGIN_RATE__POST_INTERVAL": "0.05",
}
# The stop's time and the play's watched_at: at most a minute apart (Trakt keeps minutes).
WATCHED_AT_TOLERANCE = 60 + 1


@dataclass
class Playback:
    user: int
    source: str
    media: Media
    complete: bool
    session: str
    stop_at: float | None = None


def _catalogue(rig: Rig, count: int) -> list[Media]:
    """``count`` distinct items at the fake: movies and episodes (episode tvdb + show ids)."""
    fake = rig.fake.state
    show = fake.add_show("Chaos Show", 2020, {"trakt": 700000, "tvdb": 700000, "slug": "chaos"})
    items = []
    for i in range(count):
        if i % 2 == 0:
            ids = {"trakt": 800000 + i, "imdb": f"tt8{i:06d}", "tmdb": 800000 + i}
            fake.add_movie(f"Chaos Movie {i}", 2000 + i % 20, ids, runtime=100)
            items.append(
                Media(
                    "movie", f"Chaos Movie {i}", 2000 + i % 20, imdb=ids["imdb"], tmdb=ids["tmdb"]
                )
            )
        else:
            ids = {"trakt": 900000 + i, "tvdb": 900000 + i}
            fake.add_episode(show, 1, i, ids, title=f"Chaos Ep {i}", runtime=100)
            items.append(
                Media(
                    "episode",
                    f"Chaos Ep {i}",
                    2020,
                    tvdb=ids["tvdb"],
                    show_title="Chaos Show",
                    show_tvdb=700000,
                    season=1,
                    number=i,
                )
            )
    return items


def _ids(k: int) -> dict[str, str]:
    return {
        "revenge": f"rev-user-{k}",
        "plex": f"PlexUser{k}",
        "jellyfin": f"{k:032x}",
        "emby": f"emby-{k}",
    }


def _interleaved(
    playbacks: list[Playback], rng: random.Random
) -> tuple[list[list[tuple[str, Body]]], list[int]]:
    """Each playback's events in order, playbacks mixed: (queues, playback index per step)."""
    queues = [list(_events(p)) for p in playbacks]
    order = [index for index, queue in enumerate(queues) for _ in queue]
    rng.shuffle(order)
    return queues, order


def _events(p: Playback) -> list[tuple[str, Body]]:
    ids = _ids(p.user)
    who = ids[p.source]
    end = 95.0 if p.complete else 50.0
    steps = [("start", 2.0), ("pause", 30.0), ("resume", 30.0), ("stop", end)]
    out = []
    for kind, progress in steps:
        if p.source == "revenge":
            body = revenge(kind, who, p.media, progress, session_id=p.session)
        elif p.source == "plex":
            body = plex(kind, who, p.media, progress, player=p.session)
        elif p.source == "emby":
            body = emby(kind, who, f"name{p.user}", p.media, progress, session=p.session)
        else:
            jf_kind = {"pause": "progress", "resume": "progress"}.get(kind, kind)
            paused = {"pause": True, "resume": False, "start": False}.get(kind)
            body = jellyfin(
                jf_kind, who, f"name{p.user}", p.media, progress, paused=paused, session=p.session
            )
        out.append((kind, body))
    return out


def _items_of(fake: FakeTrakt, path: str, body: object) -> list[int]:
    """The catalogue items (by ``id()``) a processed stop or history add named."""
    if not isinstance(body, dict):
        return []
    if path == "/sync/history":
        return [id(item) for item, _ in _history_targets(fake, body, {k: [] for k in (
            "movies", "shows", "seasons", "episodes")})]  # fmt: skip
    if "movie" in body:
        item = _resolve(fake, "movie", body["movie"])
    elif isinstance(body.get("episode"), dict) and body["episode"].get("ids"):
        item = _resolve(fake, "episode", body["episode"])
    else:
        show = _resolve(fake, "show", body.get("show"))
        episode = body.get("episode") or {}
        item = show and _episode_by_number(fake, show, episode.get("season"), episode.get("number"))
    return [id(item)] if item is not None else []


def assert_no_write_processed_twice(fake: FakeTrakt) -> None:
    """Per user and item (one playback each here), Trakt processed at most one stop and at most
    one history add: a 5xx the fake injected was refused before processing, while a hang or a
    drop after processing did land (its status is the handler's), so a resend after those shows
    here even when Trakt's 409 absorbed it."""
    processed: Counter[tuple[str, str | None, int]] = Counter()
    for request in fake.requests:
        if request.method != "POST" or request.path not in ("/scrobble/stop", "/sync/history"):
            continue
        assert request.status != 409, f"a stop was sent again: {request.body}"
        if request.status is None or request.status >= 300:
            continue
        for item in _items_of(fake, request.path, request.body):
            processed[(request.path, request.user, item)] += 1
    twice = {key: n for key, n in processed.items() if n > 1}
    assert not twice, f"writes Trakt processed more than once: {twice}"


def _restart(rig: Rig) -> None:
    rig.service.process.send_signal(signal.SIGKILL)
    rig.service.process.wait(timeout=10)
    env = {k: v for k, v in rig.service.env.items() if k not in ("TRAKT_PLUGIN_PORT",)}
    rig.service = start_service(rig.service.data_dir, env)


def run_chaos(rig: Rig, playbacks_total: int, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    fake = rig.fake.state
    per_user = -(-playbacks_total // USERS)
    items = _catalogue(rig, per_user)
    user_ids = [rig.user(f"Chaos{k}", _ids(k), f"chaos{k}_t") for k in range(USERS)]
    assert fake.rate_limits and fake.post_interval == 0.05  # as strict as Trakt, at this pace
    fake.hang_seconds = 1.5  # a hung request is processed after the client gave up
    fake.set_error_rate(0.3, seed=seed, kinds=FAULTS, paths=("/scrobble/", "/sync/history"))

    playbacks = [
        Playback(k % USERS, rng.choice(SOURCES), items[k // USERS], rng.random() < 0.8, f"s{k}")
        for k in range(playbacks_total)
    ]
    queues, order = _interleaved(playbacks, rng)
    kill_points = {len(order) * (n + 1) // (kills + 1) for n in range(kills)}
    restarted = 0
    for step, index in enumerate(order):
        if step in kill_points:
            _restart(rig)
            restarted += 1
        kind, body = queues[index].pop(0)
        rig.deliver(playbacks[index].source, body)
        if kind == "stop":
            playbacks[index].stop_at = time.time()
    assert restarted == kills

    wait_until(
        lambda: not rig.rows(status="pending"), timeout=60 + playbacks_total, what="outbox empty"
    )
    fake.set_error_rate(0.0)
    # Hung requests still in flight at the fake finish within hang_seconds.
    wait_until(
        lambda: not any(r.status is None for r in fake.requests),
        timeout=10,
        what="the fake finished every request",
    )

    assert_no_write_processed_twice(fake)
    chaos_paths = ("/scrobble/", "/sync/history")
    failed = [r for r in fake.requests if r.path.startswith(chaos_paths) and (r.status or 0) >= 500]
    assert len(failed) >= playbacks_total // 10, "the fake injected too few failures to mean much"
    for k in range(USERS):
        username = f"chaos{k}_t"
        expected = Counter(p.media.title for p in playbacks if p.user == k and p.complete)
        plays = fake.history(username)
        assert Counter(play.item.title for play in plays) == expected, username
        stops = {p.media.title: p.stop_at for p in playbacks if p.user == k and p.complete}
        for play in plays:
            stop_at = stops[play.item.title]
            assert stop_at is not None
            assert abs(play.watched_at - stop_at) <= WATCHED_AT_TOLERANCE, (username, play)
    statuses = Counter(row["status"] for row in rig.rows())
    assert statuses["pending"] == 0 and statuses["dead"] == 0, statuses
    assert len(rig.ledger()) == sum(p.complete for p in playbacks)
    assert {row["user_id"] for row in rig.ledger()} <= set(user_ids)


def test_chaos_scaled_down(rig_factory: Callable[..., Rig]) -> None:
    run_chaos(rig_factory(**CHAOS_ENV), playbacks_total=40, kills=2, seed=4)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("TRAKT_PLUGIN_LONG_TESTS") != "1", reason="set TRAKT_PLUGIN_LONG_TESTS=1"
)
def test_chaos_full_size(rig_factory: Callable[..., Rig]) -> None:
    run_chaos(rig_factory(**CHAOS_ENV), playbacks_total=500, kills=2, seed=5)
