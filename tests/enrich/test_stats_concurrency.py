"""Concurrent stats requests fill Trakt's stats cache once without colliding (was a 500)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import FakeTraktServer, Service, connect_user


def test_concurrent_stats_requests_all_answer(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    service = service_factory(fake_trakt.service_env())
    user = connect_user(service, fake_trakt, "Ann", "ann")

    def stats(_: int) -> int:
        with service.api() as api:
            return api.get(f"/api/v1/users/{user['id']}/stats").status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(stats, range(20)))
    assert codes == [200] * 20
