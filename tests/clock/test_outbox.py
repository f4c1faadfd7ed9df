"""The scrobbler's time-driven behaviour through the running service: give-up after
``scrobble.give_up_after`` of failures, idle sessions finalised after ``scrobble.idle_finalise``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.clock.conftest import ClockWorld
from tests.conftest import WEBHOOK_TOKEN, wait_until
from tests.webhooks.payloads import Media, revenge

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
INCEPTION = Media("movie", "Inception", 2010, imdb="tt1375666", tmdb=27205)
MINUTE, HOUR, DAY = 60, 3600, 86400
GIVE_UP_AFTER = 7 * DAY  # scrobble.give_up_after default
IDLE_FINALISE = 4 * HOUR  # scrobble.idle_finalise default
WRITES = ("/scrobble/start", "/scrobble/pause", "/scrobble/stop", "/sync/history")


def _person(world: ClockWorld, name: str, revenge_id: str) -> str:
    user_id = world.connect(name, f"{revenge_id}_t")
    with world.api() as api:
        answer = api.post(
            f"/api/v1/users/{user_id}/identities",
            json={"source": "revenge", "external_id": revenge_id},
        )
    assert answer.status_code == 201, answer.text
    return user_id


def _deliver(world: ClockWorld, *args: Any, **fields: Any) -> None:
    body = revenge(*args, **fields)
    answer = httpx.post(
        f"{world.service.url}/webhooks/revenge",
        params={"token": WEBHOOK_TOKEN},
        headers={"Content-Type": body.content_type},
        content=body.content,
        timeout=30,
    )
    assert answer.status_code == 202, answer.text


def _rows(world: ClockWorld, user_id: str, status: str | None = None) -> list[dict[str, Any]]:
    params = {"user_id": user_id, "limit": 1000, **({"status": status} if status else {})}
    return list(world.get("/scrobbles", **params)["items"])


def _writes(world: ClockWorld, username: str) -> list[Any]:
    return [
        r
        for r in list(world.fake.state.requests)
        if r.user == username and r.method == "POST" and r.path in WRITES
    ]


def test_a_row_failing_for_give_up_after_is_dead_with_the_reason(
    clock_world_factory: Any,
) -> None:
    # The hourly syncs that the jumps set off do not export the play: every write Trakt sees
    # here is one of the outbox's.
    world: ClockWorld = clock_world_factory(TRAKT_PLUGIN_SYNC__AUTO_EXPORT_PLAYS="false")
    dee = _person(world, "Dee", "dee")
    # Every write fails with 503 (reads answer, so each retry's history check finds nothing).
    for path in ("/scrobble/stop", "/sync/history"):
        world.fake.state.fail_next(100, 503, method="POST", path=path)
    _deliver(world, "stop", "dee", MATRIX, 95)
    row = wait_until(
        lambda: (rows := _rows(world, dee)) and rows[0]["attempts"] >= 1 and rows[0],
        what="the first failed attempt",
    )
    assert row["status"] == "pending" and "503" in row["last_error"]

    # Six days of Trakt failing: retried as the backoff falls due, still pending.
    for _ in range(2):
        attempts = row["attempts"]
        world.advance(3 * DAY)
        row = wait_until(
            lambda a=attempts: (r := _rows(world, dee)[0])["attempts"] > a and r,
            what="a retry after the jump",
        )
        assert row["status"] == "pending", row

    # Past seven days since the first failure: the next attempt gives up instead of calling.
    # (A fault is answered before the fake reads the token: these requests carry no user.)
    tries = [r for r in world.fake.state.requests if r.method == "POST" and r.path in WRITES]
    world.advance(DAY + HOUR)
    row = wait_until(lambda: _rows(world, dee, "dead"), what="the row dead")[0]
    assert row["last_error"].startswith(f"gave up after {GIVE_UP_AFTER} s of failures: ")
    assert "503" in row["last_error"]
    assert row["next_attempt_at"] is None
    assert len(tries) >= 3 and all(r.status == 503 for r in tries)
    assert [r for r in world.fake.state.requests if r.method == "POST" and r.path in WRITES] == (
        tries
    )
    assert _rows(world, dee, "pending") == []
    assert world.fake.state.history("dee_t") == []


def test_an_idle_session_is_finalised_after_idle_finalise(clock_world_factory: Any) -> None:
    """A session past the threshold with no stop becomes one history add; one below it is
    closed with nothing sent. Past the threshold without a completion happens only when the
    threshold was lowered meanwhile: here a restart with 80 instead of 90."""
    playing = clock_world_factory(TRAKT_SCROBBLE_THRESHOLD="90")
    ann = _person(playing, "Ann", "ann")
    bob = _person(playing, "Bob", "bob")
    _deliver(playing, "start", "ann", MATRIX, 5, session_id="a1")
    _deliver(playing, "progress", "ann", MATRIX, 85, session_id="a1")
    last_event = datetime.now(UTC)
    _deliver(playing, "start", "bob", INCEPTION, 5, session_id="b1")
    _deliver(playing, "progress", "bob", INCEPTION, 40, session_id="b1")
    wait_until(lambda: not _rows(playing, ann, "pending") and not _rows(playing, bob, "pending"))
    assert playing.service.stop() == 0

    world = clock_world_factory(TRAKT_SCROBBLE_THRESHOLD="80")
    ann_calls, bob_calls = len(_writes(world, "ann_t")), len(_writes(world, "bob_t"))
    # Ten minutes short of idle_finalise: the idle check runs (every 5 minutes), nothing is due.
    now = world.advance(IDLE_FINALISE - 10 * MINUTE)
    wait_until(lambda: world.next_run("scrobble-idle-finalise") > now, what="the idle check to run")
    assert world.fake.state.history("ann_t") == []
    world.advance(15 * MINUTE)
    play = wait_until(lambda: world.fake.state.history("ann_t"), what="Ann's play")[0]
    assert abs(play.watched_at - last_event.timestamp()) < 60  # the last event's time
    wait_until(lambda: not _rows(world, ann, "pending"), what="Ann's outbox to drain")
    added = _writes(world, "ann_t")[ann_calls:]
    assert [r.path for r in added] == ["/sync/history"]
    ledger = world.get(f"/users/{ann}/history")["items"]
    assert len(ledger) == 1 and ledger[0]["source"] == "revenge"
    # Bob's session, below the threshold, was closed in the same run: nothing sent for him.
    assert len(_writes(world, "bob_t")) == bob_calls
    assert world.get(f"/users/{bob}/history")["items"] == []
