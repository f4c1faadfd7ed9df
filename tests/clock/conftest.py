"""Scheduled behaviour under a moving clock: the real service started with the test clock flag,
the fake Trakt's wall clock kept in step with it.

Time passes only through :meth:`ClockWorld.advance` (``POST /api/v1/test/clock``); tests then
poll for the effect of the jobs that fell due. Nothing sleeps to let time pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conftest import FakeTraktServer, Service, connect_user, wait_until

FLAG = {"TRAKT_PLUGIN_TEST_CLOCK": "1"}
# POSTs spaced this far apart by the service; the fake enforces the same (429 otherwise).
POST_INTERVAL = "0.05"
FINISHED = ("succeeded", "partial", "failed")


class SteppedClock:
    """The fake Trakt's wall clock: real time plus the jumps the test made (tokens, codes and
    plays age with the service's clock, so a week's jump expires tokens on both sides)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class ClockWorld:
    service: Service
    fake: FakeTraktServer
    clock: SteppedClock

    def api(self) -> httpx.Client:
        client = self.service.api()
        client.timeout = httpx.Timeout(30)
        return client

    def advance(self, seconds: float) -> datetime:
        """Move both clocks ahead (the fake's first: the jobs that fall due call it at once)."""
        self.clock.offset += seconds
        with self.api() as api:
            answer = api.post("/api/v1/test/clock", json={"advance_seconds": seconds})
        assert answer.status_code == 200, answer.text
        return datetime.fromisoformat(answer.json()["now"])

    def now(self) -> datetime:
        with self.api() as api:
            return datetime.fromisoformat(api.get("/api/v1/test/clock").json()["now"])

    def connect(self, name: str, username: str, vip: bool = False) -> str:
        return str(connect_user(self.service, self.fake, name, username, vip=vip)["id"])

    def get(self, path: str, **params: Any) -> Any:
        with self.api() as api:
            answer = api.get(f"/api/v1{path}", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def requests(self, path: str, user: str | None = None) -> list[Any]:
        """What the fake received at ``path`` (from ``user`` when given), in order."""
        return [
            r
            for r in list(self.fake.state.requests)
            if r.path == path and (user is None or r.user == user)
        ]

    def runs(self, user_id: str, trigger: str | None = None) -> list[dict[str, Any]]:
        items = self.get("/sync/runs", user_id=user_id, limit=1000)["items"]
        return [r for r in items if trigger is None or r["trigger"] == trigger]

    def settled_runs(self, user_id: str, trigger: str | None = None) -> list[dict[str, Any]]:
        """The user's runs once none is queued or running."""
        wait_until(
            lambda: all(r["status"] in FINISHED for r in self.runs(user_id)),
            timeout=60,
            what="sync runs to finish",
        )
        return self.runs(user_id, trigger)

    def next_run(self, job_id: str) -> datetime:
        """When the scheduler runs ``job_id`` next, on the product clock."""
        return datetime.fromisoformat(self.get("/health")["jobs"][job_id]["next_run_at"])


@pytest.fixture
def clock_world_factory(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> Callable[..., ClockWorld]:
    def make(name: str = "data", **env: str) -> ClockWorld:
        clock = SteppedClock()
        fake_trakt.state.clock = clock
        fake_trakt.state.rate_limits = True
        fake_trakt.state.post_interval = float(POST_INTERVAL)
        service_env = {**FLAG, "TRAKT_PLUGIN_RATE__POST_INTERVAL": POST_INTERVAL, **env}
        service = service_factory(fake_trakt.service_env(**service_env), name=name)
        return ClockWorld(service, fake_trakt, clock)

    return make


@pytest.fixture
def clock_world(clock_world_factory: Callable[..., ClockWorld]) -> ClockWorld:
    return clock_world_factory()
