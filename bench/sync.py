"""History import benchmark: 20k and 100k plays from the fake Trakt into a fresh ledger.

Prints, per size: wall time of the run (the fake's rate limits off), requests used against the
minimum (1 last_activities + one page of 250 per 250 plays), the requests of an immediate second
run (goal 1), and the service's peak RSS. Goals: requests = minimum, 100k under 60 s,
RSS < 300 MB. Run: `.venv/bin/python bench/sync.py [sizes...]`.
"""

from __future__ import annotations

import math
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import FakeTraktServer, connect_user, start_service  # noqa: E402
from tests.fake_trakt.server import serve_in_thread  # noqa: E402
from tests.fake_trakt.state import FakeTrakt  # noqa: E402

SIZES = (20_000, 100_000)
PAGE = 250
TIMEOUT = 600.0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
                "peak_rss_mb": peak_rss_mb(service.process.pid),
            }
        finally:
            service.stop(signal.SIGTERM)


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or list(SIZES)
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


if __name__ == "__main__":
    main(sys.argv[1:])
