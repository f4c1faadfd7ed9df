"""The test clock endpoint exists only in a process started with the test flag."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tests.conftest import API_TOKEN, WEBHOOK_TOKEN, Service, wait_until

TOKENS = {"TRAKT_PLUGIN_API_TOKEN": API_TOKEN, "TRAKT_PLUGIN_WEBHOOK_TOKEN": WEBHOOK_TOKEN}


def test_without_the_flag_the_clock_cannot_be_moved(
    service_factory: Callable[..., Service],
) -> None:
    # "0" and "true" are not the flag: only the exact value 1 turns it on.
    service = service_factory({**TOKENS, "TRAKT_PLUGIN_TEST_CLOCK": "true"})
    with service.api() as api:
        for method in ("GET", "POST"):
            answer = api.request(method, "/api/v1/test/clock", json={"advance_seconds": 60})
            assert answer.status_code == 404, answer.text
        document = api.get("/api/v1/openapi.json").json()
        health = api.get("/api/v1/health").json()
    assert not [path for path in document["paths"] if "clock" in path]
    assert health["status"] == "ok"
    assert "clock can be moved" not in service.log()


def test_with_the_flag_the_clock_moves_ahead_only(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory({**TOKENS, "TRAKT_PLUGIN_TEST_CLOCK": "1"})
    assert "clock can be moved" in service.log()
    with service.api(token=None) as anonymous:
        refused = anonymous.post("/api/v1/test/clock", json={"advance_seconds": 60})
        assert refused.status_code == 401, refused.text
    with service.api() as api:
        assert "/test/clock" in api.get("/api/v1/openapi.json").json()["paths"]
        before = datetime.fromisoformat(api.get("/api/v1/test/clock").json()["now"])
        moved = api.post("/api/v1/test/clock", json={"advance_seconds": 86400})
        assert moved.status_code == 200, moved.text
        after = datetime.fromisoformat(moved.json()["now"])
        assert 86400 <= (after - before).total_seconds() < 86400 + 60
        assert moved.json()["offset_seconds"] == 86400
        for bad in ({"advance_seconds": -1}, {"advance_seconds": "soon"}, {}, {"seconds": 1}):
            answer = api.post("/api/v1/test/clock", json=bad)
            assert answer.status_code == 422, (bad, answer.text)
            assert answer.json()["error"]
        # Jobs report their next run on the product clock: those the day made due ran, so
        # every next run is after the moved now.
        wait_until(
            lambda: all(
                datetime.fromisoformat(job["next_run_at"]) > after
                for job in api.get("/api/v1/health").json()["jobs"].values()
            ),
            what="every periodic job scheduled after the moved now",
        )
