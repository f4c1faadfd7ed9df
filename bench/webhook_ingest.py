"""Durable webhook ingest next to a bare route of the same app, driven by a raw load generator.

1. The load generator's own ceiling (bench/loadgen.py against a trivial raw asyncio server in
   another process): it must reach ≥ 3× the service's bare-route rate, else the ratios below
   would measure the generator.
2. events/s and p50/p99 at concurrency 1 and 16 for the bare route (``/webhooks/bench-bare``: reads
   the body, answers 202, stores nothing), the floor route (``/webhooks/bench-floor``: the body
   and an outbox row committed through the webhook route's writer thread, nothing else; see
   ``_serve.py``) and the webhook route, alternated over a few rounds. Each webhook event is
   parsed, resolved to a connected user and committed with its session state and outbox row
   before the 202. Goal: durable/bare ≥ 0.5 at c=16 (median of rounds); floor/bare is shown
   beside it (no goal): the share of the bare rate that durability itself leaves.
3. p99 at a steady 200 events/s, durable and bare. Goal: durable p99 < 50 ms.

Each closed-loop line also shows the service's CPU per request (all its threads, from
``/proc``; "web" is the main thread: event loop and web server, "other" mostly the webhook writer
thread) and the cores it kept busy: Python's interpreter lock lets the process use about one
core, so durable/bare cannot pass the ratio of their CPU per request.

The service runs with the default rate budget (``rate.post_interval`` 1 s), so the drain sends
about one call per second meanwhile. A second service then runs with
``TRAKT_PLUGIN_RATE__POST_INTERVAL=0.01``: the drain sends to the fake Trakt as fast as it can
during ingest; those figures (next to their own bare baselines) are shown without a goal.
Run: `.venv/bin/python bench/webhook_ingest.py [--rounds 3]`; exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from _rig import BARE_PATH, FLOOR_PATH, WEBHOOK_PATH, BenchRig, bench_rig, webhook_body
from goals import Goals
from loadgen import Run, ceiling, closed_loop, open_loop, post_request, run
from proc import cpu_seconds, main_thread_cpu_seconds

EVENTS = 2000
WARMUP = 300
STEADY_RATE = 200
STEADY_SECONDS = 5
GENERATOR_MULTIPLE = 3.0
RATIO_GOAL = 0.5
P99_GOAL_MS = 50.0
FAST_DRAIN = {"TRAKT_PLUGIN_RATE__POST_INTERVAL": "0.01"}
SCROBBLE_PATHS = ("/scrobble/start", "/scrobble/pause", "/scrobble/stop", "/sync/history")
USER = "bench-user"


class Target:
    """The service under test; hands out webhook bodies that were never sent before (a repeated
    body is answered as a duplicate, which is cheaper)."""

    def __init__(self, rig: BenchRig) -> None:
        address = urlsplit(rig.url)
        self.host, self.port = address.hostname or "127.0.0.1", address.port or 80
        self.rig = rig
        self.offset = 0

    def maker(self, path: str) -> Callable[[int], bytes]:
        base = self.offset
        self.offset += 100_000
        host = f"{self.host}:{self.port}"
        return lambda i: post_request(host, path, webhook_body(USER, base + i))

    def closed(self, path: str, concurrency: int, total: int = EVENTS) -> Measured:
        pid = self.rig.process.pid
        before, web_before = cpu_seconds(pid), main_thread_cpu_seconds(pid)
        done = run(closed_loop(self.host, self.port, self.maker(path), total, concurrency))
        cpu, web = cpu_seconds(pid) - before, main_thread_cpu_seconds(pid) - web_before
        check(done, path)
        return Measured(done, cpu / total * 1000, web / total * 1000, cpu * done.rate / total)

    def steady(self, path: str) -> Run:
        make = self.maker(path)
        done = run(open_loop(self.host, self.port, make, STEADY_RATE, STEADY_SECONDS))
        check(done, path)
        return done

    def sent_calls(self) -> int:
        return sum(len(self.rig.fake.requests_to(path, "POST")) for path in SCROBBLE_PATHS)


@dataclass
class Measured:
    """A closed-loop run and the service's CPU meanwhile: ms per request (all threads, and the
    main thread's share: the event loop and web server; the rest is mostly the webhook writer
    thread), cores kept busy."""

    run: Run
    cpu_ms: float
    web_ms: float
    cores: float


def check(run: Run, path: str) -> None:
    if set(run.statuses) != {202}:
        raise SystemExit(f"{path} answered {run.statuses}, expected only 202")


HEADER = (
    f"{'route':<10}{'c':>4}{'events/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'cpu ms':>9}{'web':>7}"
    f"{'other':>7}{'cores':>7}"
)


def row(name: str, concurrency: int, got: Measured) -> str:
    run = got.run
    other = max(got.cpu_ms - got.web_ms, 0.0)  # the two are read a moment apart, in ticks
    return (
        f"{name:<10}{concurrency:>4}{run.rate:>12.0f}{run.pct(0.5):>10.1f}{run.pct(0.99):>10.1f}"
        f"{got.cpu_ms:>9.2f}{got.web_ms:>7.2f}{other:>7.2f}{got.cores:>7.2f}"
    )


def spread(values: list[float], fmt: str = ".0f") -> str:
    low, high = min(values), max(values)
    return f"median {statistics.median(values):{fmt}} (min {low:{fmt}}, max {high:{fmt}})"


def measure(target: Target, rounds: int) -> tuple[list[float], list[float]]:
    """Warm the routes, then c=1 once and c=16 ``rounds`` times, bare, floor and durable
    alternated so a neighbour's load hits them alike. Returns the c=16 bare rates and
    durable/bare ratios."""
    routes = (("bare", BARE_PATH), ("floor", FLOOR_PATH), ("durable", WEBHOOK_PATH))
    for _, path in routes:
        target.closed(path, 16, WARMUP)
    print(HEADER)
    for name, path in routes:
        print(row(name, 1, target.closed(path, 1, EVENTS // 4)))
    bare_rates, ratios, floor_ratios, cpu_ratios = [], [], [], []
    for _ in range(rounds):
        bare, floor, durable = (target.closed(path, 16) for _, path in routes)
        for (name, _), got in zip(routes, (bare, floor, durable), strict=True):
            print(row(name, 16, got))
        bare_rates.append(bare.run.rate)
        ratios.append(durable.run.rate / bare.run.rate)
        floor_ratios.append(floor.run.rate / bare.run.rate)
        cpu_ratios.append(bare.cpu_ms / durable.cpu_ms)
    print(f"bare/durable CPU per request at c=16: {spread(cpu_ratios, '.2f')}")
    print(f"floor/bare at c=16 (no goal): {spread(floor_ratios, '.2f')}")
    return bare_rates, ratios


def steady_lines(target: Target) -> float:
    """Bare then durable at a steady rate; returns the durable p99 (ms)."""
    bare = target.steady(BARE_PATH)
    before = target.sent_calls()
    durable = target.steady(WEBHOOK_PATH)
    sent = target.sent_calls() - before
    for name, got in (("bare", bare), ("durable", durable)):
        print(
            f"steady {STEADY_RATE}/s for {STEADY_SECONDS} s, {name:<8}: "
            f"p50 {got.pct(0.5):5.1f} ms, "
            f"p99 {got.pct(0.99):5.1f} ms, max {got.pct(1.0):5.1f} ms"
        )
    print(f"  (the drain sent {sent} calls to the fake Trakt during the durable run)")
    return durable.pct(0.99)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="c=16 rounds (default 3)")
    args = parser.parse_args(argv)
    goals = Goals("webhook_ingest")
    generator = ceiling(webhook_body(USER, 0))
    print(
        f"load generator alone (raw asyncio server in another process): {generator.rate:.0f} "
        f"requests/s at c=16, p99 {generator.pct(0.99):.1f} ms"
    )
    with bench_rig() as rig:
        rig.connected_user("Bench", USER)
        target = Target(rig)
        print("\ndefault rate budget (rate.post_interval = 1 s): the drain sends about one call")
        print("per second to the fake Trakt while events come in")
        bare_rates, ratios = measure(target, args.rounds)
        multiple = generator.rate / max(bare_rates)
        print(
            f"\nload generator {generator.rate:.0f}/s vs bare route {max(bare_rates):.0f}/s "
            f"(best round): {multiple:.1f}× (goal ≥ {GENERATOR_MULTIPLE:g}×)"
        )
        ratio = statistics.median(ratios)
        print(
            f"durable/bare at c=16 over {len(ratios)} rounds: {spread(ratios, '.2f')} "
            f"(goal ≥ {RATIO_GOAL})"
        )
        print()
        p99 = steady_lines(target)
    goals.add("generator_multiple", f"{multiple:.1f}x", f">={GENERATOR_MULTIPLE:g}x",
              multiple >= GENERATOR_MULTIPLE)  # fmt: skip
    goals.add("durable_bare_c16", f"{ratio:.2f}", f">={RATIO_GOAL}", ratio >= RATIO_GOAL)
    goals.add("p99_at_200_per_s", f"{p99:.1f}ms", f"<{P99_GOAL_MS:g}ms", p99 < P99_GOAL_MS)
    with bench_rig(**FAST_DRAIN) as rig:
        rig.connected_user("Bench", USER)
        target = Target(rig)
        print(
            "\nTRAKT_PLUGIN_RATE__POST_INTERVAL=0.01: the drain sends as fast as it can during "
            "ingest (no goal)"
        )
        target.closed(BARE_PATH, 16, WARMUP)
        bare = target.closed(BARE_PATH, 16)
        before = target.sent_calls()
        durable = target.closed(WEBHOOK_PATH, 16)
        calls = target.sent_calls() - before
        print(HEADER)
        print(row("bare", 16, bare))
        print(row("durable", 16, durable) + f"   drain sent {calls} calls meanwhile")
        ratio = durable.run.rate / bare.run.rate
        print(f"durable/bare at c=16 with the drain sending: {ratio:.2f}")
        steady_lines(target)
    print()
    return goals.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
