"""Time from `trakt-plugin serve` to the first healthy answer, and idle RSS.

Goal: at most 3 s and 150 MB on the 2-core machine. Run: `.venv/bin/python bench/startup.py`.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
from goals import Goals
from proc import memory_mb

RUNS = 3
STARTUP_GOAL = 3.0  # seconds
RSS_GOAL = 150.0  # MB
IDLE_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_run() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAKT_", "PYTEST_"))}
        env.update(TRAKT_PLUGIN_DATA_DIR=f"{tmp}/data", TRAKT_PLUGIN_PORT=str(port))
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "trakt_plugin", "serve"],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).is_success:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > 30:
                    raise SystemExit("service did not start within 30 s")
                time.sleep(0.01)
            ready = time.perf_counter() - started
            time.sleep(IDLE_SECONDS)  # let it settle before measuring idle memory
            return ready, memory_mb(process.pid, "VmRSS")
        finally:
            process.terminate()
            process.wait(timeout=15)


def main() -> int:
    results = [one_run() for _ in range(RUNS)]
    times = [r[0] for r in results]
    rss = [r[1] for r in results]
    print(
        f"startup to first healthy answer: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}) over {RUNS} fresh data dirs; goal <= 3 s"
    )
    print(f"idle RSS: median {statistics.median(rss):.0f} MB (max {max(rss):.0f}); goal <= 150 MB")
    print()
    goals = Goals("startup")
    ready, idle = statistics.median(times), statistics.median(rss)
    goals.add("first_healthy", f"{ready:.2f}s", f"<={STARTUP_GOAL:g}s", ready <= STARTUP_GOAL)
    goals.add("idle_rss", f"{idle:.0f}MB", f"<={RSS_GOAL:g}MB", idle <= RSS_GOAL)
    return goals.finish()


if __name__ == "__main__":
    sys.exit(main())
