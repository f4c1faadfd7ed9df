"""Two processes, one connection about to expire, 20 concurrent calls split over both: one token
refresh at Trakt, and both processes go on with the new pair (SPEC §4, §13)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from tests.conftest import connect_user
from tests.multiprocess.conftest import Pair

DAY = 86400
# The fake's tokens live 7 days; the service refreshes when under a quarter is left.
ABOUT_TO_EXPIRE = 6 * DAY
STATS_TTL = 3600  # Trakt's stats are cached an hour (enrich/stats.py)


def _stats(pair: Pair, index: int, user_id: str) -> dict[str, Any]:
    with pair.api(index) as api:
        answer = api.get(f"/api/v1/users/{user_id}/stats")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_one_refresh_across_processes_and_both_use_the_new_pair(
    pair_factory: Any,
) -> None:
    pair: Pair = pair_factory()
    fake = pair.fake.state
    user_id = str(connect_user(pair.services[0], pair.fake, "Ann", "ann")["id"])
    assert fake.refreshes == 0
    # Both processes hold the pair in memory (each read Trakt with it once).
    _stats(pair, 0, user_id)
    pair.advance(STATS_TTL + 60)
    _stats(pair, 1, user_id)

    fake.refresh_delay = 0.5  # a slow refresh: the other process's callers arrive meanwhile
    pair.advance(ABOUT_TO_EXPIRE)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: _stats(pair, i % 2, user_id), range(20)))
    assert all(a["trakt"] is not None for a in answers), answers
    assert fake.refreshes == 1
    assert fake.refresh_reuse == []  # no process presented the rotated refresh token

    # Each process reads Trakt again (the cache aged past its hour) with the new pair.
    for index in (0, 1):
        pair.advance(STATS_TTL + 60)
        before = datetime.fromisoformat(_stats(pair, 1 - index, user_id)["trakt_cached_at"])
        pair.advance(STATS_TTL + 60)
        fresh = _stats(pair, index, user_id)
        assert datetime.fromisoformat(fresh["trakt_cached_at"]) > before
    assert fake.refreshes == 1
    with pair.api(1) as api:
        assert api.get(f"/api/v1/users/{user_id}").json()["trakt"]["state"] == "connected"
