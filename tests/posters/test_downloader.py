"""The poster downloader against the fake Trakt's image host (real HTTP on loopback): one
download per URL, bounded and checked answers, retries, the proxy setting, private files."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.fake_trakt.server import serve_in_thread
from tests.fake_trakt.socks import RecordingSocks5
from tests.fake_trakt.state import FakeTrakt
from trakt_plugin.posters import absolute_url, poster_keys, poster_url, show_key_of
from trakt_plugin.posters import repo as poster_repo
from trakt_plugin.posters.service import MAX_BYTES, PosterService


@pytest.fixture
def images() -> Iterator[tuple[FakeTrakt, str]]:
    fake = FakeTrakt()
    with serve_in_thread(fake) as url:
        yield fake, url


@pytest.fixture
def engine(store_engine: Engine) -> Engine:
    return store_engine  # SQLite or PostgreSQL (TRAKT_PLUGIN_TEST_DB), migrated


def record(engine: Engine, found: dict[str, str | None]) -> int:
    with engine.begin() as conn:
        return poster_repo.record(conn, found)


def states(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            key: stored.state
            for key in ("a", "b", "c", "d", "e", "f", "g", "h")
            if (stored := poster_repo.get(conn, key)) is not None
        }


def test_scheme_less_urls_get_https_and_schemes_are_kept() -> None:
    assert absolute_url("walter-r2.trakt.tv/images/movies/1/posters/x.webp") == (
        "https://walter-r2.trakt.tv/images/movies/1/posters/x.webp"
    )
    assert absolute_url("//media.trakt.tv/x.webp") == "https://media.trakt.tv/x.webp"
    assert absolute_url("http://127.0.0.1:9/x.webp") == "http://127.0.0.1:9/x.webp"
    assert absolute_url("javascript:alert(1)") is None
    assert absolute_url("file:///etc/passwd") is None
    # both shapes of Trakt's images object; no poster → None
    assert poster_url({"poster": ["a.test/p.webp"], "fanart": []}) == "https://a.test/p.webp"
    assert poster_url({"poster": {"full": "a.test/f.jpg", "medium": "a.test/m.jpg"}}) == (
        "https://a.test/m.jpg"
    )
    assert poster_url({"poster": []}, None) is None
    movie = {"type": "movie", "movie": {"title": "The Matrix", "year": 1999,
                                        "ids": {"trakt": 481, "imdb": "tt0133093"}}}  # fmt: skip
    assert poster_keys(movie) == ["movie:trakt:481", "movie:imdb:tt0133093"]
    episode = {"type": "episode", "show": {"title": "Breaking Bad", "ids": {"trakt": 1388,
                                                                         "tvdb": 81189}},
               "episode": {"season": 1, "number": 2, "ids": {"trakt": 73482}}}  # fmt: skip
    assert poster_keys(episode) == ["episode:trakt:73482", "show:trakt:1388", "show:tvdb:81189"]
    del episode["episode"]["ids"]  # known by show + number only: found through the show's key
    assert poster_keys(episode) == ["show:trakt:1388", "show:tvdb:81189"]
    assert show_key_of("show:tvdb:81189:s1e2") == "show:tvdb:81189"
    assert show_key_of("episode:trakt:73482") is None


async def test_downloads_once_refuses_bad_answers_and_retries(
    images: tuple[FakeTrakt, str], engine: Engine, tmp_path: Path
) -> None:
    fake, base = images
    good = f"{base}/images/movies/481.webp"
    fake.image_answers["/images/movies/big.webp"] = ("image/webp", b"RIFF" + b"\0" * MAX_BYTES)
    fake.image_answers["/images/movies/html.webp"] = ("text/html", b"<html>blocked</html>")
    fake.image_answers["/images/movies/liar.webp"] = ("image/webp", b"<script>x</script>")
    fake.image_answers["/images/movies/svg.webp"] = ("image/svg+xml", b"<svg/>")
    assert (
        record(
            engine,
            {
                "a": good,
                "b": good,  # the same poster under another key: one download
                "c": f"{base}/images/movies/big.webp",
                "d": f"{base}/images/movies/html.webp",
                "e": f"{base}/images/movies/liar.webp",
                "f": f"{base}/images/movies/svg.webp",
                "g": f"{base}/images/movies/404404.webp",
                "h": None,
            },
        )
        == 7
    )
    service = PosterService(engine, tmp_path / "data", lambda: None)
    await service.start()
    await service.run_once()
    assert states(engine) == {
        "a": "ok", "b": "ok", "c": "failed", "d": "failed", "e": "failed", "f": "failed",
        "g": "missing", "h": "missing",
    }  # fmt: skip
    assert fake.image_downloads["/images/movies/481.webp"] == 1
    files = list(service.directory.iterdir())
    assert [f.suffix for f in files] == [".webp"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(service.directory.stat().st_mode) == 0o700
    # a later run and the same URL recorded again download nothing
    assert record(engine, {"a": good, "b": good}) == 0
    await service.run_once()
    assert fake.image_downloads["/images/movies/481.webp"] == 1

    # a 503 is tried again later (not at once), then counts towards the bounded tries
    fake.fail_next(1, 503, method="GET", path="/images/shows/1388.webp")
    record(engine, {"show": f"{base}/images/shows/1388.webp"})
    await service.run_once()
    with engine.connect() as conn:
        assert poster_repo.get(conn, "show") == poster_repo.Stored("pending", None)
        assert poster_repo.due_urls(conn, limit=5) == []  # not due yet
    await service.stop()


async def test_downloads_go_through_the_proxy(
    images: tuple[FakeTrakt, str], engine: Engine, tmp_path: Path
) -> None:
    _fake, base = images
    port = base.rsplit(":", 1)[1]
    # only the proxy knows this name: a download that arrives proves it went through it
    async with RecordingSocks5({"images.trakt.test": "127.0.0.1"}) as proxy:
        record(engine, {"a": f"http://images.trakt.test:{port}/images/movies/481.webp"})
        service = PosterService(engine, tmp_path / "data", lambda: proxy.url)
        await service.start()
        await service.run_once()
        await service.stop()
    assert states(engine) == {"a": "ok"}
    assert [(c.host, c.port) for c in proxy.connects] == [("images.trakt.test", int(port))]


class RunGate:
    """What the sync service's ``running`` would say."""

    running = True


