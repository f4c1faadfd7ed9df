"""Run the fake Plex on a real socket: uvicorn in a background thread on 127.0.0.1.

`serve_in_thread(fake)` yields the base URL for the length of a `with` block. A test that needs
the server to go away and come back (unreachable, then reachable again on the same URL) uses
`PlexServerThread` directly: `start()`, `stop()`, `start()` again.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from .app import create_app
from .state import FakePlex

STARTUP_TIMEOUT = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class PlexServerThread:
    """The fake served by uvicorn in a daemon thread; stop and start again on the same port."""

    def __init__(self, fake: FakePlex, host: str = "127.0.0.1", port: int | None = None):
        self.fake = fake
        self.host = host
        self.port = port or free_port(host)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        if self.running:
            return self.url
        config = uvicorn.Config(
            create_app(self.fake),
            host=self.host,
            port=self.port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"fake-plex-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fake Plex did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self.url

    def stop(self) -> None:
        """Close the socket: the URL refuses connections until `start()`."""
        if self._server is None or self._thread is None:
            return
        self.fake.release_hangs()
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT)
        self._server, self._thread = None, None

    def __enter__(self) -> PlexServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve_in_thread(
    fake: FakePlex, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[str]:
    """Serve `fake` with uvicorn until the block ends; yields the base URL."""
    with PlexServerThread(fake, host, port) as running:
        yield running.url
