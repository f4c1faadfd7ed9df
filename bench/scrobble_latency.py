"""Median time from a webhook's send to the fake Trakt receiving the resulting scrobble call.

One connected user; each event is a new playback's start (one /scrobble/start each), sent 0.1 s
apart so the per-user POST spacing (set to 0.05 s here; Trakt's real budget is 1 s) never
delays a call. Goal: median < 100 ms. Run: `.venv/bin/python bench/scrobble_latency.py`.
"""

from __future__ import annotations

import statistics
import sys
import time

import httpx
from _rig import WEBHOOK_PATH, bench_rig, webhook_body
from goals import Goals

EVENTS = 100
SPACING = 0.1
GOAL_MS = 100.0


def main() -> int:
    with bench_rig(TRAKT_PLUGIN_RATE__POST_INTERVAL="0.05") as rig:
        rig.connected_user("Latency", "latency-user")
        latencies = []
        with httpx.Client(base_url=rig.url, timeout=10) as client:
            for index in range(EVENTS):
                seen = len(rig.fake.requests_to("/scrobble/start"))
                sent = time.monotonic()
                answer = client.post(WEBHOOK_PATH, content=webhook_body("latency-user", index),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
                assert answer.status_code == 202, answer.text
                deadline = sent + 10
                while len(rig.fake.requests_to("/scrobble/start")) <= seen:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the scrobble did not arrive")
                    time.sleep(0.001)
                arrived = rig.fake.requests_to("/scrobble/start")[seen].t
                latencies.append(arrived - sent)
                time.sleep(max(0.0, sent + SPACING - time.monotonic()))
        ordered = sorted(latencies)
        median = statistics.median(latencies) * 1000
        p90, worst = ordered[int(0.9 * EVENTS)] * 1000, ordered[-1] * 1000
        print(
            f"webhook → Trakt call, {EVENTS} events: median {median:.1f} ms, "
            f"p90 {p90:.1f} ms, max {worst:.1f} ms (goal median < 100 ms)"
        )
    print()
    goals = Goals("scrobble_latency")
    goals.add("median", f"{median:.1f}ms", f"<{GOAL_MS:g}ms", median < GOAL_MS)
    return goals.finish()


if __name__ == "__main__":
    sys.exit(main())
