"""Fake media servers on loopback for the connector and API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlmodel import SQLModel
from starlette.applications import Starlette

from tests.conftest import API_TOKEN, base_env
from tests.fake_jellyfin import FakeJellyfin, LiveServer
from tests.fake_plex import FakePlex, PlexServerThread
from trakt_plugin.app import build_api
from trakt_plugin.context import AppContext, build_context
from trakt_plugin.servers.service import ServerService
from trakt_plugin.store import repo


@dataclass
class PlexRig:
    fake: FakePlex
    server: PlexServerThread

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def plex() -> Iterator[PlexRig]:
    fake = FakePlex(friendly_name="Living Room", owner_name="olivia")
    server = PlexServerThread(fake)
    server.start()
    try:
        yield PlexRig(fake, server)
    finally:
        server.stop()


JELLYFIN_KEY = "fake-jellyfin-api-key-0123456789ab"


@dataclass
class JellyfinRig:
    fake: FakeJellyfin
    server: LiveServer

    @property
    def url(self) -> str:
        """What a person enters: the root (the Emby client adds ``/emby`` itself)."""
        return self.server.url

    @property
    def kind(self) -> str:
        return self.fake.flavour


@pytest.fixture(params=["jellyfin", "emby"])
def jellyfin(request: pytest.FixtureRequest) -> Iterator[JellyfinRig]:
    """A fake Jellyfin, then a fake Emby (same tests, both flavours)."""
    fake = FakeJellyfin(request.param, api_key=JELLYFIN_KEY)
    server = LiveServer(fake).start()
    try:
        yield JellyfinRig(fake, server)
    finally:
        server.stop()


# ---------------------------------------------------------------- the API in process


@dataclass
class ApiRig:
    ctx: AppContext
    service: ServerService
    client: httpx.AsyncClient

    def link(self, display_name: str, source: str, external_id: str) -> str:
        """A person with one identity (SPEC §4); returns the user id."""
        with self.ctx.session() as session, session.begin():
            user = repo.create_user(session, display_name=display_name)
            repo.link_identity(session, user_id=user.id, source=source, external_id=external_id)
            return user.id


def ensure_server_tables(ctx: AppContext) -> None:
    """The media-server tables, for as long as their migration waits in the chain (it follows
    0009, which may not be in the tree yet); a no-op once migrations created them."""
    for name in ("mediaserver", "serveraccounttoken"):
        SQLModel.metadata.tables[name].create(ctx.engine, checkfirst=True)


def build_rig(data_dir: Path, **env: str) -> tuple[AppContext, ServerService, Starlette]:
    ctx = build_context(base_env(data_dir, TRAKT_PLUGIN_API_TOKEN=API_TOKEN, **env))
    ensure_server_tables(ctx)
    service = ServerService(ctx)
    ctx.services["servers"] = service  # what app.py's install_services does
    api = build_api(ctx)
    root = Starlette()
    root.mount("/api/v1", api)  # where the service mounts it
    return ctx, service, root


def api_client(root: Starlette) -> httpx.AsyncClient:
    """The API in process (Starlette's TestClient warns about httpx; the house uses this)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=root),
        base_url="http://service",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiRig]:
    ctx, service, root = build_rig(tmp_path / "data")
    async with api_client(root) as client:
        yield ApiRig(ctx, service, client)
    ctx.engine.dispose()
