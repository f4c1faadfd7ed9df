"""History sync benchmark: 20k and 100k plays from the fake Trakt into a fresh ledger, and what
a scheduled run costs after one live scrobble.

Prints, per size: wall time of the run (the fake's rate limits off), requests used against the
minimum (1 last_activities + one page of 250 per 250 plays), the requests of an immediate second
run (goal 1), and the service's peak RSS. Goals: requests = minimum, 100k under 60 s,
RSS < 300 MB.

Then the scrobble scenario (SPEC §7 cost rules): scheduled syncs on (every minute), a user with a
100k-play history connects (the connect-time run reads it all), watches a movie that is scrobbled
live (/scrobble/stop), and the next scheduled run must not read the history again. Goal: that run
uses at most 3 requests.

Run: `.venv/bin/python bench/sync.py [sizes...] [--scrobble N]` (`--scrobble 0` skips it).
"""

from __future__ import annotations

import math
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from goals import Goals  # noqa: E402
from proc import memory_mb  # noqa: E402

from tests.conftest import (  # noqa: E402
    WEBHOOK_TOKEN,
    FakeTraktServer,
    Service,
    connect_user,
    start_service,
)
from tests.fake_trakt.server import serve_in_thread  # noqa: E402
from tests.fake_trakt.state import FakeTrakt  # noqa: E402

SIZES = (20_000, 100_000)
PAGE = 250
TIMEOUT = 600.0
# The scrobble scenario: its history size, the sync interval (the minimum the settings allow),
# and its goal for the scheduled run after the scrobble.
SCROBBLE_PLAYS = 100_000
SCHEDULE_INTERVAL = 60
SCROBBLE_GOAL = 3
WALL_GOAL = 60.0  # seconds, for up to 100k plays
RSS_GOAL = 300.0  # MB
FINISHED = ("succeeded", "partial", "failed")
MATRIX = {"title": "The Matrix", "year": 1999, "ids": {"imdb": "tt0133093", "tmdb": 603}}


def one(plays: int) -> dict[str, float]:
    fake = FakeTrakt()
    fake.device_interval = 1
    fake.rate_limits = False
    with serve_in_thread(fake) as url, tempfile.TemporaryDirectory() as tmp:
        server = FakeTraktServer(fake, url)
        env = server.service_env(
            TRAKT_PLUGIN_SYNC__AUTO_IMPORT_HISTORY="false",
            TRAKT_PLUGIN_SYNC__AUTO_EXPORT_PLAYS="false",
            TRAKT_PLUGIN_SYNC__BIDIRECTIONAL_WATCHLIST="false",
        )
        service = start_service(Path(tmp) / "data", env)
        try:
            user = connect_user(service, server, "Bench", "bench")
            fake.seed_history("bench", plays)
            fake.clear_log()
            with service.api() as api:
                api.timeout = 60

                def run(kind: str) -> dict[str, object]:
                    url = f"/api/v1/users/{user['id']}/sync"
                    run_id = api.post(url, json={"kind": kind, "direction": "import"}).json()
                    deadline = time.monotonic() + TIMEOUT
                    while time.monotonic() < deadline:
                        answer = api.get(
                            f"/api/v1/sync/runs/{run_id['run_id']}", params={"items_limit": 0}
                        ).json()
                        if answer["status"] in ("succeeded", "partial", "failed"):
                            return dict(answer)
                        time.sleep(0.05)
                    raise SystemExit("the run did not finish in time")

                started = time.perf_counter()
                first = run("history")
                wall = time.perf_counter() - started
                seen = len([r for r in fake.requests if r.user == "bench"])
                second = run("history")
                ledger = api.get(f"/api/v1/users/{user['id']}/history", params={"limit": 1})
            assert first["status"] == "succeeded", first
            assert ledger.status_code == 200
            return {
                "plays": plays,
                "wall_s": wall,
                "run_s": float(str(first["duration_seconds"])),
                "requests": float(str(first["requests"])),
                "fake_saw": seen,
                "minimum": 1 + math.ceil(plays / PAGE),
                "second_run": float(str(second["requests"])),
                "peak_rss_mb": memory_mb(service.process.pid, "VmHWM"),
            }
        finally:
            service.stop(signal.SIGTERM)


