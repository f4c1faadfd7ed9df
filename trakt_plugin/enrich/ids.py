"""Which ids may look up which kind of item, and checking one lookup (SPEC §8).

Every id ends up as a segment of a Trakt request path (``/movies/{slug}``, ``/search/imdb/{id}``),
so a value that could change that path is refused here, before anything is sent (SPEC §11):
``.`` and ``..``, and any id holding ``/ \\ ? # %``, whitespace or control characters. Ids are
taken as given: surrounding spaces are not trimmed away but refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

Kind: TypeAlias = Literal["movie", "show", "episode"]
IdType: TypeAlias = Literal["trakt", "slug", "imdb", "tmdb", "tvdb"]

KINDS: tuple[Kind, ...] = ("movie", "show", "episode")
ID_TYPES: tuple[IdType, ...] = ("trakt", "slug", "imdb", "tmdb", "tvdb")
# Trakt's id objects (docs §6.4): movies have no tvdb id, episodes no slug.
VALID_ID_TYPES: dict[str, tuple[IdType, ...]] = {
    "movie": ("trakt", "slug", "imdb", "tmdb"),
    "show": ("trakt", "slug", "imdb", "tmdb", "tvdb"),
    "episode": ("trakt", "imdb", "tmdb", "tvdb"),
}
ARTICLE = {"movie": "a", "show": "a", "episode": "an"}
NUMERIC_ID_TYPES = frozenset({"trakt", "tmdb", "tvdb"})
IMDB_ID = re.compile(r"tt[0-9]{1,12}")  # used with fullmatch: "$" lets "\n" through
# ASCII digits only (str.isdigit() also takes "²" and other scripts' digits).
NUMERIC_ID = re.compile(r"[0-9]{1,19}")
# Trakt's ids are SQLite/Postgres BIGINTs.
MAX_NUMERIC_ID = 2**63 - 1
SLUG_MAX_CHARS = 200
# Characters that would end, escape or re-route a path segment: refused in any id.
PATH_CHARACTERS = frozenset("/\\?#%")
DOT_SEGMENTS = frozenset({".", ".."})
SLUG_RULE = (
    "slug must be 1-200 characters without spaces, control characters or / \\ ? # %, "
    "and not . or .."
)


class InvalidLookup(ValueError):
    """A lookup that cannot be asked; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Lookup:
    """One checked lookup: a kind and one id."""

    kind: Kind
    id_type: IdType
    value: str | int

    @property
    def alias(self) -> tuple[str, str, str]:
        """The cache key: ``(kind, id_type, value as text)``."""
        return (self.kind, self.id_type, str(self.value))


def _kind(kind: object) -> Kind:
    for known in KINDS:
        if kind == known:
            return known
    raise InvalidLookup("type", "type must be movie, show or episode")


def _changes_the_path(text: str) -> bool:
    """True when ``text`` is no plain path segment: a dot segment, a path character, a space
    (of any script) or a control, format, surrogate or unassigned character."""
    return text in DOT_SEGMENTS or any(
        char in PATH_CHARACTERS or char.isspace() or unicodedata.category(char)[0] in "CZ"
        for char in text
    )


def _value(id_type: IdType, raw: object) -> str | int:
    if id_type in NUMERIC_ID_TYPES:
        text = str(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        if not NUMERIC_ID.fullmatch(text) or not 0 < int(text) <= MAX_NUMERIC_ID:
            raise InvalidLookup(id_type, f"{id_type} must be a positive whole number")
        return int(text)
    if id_type == "imdb":
        text = raw.lower() if isinstance(raw, str) else ""
        if not IMDB_ID.fullmatch(text):
            raise InvalidLookup("imdb", "imdb must look like tt0133093")
        return text
    if not isinstance(raw, str) or not 0 < len(raw) <= SLUG_MAX_CHARS or _changes_the_path(raw):
        raise InvalidLookup("slug", SLUG_RULE)
    return raw.lower()  # Trakt's slugs are lower case


def make_lookup(kind: object, given: Mapping[str, object]) -> Lookup:
    """Check ``kind`` and the ids given (None values count as absent) → a Lookup."""
    checked_kind = _kind(kind)
    present = [t for t in ID_TYPES if given.get(t) not in (None, "")]
    allowed = VALID_ID_TYPES[checked_kind]
    if not present:
        raise InvalidLookup("id", f"give one {checked_kind} id: {', '.join(allowed)}")
    if len(present) > 1:
        raise InvalidLookup(present[1], f"give exactly one id; got {' and '.join(present)}")
    id_type = present[0]
    if id_type not in allowed:
        raise InvalidLookup(
            id_type,
            f"{ARTICLE[checked_kind]} {checked_kind} cannot be looked up by {id_type}; "
            f"use {', '.join(allowed)}",
        )
    return Lookup(checked_kind, id_type, _value(id_type, given[id_type]))
