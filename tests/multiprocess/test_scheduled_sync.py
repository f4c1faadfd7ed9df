"""A scheduled sync with two processes on one PostgreSQL: both schedule it, one runs it per
period per user (the job's lease, SPEC §13). Time moves through both processes' test clocks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tests.conftest import connect_user, wait_until
from tests.multiprocess.conftest import Pair

HOUR = 3600
SYNC_INTERVAL = HOUR  # the SPEC's default sync_interval
PERIODS = 5
FINISHED = ("succeeded", "partial", "failed")


def _get(pair: Pair, index: int, path: str, **params: Any) -> Any:
    with pair.api(index) as api:
        answer = api.get(f"/api/v1{path}", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _runs(pair: Pair, user_id: str) -> list[dict[str, Any]]:
    items = _get(pair, 0, "/sync/runs", user_id=user_id, limit=1000)["items"]
    return [r for r in items if r["trigger"] == "schedule"]


def _next_sync(pair: Pair, index: int) -> float:
    """Seconds until the process's next scheduled sync, on its product clock."""
    with pair.api(index) as api:
        now = datetime.fromisoformat(api.get("/api/v1/test/clock").json()["now"])
    next_run = datetime.fromisoformat(_get(pair, index, "/health")["jobs"]["sync"]["next_run_at"])
    return (next_run - now).total_seconds()


def test_one_scheduled_sync_per_period_per_user(pair_factory: Callable[..., Pair]) -> None:
    pair = pair_factory()
    users = [
        str(connect_user(pair.services[0], pair.fake, "Ann", "ann")["id"]),
        str(connect_user(pair.services[1], pair.fake, "Bob", "bob")["id"]),
    ]
    for period in range(1, PERIODS + 1):
        pair.advance(SYNC_INTERVAL)
        # Both processes' sync jobs fired (each is next due about an interval from now)...
        for index in (0, 1):
            wait_until(
                lambda i=index: _next_sync(pair, i) > SYNC_INTERVAL / 2,
                what=f"process {index}'s scheduled sync tick",
            )
        # ...and the runs they started ended: one per user for this period.
        for user_id in users:
            wait_until(
                lambda u=user_id, n=period: (
                    len(runs := _runs(pair, u)) >= n and all(r["status"] in FINISHED for r in runs)
                ),
                timeout=60,
                what=f"period {period}'s sync",
            )
        for user_id in users:
            assert len(_runs(pair, user_id)) == period, _runs(pair, user_id)
    for user_id in users:
        assert {r["status"] for r in _runs(pair, user_id)} == {"succeeded"}
