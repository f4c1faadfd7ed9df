"""Expiries through the running service: the 10-minute redirect ``state`` and the metadata
cache TTLs, with the clock moved instead of waited."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.clock.conftest import ClockWorld

REDIRECT = "http://127.0.0.1:9/oauth/trakt/callback"
MINUTE = 60
DAY = 86400
IDS_TTL = 30 * DAY  # metadata.ids_ttl default
RATINGS_TTL = DAY  # metadata.ratings_ttl default
MATRIX_PATHS = ("/movies/tt0133093", "/movies/481/ratings")


def _link(world: ClockWorld, user_id: str) -> str:
    """The ``state`` of a fresh redirect-flow link of the user."""
    with world.api() as api:
        answer = api.get(f"/api/v1/users/{user_id}/trakt/authorize")
    assert answer.status_code == 200, answer.text
    return parse_qs(urlsplit(answer.json()["url"]).query)["state"][0]


def _callback(world: ClockWorld, username: str, state: str, html: bool = False) -> httpx.Response:
    """Trakt sends the browser back with a code it just issued (valid for the fake's 600 s)."""
    code = world.fake.state.mint_auth_code(username, REDIRECT)
    headers = {"Accept": "text/html"} if html else {}
    return httpx.get(
        f"{world.service.url}/oauth/trakt/callback",
        params={"code": code, "state": state},
        headers=headers,
        timeout=30,
    )


def test_a_redirect_state_is_refused_after_ten_minutes(clock_world_factory: Any) -> None:
    world: ClockWorld = clock_world_factory(TRAKT_REDIRECT_URI=REDIRECT)
    people = {}
    with world.api() as api:
        for name in ("Dana", "Eve"):
            world.fake.state.add_user(f"{name.lower()}_t")
            people[name] = api.post("/api/v1/users", json={"display_name": name}).json()["id"]
    dana = _link(world, people["Dana"])
    eve, eve_again = _link(world, people["Eve"]), _link(world, people["Eve"])

    world.advance(9 * MINUTE)
    answer = _callback(world, "dana_t", dana)
    assert answer.status_code == 200, answer.text
    assert world.get(f"/users/{people['Dana']}")["trakt"]["state"] == "connected"

    world.advance(2 * MINUTE)  # 11 minutes after the links were made
    refused = _callback(world, "eve_t", eve)
    assert refused.status_code == 400, refused.text
    assert refused.json() == {"error": "the sign-in link expired: start the connection again"}
    page = _callback(world, "eve_t", eve_again, html=True)
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert "the sign-in link expired" in page.text
    trakt = world.get(f"/users/{people['Eve']}")["trakt"]
    assert trakt["state"] != "connected"
    assert "expired" in trakt["last_error"]
    # Trakt was never asked to exchange the refused codes: only Dana's was.
    assert len(world.requests("/oauth/token")) == 1


def _lookup(world: ClockWorld) -> tuple[dict[str, Any], list[str]]:
    """The Matrix by IMDb id, and the Trakt requests that answer cost."""
    before = len(world.fake.state.requests)
    answer = world.get("/metadata/movie", imdb="tt0133093")
    paths = [r.path for r in list(world.fake.state.requests)[before:]]
    return answer, [p for p in paths if p in MATRIX_PATHS]


def test_metadata_is_fetched_again_only_after_its_ttl(clock_world: ClockWorld) -> None:
    world = clock_world
    first, paths = _lookup(world)
    assert paths == list(MATRIX_PATHS)
    assert first["ids"]["imdb"] == "tt0133093" and first["ratings"]

    assert _lookup(world)[1] == []  # cached
    world.advance(RATINGS_TTL - MINUTE)
    assert _lookup(world)[1] == []  # still within both TTLs
    world.advance(2 * MINUTE)
    answer, paths = _lookup(world)
    assert paths == ["/movies/481/ratings"]  # ratings stale, ids still fresh
    assert answer["ratings"] == first["ratings"]

    world.advance(IDS_TTL - RATINGS_TTL)  # past ids_ttl since the first lookup
    assert _lookup(world)[1] == list(MATRIX_PATHS)
    assert _lookup(world)[1] == []


def test_trakt_user_stats_are_fetched_again_only_after_an_hour(clock_world: ClockWorld) -> None:
    world = clock_world
    user_id = world.connect("Gil", "gil")

    def stats_requests() -> int:
        return len(world.requests("/users/me/stats", "gil"))

    first = world.get(f"/users/{user_id}/stats")
    assert stats_requests() == 1 and first["trakt"]
    world.advance(59 * MINUTE)
    assert world.get(f"/users/{user_id}/stats")["trakt_cached_at"] == first["trakt_cached_at"]
    assert stats_requests() == 1
    world.advance(2 * MINUTE)
    again = world.get(f"/users/{user_id}/stats")
    assert stats_requests() == 2
    assert again["trakt_cached_at"] > first["trakt_cached_at"]
