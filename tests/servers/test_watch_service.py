"""Watch mode through the running service (SPEC §12, issue 13 acceptance 1): a Plex, Jellyfin or
Emby server added with ``live: "watch"`` is followed without webhooks, and its playbacks reach Trakt
like webhook ones. Every test runs against each of the three fakes."""

from __future__ import annotations

import time
from datetime import datetime

from tests.conftest import wait_until
from tests.servers.watch_world import RUNTIME_MS, WatchWorld, watch_world

__all__ = ["watch_world"]  # the fixture


def _stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_play_pause_resume_stop_at_95_is_start_pause_start_stop_and_one_play_at_the_stop(
    watch_world: WatchWorld,
) -> None:
    w, p = watch_world, watch_world.player
    session = p.start(p.linked)
    wait_until(lambda: w.calls("/scrobble/start") == 1, timeout=20, what="start")
    p.pause(session, RUNTIME_MS // 3)
    wait_until(lambda: w.calls("/scrobble/pause") == 1, timeout=20, what="pause")
    p.resume(session)
    wait_until(lambda: w.calls("/scrobble/start") == 2, timeout=20, what="resume")
    # the client stops at 95 % with no progress report since the resume at a third
    stopped_at = time.time()
    p.stop(session, int(RUNTIME_MS * 0.95))
    wait_until(lambda: w.calls("/scrobble/stop") == 1, timeout=20, what="stop")
    answered_at = time.time()
    wait_until(w.idle, timeout=20, what="the outbox empty")

    assert w.scrobbles() == ["/scrobble/start", "/scrobble/pause", "/scrobble/start",
                             "/scrobble/stop"]  # fmt: skip
    stop = w.trakt.requests_to("/scrobble/stop", "POST")[0]
    # Jellyfin and Emby clear the position at a stop; the item marked played says "past 90 %"
    assert round(stop.body["progress"]) == (95 if p.kind == "plex" else 90)
    plays = w.trakt.history("ann")
    assert len(plays) == 1 and plays[0].item.title == "Heat"
    # Trakt keeps minutes; the play is at the stop, not at the start a third of a run earlier
    assert stopped_at // 60 * 60 <= plays[0].watched_at <= answered_at
    (play,) = w.ledger()
    assert stopped_at - 1 <= _stamp(play["watched_at"]) <= answered_at
    assert play["source"] == p.kind
    assert w.server_view()["watch"]["last_message_at"] is not None


def test_a_stop_at_half_way_is_a_pause_and_no_play(watch_world: WatchWorld) -> None:
    w, p = watch_world, watch_world.player
    session = p.start(p.linked)
    wait_until(lambda: w.calls("/scrobble/start") == 1, timeout=20, what="start")
    p.stop(session, RUNTIME_MS // 2)

    wait_until(lambda: w.calls("/scrobble/pause") == 1, timeout=20, what="pause")
    wait_until(lambda: w.watched("watch.stop"), timeout=20, what="the stop stored")
    wait_until(w.idle, timeout=20, what="the outbox empty")
    pause = w.trakt.requests_to("/scrobble/pause", "POST")[0]
    assert round(pause.body["progress"]) == 50
    assert w.scrobbles() == ["/scrobble/start", "/scrobble/pause"]
    assert w.trakt.history("ann") == [] and w.ledger() == []


def test_a_session_that_vanishes_at_95_gives_one_play(watch_world: WatchWorld) -> None:
    w, p = watch_world, watch_world.player
    session = p.start(p.linked)
    wait_until(lambda: w.calls("/scrobble/start") == 1, timeout=20, what="start")
    p.progress(session, int(RUNTIME_MS * 0.95))
    wait_until(lambda: w.seen_at(95.0), timeout=20, what="95 % seen")
    p.vanish(session)  # no stop from the server: it is simply no longer listed

    # Plex says nothing when a session vanishes: the watcher's re-read after `watch_interval`
    # of silence finds it gone
    wait_until(lambda: w.watched("watch.stop"), timeout=20, what="the vanished session stopped")
    wait_until(w.idle, timeout=20, what="the outbox empty")
    assert w.watched("watch.stop") == [95.0]  # at its last known position
    # 95 % completed the playback (SPEC §6); its end adds nothing, takes nothing away
    assert len(w.trakt.history("ann")) == 1 and len(w.ledger()) == 1
    assert w.calls("/scrobble/stop") + len(w.trakt.requests_to("/sync/history", "POST")) == 1
    assert w.scrobbles()[0] == "/scrobble/start" and w.calls("/scrobble/pause") == 0


def test_an_unlinked_account_is_listed_and_nothing_is_sent(watch_world: WatchWorld) -> None:
    w, p = watch_world, watch_world.player
    bob, bob_id = p.add_account("bob")

    def listed(events: int) -> bool:
        with w.service.api() as api:
            items = api.get("/api/v1/identities/unlinked").json()["items"]
        return any(
            i["source"] == p.kind and i["external_id"] == bob_id and i["events"] >= events
            for i in items
        )

    session = p.start(bob)
    wait_until(lambda: listed(1), timeout=20, what="bob listed as unlinked")
    p.stop(session, int(RUNTIME_MS * 0.95))
    wait_until(lambda: listed(2), timeout=20, what="bob's stop recorded")
    assert len(w.watched("watch.stop")) == 1
    assert w.scrobbles() == [] and not w.trakt.requests_to("/sync/history", "POST")
    assert w.trakt.history("ann") == [] and w.ledger() == []
