"""Posters (SPEC §10): Trakt's image of each item, downloaded once into the data directory and
served by the service at :func:`poster_src` (a neutral placeholder until then, or when Trakt has
none). Pages never hotlink Trakt and never wait for a download.

The pieces:

* the Trakt reads that already happen ask for ``extended=…,images``; :func:`poster_url` takes the
  poster out of an item's ``images`` object and :func:`poster_keys` names every key the ledger may
  know the item by; the import stages them with each page (``repo.stage``), and the downloader
  stores them after the run (``repo.record``: ``pending``, or ``missing`` when Trakt has none);
* :class:`~trakt_plugin.posters.service.PosterService` downloads pending posters in the
  background, once per URL, through the Trakt proxy setting;
* :mod:`~trakt_plugin.posters.route` serves ``GET /posters/{item_key}`` to signed-in browsers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

POSTER_ROUTE = "/posters"
# Longest URL kept (the column's size); Trakt's are ~100 characters.
MAX_URL_LENGTH = 2000
# An episode's key by its show + season/number (events.model.make_item_key).
_SHOW_EPISODE_KEY = re.compile(r"(show:[^:]+:.+):s\d+e\d+")


def poster_src(item_key: str) -> str:
    """The address a page puts in ``<img src>`` for the item with the ledger's ``item_key``."""
    return f"{POSTER_ROUTE}/{quote(item_key, safe='')}"


def absolute_url(raw: str) -> str | None:
    """Trakt's image URLs come without a scheme (docs §6.2): ``https://`` is prepended; a URL
    that has one (test doubles serve plain ``http://``) is used as it is. Anything but http(s)
    is refused (None)."""
    text = raw.strip()
    if not text or len(text) > MAX_URL_LENGTH or any(c.isspace() for c in text):
        return None
    if text.startswith("//"):
        text = "https:" + text
    elif "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises on a port that is no number ("javascript:alert(1)")
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return text


def _first(value: Any) -> str | None:
    """The first URL of an image entry: a list of URLs (Trakt since 2024) or the older
    ``{"full", "medium", "thumb"}`` object (the medium size preferred for thumbnails)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return next((v for v in value if isinstance(v, str) and v.strip()), None)
    if isinstance(value, Mapping):
        for size in ("medium", "thumb", "full"):
            if isinstance(value.get(size), str) and value[size].strip():
                return str(value[size])
    return None


def poster_url(*images: Mapping[str, Any] | None) -> str | None:
    """The poster of the first ``images`` object that has one, as an absolute URL (None: the
    objects have no poster; whether any was given at all is the caller's question, see
    :func:`images_given`)."""
    for block in images:
        raw = _first(block.get("poster")) if block is not None else None
        url = absolute_url(raw) if raw else None
        if url is not None:
            return url
    return None


def images_given(*images: Mapping[str, Any] | None) -> bool:
    """Did Trakt answer with an ``images`` object (the read asked for them)? Without one
    nothing is known about the poster; with one but no poster in it, Trakt has none."""
    return any(block is not None for block in images)


def poster_keys(item: Mapping[str, Any]) -> list[str]:
    """Every ledger key the §9.1 ``item`` may have: the canonical one first, then the key each
    of its other ids would give (a webhook play knows a movie by its IMDb id, an import by its
    Trakt id), so a page finds the poster whichever way the play came in.

    An episode shows its show's poster: it is kept under the episode's own ids and under the
    show's (``show:<kind>:<id>``). An episode known only by show + season/number
    (``show:<kind>:<id>:s1e2``) finds it through :func:`show_key_of`, so those keys, one per
    show id and episode, are not stored: a large import recorded hundreds of thousands."""
    from ..sync.items import item_key  # the ledger's own rule (late: sync imports this module)

    canonical = item_key(dict(item))
    keys = [] if show_key_of(canonical) else [canonical]
    kind = item.get("type")
    if kind == "movie":
        ids = (item.get("movie") or {}).get("ids") or {}
        keys += [f"movie:{k}:{str(v).lower()}" for k, v in ids.items() if v not in (None, "")]
    elif kind == "episode":
        ids = (item.get("episode") or {}).get("ids") or {}
        keys += [f"episode:{k}:{str(v).lower()}" for k, v in ids.items() if v not in (None, "")]
        show_ids = (item.get("show") or {}).get("ids") or {}
        keys += [f"show:{k}:{str(v).lower()}" for k, v in show_ids.items() if v not in (None, "")]
    return list(dict.fromkeys(k for k in keys if len(k) <= 400))


def show_key_of(key: str) -> str | None:
    """``show:tvdb:81189`` for the episode key ``show:tvdb:81189:s1e2`` (None for others)."""
    match = _SHOW_EPISODE_KEY.fullmatch(key)
    return match.group(1) if match else None
