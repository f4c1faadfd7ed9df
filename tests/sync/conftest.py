"""Sync fixtures: the real service against the fake Trakt, scheduled syncs off, fast POSTs."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import WEBHOOK_TOKEN, FakeTraktServer, Service, connect_user, wait_until

# The service spaces a user's POSTs this far apart; the fake enforces the same interval (429
# otherwise), so tests stay fast and still prove the spacing.
POST_INTERVAL = 0.05
FINISHED = ("succeeded", "partial", "failed")
LONG = os.environ.get("TRAKT_PLUGIN_LONG_TESTS") == "1"


def sync_env(fake: FakeTraktServer, **extra: str) -> dict[str, str]:
    """Service environment: no automatic syncs (tests ask), POST interval matching the fake."""
    env = {
        "TRAKT_PLUGIN_SYNC__AUTO_IMPORT_HISTORY": "false",
        "TRAKT_PLUGIN_SYNC__AUTO_EXPORT_PLAYS": "false",
        "TRAKT_PLUGIN_SYNC__BIDIRECTIONAL_WATCHLIST": "false",
        "TRAKT_PLUGIN_RATE__POST_INTERVAL": str(POST_INTERVAL),
    }
    return fake.service_env(**{**env, **extra})


@dataclass
class SyncWorld:
    service: Service
    fake: FakeTraktServer
    user_id: str
    username: str

    def api(self) -> httpx.Client:
        client = self.service.api()
        client.timeout = httpx.Timeout(60)
        return client

    def start(self, kind: str, direction: str, dry_run: bool = False) -> str:
        with self.api() as api:
            answer = api.post(
                f"/api/v1/users/{self.user_id}/sync",
                json={"kind": kind, "direction": direction, "dry_run": dry_run},
            )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["run_id"])

    def run(self, run_id: str, items_limit: int = 1000) -> dict[str, Any]:
        with self.api() as api:
            answer = api.get(f"/api/v1/sync/runs/{run_id}", params={"items_limit": items_limit})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def wait(self, run_id: str, timeout: float = 120) -> dict[str, Any]:
        try:
            return dict(
                wait_until(
                    lambda: (r := self.run(run_id, 0))["status"] in FINISHED and r,
                    timeout=timeout,
                    what=f"sync run {run_id}",
                )
            )
        except AssertionError:
            lines = [x for x in self.service.log().splitlines() if "/sync/runs/" not in x]
            raise AssertionError(f"{self.run(run_id, 5)}\n" + "\n".join(lines)[-4000:]) from None

    def sync(
        self, kind: str, direction: str, dry_run: bool = False, timeout: float = 120
    ) -> dict[str, Any]:
        """Start a run and wait for it to end; the answer carries its items."""
        run_id = self.start(kind, direction, dry_run)
        self.wait(run_id, timeout)
        return self.run(run_id, items_limit=10000)

    def ledger(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        with self.api() as api:
            while True:
                params: dict[str, Any] = {"limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                page = api.get(f"/api/v1/users/{self.user_id}/history", params=params).json()
                out.extend(page["items"])
                cursor = page["next_cursor"]
                if not cursor:
                    return out

    def trakt_requests(self) -> list[Any]:
        """Requests the fake saw from this user (OAuth and profile reads excluded)."""
        return [
            r
            for r in self.fake.state.requests
            if r.user == self.username and not r.path.startswith(("/oauth/", "/users/"))
        ]


@pytest.fixture
def world_factory(
    service_factory: Callable[..., Service], fake_trakt: FakeTraktServer
) -> Callable[..., SyncWorld]:
    def make(name: str = "data", **env: str) -> SyncWorld:
        fake_trakt.state.rate_limits = True
        fake_trakt.state.post_interval = POST_INTERVAL
        service = service_factory(sync_env(fake_trakt, **env), name=name)
        user = connect_user(service, fake_trakt, "Ann", "ann")
        return SyncWorld(service, fake_trakt, user["id"], "ann")

    return make


@pytest.fixture
def world(world_factory: Callable[..., SyncWorld]) -> SyncWorld:
    return world_factory()


def post_plays(world: SyncWorld, plays: list[dict[str, Any]]) -> dict[str, Any]:
    """Report plays to the ledger through the API (in chunks of the API's maximum)."""
    totals: dict[str, Any] = {"added": 0, "duplicates": 0, "rejected": []}
    with world.api() as api:
        for start in range(0, len(plays), 5000):
            answer = api.post(
                f"/api/v1/users/{world.user_id}/history",
                json={"plays": plays[start : start + 5000]},
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            totals["added"] += body["added"]
            totals["duplicates"] += body["duplicates"]
            totals["rejected"] += body["rejected"]
    return totals


def local_play(play: Any, *, shift: float = 30.0, ids: str = "all") -> dict[str, Any]:
    """A ledger play (API shape) of a fake Trakt play, ``shift`` seconds later; ``ids="some"``
    names the item by a non-Trakt id only (matching must use any shared id)."""
    from tests.fake_trakt import iso

    item = play.item
    if item.type == "movie":
        movie_ids = dict(item.ids) if ids == "all" else {"imdb": item.ids["imdb"]}
        body: dict[str, Any] = {
            "type": "movie",
            "movie": {"title": item.title, "year": item.year, "ids": movie_ids},
        }
    else:
        episode_ids = dict(item.ids) if ids == "all" else {}
        assert item.show is not None
        body = {
            "type": "episode",
            "show": {"title": item.show.title, "year": item.show.year, "ids": item.show.ids},
            "episode": {"season": item.season, "number": item.number, "ids": episode_ids},
        }
    return {**body, "watched_at": iso(play.watched_at + shift), "source": "plex"}


# The Revenge account whose webhooks are Ann's (see link_revenge).
REVENGE_ID = "ann-revenge"
MATRIX = {"title": "The Matrix", "year": 1999, "ids": {"imdb": "tt0133093", "tmdb": 603}}
INCEPTION = {"title": "Inception", "year": 2010, "ids": {"imdb": "tt1375666", "tmdb": 27205}}


def link_revenge(world: SyncWorld) -> None:
    """Ann's Revenge account: her webhooks become live scrobbles."""
    with world.api() as api:
        answer = api.post(
            f"/api/v1/users/{world.user_id}/identities",
            json={"source": "revenge", "external_id": REVENGE_ID},
        )
    assert answer.status_code == 201, answer.text


def webhook(world: SyncWorld, event: str, movie: dict[str, Any], **fields: Any) -> None:
    """One Revenge webhook of Ann's for ``movie`` (SPEC §5)."""
    body = {"event": event, "user_id": REVENGE_ID, "content_type": "movie",
            "content_id": movie["ids"]["imdb"], "movie": movie, **fields}  # fmt: skip
    with world.api() as api:
        answer = api.post(
            "/webhooks/revenge", json=body, headers={"X-Webhook-Token": WEBHOOK_TOKEN}
        )
    assert answer.status_code == 202, answer.text


def outbox(world: SyncWorld, status: str | None = None) -> list[dict[str, Any]]:
    """Ann's outbox rows (newest first)."""
    params: dict[str, Any] = {"user_id": world.user_id, "limit": 1000}
    if status is not None:
        params["status"] = status
    with world.api() as api:
        answer = api.get("/api/v1/scrobbles", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])
