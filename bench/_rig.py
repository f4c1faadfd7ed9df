"""Shared by the scrobble benchmarks: the real service (plus a bare route that does no work)
as a subprocess, the fake Trakt on loopback in this process, and a connected user."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import API_TOKEN, WEBHOOK_TOKEN, free_port  # noqa: E402
from tests.fake_trakt.server import serve_in_thread  # noqa: E402
from tests.fake_trakt.state import FakeTrakt  # noqa: E402

# Routes the served script (_serve.py) adds: the bare baseline and the floor of durable ingest.
BARE_PATH = "/webhooks/bench-bare"
FLOOR_PATH = "/webhooks/bench-floor"
SERVE = ROOT / "bench" / "_serve.py"


@dataclass
class BenchRig:
    url: str
    fake: FakeTrakt
    process: subprocess.Popen[bytes]

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=20
        )

    def connected_user(self, name: str, revenge_id: str) -> str:
        self.fake.add_user(f"{name}_t")
        with self.api() as api:
            user = api.post("/api/v1/users", json={"display_name": name}).json()
            api.post(
                f"/api/v1/users/{user['id']}/identities",
                json={"source": "revenge", "external_id": revenge_id},
            )
            code = api.post(f"/api/v1/users/{user['id']}/trakt/device").json()
            self.fake.approve(code["user_code"], f"{name}_t")
            deadline = time.monotonic() + 30
            while api.get(f"/api/v1/users/{user['id']}").json()["trakt"]["state"] != "connected":
                if time.monotonic() > deadline:
                    raise RuntimeError("the bench user did not connect")
                time.sleep(0.1)
        return str(user["id"])


def webhook_body(user: str, index: int, event: str = "start") -> bytes:
    import json

    return json.dumps(
        {
            "event": event,
            "user_id": user,
            "session_id": f"bench-{index}",
            "content_type": "movie",
            "content_id": f"c{index}",
            "progress": 1 + index % 50,
            "movie": {"title": "The Matrix", "year": 1999, "ids": {"imdb": "tt0133093"}},
        }
    ).encode()


WEBHOOK_PATH = f"/webhooks/revenge?token={WEBHOOK_TOKEN}"


@contextmanager
def bench_rig(**extra_env: str) -> Iterator[BenchRig]:
    fake = FakeTrakt()
    fake.device_interval = 1
    # Trakt's rate limits off: the benches measure the service's own work (ingest, latency,
    # sync), and the fake answering 429s would measure the Retry-After waits instead; the
    # service's per-user budget (rate.post_interval) still spaces its calls as in production.
    fake.rate_limits = False
    # One address for both Trakt hosts (the auth-host split is the tests' business, not speed's).
    fake.oauth_on_api_host = True
    with serve_in_thread(fake) as fake_url, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env: dict[str, Any] = {
            k: v for k, v in os.environ.items() if not k.startswith(("TRAKT_", "PYTEST_"))
        }
        env.update(
            TRAKT_PLUGIN_DATA_DIR=f"{tmp}/data",
            TRAKT_PLUGIN_PORT=str(port),
            TRAKT_PLUGIN_API_TOKEN=API_TOKEN,
            TRAKT_PLUGIN_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
            TRAKT_API_URL=fake_url,
            TRAKT_AUTH_URL=fake_url,
            TRAKT_CLIENT_ID=fake.client_id,
            TRAKT_CLIENT_SECRET=fake.client_secret,
            **extra_env,
        )
        log = open(f"{tmp}/service.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [sys.executable, str(SERVE)], env=env, cwd=tmp, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(Path(f"{tmp}/service.log").read_text())
                time.sleep(0.05)
            yield BenchRig(url, fake, process)
        finally:
            process.terminate()
            process.wait(timeout=15)
            log.close()
