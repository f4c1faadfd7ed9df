"""Fixtures: the service pointed at the fake Trakt, with fast POST spacing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import FakeTraktServer, Service

from .harness import FAST_ENV, Rig


@pytest.fixture
def rig_factory(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> Callable[..., Rig]:
    def make(**env: str) -> Rig:
        service = service_factory(fake_trakt.service_env(**{**FAST_ENV, **env}))
        return Rig(service, fake_trakt)

    return make


@pytest.fixture
def rig(rig_factory: Callable[..., Rig]) -> Rig:
    return rig_factory()
