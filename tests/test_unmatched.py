"""Unmatched items (SPEC §10, issue 14 acceptance 4): a Plex movie with only a local guid cannot
be sent; pinning it sends the waiting calls with the pinned ids, the next webhook of the same item
goes out directly, and the override survives a restart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.conftest import FakeTraktServer, Service, wait_until
from tests.webhooks.harness import FAST_ENV, Rig
from tests.webhooks.payloads import Media, plex
from trakt_plugin import overrides
from trakt_plugin.sync import repo as sync_repo

# A movie Plex could not match (local agent): no imdb/tmdb guid, only its rating key.
LOCAL = Media("movie", "Home Movie Night", year=2021, local_id="4242")
PINNED_IMDB = "tt7654321"


def _movie_ids(body: Any) -> dict[str, Any]:
    if "movies" in body:  # /sync/history
        return dict(body["movies"][0]["ids"])
    return dict(body["movie"]["ids"])


def test_constants_follow_the_sync() -> None:
    assert overrides.PLAY_NO_IDS == sync_repo.NO_IDS
    assert overrides.PLAY_NOT_FOUND == sync_repo.NOT_FOUND
    assert set(overrides.PLAY_KEEP_STATES) == {
        sync_repo.DISCARDED,
        sync_repo.UNDONE,
        sync_repo.DUPLICATE,
    }


def test_pin_sends_the_waiting_call_and_later_webhooks_match(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    service = service_factory(fake_trakt.service_env(**FAST_ENV))
    rig = Rig(service, fake_trakt)
    trakt_movie = fake_trakt.state.add_movie(
        "Home Movie Night", 2021, {"imdb": PINNED_IMDB, "tmdb": 99001}
    )
    user = rig.user("Lee", {"plex": "lee"}, trakt_username="lee_t")

    rig.deliver("plex", plex("start", "lee", LOCAL, 5))
    rig.deliver("plex", plex("scrobble", "lee", LOCAL, 95))
    # Nothing can name the item: the calls are kept (skipped, "no ids"), nothing reaches Trakt.
    rows = wait_until(lambda: [r for r in rig.rows(user) if r["status"] == "skipped"], what="rows")
    assert all(r["last_error"] == "no ids" for r in rows)
    assert rig.calls("lee_t") == []

    with service.api() as api:
        listed = api.get("/api/v1/unmatched").json()["items"]
        assert len(listed) == 1
        entry = listed[0]
        assert entry["title"] == "Home Movie Night" and entry["year"] == 2021
        assert entry["source"] == "plex" and entry["calls"] == len(rows) and entry["plays"] == 1
        key = entry["source_key"]
        assert key.startswith("local:plex:")

        found = api.get("/api/v1/unmatched/candidates", params={"source_key": key})
        assert found.status_code == 200, found.text
        candidates = found.json()["items"]
        assert candidates and candidates[0]["item"]["movie"]["ids"]["imdb"] == PINNED_IMDB

        bad = api.post("/api/v1/unmatched/pin", json={"source_key": key, "item": {"type": "x"}})
        assert bad.status_code == 422
        pinned = api.post(
            "/api/v1/unmatched/pin", json={"source_key": key, "item": candidates[0]["item"]}
        )
        assert pinned.status_code == 200, pinned.text
        assert pinned.json()["calls"] == len(rows) and pinned.json()["plays"] == 1

        # The waiting completion goes out with the pinned ids, and the play lands on Trakt.
        wait_until(lambda: rig.plays("lee_t"), what="the pinned play on Trakt")
        assert all(_movie_ids(body)["imdb"] == PINNED_IMDB for _, body in rig.calls("lee_t"))
        assert api.get("/api/v1/unmatched").json()["items"] == []
    ledger = rig.ledger(user)
    assert '"imdb":"tt7654321"' in ledger[0]["item"].replace(" ", "")
    assert [p.item for p in rig.plays("lee_t")] == [trakt_movie]

    # The next playback of the same item goes out directly (no "no ids" row).
    before = len(rig.calls("lee_t"))
    again = Media("movie", LOCAL.title, year=LOCAL.year, local_id=LOCAL.local_id)
    rig.deliver("plex", plex("start", "lee", again, 3, player="p2"))
    wait_until(lambda: len(rig.calls("lee_t")) > before, what="the next start sent")
    path, body = rig.calls("lee_t")[-1]
    assert path == "/scrobble/start" and _movie_ids(body)["imdb"] == PINNED_IMDB

    # After a restart on the same data directory the override still applies.
    service.stop()
    restarted = service_factory(fake_trakt.service_env(**FAST_ENV))  # the same data dir
    assert restarted.data_dir == service.data_dir
    rig = Rig(restarted, fake_trakt)
    before = len(rig.calls("lee_t"))
    rig.deliver("plex", plex("start", "lee", again, 3, player="p3"))
    wait_until(lambda: len(rig.calls("lee_t")) > before, what="a start after the restart")
    path, body = rig.calls("lee_t")[-1]
    assert path == "/scrobble/start" and _movie_ids(body)["imdb"] == PINNED_IMDB
    assert not [r for r in rig.rows(user) if r["last_error"] == "no ids"]


@pytest.mark.parametrize(
    "item",
    [
        {"type": "movie", "movie": {"title": "x", "ids": {}}},
        {"type": "episode", "show": {"ids": {"tvdb": 1}}, "episode": {"season": None}},
        {"type": "movie", "movie": {"ids": {"tmdb": "12"}}},  # not an int
        [],
    ],
)
def test_items_without_usable_ids_are_refused(item: Any, store_engine: Engine) -> None:
    with pytest.raises(overrides.PinError):
        overrides.pin(store_engine, "local:plex:a:1", item)