def _wait(what: str, check: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def _runs(service: Service, user_id: str) -> list[dict[str, Any]]:
    with service.api() as api:
        api.timeout = 60
        answer = api.get("/api/v1/sync/runs", params={"user_id": user_id, "limit": 20})
    return list(answer.json()["items"])


def after_live_scrobble(plays: int) -> dict[str, Any]:
    """Requests of the first scheduled run after one live scrobble (SPEC §7)."""
    fake = FakeTrakt()
    fake.device_interval = 1
    fake.rate_limits = False
    with serve_in_thread(fake) as url, tempfile.TemporaryDirectory() as tmp:
        server = FakeTraktServer(fake, url)
        # the sync flags stay at their defaults (on): connect-time and scheduled runs
        env = server.service_env(TRAKT_PLUGIN_SYNC__SYNC_INTERVAL=str(SCHEDULE_INTERVAL))
        service = start_service(Path(tmp) / "data", env)
        try:
            fake.seed_history("bench", plays)
            user_id = str(connect_user(service, server, "Bench", "bench")["id"])
            started = time.perf_counter()
            connect_run = _wait(
                "the connect-time import",
                lambda: next(
                    (r for r in _runs(service, user_id)
                     if r["trigger"] == "connect" and r["status"] in FINISHED),
                    None,
                ),
            )  # fmt: skip
            import_s = time.perf_counter() - started
            with service.api() as api:
                api.post(
                    f"/api/v1/users/{user_id}/identities",
                    json={"source": "revenge", "external_id": "bench-revenge"},
                )
                for event, progress in (("start", 10), ("stop", 95)):
                    body = {"event": event, "user_id": "bench-revenge", "session_id": "b1",
                            "content_type": "movie", "content_id": "m1", "progress": progress,
                            "movie": MATRIX}  # fmt: skip
                    headers = {"X-Webhook-Token": WEBHOOK_TOKEN}
                    api.post("/webhooks/revenge", json=body, headers=headers)

                def sent_stop() -> dict[str, Any] | None:
                    rows = api.get(
                        "/api/v1/scrobbles", params={"user_id": user_id, "status": "sent"}
                    ).json()["items"]
                    return next((r for r in rows if r["action"] == "scrobble_stop"), None)

                stop = _wait("the live scrobble", sent_stop, 60)
            scheduled = _wait(
                "the next scheduled run",
                lambda: next(
                    (r for r in _runs(service, user_id)
                     if r["trigger"] == "schedule" and r["status"] in FINISHED
                     and r["started_at"] > stop["sent_at"]),
                    None,
                ),
                SCHEDULE_INTERVAL * 3,
            )  # fmt: skip
            assert scheduled["status"] == "succeeded", scheduled
            start, end = (
                datetime.fromisoformat(scheduled[k].replace("Z", "+00:00")).timestamp()
                for k in ("started_at", "finished_at")
            )
            during = [
                f"{r.method} {r.path}"
                for r in fake.requests
                if r.user == "bench" and start <= r.wall < end + 1  # the API shows whole seconds
            ]
            return {
                "plays": plays,
                "import_requests": connect_run["requests"],
                "import_s": import_s,
                "scheduled_requests": scheduled["requests"],
                "fake_saw": during,
            }
        finally:
            service.stop(signal.SIGTERM)


def main(argv: list[str]) -> int:
    scrobble_plays = SCROBBLE_PLAYS
    if "--scrobble" in argv:
        at = argv.index("--scrobble")
        scrobble_plays = int(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    sizes = [int(a) for a in argv] or list(SIZES)
    goals = Goals("sync")
    print(
        f"{'plays':>8} {'wall s':>7} {'run s':>7} {'requests':>9} {'minimum':>8} "
        f"{'2nd run':>8} {'peak RSS MB':>12}"
    )
    for size in sizes:
        r = one(size)
        print(
            f"{r['plays']:>8.0f} {r['wall_s']:>7.1f} {r['run_s']:>7.1f} {r['requests']:>9.0f} "
            f"{r['minimum']:>8.0f} {r['second_run']:>8.0f} {r['peak_rss_mb']:>12.0f}"
        )
        if r["fake_saw"] != r["requests"]:
            print(f"  note: the fake saw {r['fake_saw']:.0f} requests")
        n = f"{size // 1000}k" if size % 1000 == 0 else str(size)
        goals.add(f"{n}_requests", f"{r['requests']:.0f}", f"={r['minimum']:.0f}",
                  r["requests"] == r["minimum"])  # fmt: skip
        goals.add(f"{n}_second_run", f"{r['second_run']:.0f}", "=1", r["second_run"] == 1)
        if size <= 100_000:
            goals.add(f"{n}_wall", f"{r['wall_s']:.1f}s", f"<{WALL_GOAL:g}s",
                      r["wall_s"] < WALL_GOAL)  # fmt: skip
        goals.add(f"{n}_peak_rss", f"{r['peak_rss_mb']:.0f}MB", f"<{RSS_GOAL:g}MB",
                  r["peak_rss_mb"] < RSS_GOAL)  # fmt: skip
    if scrobble_plays:
        s = after_live_scrobble(scrobble_plays)
        print(
            f"scheduled run after one live scrobble, {s['plays']} plays: "
            f"{s['scheduled_requests']} requests (goal <= {SCROBBLE_GOAL}); the connect-time "
            f"import before it: {s['import_requests']} requests in {s['import_s']:.1f} s"
        )
        print(f"  the fake saw during that run: {', '.join(s['fake_saw']) or 'nothing'}")
        goals.add("scheduled_after_scrobble", str(s["scheduled_requests"]),
                  f"<={SCROBBLE_GOAL}", int(s["scheduled_requests"]) <= SCROBBLE_GOAL)  # fmt: skip
    print()
    return goals.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
