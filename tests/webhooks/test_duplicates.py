"""Every webhook delivered twice gives the same Trakt state as once.

A repeated body (same source, same bytes, within ten minutes) answers like the first delivery
and changes nothing; repeats with other bytes are absorbed by the policy (a completed session
sends nothing more; a second completion within the dedupe window is the same play).
"""

from __future__ import annotations

from tests.webhooks.harness import Rig
from tests.webhooks.payloads import Body, Media, emby, jellyfin, plex, revenge

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
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


def _playback(source: str, who: str) -> list[Body]:
    if source == "plex":
        return [
            plex("start", who, PILOT, 2),
            plex("pause", who, PILOT, 30),
            plex("resume", who, PILOT, 30),
            plex("scrobble", who, PILOT, 91),
            plex("stop", who, PILOT, 96),
        ]
    if source == "jellyfin":
        return [
            jellyfin("start", who, who, MATRIX, 1, paused=False),
            jellyfin("progress", who, who, MATRIX, 20, paused=True),
            jellyfin("progress", who, who, MATRIX, 21, paused=False),
            jellyfin("stop", who, who, MATRIX, 95),
        ]
    if source == "emby":
        return [
            emby("start", who, who, MATRIX, 1),
            emby("pause", who, who, MATRIX, 50),
            emby("resume", who, who, MATRIX, 50),
            emby("stop", who, who, MATRIX, 97),
        ]
    return [
        revenge("start", who, PILOT, 1),
        revenge("pause", who, PILOT, 40),
        revenge("stop", who, PILOT, 95),
        revenge("watched", who, PILOT, None),
    ]


def _state(rig: Rig, username: str) -> tuple[list[str], int]:
    return rig.paths(username), len(rig.plays(username))


def test_every_webhook_delivered_twice_gives_the_same_trakt_state(rig: Rig) -> None:
    for source in ("revenge", "plex", "jellyfin", "emby"):
        once, twice = f"{source}once", f"{source}twice"
        once_id = rig.user(once, {source: once}, f"{once}_t")
        twice_id = rig.user(twice, {source: twice}, f"{twice}_t")
        for body in _playback(source, once):
            rig.deliver(source, body)
            rig.settled(once_id)
        for body in _playback(source, twice):
            first = rig.deliver(source, body)
            again = rig.deliver(source, body)
            assert again["event_id"] == first["event_id"] and again.get("duplicate") is True
            rig.settled(twice_id)
        assert _state(rig, f"{twice}_t") == _state(rig, f"{once}_t"), source
        assert _state(rig, f"{once}_t")[1] == 1, source
        assert len(rig.ledger(twice_id)) == len(rig.ledger(once_id)) == 1
