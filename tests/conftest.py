"""Shared fixtures: a real service process on loopback with its own data dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests import pg, zygote
from trakt_plugin.store.engine import make_engine

API_TOKEN = "test-api-token-0123456789abcdef"
WEBHOOK_TOKEN = "test-webhook-token-0123456789abc"
STARTUP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment: only what the test sets, plus what Python needs to run."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TRAKT_", "NICEGUI_", "PYTEST_"))
    }
    env["TRAKT_PLUGIN_DATA_DIR"] = str(data_dir)
    # Never the real plex.tv from a test (a fake owner token must not leave the machine): a
    # loopback port nobody listens on, unless the test points it at the fake plex.tv.
    env["TRAKT_PLUGIN_PLEX_TV_URL"] = "http://127.0.0.1:9"
    env.update(extra)
    return env


@dataclass
class Service:
    """A running ``trakt-plugin serve`` process."""

    process: subprocess.Popen[bytes] | zygote.ForkedProcess
    url: str
    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def api(self, token: str | None = API_TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


# Every service process any test started (also restarts inside a test, which fixtures do not
# track): none may outlive the test session.
_STARTED: list[subprocess.Popen[bytes] | zygote.ForkedProcess] = []
_ZYGOTE: list[zygote.Zygote] = []  # this worker's, once started (tests/zygote.py)


def _zygote() -> zygote.Zygote:
    if not _ZYGOTE:
        _ZYGOTE.append(zygote.Zygote(base_env(Path(os.devnull))))
    return _ZYGOTE[0]


@pytest.fixture(autouse=True, scope="session")
def _no_service_outlives_the_session() -> Iterator[None]:
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    for each in _ZYGOTE:
        each.close()


def start_service(
    data_dir: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Service:
    """Starts ``serve`` on a free port; a port another test took in the meantime is retried."""
    for _attempt in range(3):
        service = _launch(data_dir, free_port(), env, cwd)
        if _wait_healthy(service):
            return service
        if "address already in use" not in service.log():
            raise RuntimeError(f"service did not become healthy:\n{service.log()}")
    raise RuntimeError(f"no free port after three tries:\n{service.log()}")


def _launch(data_dir: Path, port: int, env: Mapping[str, str] | None, cwd: Path | None) -> Service:
    full_env = base_env(data_dir, TRAKT_PLUGIN_PORT=str(port), **(env or {}))
    log_path = data_dir.parent / f"service-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    process: subprocess.Popen[bytes] | zygote.ForkedProcess
    if zygote.WANTED:
        process = _zygote().spawn(full_env, cwd or data_dir.parent, log_path)
    else:
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "trakt_plugin", "serve"],
                env=full_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=cwd or data_dir.parent,
            )
    _STARTED.append(process)
    return Service(process, f"http://127.0.0.1:{port}", data_dir, log_path, full_env)


def _wait_healthy(service: Service) -> bool:
    """True once *this* process listens and answers /healthz; False when it could not bind.

    Tests run in parallel, so a port found free can be taken by another test's service before
    ours binds it: a /healthz answer only counts once our own log says uvicorn listens there.
    """
    # uvicorn names the address it bound (0.0.0.0 when listening on all): match on the port
    listening = f":{service.url.rsplit(':', 1)[1]} (Press CTRL+C"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            if "address already in use" in service.log():
                return False
            raise RuntimeError(f"service exited early:\n{service.log()}")
        try:
            healthy = httpx.get(f"{service.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            healthy = False
        if healthy and listening in service.log():
            return True
        time.sleep(0.05)  # polling for readiness, not a timing assumption
    service.stop(signal.SIGKILL)
    raise RuntimeError(f"service did not become healthy:\n{service.log()}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg.Cluster]:
    """A throwaway PostgreSQL cluster for this test process (tests/pg.py)."""
    try:
        cluster = pg.start_cluster(free_port())
    except RuntimeError as exc:
        if pg.wanted():
            raise
        pytest.skip(str(exc))
    yield cluster
    pg.remove_cluster(cluster)


@pytest.fixture
def pg_database(pg_cluster: pg.Cluster) -> str:
    """The URL of a fresh, empty PostgreSQL database."""
    return pg_cluster.new_database(migrated=False)


@pytest.fixture
def service_databases(tmp_path: Path, request: pytest.FixtureRequest) -> pg.ServiceDatabases:
    """The store of each data dir ``tmp_path / name`` (tests/pg.py): its SQLite file, or with
    TRAKT_PLUGIN_TEST_DB=postgres a fresh PostgreSQL database per name."""
    return pg.ServiceDatabases(tmp_path, lambda: request.getfixturevalue("pg_cluster"))


@pytest.fixture
def store_engine(service_databases: pg.ServiceDatabases) -> Iterator[Engine]:
    """The product's engine on a store of its own migrated to head (either engine), for tests
    that call the store's code in process."""
    engine = make_engine(service_databases.migrated())
    yield engine
    engine.dispose()


