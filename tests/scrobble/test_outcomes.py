"""Every outcome of SPEC §6 against the fake Trakt, through the real service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests.conftest import wait_until
from tests.webhooks.harness import Rig
from tests.webhooks.payloads import Media, revenge

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
INCEPTION = Media("movie", "Inception", 2010, imdb="tt1375666", tmdb=27205)
UNKNOWN = Media("movie", "Nowhere", 2001, imdb="tt9999999", tmdb=999999)
NO_IDS = Media("movie", "Home Video", 2020)
PILOT_IMDB_ONLY = Media(
    "episode", "Pilot", 2008, imdb="tt0959621", show_title="Breaking Bad", season=1, number=1
)
WRONG_TVDB_RIGHT_SHOW = Media(
    "episode",
    "Cat's in the Bag",
    2008,
    tvdb=1,
    show_title="Breaking Bad",
    show_tvdb=81189,
    season=1,
    number=2,
)
# Ambiguous failures are re-checked 2 request timeouts later: keep them short here.
QUICK = {"TRAKT_PLUGIN_SCROBBLE__HTTP_TIMEOUT": "1"}


def _ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def _row(rig: Rig, user_id: str, action: str) -> dict[str, object]:
    return next(r for r in rig.rows(user_id) if r["action"] == action)


def test_unmatched_item_goes_dead_after_trying_the_other_identifications_and_can_be_retried(
    rig: Rig,
) -> None:
    ann = rig.user("Ann", {"revenge": "ann"}, "ann_t")
    rig.deliver("revenge", revenge("stop", "ann", UNKNOWN, 95))
    rig.settled(ann)
    row = _row(rig, ann, "scrobble_stop")
    assert row["status"] == "dead" and row["last_error"] == "not matched"
    searches = [r.path for r in rig.fake.state.requests if r.path.startswith("/search/")]
    assert searches == ["/search/imdb/tt9999999", "/search/tmdb/999999"]

    with rig.service.api() as api:
        assert (
            api.get("/api/v1/scrobbles", params={"status": "dead"}).json()["items"][0]["id"]
            == (row["id"])
        )
        retried = api.post(f"/api/v1/scrobbles/{row['id']}/retry")
        assert retried.status_code == 200 and retried.json()["status"] == "pending"
        wait_until(lambda: _row(rig, ann, "scrobble_stop")["status"] == "dead", what="dead again")
        again = _row(rig, ann, "scrobble_stop")
        assert again["attempts"] > row["attempts"]  # attempts are kept

        assert api.delete(f"/api/v1/scrobbles/{row['id']}").status_code == 204
        assert _row(rig, ann, "scrobble_stop")["status"] == "discarded"
        assert api.get("/api/v1/scrobbles", params={"status": "pending"}).json()["items"] == []
        assert api.post(f"/api/v1/scrobbles/{row['id']}/retry").status_code == 409
        assert api.post("/api/v1/scrobbles/999999/retry").status_code == 404
        assert api.delete("/api/v1/scrobbles/999999").status_code == 404


def test_a_404_moves_to_show_ids_and_season_number(rig: Rig) -> None:
    ben = rig.user("Ben", {"revenge": "ben"}, "ben_t")
    rig.deliver("revenge", revenge("stop", "ben", WRONG_TVDB_RIGHT_SHOW, 95))
    rig.settled(ben)
    stops = [r for r in rig.fake.state.requests_to("/scrobble/stop") if r.user == "ben_t"]
    assert [r.status for r in stops] == [404, 201]
    assert stops[1].body["show"]["ids"] == {"tvdb": 81189}
    assert stops[1].body["episode"] == {"season": 1, "number": 2}
    assert _row(rig, ben, "scrobble_stop")["status"] == "sent"
    assert [p.item.title for p in rig.plays("ben_t")] == ["Cat's in the Bag..."]


def test_an_episode_known_only_by_imdb_is_looked_up_first(rig: Rig) -> None:
    cat = rig.user("Cat", {"revenge": "cat"}, "cat_t")
    rig.deliver("revenge", revenge("stop", "cat", PILOT_IMDB_ONLY, 95))
    rig.settled(cat)
    searches = [r for r in rig.fake.state.requests if r.path.startswith("/search/")]
    assert [(r.path, r.query.get("type")) for r in searches] == [
        ("/search/imdb/tt0959621", "episode")
    ]
    stop = next(r for r in rig.fake.state.requests_to("/scrobble/stop") if r.user == "cat_t")
    assert stop.body["episode"] == {"ids": {"trakt": 73482}}
    assert len(rig.plays("cat_t")) == 1


def test_permanent_refusals_are_dead_with_the_reason_and_409_on_stop_is_done(rig: Rig) -> None:
    dan = rig.user("Dan", {"revenge": "dan"}, "dan_t")
    rig.fake.state.fail_next(1, 422, path="/scrobble/start")
    rig.deliver("revenge", revenge("start", "dan", MATRIX, 10))
    rig.settled(dan)
    start = _row(rig, dan, "scrobble_start")
    assert start["status"] == "dead" and "422" in str(start["last_error"])

    rig.fake.state.fail_next(1, 409, path="/scrobble/stop")
    rig.deliver("revenge", revenge("stop", "dan", MATRIX, 95))
    rig.settled(dan)
    stop = _row(rig, dan, "scrobble_stop")
    assert stop["status"] == "sent" and "409" in str(stop["last_error"])
    for status, action in (
        (420, "scrobble_pause"),
        (423, "scrobble_pause"),
        (426, "scrobble_pause"),
    ):
        rig.fake.state.fail_next(1, status, path="/scrobble/pause")
        rig.deliver(
            "revenge", revenge("pause", "dan", INCEPTION, 10 + status % 10, session_id=str(status))
        )
        rig.settled(dan)
        row = rig.rows(dan)[0]
        assert row["action"] == action and row["status"] == "dead"
        assert str(status) in str(row["last_error"])


def test_429_waits_for_retry_after(rig: Rig) -> None:
    eve = rig.user("Eve", {"revenge": "eve"}, "eve_t")
    rig.fake.state.fail_next(4, 429, path="/scrobble/start", retry_after=1)
    rig.deliver("revenge", revenge("start", "eve", MATRIX, 10))
    rig.settled(eve)
    starts = rig.fake.state.requests_to("/scrobble/start")  # a 429 comes before auth: no user
    assert [r.status for r in starts] == [429, 429, 429, 429, 201]
    assert starts[-1].t - starts[-2].t >= 0.9
    assert _row(rig, eve, "scrobble_start")["status"] == "sent"


def test_a_stop_processed_but_unanswered_is_found_in_history_not_sent_twice(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(**QUICK)
    fred = rig.user("Fred", {"revenge": "fred"}, "fred_t")
    rig.fake.state.fail_next(1, "drop_after_processing", path="/scrobble/stop")
    rig.deliver("revenge", revenge("stop", "fred", MATRIX, 95))
    rig.settled(fred)
    assert len(rig.plays("fred_t")) == 1
    assert len(rig.fake.state.requests_to("/scrobble/stop")) == 1
    checks = rig.fake.state.requests_to("/sync/history/movies", "GET")
    assert checks and checks[0].query.get("start_at") and checks[0].query.get("end_at")
    row = _row(rig, fred, "scrobble_stop")
    assert row["status"] == "sent" and row["trakt_history_id"] == rig.plays("fred_t")[0].id


def test_a_500_on_stop_is_checked_then_sent_again_once(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(**QUICK)
    gus = rig.user("Gus", {"revenge": "gus"}, "gus_t")
    rig.fake.state.fail_next(1, 500, path="/scrobble/stop")
    rig.deliver("revenge", revenge("stop", "gus", INCEPTION, 95))
    rig.settled(gus)
    assert [r.status for r in rig.fake.state.requests_to("/scrobble/stop")] == [500, 201]
    assert len(rig.fake.state.requests_to("/sync/history/movies", "GET")) == 1
    assert len(rig.plays("gus_t")) == 1


def test_a_late_completion_goes_to_history_with_its_real_time(rig: Rig) -> None:
    hal = rig.user("Hal", {"revenge": "hal"}, "hal_t")
    watched = datetime.now(UTC) - timedelta(minutes=5)
    rig.deliver("revenge", revenge("stop", "hal", MATRIX, 95, occurred_at=watched.isoformat()))
    rig.settled(hal)
    assert rig.paths("hal_t") == ["/sync/history"]
    plays = rig.plays("hal_t")
    assert len(plays) == 1
    assert abs(plays[0].watched_at - watched.timestamp()) < 60
    assert _row(rig, hal, "history_add")["status"] == "sent"


def test_stale_starts_are_skipped_and_items_without_ids_too(rig: Rig) -> None:
    ivy = rig.user("Ivy", {"revenge": "ivy"}, "ivy_t")
    rig.deliver("revenge", revenge("start", "ivy", MATRIX, 10, occurred_at=_ago(45)))
    rig.deliver("revenge", revenge("start", "ivy", NO_IDS, 10, session_id="home"))
    rig.deliver("revenge", revenge("stop", "ivy", NO_IDS, 95, session_id="home"))
    rig.settled(ivy)
    rows = rig.rows(ivy)
    stale = next(r for r in rows if r["item"]["movie"]["title"] == "The Matrix")
    assert stale["status"] == "skipped" and "stale" in stale["last_error"]
    no_ids = [r for r in rows if r["item"]["movie"]["title"] == "Home Video"]
    assert {r["action"] for r in no_ids} == {"scrobble_start", "scrobble_stop"}
    assert all(r["status"] == "skipped" and r["last_error"] == "no ids" for r in no_ids)
    assert rig.calls("ivy_t") == []
    assert len(rig.ledger(ivy)) == 1  # the play is still in the ledger


def test_without_a_connection_plays_are_recorded_but_nothing_is_queued(rig: Rig) -> None:
    jo = rig.user("Jo", {"revenge": "jo"})
    for event, progress in (("start", 5), ("stop", 95)):
        assert rig.deliver("revenge", revenge(event, "jo", MATRIX, progress))["user_id"] == jo
    assert rig.rows(jo) == []
    assert len(rig.ledger(jo)) == 1


def test_unlinked_identities_are_recorded_and_listed(rig: Rig) -> None:
    first = rig.deliver("revenge", revenge("start", "stranger", MATRIX, 5))
    rig.deliver("revenge", revenge("stop", "stranger", MATRIX, 95))
    assert first["user_id"] is None and first["kind"] == "start"
    with rig.service.api() as api:
        unlinked = api.get("/api/v1/identities/unlinked").json()["items"]
    assert [(u["source"], u["external_id"], u["events"]) for u in unlinked] == [
        ("revenge", "stranger", 2)
    ]
    assert unlinked[0]["last_seen"]
    ledger = rig.ledger()
    assert len(ledger) == 1 and ledger[0]["user_id"] is None and ledger[0]["identity_id"]


def test_default_user_takes_unmatched_events(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(TRAKT_PLUGIN_DEFAULT_USER="Kim")
    kim = rig.user("Kim", {}, "kim_t")
    rig.deliver("revenge", revenge("start", "whoever", MATRIX, 5))
    answer = rig.deliver("revenge", revenge("stop", "whoever", MATRIX, 95))
    assert answer["user_id"] == kim
    rig.settled(kim)
    assert rig.paths("kim_t") == ["/scrobble/start", "/scrobble/stop"]
    with rig.service.api() as api:
        assert api.get("/api/v1/identities/unlinked").json()["items"] == []
