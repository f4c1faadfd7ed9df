"""No id can change which Trakt endpoint is asked (SPEC §11): the client percent-encodes every
caller-given path segment, refuses `.`, `..` and empty ones, and its funnel refuses any path
that was not built that way — an `errors.InvalidRequest`, with nothing sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fake_trakt import FakeClock, FakeTrakt, create_app
from tests.fake_trakt.testing import connect, make_client
from trakt_plugin.trakt import TraktClient, errors

REFUSED = [".", "..", ""]
# Values that would end or re-route the path if sent as they are.
ENCODED = ["a/b", "../users/settings", "a?extended=none", "a#b", "a%2e%2e", "a b", "a\\b", "ü"]


@pytest.mark.parametrize("value", REFUSED)
async def test_dot_and_empty_segments_are_refused_before_sending(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock, value: str
) -> None:
    user = connect(fake, client, clock)
    fake.clear_log()
    calls = [
        lambda: client.summary("movie", value),
        lambda: client.ratings("show", value),
        lambda: client.search_id("imdb", value, "movie"),
        lambda: client.user_stats(user, value),
        lambda: client.user_lists(user, value),
        lambda: client.list_items(user, value),
        lambda: client.list_items(user, 1, slug=value),
        lambda: client.episode_ratings(value, 1, 1),
    ]
    for call in calls:
        with pytest.raises(errors.InvalidRequest, match="path segment"):
            await call()
    assert fake.requests == []


class RawPaths:
    """In front of the fake: the paths as they arrived, percent-encoding kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(bytes(scope.get("raw_path") or b"").split(b"?")[0].decode("ascii"))
        await self.app(scope, receive, send)


@pytest_asyncio.fixture
async def recorded(fake: FakeTrakt) -> AsyncIterator[tuple[TraktClient, RawPaths]]:
    raw = RawPaths(create_app(fake))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=raw)) as http:
        yield make_client(fake, http), raw


@pytest.mark.parametrize("value", ENCODED)
async def test_other_values_stay_one_encoded_segment(
    fake: FakeTrakt, recorded: tuple[TraktClient, RawPaths], value: str
) -> None:
    client, raw = recorded
    with pytest.raises(errors.NotFound):
        await client.summary("movie", value)
    assert raw.seen == ["/movies/" + quote(value, safe="")]  # one segment, whatever it holds
    (sent,) = fake.requests
    assert sent.query == {"extended": "full"}


@pytest.mark.parametrize(
    "path", ["/sync/../users/settings", "/movies/.", "/movies//x", "/movies/a?b", "/movies/a b"]
)
async def test_the_funnel_refuses_a_path_not_built_from_segments(
    fake: FakeTrakt, client: TraktClient, clock: FakeClock, path: str
) -> None:
    user = connect(fake, client, clock)
    fake.clear_log()
    with pytest.raises(errors.InvalidRequest, match="path"):
        await anext(client.pages(path, user=user))
    assert fake.requests == []


def test_invalid_request_is_part_of_the_tree_and_not_retryable() -> None:
    exc = errors.InvalidRequest("refused")
    assert isinstance(exc, errors.TraktError)
    assert not errors.is_retryable(exc)
    assert not errors.is_ambiguous(exc)