@pytest.fixture
def service_factory(
    tmp_path: Path, service_databases: pg.ServiceDatabases
) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def factory(env: Mapping[str, str] | None = None, name: str = "data") -> Service:
        if "TRAKT_PLUGIN_DATABASE_URL" not in (env or {}):
            env = {**(env or {}), **service_databases.env(name)}
        service = start_service(tmp_path / name, env)
        started.append(service)
        return service

    yield factory
    for service in started:
        if service.process.poll() is None:
            service.stop(signal.SIGKILL)


@pytest.fixture
def service(service_factory: Callable[..., Service]) -> Service:
    return service_factory(
        {"TRAKT_PLUGIN_API_TOKEN": API_TOKEN, "TRAKT_PLUGIN_WEBHOOK_TOKEN": WEBHOOK_TOKEN}
    )


# ---------------------------------------------------------------- fake Trakt on loopback


# The fake's auth host: the same listener reached by another name, so a service sends OAuth to
# one address and API calls to another, as it does to auth.trakt.tv and api.trakt.tv.
AUTH_HOSTNAME = "localhost"
POST_INTERVAL_ENV = "TRAKT_PLUGIN_RATE__POST_INTERVAL"


@dataclass
class FakeTraktServer:
    """The fake Trakt served by uvicorn in a thread, and its state object.

    `url` is its API host (``http://127.0.0.1:port``) and `auth_url` its auth host
    (``http://localhost:port``, one of `state.auth_hostnames`): OAuth answers only there.
    """

    state: Any
    url: str
    auth_url: str = ""

    def __post_init__(self) -> None:
        # Built around an existing server (benches): its auth host is the same listener by the
        # name `AUTH_HOSTNAME`, since the fake serves OAuth only there by default.
        if not self.auth_url:
            self.auth_url = self.url.replace("127.0.0.1", AUTH_HOSTNAME)
            self.state.auth_hostnames.add(AUTH_HOSTNAME)

    def service_env(self, **extra: str) -> dict[str, str]:
        """Environment that points the service at this fake with its app credentials.

        The service's POST spacing and the fake's enforced one are the same number: a
        ``TRAKT_PLUGIN_RATE__POST_INTERVAL`` given here is adopted by the fake, else the
        service is told the fake's `post_interval` (Trakt's 1 s unless a test changed it).
        """
        env = {
            "TRAKT_API_URL": self.url,
            "TRAKT_AUTH_URL": self.auth_url,
            "TRAKT_CLIENT_ID": self.state.client_id,
            "TRAKT_CLIENT_SECRET": self.state.client_secret,
            "TRAKT_PLUGIN_API_TOKEN": API_TOKEN,
            "TRAKT_PLUGIN_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            POST_INTERVAL_ENV: f"{self.state.post_interval:g}",
        }
        env.update(extra)
        self.state.post_interval = float(env[POST_INTERVAL_ENV])
        return env


def strict_fake(state: Any) -> Any:
    """A FakeTrakt set up as strict as Trakt for a service test: rate limits and the device poll
    interval enforced, OAuth only on its auth host (`AUTH_HOSTNAME`)."""
    state.rate_limits = True
    state.enforce_poll_interval = True
    state.oauth_on_api_host = False
    state.auth_hostnames.add(AUTH_HOSTNAME)
    state.device_interval = 0.25  # poll four times a second instead of Trakt's usual 5 s
    return state


@contextmanager
def serve_fake(state: Any) -> Iterator[FakeTraktServer]:
    """Serve a FakeTrakt on loopback: API host 127.0.0.1, auth host `AUTH_HOSTNAME`."""
    from tests.fake_trakt.server import serve_in_thread

    with serve_in_thread(state) as url:
        yield FakeTraktServer(state, url)


@pytest.fixture
def fake_trakt() -> Iterator[FakeTraktServer]:
    from tests.fake_trakt.state import FakeTrakt

    with serve_fake(strict_fake(FakeTrakt())) as server:
        yield server


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


def connect_user(
    service: Service, fake: FakeTraktServer, name: str, username: str, vip: bool = False
) -> dict[str, Any]:
    """Create a user and connect them to the fake through the device-code flow."""
    fake.state.add_user(username, vip=vip)
    with service.api() as api:
        user = api.post("/api/v1/users", json={"display_name": name}).json()
        code = api.post(f"/api/v1/users/{user['id']}/trakt/device")
        assert code.status_code == 202, code.text
        fake.state.approve(code.json()["user_code"], username)
        return wait_until(
            lambda: (
                (u := api.get(f"/api/v1/users/{user['id']}").json())["trakt"]["state"]
                == "connected"
                and u["trakt"]["username"]
                and u
            ),
            what=f"{name} connected",
        )
