"""Durable webhook ingest: events/s and p50/p99 latency at concurrency 1 and 16, next to a bare
route in the same app that does no work; then p99 at a steady 200 events/s.

Each ingested event is parsed, resolved to a connected user and committed with its session
state and outbox row before the 202 (the drain then sends it to a fake Trakt on loopback).
Goals: durable/bare events/s ratio ≥ 0.5 at c=16; p99 < 50 ms at 200 events/s.

The first part runs the service with the default rate budget (``rate.post_interval`` 1 s), so
the drain sends about one call per second while events come in. A second service then runs with
``TRAKT_PLUGIN_RATE__POST_INTERVAL=0.01``: the drain sends to the fake Trakt as fast as it can
during ingest, and the durable c=16 and steady figures are measured again next to it.
Run: `.venv/bin/python bench/webhook_ingest.py`.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from _rig import WEBHOOK_PATH, BenchRig, bench_rig, webhook_body

EVENTS = 1000
STEADY_RATE = 200
STEADY_SECONDS = 5
FAST_DRAIN = {"TRAKT_PLUGIN_RATE__POST_INTERVAL": "0.01"}
SCROBBLE_PATHS = ("/scrobble/start", "/scrobble/pause", "/scrobble/stop", "/sync/history")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def closed_loop(
    url: str, path: str, user: str, concurrency: int, offset: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(EVENTS))
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def worker() -> None:
            for index in counter:
                body = webhook_body(user, offset + index)
                started = time.perf_counter()
                answer = await client.post(
                    path, content=body, headers={"Content-Type": "application/json"}
                )
                latencies.append(time.perf_counter() - started)
                assert answer.status_code == 202, answer.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return EVENTS / elapsed, latencies


async def steady(url: str, user: str, offset: int) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(index: int) -> None:
            started = time.perf_counter()
            answer = await client.post(WEBHOOK_PATH, content=webhook_body(user, offset + index),
                                       headers={"Content-Type": "application/json"})  # fmt: skip
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 202, answer.text

        tasks = []
        start = time.perf_counter()
        for index in range(STEADY_RATE * STEADY_SECONDS):
            delay = start + index / STEADY_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.gather(*tasks)
    return latencies


def sent_calls(rig: BenchRig) -> int:
    return sum(len(rig.fake.requests_to(path, "POST")) for path in SCROBBLE_PATHS)


def steady_line(lat: list[float]) -> str:
    return (
        f"steady {STEADY_RATE} events/s for {STEADY_SECONDS} s: p50 {pct(lat, 0.5):.1f} ms, "
        f"p99 {pct(lat, 0.99):.1f} ms (goal p99 < 50 ms), "
        f"mean {statistics.mean(lat) * 1000:.1f} ms"
    )


def main() -> None:
    with bench_rig() as rig:
        rig.connected_user("Bench", "bench-user")
        print("default rate budget (rate.post_interval = 1 s): the drain sends about one call")
        print("per second to the fake Trakt while events come in")
        print(f"{'route':<10}{'c':>4}{'events/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
        offset = 0
        ratio = {}
        for concurrency in (1, 16):
            for name, path in (("bare", "/api/bench/bare"), ("durable", WEBHOOK_PATH)):
                rate, lat = asyncio.run(
                    closed_loop(rig.url, path, "bench-user", concurrency, offset)
                )
                offset += EVENTS
                ratio[(name, concurrency)] = rate
                p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
                print(f"{name:<10}{concurrency:>4}{rate:>12.0f}{p50:>10.1f}{p99:>10.1f}")
        print(
            f"durable/bare at c=16: {ratio[('durable', 16)] / ratio[('bare', 16)]:.2f} (goal ≥ 0.5)"
        )
        before = sent_calls(rig)
        lat = asyncio.run(steady(rig.url, "bench-user", offset))
        print(steady_line(lat) + f"; drain sent {sent_calls(rig) - before} calls meanwhile")
    with bench_rig(**FAST_DRAIN) as rig:
        rig.connected_user("Bench", "bench-user")
        print(
            "\nTRAKT_PLUGIN_RATE__POST_INTERVAL=0.01: the drain sends as fast as it can during "
            "ingest"
        )
        before = sent_calls(rig)
        started = time.perf_counter()
        rate, lat = asyncio.run(closed_loop(rig.url, WEBHOOK_PATH, "bench-user", 16, 0))
        calls = sent_calls(rig) - before
        print(
            f"durable c=16 with the drain sending: {rate:.0f} events/s, p50 {pct(lat, 0.5):.1f} "
            f"ms, p99 {pct(lat, 0.99):.1f} ms; drain sent {calls} calls "
            f"({calls / (time.perf_counter() - started):.0f}/s)"
        )
        before = sent_calls(rig)
        lat = asyncio.run(steady(rig.url, "bench-user", EVENTS))
        print(steady_line(lat) + f"; drain sent {sent_calls(rig) - before} calls meanwhile")


if __name__ == "__main__":
    main()
