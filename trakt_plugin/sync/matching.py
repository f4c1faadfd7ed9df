"""Pairing plays that are the same play (SPEC §7): a shared item id and at most 2 minutes apart."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from .items import MATCH_WINDOW_MINUTES


class Matcher:
    """An index of plays by match key; each indexed play pairs with at most one other play."""

    def __init__(self, window: int = MATCH_WINDOW_MINUTES) -> None:
        self.window = window
        self._by_key: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._taken: set[int] = set()
        self.size = 0

    def add(self, ref: int, keys: Iterable[str], minute: int) -> None:
        """Index a play under each of its keys (``ref`` is the caller's id for it)."""
        for key in keys:
            self._by_key[key].append((minute, ref))
        self.size += 1

    def take(self, keys: Iterable[str], minute: int) -> int | None:
        """The closest free indexed play within the window sharing a key; it is used up."""
        best: tuple[int, int] | None = None
        for key in keys:
            for other_minute, ref in self._by_key.get(key, ()):
                distance = abs(other_minute - minute)
                closer = best is None or distance < best[0]
                if distance <= self.window and ref not in self._taken and closer:
                    best = (distance, ref)
        if best is None:
            return None
        self._taken.add(best[1])
        return best[1]

    def peek(self, keys: Iterable[str], minute: int) -> bool:
        """Whether :meth:`take` would find a play (without using it up)."""
        return any(
            abs(other - minute) <= self.window and ref not in self._taken
            for key in keys
            for other, ref in self._by_key.get(key, ())
        )
