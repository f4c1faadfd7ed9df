"""Ids of library items are read exactly as the webhooks read them (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from trakt_plugin.events.model import ShowInfo
from trakt_plugin.events.parsers import plex as plex_webhook
from trakt_plugin.servers.base import LibraryItem, redact
from trakt_plugin.servers.ids import plex_ids, plex_show_ids, provider_ids
from trakt_plugin.servers.jellyfin import emby_base, format_date_played


def test_new_agent_movie_ids_come_from_guid_children() -> None:
    ids = plex_ids("movie", ["imdb://tt0133093", "tmdb://603", "tvdb://1"], "plex://movie/5d77")
    assert ids.own == {"imdb": "tt0133093", "tmdb": 603}  # tvdb is no movie id on Trakt
    assert ids.show == {}


def test_guid_children_win_over_the_legacy_guid() -> None:
    ids = plex_ids("movie", ["tmdb://603"], "com.plexapp.agents.imdb://tt0000001?lang=en")
    assert ids.own == {"tmdb": 603}


def test_legacy_movie_agents() -> None:
    assert plex_ids("movie", [], "com.plexapp.agents.imdb://tt0133093?lang=en").own == {
        "imdb": "tt0133093"
    }
    assert plex_ids("movie", [], "com.plexapp.agents.themoviedb://603?lang=en").own == {"tmdb": 603}
    assert plex_ids("movie", [], "tt0133093").own == {"imdb": "tt0133093"}  # very old items


def test_legacy_episode_names_its_show_and_place() -> None:
    ids = plex_ids(
        "episode",
        [],
        "com.plexapp.agents.thetvdb://81189/2/5?lang=en",
        ("com.plexapp.agents.thetvdb://81189?lang=en", "com.plexapp.agents.thetvdb://81189/2"),
    )
    assert ids.own == {}
    assert ids.show == {"tvdb": 81189}
    assert (ids.season, ids.number) == (2, 5)


def test_new_agent_episode_has_its_own_ids_and_no_show_ids() -> None:
    ids = plex_ids(
        "episode",
        ["imdb://tt0959621", "tvdb://349232", "tmdb://62085"],
        "plex://episode/5d9c",
        ("plex://show/5d9c08", "plex://season/602e"),
    )
    assert ids.own == {"imdb": "tt0959621", "tvdb": 349232, "tmdb": 62085}
    assert ids.show == {}


def test_items_without_ids() -> None:
    for guid in ("local://42", "com.plexapp.agents.none://abc?lang=xn", "plex://movie/5d"):
        assert plex_ids("movie", [], guid).own == {}
    assert plex_ids("movie", ["imdb://not-an-id", "tmdb://0"], None).own == {}


def test_the_same_rules_as_the_plex_webhook_parser() -> None:
    """A webhook and a library read of one item agree on its ids."""
    meta = {
        "type": "episode",
        "title": "Pilot",
        "ratingKey": "150",
        "guid": "com.plexapp.agents.thetvdb://81189/1/1?lang=en",
        "grandparentGuid": "com.plexapp.agents.thetvdb://81189?lang=en",
        "grandparentTitle": "Breaking Bad",
    }
    event = plex_webhook.parse(
        {"event": "media.play", "Metadata": meta, "Account": {"title": "alice"}},
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert not hasattr(event, "reason")
    ids = plex_ids("episode", [], meta["guid"], (meta["grandparentGuid"],))
    assert event.ids == ids.own  # type: ignore[union-attr]
    assert event.show is not None and event.show.ids == ids.show  # type: ignore[union-attr]


def test_show_ids() -> None:
    assert plex_show_ids(["tvdb://81189", "imdb://tt0903747"], "plex://show/5d") == {
        "tvdb": 81189,
        "imdb": "tt0903747",
    }
    assert plex_show_ids([], "com.plexapp.agents.thetvdb://81189?lang=en") == {"tvdb": 81189}
    assert plex_show_ids([], "local://9") == {}


def test_provider_ids_are_matched_case_insensitively() -> None:
    raw = {"IMDB": "tt0133093", "tmdb": "603", "Tvdb": "12", "TvRage": "x"}
    assert provider_ids(raw, "movie") == {"imdb": "tt0133093", "tmdb": 603}
    assert provider_ids(raw, "episode") == {"imdb": "tt0133093", "tmdb": 603, "tvdb": 12}
    assert provider_ids({"Tvdb": "81189"}, None) == {"tvdb": 81189}
    assert provider_ids(None, "movie") == {}
    assert provider_ids({"Imdb": ""}, "movie") == {}


def test_matched_needs_external_ids_never_a_title() -> None:
    movie = LibraryItem(key="1", type="movie", title="Heat", year=1995, ids={})
    assert not movie.matched
    episode = LibraryItem(
        key="2",
        type="episode",
        title="Pilot",
        year=None,
        ids={},
        show=ShowInfo(title="Show", ids={"tvdb": 1}),
        season=1,
        number=1,
    )
    assert episode.matched
    assert episode.trakt_item() == {
        "type": "episode",
        "show": {"title": "Show", "year": None, "ids": {"tvdb": 1}},
        "episode": {"season": 1, "number": 1, "title": "Pilot", "ids": {}},
    }


def test_dates_and_paths() -> None:
    assert format_date_played(datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)) == "20260304050607"
    assert format_date_played(datetime(2026, 3, 4, 5, 6, 7)) == "20260304050607"  # naive = UTC
    assert emby_base("http://e:8096") == "http://e:8096/emby"
    assert emby_base("http://e:8096/emby/") == "http://e:8096/emby"
    assert redact("token abc in abc", "abc") == "token **** in ****"
