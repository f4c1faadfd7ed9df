"""Fixtures for the Trakt client tests: a fake Trakt behind httpx.ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from tests.fake_trakt import FakeClock, FakeTrakt, create_app
from tests.fake_trakt.testing import make_client
from trakt_plugin.trakt import TraktClient


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeTrakt:
    return FakeTrakt(clock=clock)


@pytest_asyncio.fixture
async def http(fake: FakeTrakt) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(fake))) as client:
        yield client


@pytest.fixture
def client(fake: FakeTrakt, http: httpx.AsyncClient) -> TraktClient:
    return make_client(fake, http)
