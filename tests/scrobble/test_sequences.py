"""Webhook sequences produce exactly SPEC §6's Trakt calls (against the fake)."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import wait_until
from tests.webhooks.harness import Rig
from tests.webhooks.payloads import Media, emby, jellyfin, plex, revenge

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
INCEPTION = Media("movie", "Inception", 2010, imdb="tt1375666", tmdb=27205)
PILOT = Media(
    "episode",
    "Pilot",
    2008,
    imdb="tt0959621",
    tvdb=349232,
    show_title="Breaking Bad",
    show_tvdb=81189,
    season=1,
    number=1,
)
JF_ALICE = "f0e1d2c3b4a5968778695a4b3c2d1e0f"


def _progress(call: tuple[str, object]) -> float:
    body = call[1]
    assert isinstance(body, dict)
    return float(body["progress"])


def test_start_pause_resume_stop_95_gives_those_four_calls_and_one_play(rig: Rig) -> None:
    alice = rig.user("Alice", {"revenge": "alice-r"}, "alice_t")
    for event, progress in (("start", 5), ("pause", 30), ("resume", 30), ("stop", 95)):
        rig.deliver("revenge", revenge(event, "alice-r", MATRIX, progress))
        rig.settled(alice)
    calls = rig.calls("alice_t")
    assert [path for path, _ in calls] == [
        "/scrobble/start",
        "/scrobble/pause",
        "/scrobble/start",
        "/scrobble/stop",
    ]
    assert [_progress(c) for c in calls] == [5, 30, 30, 95]
    plays = rig.plays("alice_t")
    assert len(plays) == 1 and plays[0].action == "scrobble"
    stop_row = next(r for r in rig.rows(alice) if r["action"] == "scrobble_stop")
    assert stop_row["status"] == "sent" and stop_row["trakt_history_id"] == plays[0].id
    ledger = rig.ledger(alice)
    assert len(ledger) == 1 and ledger[0]["trakt_history_id"] == plays[0].id
    assert set(stop_row) >= {
        "id",
        "user_id",
        "action",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "created_at",
        "sent_at",
        "item",
    }
    assert stop_row["item"]["movie"]["ids"]["imdb"] == "tt0133093"


def test_stop_at_85_below_threshold_is_a_pause_and_no_play(rig: Rig) -> None:
    bob = rig.user("Bob", {"emby": "bob-e"}, "bob_t")
    rig.deliver("emby", emby("start", "bob-e", "bob", INCEPTION, 10))
    rig.settled(bob)
    rig.deliver("emby", emby("stop", "bob-e", "bob", INCEPTION, 85))
    rig.settled(bob)
    calls = rig.calls("bob_t")
    assert [path for path, _ in calls] == ["/scrobble/start", "/scrobble/pause"]
    assert _progress(calls[1]) == 85
    assert rig.plays("bob_t") == []
    assert rig.ledger(bob) == []


def test_plex_scrobble_then_stop_is_one_play(rig: Rig) -> None:
    carol = rig.user("Carol", {"plex": "Carol"}, "carol_t")
    rig.deliver("plex", plex("start", "Carol", PILOT, 3))
    rig.settled(carol)
    rig.deliver("plex", plex("scrobble", "Carol", PILOT, 91))
    rig.settled(carol)
    rig.deliver("plex", plex("stop", "Carol", PILOT, 97))
    rig.settled(carol)
    assert rig.paths("carol_t") == ["/scrobble/start", "/scrobble/stop"]
    assert len(rig.plays("carol_t")) == 1
    assert len(rig.ledger(carol)) == 1


def test_jellyfin_heartbeats_send_only_pause_resume_transitions(rig: Rig) -> None:
    dave = rig.user("Dave", {"jellyfin": JF_ALICE}, "dave_t")
    sequence: list[tuple[str, float, bool | None]] = [
        ("start", 1, False),
        ("progress", 10, False),
        ("progress", 20, False),
        ("progress", 25, True),
        ("progress", 25, True),
        ("progress", 26, False),
        ("progress", 50, False),
        ("stop", 96, None),
    ]
    for kind, progress, paused in sequence:
        rig.deliver("jellyfin", jellyfin(kind, JF_ALICE, "dave", MATRIX, progress, paused=paused))
        rig.settled(dave)
    assert rig.paths("dave_t") == [
        "/scrobble/start",
        "/scrobble/pause",
        "/scrobble/start",
        "/scrobble/stop",
    ]
    assert len(rig.plays("dave_t")) == 1


def test_auto_scrobble_off_sends_nothing_live_but_keeps_the_ledger(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(TRAKT_AUTO_SCROBBLE="false")
    erin = rig.user("Erin", {"revenge": "erin-r"}, "erin_t")
    for event, progress in (("start", 5), ("pause", 40), ("stop", 95)):
        answer = rig.deliver("revenge", revenge(event, "erin-r", MATRIX, progress))
        assert answer["user_id"] == erin
    assert rig.rows(erin) == []
    assert rig.calls("erin_t") == []
    assert [row["user_id"] for row in rig.ledger()] == [erin]


def test_a_superseded_start_is_skipped_and_a_completion_never_is(rig: Rig) -> None:
    fay = rig.user("Fay", {"revenge": "fay-r"}, "fay_t")
    # The start and the pause each fail once, so both are still unsent when the next event comes.
    rig.fake.state.fail_next(2, 503, method="POST")

    def tried(action: str) -> bool:
        return any(r["action"] == action and r["attempts"] == 1 for r in rig.rows(fay))

    rig.deliver("revenge", revenge("start", "fay-r", INCEPTION, 5))
    wait_until(lambda: tried("scrobble_start"), what="the start failed once")
    rig.deliver("revenge", revenge("pause", "fay-r", INCEPTION, 20))
    wait_until(lambda: tried("scrobble_pause"), what="the pause failed once")
    rig.deliver("revenge", revenge("stop", "fay-r", INCEPTION, 95))
    rig.settled(fay)
    by_action = {r["action"]: r for r in rig.rows(fay)}
    assert by_action["scrobble_start"]["status"] == "skipped"
    assert by_action["scrobble_pause"]["status"] == "skipped"
    assert "superseded" in by_action["scrobble_pause"]["last_error"]
    assert by_action["scrobble_stop"]["status"] == "sent"
    assert rig.paths("fay_t") == ["/scrobble/stop"]
    assert len(rig.plays("fay_t")) == 1
