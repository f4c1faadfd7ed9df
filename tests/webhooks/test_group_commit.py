"""Concurrent deliveries share one write transaction (group commit): each still gets its own
answer, a bad body does not spoil the others, and a duplicate inside one batch is caught."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import WEBHOOK_TOKEN

from .harness import Rig
from .payloads import Body, Media, revenge

MOVIES = [Media("movie", f"Movie {n}", 2000 + n, imdb=f"tt{9000000 + n}") for n in range(24)]


def _post(rig: Rig, body: Body) -> httpx.Response:
    return httpx.post(
        f"{rig.service.url}/webhooks/revenge",
        params={"token": WEBHOOK_TOKEN},
        headers={"Content-Type": body.content_type},
        content=body.content,
        timeout=20,
    )


def test_concurrent_deliveries_with_a_bad_one_and_duplicates(rig: Rig) -> None:
    rig.user("Mia", {"revenge": "mia-r"})
    bodies = [
        revenge("stop", "mia-r", movie, 95, session_id=f"s{n}") for n, movie in enumerate(MOVIES)
    ]
    bad = Body("application/json", b'{"event": "stop", "user_id": ')
    # Every body twice (the second is a repeated delivery) and a malformed one in the middle.
    deliveries = [*bodies, bad, *bodies]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda b: _post(rig, b), deliveries))

    assert answers[len(bodies)].status_code == 400
    firsts, repeats = answers[: len(bodies)], answers[len(bodies) + 1 :]
    assert all(a.status_code == 202 for a in firsts + repeats)
    for first, repeat in zip(firsts, repeats, strict=True):
        assert first.json()["event_id"] == repeat.json()["event_id"]
    assert len({a.json()["event_id"] for a in firsts}) == len(bodies)
    assert sum(bool(a.json().get("duplicate")) for a in firsts + repeats) == len(bodies)
    # One ledger play per movie, none twice.
    ledger = rig.ledger()
    assert sorted(row["item_key"] for row in ledger) == sorted({row["item_key"] for row in ledger})
    assert len(ledger) == len(bodies)