@pytest.fixture
async def gated(engine: Engine, tmp_path: Path) -> AsyncIterator[tuple[PosterService, RunGate]]:
    """A downloader behind a sync run still executing."""
    gate = RunGate()
    service = PosterService(engine, tmp_path / "data", lambda: None, busy=lambda: gate.running)
    await service.start()
    yield service, gate
    await service.stop()


async def test_waits_while_a_sync_run_executes(
    images: tuple[FakeTrakt, str], engine: Engine, gated: tuple[PosterService, RunGate]
) -> None:
    fake, base = images
    service, gate = gated
    record(engine, {"a": f"{base}/images/movies/481.webp"})
    await service.run_once()
    assert states(engine) == {"a": "pending"}  # the run goes first
    assert fake.image_downloads["/images/movies/481.webp"] == 0
    gate.running = False
    await service.run_once()  # what the run's end nudges
    assert states(engine) == {"a": "ok"}
    assert fake.image_downloads["/images/movies/481.webp"] == 1


async def test_staged_pages_become_posters_after_the_run(
    images: tuple[FakeTrakt, str], engine: Engine, gated: tuple[PosterService, RunGate]
) -> None:
    fake, base = images
    service, gate = gated
    with engine.begin() as conn:  # two history pages' finds, the second reviving "h"
        poster_repo.stage(conn, {"a": f"{base}/images/movies/481.webp", "h": None})
        poster_repo.stage(
            conn, {"b": f"{base}/images/movies/481.webp", "h": f"{base}/images/shows/1388.webp"}
        )
    await service.run_once()
    assert states(engine) == {}  # staged only while the run goes on
    gate.running = False
    await service.run_once()
    assert states(engine) == {"a": "ok", "b": "ok", "h": "ok"}
    assert fake.image_downloads["/images/movies/481.webp"] == 1
    assert fake.image_downloads["/images/shows/1388.webp"] == 1
    with engine.connect() as conn:
        assert poster_repo.unstage(conn, limit=10) == 0  # nothing left staged
