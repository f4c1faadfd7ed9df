"""Two service processes on one PostgreSQL database (SPEC §13), pointed at one fake Trakt.

Both share what an install of several processes must share: the database, the secret key and
the configuration (tokens, Trakt app, settings); each has its own data directory and port. Time
moves through both processes' test clocks and the fake's together (tests/clock).
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clock.conftest import FLAG, SteppedClock
from tests.conftest import FakeTraktServer, Service, start_service
from tests.pg import Cluster

POST_INTERVAL = "0.05"


@dataclass
class Pair:
    services: list[Service]
    fake: FakeTraktServer
    clock: SteppedClock
    started: list[Service] = field(default_factory=list)

    def api(self, index: int) -> httpx.Client:
        client = self.services[index].api()
        client.timeout = httpx.Timeout(30)
        return client

    def advance(self, seconds: float) -> None:
        """Move the fake's clock, then every process's (jobs that fall due call the fake)."""
        self.clock.offset += seconds
        for index in range(len(self.services)):
            with self.api(index) as api:
                answer = api.post("/api/v1/test/clock", json={"advance_seconds": seconds})
            assert answer.status_code == 200, answer.text

    def restart(self, index: int) -> None:
        """kill -9 one process and start it again (same data dir, database and settings)."""
        old = self.services[index]
        old.stop(signal.SIGKILL)
        env = {k: v for k, v in old.env.items() if k != "TRAKT_PLUGIN_PORT"}
        self.services[index] = start_service(old.data_dir, env)
        self.started.append(self.services[index])
        if self.clock.offset:
            with self.api(index) as api:
                api.post("/api/v1/test/clock", json={"advance_seconds": self.clock.offset})


@pytest.fixture
def pair_factory(
    pg_cluster: Cluster, fake_trakt: FakeTraktServer, tmp_path: Path
) -> Iterator[Callable[..., Pair]]:
    pairs: list[Pair] = []

    def make(clock: bool = True, **env: str) -> Pair:
        stepped = SteppedClock()
        if clock:
            fake_trakt.state.clock = stepped
        fake_trakt.state.post_interval = float(POST_INTERVAL)
        shared: dict[str, Any] = {
            **(FLAG if clock else {}),
            "TRAKT_PLUGIN_RATE__POST_INTERVAL": POST_INTERVAL,
            "TRAKT_PLUGIN_DATABASE_URL": pg_cluster.new_database(),
            "TRAKT_PLUGIN_SECRET_KEY": secrets.token_urlsafe(32),
            **env,
        }
        services = [
            start_service(tmp_path / name, fake_trakt.service_env(**shared)) for name in "ab"
        ]
        pair = Pair(services, fake_trakt, stepped, started=list(services))
        pairs.append(pair)
        return pair

    yield make
    for pair in pairs:
        for service in pair.started:
            if service.process.poll() is None:
                service.stop(signal.SIGKILL)
