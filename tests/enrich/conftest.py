"""In-process harness: the real /api/v1 app (composition root's build_api) over ASGITransport,
a real store (its SQLite file, or PostgreSQL with TRAKT_PLUGIN_TEST_DB=postgres), and the fake
Trakt on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests import pg
from tests.conftest import API_TOKEN, FakeTraktServer, base_env
from tests.fake_trakt.state import FakeTrakt
from trakt_plugin.app import build_api, install_services
from trakt_plugin.context import AppContext, build_context
from trakt_plugin.store.models import Play, TraktConnection, User


@dataclass
class Harness:
    ctx: AppContext
    api: httpx.AsyncClient
    fake: FakeTrakt

    def requests(self) -> int:
        """Requests the fake has seen so far."""
        return len(self.fake.requests)

    def connect(self, name: str, username: str, *, vip: bool = False) -> str:
        """A user whose Trakt connection is in the store (tokens minted by the fake)."""
        issued = self.fake.issue_tokens(username)
        self.fake.set_vip(username, vip)
        created = datetime.fromtimestamp(issued.created_at, UTC)
        box = self.ctx.box
        with self.ctx.session() as session, session.begin():
            user = User(display_name=name)
            session.add(user)
            session.flush()
            session.add(
                TraktConnection(
                    user_id=user.id,
                    state="connected",
                    access_token=box.encrypt(issued.access_token),
                    refresh_token=box.encrypt(issued.refresh_token),
                    token_created_at=created,
                    expires_in=issued.expires_in,
                    expires_at=created + timedelta(seconds=issued.expires_in),
                    username=username,
                    slug=username.lower(),
                    vip=vip,
                )
            )
            return user.id

    def add_user(self, name: str) -> str:
        with self.ctx.session() as session, session.begin():
            user = User(display_name=name)
            session.add(user)
            session.flush()
            return user.id

    def add_plays(self, user_id: str, plays: list[dict[str, Any]]) -> None:
        """Rows straight into the ledger: {"item", "watched_at", "source", "runtime"?}."""
        with self.ctx.session() as session, session.begin():
            for play in plays:
                session.add(
                    Play(
                        user_id=user_id,
                        item=json.dumps(play["item"]),
                        item_key=json.dumps(play["item"], sort_keys=True)[:400],
                        watched_at=play["watched_at"],
                        source=play["source"],
                        runtime=play.get("runtime"),
                    )
                )


HarnessFactory = Callable[..., AbstractAsyncContextManager[Harness]]


@pytest.fixture
def harness(
    tmp_path: Path, fake_trakt: FakeTraktServer, service_databases: pg.ServiceDatabases
) -> HarnessFactory:
    """``async with harness(**env) as h:`` — env keys like ``TRAKT_PLUGIN_METADATA__…``."""
    counter = iter(range(1000))

    @asynccontextmanager
    async def start(**env: str) -> AsyncIterator[Harness]:
        name = f"data-{next(counter)}"
        # The store on either engine (TRAKT_PLUGIN_TEST_DB), as the service tests' stores.
        env = {**service_databases.env(name), **fake_trakt.service_env(**env)}
        ctx = build_context(base_env(tmp_path / name, **env))
        install_services(ctx)
        root = Starlette()
        root.mount("/api/v1", build_api(ctx))  # where the service mounts it
        transport = httpx.ASGITransport(app=root)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://service",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ) as api:
            yield Harness(ctx, api, fake_trakt.state)
        ctx.engine.dispose()

    return start
