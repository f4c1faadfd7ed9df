"""A running service wired to the fake Trakt, with helpers to deliver webhooks and read state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests import pg
from tests.conftest import WEBHOOK_TOKEN, FakeTraktServer, Service, connect_user, wait_until

from .payloads import Body

# Fast but realistic: POSTs spaced by 50 ms (the fake enforces the same when rate limits are on).
FAST_ENV = {"TRAKT_PLUGIN_RATE__POST_INTERVAL": "0.05"}
SCROBBLE_PATHS = ("/scrobble/start", "/scrobble/pause", "/scrobble/stop", "/sync/history")


@dataclass
class Rig:
    service: Service
    fake: FakeTraktServer

    # ------------------------------------------------------------ people

    def user(self, name: str, identities: dict[str, str], trakt_username: str | None = None) -> str:
        """A user with identities; connected to the fake as ``trakt_username`` when given."""
        if trakt_username:
            user_id = str(connect_user(self.service, self.fake, name, trakt_username)["id"])
        else:
            with self.service.api() as api:
                user_id = str(api.post("/api/v1/users", json={"display_name": name}).json()["id"])
        with self.service.api() as api:
            for source, external_id in identities.items():
                answer = api.post(
                    f"/api/v1/users/{user_id}/identities",
                    json={"source": source, "external_id": external_id},
                )
                assert answer.status_code == 201, answer.text
        return user_id

    # ------------------------------------------------------------ webhooks

    def deliver(self, source: str, body: Body, expect: int | None = 202) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.service.url}/webhooks/{source}",
            params={"token": WEBHOOK_TOKEN},
            headers={"Content-Type": body.content_type},
            content=body.content,
            timeout=10,
        )
        if expect is not None:
            assert answer.status_code == expect, answer.text
        result: dict[str, Any] = answer.json()
        return result

    # ------------------------------------------------------------ state

    def rows(self, user_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("user_id", user_id), ("status", status)) if v}
        params["limit"] = "1000"
        with self.service.api() as api:
            answer = api.get("/api/v1/scrobbles", params=params)
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])

    def settled(self, user_id: str | None = None, timeout: float = 30.0) -> None:
        """Wait until no row of the user is pending."""
        wait_until(
            lambda: not self.rows(user_id, "pending"),
            timeout=timeout,
            what="the outbox to drain",
        )

    def calls(self, username: str) -> list[tuple[str, Any]]:
        """Successful scrobble/history writes the fake received for ``username``, in order."""
        out = []
        for request in self.fake.state.requests:
            if (
                request.user == username
                and request.method == "POST"
                and request.path in SCROBBLE_PATHS
                and request.status is not None
                and request.status < 300
            ):
                out.append((request.path, request.body))
        return out

    def paths(self, username: str) -> list[str]:
        return [path for path, _ in self.calls(username)]

    def plays(self, username: str) -> list[Any]:
        return list(self.fake.state.history(username))

    def ledger(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """The play table, read straight from the service's store (SQLite or PostgreSQL)."""
        url = pg.service_database_url(self.service.env, self.service.data_dir)
        if user_id is None:
            return pg.query(url, "SELECT * FROM play ORDER BY id")
        return pg.query(url, "SELECT * FROM play WHERE user_id = :u ORDER BY id", {"u": user_id})
