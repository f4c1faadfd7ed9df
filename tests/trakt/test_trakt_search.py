"""Text search (GET /search/:types?query=): titles, years, escaping, no user needed."""

from __future__ import annotations

import pytest

from tests.fake_trakt import FakeTrakt
from trakt_plugin.trakt import TraktClient
from trakt_plugin.trakt.client import escape_search


@pytest.mark.asyncio
async def test_search_by_title_type_and_year(fake: FakeTrakt, client: TraktClient) -> None:
    fake.add_movie("The Matrix Reloaded", 2003, {"trakt": 482, "slug": "the-matrix-reloaded"})
    found = await client.search_text("matrix")
    assert [(r.type, r.movie.title if r.movie else None) for r in found] == [
        ("movie", "The Matrix"),
        ("movie", "The Matrix Reloaded"),
    ]
    assert found[0].movie is not None and found[0].movie.runtime == 136  # extended=full
    only_2003 = await client.search_text("matrix", year=2003)
    assert [r.movie.ids.trakt for r in only_2003 if r.movie] == [482]
    shows = await client.search_text("breaking", ["show"])
    assert [(r.type, r.show.ids.trakt if r.show else None) for r in shows] == [("show", 1388)]
    request = fake.requests[-1]
    assert request.path == "/search/show"
    assert request.query["fields"] == "title" and request.query["limit"] == "10"
    assert "authorization" not in request.headers
    assert await client.search_text("nothing like this") == []


@pytest.mark.asyncio
async def test_operators_are_searched_as_written(fake: FakeTrakt, client: TraktClient) -> None:
    fake.add_movie("Mission: Impossible", 1996, {"trakt": 954})
    assert escape_search(' Mission: Impossible (1996) "x" ') == (
        'Mission\\: Impossible \\(1996\\) \\"x\\"'
    )
    found = await client.search_text("Mission: Impossible")
    assert fake.requests[-1].query["query"] == "Mission\\: Impossible"
    assert [r.movie.ids.trakt for r in found if r.movie] == [954]
