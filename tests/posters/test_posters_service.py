"""Posters through the running service: a history import records the posters, the background
job downloads each once from the fake Trakt's image host, and ``GET /posters/{item_key}`` serves
them to a signed-in browser with cache headers (the placeholder when there is none)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests import pg
from tests.conftest import FakeTraktServer, Service, connect_user, wait_until
from tests.sync.conftest import POST_INTERVAL, SyncWorld, sync_env
from trakt_plugin.posters import poster_src
from trakt_plugin.posters import repo as poster_repo
from trakt_plugin.security.sessions import COOKIE_NAME, SessionStore
from trakt_plugin.store.engine import make_engine

MATRIX = "/images/movies/481.webp"
BREAKING_BAD = "/images/shows/1388.webp"


def _store(service: Service | Path) -> str:
    # A bare data dir (an older caller) means the service's SQLite file there.
    if isinstance(service, Path):
        return pg.service_database_url({}, service)
    return pg.store_url(service)


def signed_in_cookie(service: Service | Path) -> str:
    """A dashboard session made the way a login makes one (a ticket redeemed), in the store
    the service reads (either engine)."""
    engine = make_engine(_store(service))
    try:
        store = SessionStore(engine, lambda: 0)
        session_id = store.redeem_ticket(store.issue_ticket(0))
        assert session_id is not None
        return session_id
    finally:
        engine.dispose()


def poster_states(service: Service) -> dict[str, int]:
    engine = make_engine(pg.store_url(service))
    try:
        with engine.connect() as conn:
            return poster_repo.counts(conn)
    finally:
        engine.dispose()


def test_import_downloads_each_poster_once_and_serves_it(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    fake = fake_trakt.state
    fake.post_interval = POST_INTERVAL
    service = service_factory(sync_env(fake_trakt))
    user = connect_user(service, fake_trakt, "Ann", "ann")
    world = SyncWorld(service, fake_trakt, user["id"], "ann")
    matrix, inception, _show, pilot, second = fake.items[:5]
    inception.poster = False  # Trakt has none: the placeholder
    now = time.time()
    for offset, item in enumerate((matrix, inception, pilot, second, matrix)):
        fake.add_play("ann", item, now - 86400 * (offset + 1))

    run = world.sync("history", "import")
    assert run["status"] == "succeeded", run
    history_reads = [r for r in fake.requests if r.path == "/sync/history"]
    assert history_reads and all(r.query.get("extended") == "full,images" for r in history_reads)
    wait_until(
        lambda: (
            poster_states(service).get("pending", 0) == 0
            and fake.image_downloads[BREAKING_BAD] == 1
        ),
        # the nudge after the import's commits, never the job's next minute (a nudge that came
        # while the job was reading an empty queue was once lost that way)
        timeout=30,
        what="posters downloaded",
    )
    # one download per image: the Matrix played twice, two episodes share the show's poster
    assert dict(fake.image_downloads) == {MATRIX: 1, BREAKING_BAD: 1}

    cookie = signed_in_cookie(service)
    with httpx.Client(base_url=service.url, timeout=10) as browser:
        # the dashboard is private: without a session nothing is said about any item
        assert browser.get(poster_src("movie:trakt:481")).status_code == 401
        browser.cookies.set(COOKIE_NAME, cookie)
        # an episode shows its show's poster: by its own ids, its show's, or show + number
        for key in ("movie:trakt:481", "movie:imdb:tt0133093", "episode:trakt:73482",
                    "show:trakt:1388", "show:trakt:1388:s1e2", "show:tvdb:81189:s1e2"):  # fmt: skip
            answer = browser.get(poster_src(key))
            assert answer.status_code == 200, key
            assert answer.headers["content-type"] == "image/webp"
            assert answer.content.startswith(b"RIFF") and answer.content[8:12] == b"WEBP"
            assert "immutable" in answer.headers["cache-control"]
            assert "max-age=31536000" in answer.headers["cache-control"]
        etag = browser.get(poster_src("movie:trakt:481")).headers["etag"]
        again = browser.get(poster_src("movie:trakt:481"), headers={"If-None-Match": etag})
        assert again.status_code == 304
        for key in ("movie:trakt:16662", "movie:trakt:999999"):  # no poster; never recorded
            placeholder = browser.get(poster_src(key))
            assert placeholder.status_code == 200
            assert placeholder.headers["content-type"].startswith("image/svg+xml")
            assert "immutable" not in placeholder.headers["cache-control"]

    # a second import reads the same items again: nothing is downloaded twice
    fake.add_play("ann", pilot, now - 3600)
    assert world.sync("history", "import")["status"] == "succeeded"
    assert dict(fake.image_downloads) == {MATRIX: 1, BREAKING_BAD: 1}
    assert poster_states(service).get("pending", 0) == 0
