"""Lookup ids that would change the Trakt request path answer 422 naming the field, and nothing
is asked of Trakt (SPEC §11) — through the running service, against the fake Trakt."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import FakeTraktServer, Service

# (kind, id type, value): every one would re-route or end the path if it were sent as it is.
REFUSED = [
    ("movie", "slug", ".."),
    ("movie", "slug", "."),
    ("show", "slug", ".."),
    ("movie", "slug", "../shows/breaking-bad"),
    ("movie", "slug", "a/b"),
    ("movie", "slug", "a\\b"),
    ("movie", "slug", "the-matrix-1999?extended=none"),
    ("movie", "slug", "the-matrix-1999#x"),
    ("movie", "slug", "%2e%2e"),
    ("movie", "slug", "the matrix"),
    ("movie", "slug", " the-matrix-1999"),
    ("movie", "slug", "the-matrix-1999\n"),
    ("movie", "slug", "a\tb"),
    ("movie", "slug", "a\x00b"),
    ("movie", "slug", "a\x7fb"),
    ("movie", "slug", "a\u200bb"),
    ("movie", "imdb", "tt0133093\n"),
    ("movie", "imdb", "tt0133093/ratings"),
    ("movie", "tmdb", "603/.."),
    ("movie", "tmdb", "\u00b2"),
    ("show", "tvdb", "81189 "),
]


def _lookups_sent(fake_trakt: FakeTraktServer, since: int) -> list[str]:
    """Paths of lookups (summary, ratings, search) the fake received after ``since``."""
    return [
        r.path
        for r in fake_trakt.state.requests[since:]
        if r.path.startswith(("/movies", "/shows", "/search"))
    ]


def test_path_changing_ids_answer_422_and_reach_no_trakt(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    service = service_factory(fake_trakt.service_env())
    with service.api() as api:
        # The control: a plain slug is looked up at Trakt, so "no request" below means refused.
        since = len(fake_trakt.state.requests)
        plain = api.get("/api/v1/metadata/movie", params={"slug": "the-matrix-1999"})
        assert plain.status_code == 200, plain.text
        assert "/movies/the-matrix-1999" in _lookups_sent(fake_trakt, since)

        for kind, id_type, value in REFUSED:
            since = len(fake_trakt.state.requests)
            answer = api.get(f"/api/v1/metadata/{kind}", params={id_type: value})
            if "\x00" in value:  # refused before any route: no URL may hold a NUL
                assert answer.status_code == 400, (value, answer.text)
                assert "NUL" in answer.json()["error"], value
            else:
                assert answer.status_code == 422, (value, answer.text)
                assert answer.json()["field"] == id_type, value
                assert answer.json()["error"].startswith(f"{id_type}: "), value
            assert _lookups_sent(fake_trakt, since) == [], value
    assert "Traceback" not in service.log()


def test_path_changing_ids_in_a_batch_are_errors_in_place(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> None:
    service = service_factory(fake_trakt.service_env())
    refused = [{"type": kind, id_type: value} for kind, id_type, value in REFUSED]
    body = {"items": [*refused, {"type": "movie", "imdb": "tt0133093"}]}
    with service.api() as api:
        since = len(fake_trakt.state.requests)
        answer = api.post("/api/v1/metadata/batch", json=body)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert len(items) == len(REFUSED) + 1
    for (_kind, id_type, value), item in zip(REFUSED, items, strict=False):
        assert set(item) == {"error", "field"}, (value, item)
        assert item["field"] == id_type, value
    assert items[-1]["title"] == "The Matrix"
    # Only the valid entry was asked of Trakt.
    sent = _lookups_sent(fake_trakt, since)
    assert sent, "the valid entry reached the fake"
    assert all("0133093" in path or path.startswith("/movies/481") for path in sent), sent
