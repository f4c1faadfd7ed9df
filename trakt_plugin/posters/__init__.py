"""Posters (SPEC §10): Trakt's image of each item, downloaded once into the data directory and
served by the service at :func:`poster_src` (a neutral placeholder until then, or when Trakt has
none). Pages never hotlink Trakt and never wait for a download."""

from __future__ import annotations

from urllib.parse import quote

POSTER_ROUTE = "/posters"


def poster_src(item_key: str) -> str:
    """The address a page puts in ``<img src>`` for the item with the ledger's ``item_key``."""
    return f"{POSTER_ROUTE}/{quote(item_key, safe='')}"
