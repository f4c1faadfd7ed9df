"""Fake media servers on loopback for the connector and API tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.fake_plex import FakePlex, PlexServerThread


@dataclass
class PlexRig:
    fake: FakePlex
    server: PlexServerThread

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def plex() -> Iterator[PlexRig]:
    fake = FakePlex(friendly_name="Living Room", owner_name="olivia")
    server = PlexServerThread(fake)
    server.start()
    try:
        yield PlexRig(fake, server)
    finally:
        server.stop()
