"""Run the fake Jellyfin/Emby on a real socket: uvicorn in a background thread on 127.0.0.1.

`serve_in_thread` yields a `LiveServer` that can be stopped (the port then refuses
connections: the server is unreachable) and started again on the same port. Its `fake` may be
replaced while it runs (`live.fake = FakeJellyfin(...)`): a module-scoped server can serve a
fresh state to every test without paying uvicorn's start and stop each time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

from .app import create_app
from .state import FakeJellyfin

STARTUP_TIMEOUT = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The fake served by uvicorn in a thread: `url` (root), `api_url` (what a client is given:
    the root for Jellyfin, `<root>/emby` for Emby), `stop()` and `start()`."""

    def __init__(self, fake: FakeJellyfin, host: str = "127.0.0.1", port: int | None = None):
        self._current: tuple[FakeJellyfin, Any] | None = None
        self.fake = fake
        self.host = host
        self.port = port or free_port(host)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + ("/emby" if self.fake.flavour == "emby" else "")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app of whichever fake `self.fake` is now."""
        current = self._current
        if current is None or current[0] is not self.fake:
            current = self._current = (self.fake, create_app(self.fake))
        await current[1](scope, receive, send)

    def start(self) -> LiveServer:
        if self.running:
            return self
        config = uvicorn.Config(
            self._app, host=self.host, port=self.port, lifespan="off", interface="asgi3",
            log_level="warning", access_log=False, timeout_graceful_shutdown=1,
        )  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, name=f"fake-{self.fake.flavour}-{self.port}", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fake {self.fake.flavour} did not start on {self.url}")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Shut down: from now on connections to the port are refused."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT)
        self._server = self._thread = None


@contextmanager
def serve_in_thread(
    fake: FakeJellyfin, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[LiveServer]:
    """Serve `fake` with uvicorn until the block ends; yields the running `LiveServer`."""
    live = LiveServer(fake, host, port).start()
    try:
        yield live
    finally:
        live.stop()
