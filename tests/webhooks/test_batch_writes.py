"""One group-commit batch holding several events of one session: the rows the batch writes
together (scrobble/writes.py) link up as if each event had been written on its own.

Through HTTP the writer's batches depend on timing, so this drives the recorder the webhook
writer uses directly, in this process, on the store a real service set up (SQLite file or
PostgreSQL database) and then left (stopped).
"""

from __future__ import annotations

from datetime import timedelta

from tests import pg
from trakt_plugin.context import build_context
from trakt_plugin.events.parsers import parse_event
from trakt_plugin.scrobble.outbox import Accepted, Delivery, EventRecorder, body_hash
from trakt_plugin.store.models import utcnow

from .harness import Rig
from .payloads import Body, Media, revenge

MOVIE = Media("movie", "Heat", 1995, imdb="tt0113277")
OTHER = Media("movie", "Ronin", 1998, imdb="tt0122690")
THIRD = Media("movie", "Thief", 1981, imdb="tt0083190")


def _delivery(body: Body, seconds: int) -> Delivery:
    at = utcnow() + timedelta(seconds=seconds)
    event = parse_event("revenge", body.content_type, body.content, at)
    assert not hasattr(event, "reason"), event
    return Delivery(event, body_hash("revenge", body.content), at)  # type: ignore[arg-type]


def test_a_batch_with_a_whole_playback_links_events_plays_and_calls(rig: Rig) -> None:
    user_id = rig.user("Ann", {"revenge": "ann-r"}, trakt_username="ann_t")
    rig.service.stop()
    recorder = EventRecorder(build_context(rig.service.env))
    start = revenge("start", "ann-r", MOVIE, 2, session_id="a1")
    other = revenge("start", "ann-r", OTHER, 1, session_id="b1")
    bodies = [
        start,
        revenge("pause", "ann-r", MOVIE, 40, session_id="a1"),
        other,
        start,  # the same delivery again, inside the batch
        revenge("start", "ann-r", MOVIE, 40, session_id="a1"),
        revenge("stop", "ann-r", MOVIE, 96, session_id="a1"),
        # After the stop (whose play look-up wrote the batch so far): a start and a pause of
        # a third session, both still unwritten when the pause replaces the start.
        revenge("start", "ann-r", THIRD, 1, session_id="c1"),
        revenge("pause", "ann-r", THIRD, 5, session_id="c1"),
    ]
    answers = recorder.record_many([_delivery(b, n) for n, b in enumerate(bodies)])

    assert all(isinstance(a, Accepted) for a in answers), answers
    ids = [a.event_id for a in answers if isinstance(a, Accepted)]
    repeat = answers[3]
    assert isinstance(repeat, Accepted) and repeat.duplicate and ids[3] == ids[0]
    firsts = ids[:3] + ids[4:]
    assert firsts == sorted(firsts) and len(set(firsts)) == 7  # in arrival order, one each

    url = pg.service_database_url(rig.service.env, rig.service.data_dir)
    events = pg.query(url, "SELECT id, kind, session_key FROM webhookevent ORDER BY id")
    assert [e["id"] for e in events] == firsts
    kinds = ["start", "pause", "start", "start", "stop", "start", "pause"]
    assert [e["kind"] for e in events] == kinds
    plays = pg.query(url, "SELECT id, event_id, user_id FROM play")
    assert [(p["event_id"], p["user_id"]) for p in plays] == [(ids[5], user_id)]
    rows = pg.query(
        url,
        "SELECT action, status, last_error, event_id, play_id, completion, session_key "
        "FROM scrobble ORDER BY id",
    )
    by_event = {row["event_id"]: row for row in rows}
    assert set(by_event) == set(firsts)
    # The session's start, pause and restart were replaced by the next event of the batch
    # before anything was sent; the other session's start was not touched.
    for superseded in (ids[0], ids[1], ids[4], ids[6]):
        assert by_event[superseded]["status"] == "skipped"
        assert by_event[superseded]["last_error"] == "superseded by a later event"
    assert by_event[ids[2]]["status"] == "pending"
    assert by_event[ids[7]]["status"] == "pending"
    stop = by_event[ids[5]]
    assert stop["status"] == "pending" and stop["completion"]
    assert stop["play_id"] == plays[0]["id"]
    sessions = pg.query(url, "SELECT session_key, open FROM playbacksession ORDER BY session_key")
    assert [(s["session_key"], bool(s["open"])) for s in sessions] == [
        (events[0]["session_key"], False),
        (events[2]["session_key"], True),
        (events[5]["session_key"], True),
    ]


def test_a_later_batch_supersedes_the_rows_an_earlier_batch_stored(rig: Rig) -> None:
    rig.user("Bo", {"revenge": "bo-r"}, trakt_username="bo_t")
    rig.service.stop()
    recorder = EventRecorder(build_context(rig.service.env))
    recorder.record_many([_delivery(revenge("start", "bo-r", MOVIE, 2, session_id="s"), 0)])
    [pause] = recorder.record_many(
        [_delivery(revenge("pause", "bo-r", MOVIE, 30, session_id="s"), 1)]
    )
    assert isinstance(pause, Accepted)
    url = pg.service_database_url(rig.service.env, rig.service.data_dir)
    rows = pg.query(url, "SELECT action, status, event_id FROM scrobble ORDER BY id")
    assert [(r["action"], r["status"]) for r in rows] == [
        ("scrobble_start", "skipped"),
        ("scrobble_pause", "pending"),
    ]
    assert rows[1]["event_id"] == pause.event_id
