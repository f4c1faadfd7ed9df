"""Plex accounts' own tokens from plex.tv (SPEC §12 "Accounts"): the service against the fake Plex
and the fake plex.tv on loopback; the tokens plex.tv hands out are the ones the fake Plex accepts
for those accounts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fake_plex import Account, FakePlexTv, PlexItem, PlexTvThread
from tests.servers.conftest import ApiRig, PlexRig, api_client, build_rig
from trakt_plugin.servers.base import AccountNotWritable, ServerUnauthorized, ServerUnreachable
from trakt_plugin.servers.plextv import PlexTvTokens, fetch_server_tokens


@dataclass
class World:
    api: ApiRig
    plex: PlexRig
    tv: FakePlexTv
    tv_server: PlexTvThread
    friend: Account  # shares the server (plex.tv: shared_servers)
    kid: Account  # a Plex Home user (plex.tv: switch + resources)
    locked: Account  # a Home user with a PIN
    movie: PlexItem
    server_id: str = ""

    async def accounts(self) -> dict[str, dict[str, Any]]:
        answer = await self.api.client.get(f"/api/v1/servers/{self.server_id}/accounts")
        assert answer.status_code == 200, answer.text
        return {a["account_id"]: a for a in answer.json()["items"]}

    async def in_thread(self, action: str, account: Account | str, *args: Any) -> Any:
        """A client call as sync runs it: in a worker thread, through the service."""
        account_id = account if isinstance(account, str) else str(account.id)

        def run() -> Any:
            with self.api.service.client(self.server_id) as client:
                result = getattr(client, action)(account_id, *args)
                return list(result) if action == "library" else result

        return await asyncio.to_thread(run)


@pytest.fixture
def tv(plex: PlexRig) -> Iterator[tuple[FakePlexTv, PlexTvThread]]:
    fake_tv = FakePlexTv(plex.fake)
    server = PlexTvThread(fake_tv)
    server.start()
    try:
        yield fake_tv, server
    finally:
        server.stop()


@pytest.fixture
async def world(
    tmp_path: Path, plex: PlexRig, tv: tuple[FakePlexTv, PlexTvThread]
) -> AsyncIterator[World]:
    fake = plex.fake
    friend = fake.add_account("friend", kind="shared")
    kid = fake.add_account("kid")
    locked = fake.add_account("locked")
    fake_tv, tv_server = tv
    fake_tv.protected[locked.id] = "1234"
    section = fake.add_section("Films", "movie")
    movie = fake.add_movie(section, "Heat", ids={"imdb": "tt0113277"})
    ctx, service, root = build_rig(tmp_path / "data", TRAKT_PLUGIN_PLEX_TV_URL=tv_server.url)
    async with api_client(root) as client:
        rig = ApiRig(ctx, service, client)
        world = World(rig, plex, fake_tv, tv_server, friend, kid, locked, movie)
        body = {"kind": "plex", "name": "Den", "url": plex.url, "token": fake.owner_token}
        answer = await client.post("/api/v1/servers", json=body)
        assert answer.status_code == 201 and answer.json()["state"] == "ok", answer.text
        world.server_id = answer.json()["id"]
        yield world
    ctx.engine.dispose()


def _shared_asks(tv: FakePlexTv) -> int:
    return sum(1 for r in tv.requests if r.path.endswith("/shared_servers"))


async def test_a_shared_account_is_writable_through_plex_tv_and_marks_only_itself(
    world: World,
) -> None:
    assert not world.tv.requests  # adding (checking) a server does not ask plex.tv
    accounts = await world.accounts()
    assert accounts["1"]["writable"]
    assert accounts[str(world.friend.id)]["writable"]
    assert accounts[str(world.friend.id)]["reason"] is None
    assert accounts[str(world.kid.id)]["writable"]  # Home user: switch + resources
    locked = accounts[str(world.locked.id)]
    assert not locked["writable"]
    assert "PIN" in locked["reason"] and "PATCH /api/v1/servers/" in locked["reason"]

    fake = world.plex.fake
    fake.clear_log()
    await world.in_thread("mark_watched", world.friend, str(world.movie.rating_key))
    assert fake.watched_keys(world.friend) == {world.movie.rating_key}
    assert fake.watched_keys("olivia") == set()
    assert fake.watched_keys(world.kid) == set()
    (write,) = fake.writes()
    assert write.path == "/:/scrobble" and write.token == world.friend.token
    assert write.account_id == world.friend.id
    # The friend's own token also reads the friend's own state now (not the play history).
    (items,) = await world.in_thread("library", world.friend)
    assert [item.watched for item in items] == [True]

    await world.in_thread("mark_watched", world.kid, str(world.movie.rating_key))
    assert fake.watched_keys(world.kid) == {world.movie.rating_key}
    assert fake.watched_keys("olivia") == set()


async def test_plex_tv_is_asked_once_for_listing_and_sync_then_again_after_an_hour(
    world: World,
) -> None:
    await world.accounts()
    await world.accounts()
    await world.in_thread("mark_watched", world.friend, str(world.movie.rating_key))
    await world.in_thread("mark_unwatched", world.friend, str(world.movie.rating_key))
    assert _shared_asks(world.tv) == 1

    world.api.service._plex_tv._clock = lambda: time.monotonic() + 3601  # an hour later
    await world.accounts()
    assert _shared_asks(world.tv) == 2


async def test_plex_tv_down_leaves_the_account_readable_but_not_writable(
    world: World,
) -> None:
    world.tv_server.stop()
    fake = world.plex.fake
    fake.add_play(world.friend, world.movie)  # a real play: in the history the owner sees
    accounts = await world.accounts()
    friend = accounts[str(world.friend.id)]
    assert not friend["writable"]
    assert "plex.tv could not be reached" in friend["reason"]
    assert "connection refused" in friend["reason"]
    assert "PATCH /api/v1/servers/{id}/accounts/{account_id}" in friend["reason"]
    assert accounts["1"]["writable"]

    (items,) = await world.in_thread("library", world.friend)  # read from the history
    assert [(item.title, item.watched) for item in items] == [("Heat", True)]
    fake.clear_log()
    with pytest.raises(AccountNotWritable) as refused:
        await world.in_thread("mark_unwatched", world.friend, str(world.movie.rating_key))
    assert "plex.tv could not be reached" in refused.value.reason
    assert fake.writes() == []  # never with the owner's token instead
    server = (await world.api.client.get(f"/api/v1/servers/{world.server_id}")).json()
    assert server["state"] == "ok"  # plex.tv's failure is not the server's


async def test_plex_tv_failures_are_remembered_for_a_minute_only(world: World) -> None:
    world.tv.fail_next(1, 503)
    accounts = await world.accounts()
    assert "HTTP 503" in accounts[str(world.friend.id)]["reason"]
    await world.accounts()
    assert _shared_asks(world.tv) == 1  # not asked again at once
    world.api.service._plex_tv._clock = lambda: time.monotonic() + 61  # a minute later
    accounts = await world.accounts()
    assert accounts[str(world.friend.id)]["writable"]


async def test_a_hand_given_token_wins_over_plex_tvs(world: World) -> None:
    fake, friend = world.plex.fake, world.friend
    hand = "friend-hand-given-token-0123456789"
    fake.add_token(friend, hand)  # a second token of the same account (another device)
    path = f"/api/v1/servers/{world.server_id}/accounts/{friend.id}"
    given = await world.api.client.patch(path, json={"token": hand})
    assert given.status_code == 200 and given.json()["writable"], given.text
    fake.clear_log()
    await world.in_thread("mark_watched", friend, str(world.movie.rating_key))
    (write,) = fake.writes()
    assert write.token == hand and write.token != friend.token
    assert fake.watched_keys(friend) == {world.movie.rating_key}


async def test_a_stale_plex_tv_token_is_refused_and_plex_tv_asked_again(world: World) -> None:
    world.tv.token_override[world.friend.id] = "revoked-share-token-0000000000"
    accounts = await world.accounts()
    assert accounts[str(world.friend.id)]["writable"]  # plex.tv gave one
    with pytest.raises(ServerUnauthorized) as refused:
        await world.in_thread("mark_watched", world.friend, str(world.movie.rating_key))
    assert "plex.tv gave" in refused.value.reason
    assert "revoked-share-token" not in refused.value.reason
    asked = _shared_asks(world.tv)
    del world.tv.token_override[world.friend.id]  # plex.tv has the fresh one now
    await world.in_thread("mark_watched", world.friend, str(world.movie.rating_key))
    assert _shared_asks(world.tv) == asked + 1
    assert world.plex.fake.watched_keys(world.friend) == {world.movie.rating_key}


async def test_the_owner_token_goes_only_to_plex_and_plex_tv_and_never_into_reasons(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    owner = world.plex.fake.owner_token
    await world.accounts()
    await world.in_thread("mark_watched", world.kid, str(world.movie.rating_key))
    # plex.tv got the owner's token for the owner's questions only, always as a header; the
    # Home user's servers were asked with that user's temporary token.
    for request in world.tv.requests:
        assert request.headers.get("x-plex-client-identifier")
        if request.path == "/api/v2/resources":
            assert request.token and request.token != owner
        else:
            assert request.token == owner
            assert request.path.endswith(("/shared_servers", "/home/users", "/switch"))
    assert {r.path for r in world.tv.requests} >= {"/api/v2/resources", "/api/v2/home/users"}
    # The fake Plex saw it only as the owner's: never on a write for another account.
    for request in world.plex.fake.requests:
        assert owner not in request.raw_query
        if request.is_write:
            assert request.token != owner

    # plex.tv refusing the token: the reason says so, without the token.
    world.api.service._plex_tv.clear()
    world.tv.fail_next(1, 401)
    accounts = await world.accounts()
    reason = accounts[str(world.friend.id)]["reason"]
    assert "plex.tv refused the server token" in reason and "PATCH" in reason
    everything = caplog.text + str(accounts)
    for secret in (owner, world.friend.token, world.kid.token):
        assert secret and secret not in everything


# ---------------------------------------------------------------- the module alone


def test_fetch_maps_plex_tv_users_to_server_accounts(tv: tuple[FakePlexTv, PlexTvThread]) -> None:
    fake_tv, server = tv
    fake = fake_tv.fake
    friend = fake.add_account("friend", kind="shared")
    kid = fake.add_account("kid")
    hidden = fake.add_account("gone", kind="shared")
    fake_tv.hidden.add(hidden.id)
    fake_tv.home_in_shared_servers = True  # a Home user listed with the shares: asked once
    tokens = fetch_server_tokens(fake.owner_token, fake.machine_identifier, base_url=server.url)
    assert tokens == {str(friend.id): friend.token, str(kid.id): kid.token}
    assert not any(r.path.endswith("/switch") for r in fake_tv.requests)
    # The server's /accounts ids are the plex.tv ids (the owner: 1, never in these answers).
    assert set(tokens) < {str(account.id) for account in fake.accounts.values()}


def test_fetch_errors_are_server_errors_without_the_token(
    tv: tuple[FakePlexTv, PlexTvThread],
) -> None:
    fake_tv, server = tv
    owner = fake_tv.fake.owner_token
    with pytest.raises(ServerUnauthorized) as refused:
        fetch_server_tokens("not-the-owner-token-42", fake_tv.fake.machine_identifier,
                            base_url=server.url)  # fmt: skip
    assert "not-the-owner-token-42" not in refused.value.reason
    server.stop()
    with pytest.raises(ServerUnreachable) as down:
        fetch_server_tokens(owner, fake_tv.fake.machine_identifier, base_url=server.url)
    assert "connection refused" in down.value.reason and owner not in down.value.reason


def test_the_cache_asks_once_per_server_and_owner_token() -> None:
    asked: list[tuple[str, str, str]] = []

    def fetch(
        owner_token: str, machine_id: str, *, base_url: str, timeout: float
    ) -> dict[str, str]:
        asked.append((owner_token, machine_id, base_url))
        return {"20000001": f"token-for-{machine_id}"}

    now = [0.0]
    cache = PlexTvTokens("http://tv.example/", fetch=fetch, clock=lambda: now[0])
    assert cache.tokens("owner-a", "m1") == {"20000001": "token-for-m1"}
    cache.tokens("owner-a", "m1")
    cache.tokens("owner-a", "m2")
    cache.tokens("owner-b", "m1")  # a new server token asks afresh
    assert [(o, m) for o, m, _ in asked] == [
        ("owner-a", "m1"),
        ("owner-a", "m2"),
        ("owner-b", "m1"),
    ]
    assert asked[0][2] == "http://tv.example"
    cache.forget("m1")
    cache.tokens("owner-a", "m1")
    now[0] = 3601
    cache.tokens("owner-a", "m2")
    assert len(asked) == 5
