"""A run's page walk with read-ahead (``RunState.pages(..., read_ahead=True)``): the next page
is asked for while the current one is handled, each page once, none past a stop beyond the
one already asked, and a 429 on a page asked ahead resumes at that page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from trakt_plugin.sync.run import RunState
from trakt_plugin.trakt.client import Page
from trakt_plugin.trakt.errors import RateLimited

PAGES = 4


class Pages:
    """A paginated endpoint: records each page asked for; ``limited`` answers 429 once."""

    def __init__(self, limited: int | None = None) -> None:
        self.asked: list[int] = []
        self.closed = 0
        self._limited = limited

    async def walk(self, start: int) -> AsyncIterator[Page[int]]:
        try:
            for number in range(start, PAGES + 1):
                self.asked.append(number)
                await asyncio.sleep(0)  # the answer is a moment away
                if number == self._limited:
                    self._limited = None
                    raise RateLimited("429", status=429, retry_after=0)
                yield Page(number, PAGES, 10, PAGES * 10, [number])
        finally:
            self.closed += 1


def _state() -> RunState:
    return RunState(
        engine=None, client=None, source=None, run_id="r", user_id="u", dry_run=False,
        checkpoint={},
    )  # type: ignore[arg-type]  # fmt: skip


async def _walk(endpoint: Pages, stop_at: int | None = None) -> list[int]:
    handled: list[int] = []
    overlapped: list[bool] = []

    async def on_page(page: Page[int]) -> bool:
        await asyncio.sleep(0)  # the store's commit: the next page is under way meanwhile
        overlapped.append(page.number + 1 in endpoint.asked or page.number == PAGES)
        handled.append(page.number)
        return page.number == stop_at

    await _state().pages(endpoint.walk, 1, on_page, read_ahead=True)
    assert all(overlapped), overlapped
    return handled


async def test_every_page_once_in_order_the_next_one_asked_meanwhile() -> None:
    endpoint = Pages()
    assert await _walk(endpoint) == [1, 2, 3, 4]
    assert endpoint.asked == [1, 2, 3, 4]
    assert endpoint.closed == 1


async def test_a_stop_leaves_only_the_page_asked_ahead() -> None:
    endpoint = Pages()
    assert await _walk(endpoint, stop_at=2) == [1, 2]
    assert endpoint.asked == [1, 2, 3]
    assert endpoint.closed == 1


async def test_a_429_on_a_page_asked_ahead_resumes_at_that_page() -> None:
    endpoint = Pages(limited=3)
    assert await _walk(endpoint) == [1, 2, 3, 4]
    assert endpoint.asked == [1, 2, 3, 3, 4]


def test_without_read_ahead_a_stop_asks_nothing_more() -> None:
    endpoint = Pages()
    handled: list[int] = []

    async def on_page(page: Page[int]) -> bool:
        handled.append(page.number)
        return page.number == 2

    asyncio.run(_state().pages(endpoint.walk, 1, on_page))
    assert handled == [1, 2] and endpoint.asked == [1, 2]
