"""The fake Jellyfin/Emby checked against a real client (jellyfin-apiclient-python) and httpx.

Everything talks to 127.0.0.1 only (uvicorn in a thread) or to the ASGI app in process.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from jellyfin_apiclient_python import JellyfinClient
from jellyfin_apiclient_python.connection_manager import CONNECTION_STATE
from jellyfin_apiclient_python.exceptions import HTTPException

from tests.fake_jellyfin import (
    FakeJellyfin,
    Flavour,
    Item,
    LiveServer,
    User,
    build_library,
    create_app,
    serve_in_thread,
)

FLAVOURS: tuple[Flavour, ...] = ("jellyfin", "emby")
WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


@dataclass
class World:
    fake: FakeJellyfin
    live: LiveServer
    alice: User  # a plain user
    bob: User  # another plain user
    admin: User
    matrix: Item
    show: Item
    pilot: Item
    episode2: Item

    @property
    def flavour(self) -> str:
        return self.fake.flavour

    def http(self, token: str | None = None, **headers: str) -> httpx.Client:
        """httpx on the API base (…/emby for Emby) with the API key in the header the flavour
        documents (Jellyfin: Authorization MediaBrowser; Emby: X-Emby-Token)."""
        token = self.fake.api_key if token is None else token
        if token and not headers:
            headers = (
                {"X-Emby-Token": token}
                if self.flavour == "emby"
                else {"Authorization": f'MediaBrowser Token="{token}"'}
            )
        return httpx.Client(base_url=self.live.api_url, headers=headers, timeout=5)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[Flavour, LiveServer]]:
    """One uvicorn per flavour for the module; each test swaps in a fresh fake."""
    lives = {flavour: LiveServer(FakeJellyfin(flavour)).start() for flavour in FLAVOURS}
    yield lives
    for live in lives.values():
        live.stop()


@pytest.fixture(params=FLAVOURS)
def world(request: pytest.FixtureRequest, servers: dict[Flavour, LiveServer]) -> World:
    flavour: Flavour = request.param
    return _world(servers[flavour], FakeJellyfin(flavour))


@pytest.fixture
def jellyfin(servers: dict[Flavour, LiveServer]) -> World:
    return _world(servers["jellyfin"], FakeJellyfin("jellyfin"))


@pytest.fixture
def emby(servers: dict[Flavour, LiveServer]) -> World:
    return _world(servers["emby"], FakeJellyfin("emby"))


def _world(live: LiveServer, fake: FakeJellyfin) -> World:
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    admin = fake.add_user("root", admin=True, password="secret")
    matrix = fake.add_movie("The Matrix", 1999, {"Imdb": "tt0133093", "Tmdb": "603"})
    show = fake.add_series("Breaking Bad", 2008, {"Tvdb": "81189", "Imdb": "tt0903747"})
    pilot = fake.add_episode(show, 1, 1, "Pilot", {"Tvdb": "349232", "Imdb": "tt0959621"})
    episode2 = fake.add_episode(show, 1, 2, "Cat's in the Bag...", {"Tvdb": "349235"})
    live.fake = fake
    live.start()  # again, if the last test stopped it
    return World(fake, live, alice, bob, admin, matrix, show, pilot, episode2)


# ---------------------------------------------------------------------- the real client


def real_client(w: World, user: User | None = None) -> JellyfinClient:
    """jellyfin-apiclient-python signed in with the API key the way its README documents it
    (app name and version, no device; `auth.user_id` for the `{UserId}` routes)."""
    client = JellyfinClient()
    client.config.data["app.name"] = "trakt-plugin-tests"
    client.config.data["app.version"] = "0.0.1"
    client.config.data["auth.ssl"] = False
    if user is not None:
        client.config.data["auth.user_id"] = user.id
    server = {"AccessToken": w.fake.api_key, "address": w.live.api_url}
    state = client.authenticate({"Servers": [server]}, discover=False)
    assert state["State"] == CONNECTION_STATE["SignedIn"], state
    return client


def test_real_client_connects_with_an_api_key(world: World) -> None:
    client = real_client(world, world.alice)
    server = client.get_credentials()["Servers"][0]
    assert server["Name"] == world.fake.server_name
    assert server["Id"] == world.fake.server_id
    assert server["Version"] == world.fake.version
    info = client.jellyfin.get_system_info_new()
    assert info["ProductName"] == ("Emby Server" if world.flavour == "emby" else "Jellyfin Server")
    calls = [(r.method, r.local_path.lower(), r.auth_via) for r in world.fake.requests]
    assert calls[:2] == [
        ("GET", "/system/info/public", None),
        ("GET", "/system/info", "Authorization"),
    ]
    assert world.fake.requests[1].headers["authorization"].split() == [
        "MediaBrowser",
        f'Token="{world.fake.api_key}"',
    ]
    if world.flavour == "emby":
        assert all(r.path.startswith("/emby/") for r in world.fake.requests)


def test_real_client_lists_users(world: World) -> None:
    client = real_client(world, world.alice)
    assert client.jellyfin.get_user()["Name"] == "alice"  # GET /Users/{UserId}
    if world.flavour == "jellyfin":
        users = client.jellyfin.get_users()
    else:  # Emby answers 403 to /Users with an API key: /Users/Query
        with pytest.raises(HTTPException) as refused:
            client.jellyfin.get_users()
        assert refused.value.status == 403
        users = client.jellyfin._get("Users/Query")["Items"]
    assert {u["Name"]: u["Policy"]["IsAdministrator"] for u in users} == {
        "alice": False,
        "bob": False,
        "root": True,
    }
    assert all(len(u["Id"]) == 32 and int(u["Id"], 16) >= 0 for u in users)


def test_real_client_pages_items_with_ids_and_watched_state(world: World) -> None:
    fake = world.fake
    lib = build_library(fake, movies=180, episodes=120, users=[world.alice, world.bob], seed=3)
    client = real_client(world, world.alice)
    seen: dict[str, dict[str, Any]] = {}
    start = 0
    while True:
        page = client.jellyfin.get_user_items(
            recursive=True,
            include_item_types="Movie,Episode",
            fields="ProviderIds",
            enable_user_data=True,
            start_index=start,
            limit=100,
        )
        seen.update((item["Id"], item) for item in page["Items"])
        start += 100
        if start >= page["TotalRecordCount"]:
            break
    assert page["TotalRecordCount"] == 180 + 120 + 3  # + the Matrix and two episodes
    assert len(seen) == 303
    played = {i for i, item in seen.items() if item["UserData"]["Played"]}
    assert played == lib.played[world.alice.id]
    assert played != lib.played[world.bob.id]
    movie = seen[lib.movies[0].id]
    assert movie["Type"] == "Movie" and movie["ProviderIds"] == lib.movies[0].provider_ids
    episode = seen[lib.episodes[0].id]
    assert (episode["SeriesId"], episode["ParentIndexNumber"], episode["IndexNumber"]) == (
        lib.series[0].id,
        1,
        1,
    )
    # one request per page of 100, all through /Users/{userId}/Items
    assert len(fake.requests_to("/Users/{userId}/Items", "GET")) == 4
    assert not fake.writes

    watched = client.jellyfin.get_user_items(
        recursive=True, include_item_types="Movie,Episode", filters="IsPlayed", limit=1
    )
    assert watched["TotalRecordCount"] == len(lib.played[world.alice.id])
    by_ids = client.jellyfin.get_items([world.matrix.id, world.pilot.id])
    assert {i["Name"]: i["ProviderIds"] for i in by_ids["Items"]} == {
        "The Matrix": {"Imdb": "tt0133093", "Tmdb": "603"},
        "Pilot": {"Tvdb": "349232", "Imdb": "tt0959621"},
    }
    single = client.jellyfin.get_item(world.pilot.id)
    assert single["SeriesName"] == "Breaking Bad" and single["UserData"]["Played"] is False
    views = client.jellyfin.get_views()["Items"]
    assert [(v["Name"], v["CollectionType"]) for v in views] == [
        ("Movies", "movies"),
        ("Shows", "tvshows"),
    ]


def test_real_client_marks_played_with_a_date_and_unplayed_for_one_user(world: World) -> None:
    fake = world.fake
    client = real_client(world, world.alice)
    answer = client.jellyfin.item_played(world.matrix.id, True, "20240102030405")
    assert answer["Played"] is True
    assert answer["LastPlayedDate"] == "2024-01-02T03:04:05.0000000Z"
    assert answer["PlayCount"] == 1
    assert fake.user_data(world.alice, world.matrix).last_played == WHEN
    assert fake.user_data(world.bob, world.matrix).played is False  # bob untouched
    assert [(c.user_id, c.item_id, c.action, c.date) for c in fake.changes] == [
        (world.alice.id, world.matrix.id, "played", WHEN)
    ]
    (write,) = fake.writes
    assert (write.route, write.user, write.query) == (
        "/Users/{userId}/PlayedItems/{itemId}",
        world.alice.id,
        {"datePlayed": "20240102030405"},
    )

    answer = client.jellyfin.item_played(world.matrix.id, False)
    assert (answer["Played"], answer["PlayCount"], "LastPlayedDate" in answer) == (False, 0, False)
    assert fake.user_data(world.alice, world.matrix).played is False


def test_real_client_reads_and_writes_user_data_on_jellyfin(jellyfin: World) -> None:
    client = real_client(jellyfin, jellyfin.alice)
    data = client.jellyfin.get_userdata_for_item(jellyfin.pilot.id)  # /UserItems/{id}/UserData
    assert (data["Played"], data["PlayCount"]) == (False, 0)
    data = client.jellyfin.update_userdata_for_item(
        jellyfin.pilot.id,
        {"Played": True, "PlayCount": 2, "LastPlayedDate": "2024-01-02T03:04:05Z"},
    )
    assert (data["Played"], data["PlayCount"], data["LastPlayedDate"]) == (
        True,
        2,
        "2024-01-02T03:04:05.0000000Z",
    )
    assert jellyfin.fake.user_data(jellyfin.bob, jellyfin.pilot).played is False


def test_real_client_sees_sessions(world: World) -> None:
    fake = world.fake
    runtime = world.pilot.runtime_ticks
    assert runtime is not None
    playing = fake.start_playback(
        world.alice, world.pilot, position_ticks=runtime // 2, device_name="Shield"
    )
    fake.start_playback(world.bob, world.matrix, paused=True, device_name="Phone")
    client = real_client(world, world.alice)

    everyone = client.jellyfin.sessions()  # GET /Sessions: the API key sees all sessions
    assert {s["UserName"] for s in everyone} == {"alice", "bob"}
    mine = client.jellyfin.get_sessions()  # ?ControllableByUserId=alice (not an admin)
    (session,) = mine
    assert session["UserId"] == world.alice.id and session["DeviceName"] == "Shield"
    assert session["PlayState"]["PositionTicks"] == runtime // 2
    assert session["PlayState"]["IsPaused"] is False
    now = session["NowPlayingItem"]
    assert (now["Id"], now["Type"], now["SeriesName"], now["ProviderIds"]) == (
        world.pilot.id,
        "Episode",
        "Breaking Bad",
        {"Tvdb": "349232", "Imdb": "tt0959621"},
    )
    assert client.jellyfin.get_device(playing.device_id)[0]["Id"] == playing.id

    fake.stop_playback(playing, runtime)  # to the end: played, the session stays idle
    (idle,) = client.jellyfin.get_device(playing.device_id)
    assert "NowPlayingItem" not in idle
    assert fake.user_data(world.alice, world.pilot).played is True
    fake.end_session(playing)
    assert client.jellyfin.get_device(playing.device_id) == []


def test_real_client_logs_in_and_reports_playback(world: World) -> None:
    fake = world.fake
    client = JellyfinClient()
    client.config.app("trakt-plugin-tests", "0.0.1", "Den TV", "den-tv-1")
    client.config.data["auth.ssl"] = False
    state = client.authenticate({"Servers": [{"address": world.live.api_url}]}, discover=False)
    assert state["State"] == CONNECTION_STATE["ServerSignIn"]
    assert client.auth.login(world.live.api_url, "root", "wrong") == {}
    result = client.auth.login(world.live.api_url, "root", "secret")
    assert result["User"]["Name"] == "root" and result["ServerId"] == fake.server_id

    runtime = world.matrix.runtime_ticks
    assert runtime is not None
    client.jellyfin.session_playing({"ItemId": world.matrix.id, "PositionTicks": 0})
    (session,) = [s for s in fake.sessions if s.device_id == "den-tv-1"]
    assert (session.item, session.device_name) == (world.matrix, "Den TV")
    client.jellyfin.session_progress({"ItemId": world.matrix.id, "PositionTicks": runtime // 2})
    client.jellyfin.session_progress(
        {"ItemId": world.matrix.id, "PositionTicks": runtime // 2, "IsPaused": True}
    )
    assert session.is_paused and session.position_ticks == runtime // 2
    client.jellyfin.session_stop({"ItemId": world.matrix.id, "PositionTicks": runtime * 95 // 100})
    data = fake.user_data(world.admin, world.matrix)
    assert (data.played, data.play_count, data.position_ticks) == (True, 1, 0)
    assert session.item is None
    assert all(r.caller == "user" for r in fake.requests_to("/Sessions/Playing/Progress"))


def test_real_client_through_faults(world: World) -> None:
    fake = world.fake
    client = real_client(world, world.alice)
    fake.fail_next(1, 500, path="/Users/{userId}")
    assert client.jellyfin.get_user() is None  # the library logs a 500 and returns None
    assert client.jellyfin.get_user()["Name"] == "alice"

    fake.hang_seconds = 2
    fake.fail_next(1, "hang", path="/Sessions")
    with pytest.raises(HTTPException) as slow:
        client.jellyfin.sessions(timeout=0.3, retry=0)
    assert slow.value.status == "ReadTimeout"

    world.live.stop()
    with pytest.raises(HTTPException) as down:
        client.jellyfin.sessions(timeout=1, retry=0)
    assert down.value.status == "ServerUnreachable"
    world.live.start()
    assert client.jellyfin.sessions(timeout=1, retry=0) == []

    fake.fail_next(1, 401)
    with pytest.raises(HTTPException) as refused:
        client.jellyfin.get_user()
    assert refused.value.status == "Unauthorized"
    assert client.config.data["auth.token"] is None  # the library drops its token on a 401


# ---------------------------------------------------------------------- httpx: auth and prefix

JELLYFIN_AUTH = [
    # (how the key travels, answered by 10.11 (legacy on), answered by 12.0 (legacy off))
    ("authorization-mediabrowser", 200, 200),
    ("apikey-query", 200, 200),
    ("authorization-emby", 200, 401),
    ("x-emby-authorization", 200, 401),
    ("x-emby-token", 200, 401),
    ("x-mediabrowser-token", 200, 401),
    ("api_key-query", 200, 401),
]
EMBY_AUTH = [
    ("x-emby-token", 200),
    ("api_key-query", 200),
    ("x-emby-token-query", 200),
    ("authorization-emby", 200),
    ("authorization-mediabrowser", 200),
    ("x-emby-authorization", 200),
    ("x-mediabrowser-token", 401),
    ("apikey-query", 401),
]


def send_key(http: httpx.Client, how: str, key: str, path: str = "/System/Info") -> int:
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    line = f'Client="t", Device="d", DeviceId="x1", Version="1", Token="{key}"'
    if how == "authorization-mediabrowser":
        headers["Authorization"] = f"MediaBrowser {line}"
    elif how == "authorization-emby":
        headers["Authorization"] = f"Emby {line}"
    elif how == "x-emby-authorization":
        headers["X-Emby-Authorization"] = f"Emby {line}"
    elif how == "x-emby-token":
        headers["X-Emby-Token"] = key
    elif how == "x-mediabrowser-token":
        headers["X-MediaBrowser-Token"] = key
    elif how == "apikey-query":
        params["ApiKey"] = key
    elif how == "api_key-query":
        params["api_key"] = key
    elif how == "x-emby-token-query":
        params["X-Emby-Token"] = key
    return http.get(path, headers=headers, params=params).status_code


@pytest.mark.parametrize(("how", "v10", "v12"), JELLYFIN_AUTH)
def test_jellyfin_auth_forms_by_version(how: str, v10: int, v12: int) -> None:
    for version, expected in (("10.11.11", v10), ("12.0.0", v12)):
        fake = FakeJellyfin(version=version)
        app = create_app(fake)
        with httpx.Client(transport=_sync_asgi(app), base_url="http://jf") as http:
            assert send_key(http, how, fake.api_key) == expected, version
            assert send_key(http, how, "wrong-key") == 401


@pytest.mark.parametrize(("how", "expected"), EMBY_AUTH)
def test_emby_auth_forms(how: str, expected: int) -> None:
    fake = FakeJellyfin("emby")
    app = create_app(fake)
    with httpx.Client(transport=_sync_asgi(app), base_url="http://emby/emby") as http:
        assert send_key(http, how, fake.api_key) == expected
        assert send_key(http, how, "wrong-key") == 401
        entry = fake.requests[0]
        assert entry.caller == ("api_key" if expected == 200 else None)


def test_public_info_needs_no_key_and_the_rest_does(world: World) -> None:
    with world.http(token="") as anonymous:
        public = anonymous.get("/System/Info/Public")
        assert public.status_code == 200
        assert set(public.json()) >= {"ServerName", "Version", "Id", "ProductName"}
        for path in ("/System/Info", "/Users", "/Items", "/Sessions"):
            assert anonymous.get(path).status_code == 401, path
    assert [r.status for r in world.fake.requests] == [200, 401, 401, 401, 401]


def test_prefixes_and_case_insensitive_routes(world: World) -> None:
    fake = world.fake
    with httpx.Client(base_url=world.live.url, headers=_key_header(world)) as http:
        paths = (
            "/System/Info",
            "/emby/System/Info",
            "/EMBY/system/info",
            "/mediabrowser/System/Info",
        )
        for path in paths:
            answer = http.get(path.replace("/x", "/System/Info"))
            assert answer.json()["Id"] == fake.server_id, path
        items = http.get(
            f"/emby/users/{world.alice.id}/items",
            params={"recursive": "TRUE", "includeitemtypes": "movie", "FIELDS": "providerids"},
        ).json()
        assert [i["ProviderIds"] for i in items["Items"]] == [{"Imdb": "tt0133093", "Tmdb": "603"}]
    assert fake.requests[-1].route == "/Users/{userId}/Items"
    assert fake.requests[-1].local_path == f"/users/{world.alice.id}/items"


def test_emby_flavour_shape(emby: World) -> None:
    with emby.http() as http:
        info = http.get("/System/Info/Public").json()
        assert (info["ProductName"], info["Version"]) == ("Emby Server", "4.9.1.80")
        page = http.get(
            f"/Users/{emby.alice.id}/Items",
            params={"Recursive": "true", "IncludeItemTypes": "Movie,Episode", "Limit": 2},
        ).json()
        assert set(page) == {"Items", "TotalRecordCount"}  # no StartIndex on Emby
        assert all(item["Id"].isdigit() for item in page["Items"])  # numeric item ids
        # no 10.9-style routes on Emby; its own "…/Delete" form instead
        mark = f"/UserPlayedItems/{emby.matrix.id}"
        assert http.post(mark, params={"userId": emby.alice.id}).status_code == 404
        played = f"/Users/{emby.alice.id}/PlayedItems/{emby.matrix.id}"
        assert http.post(played, params={"DatePlayed": "2024-01-02T03:04:05Z"}).status_code == 400
        assert http.post(played, params={"DatePlayed": "20240102030405"}).json()["Played"] is True
        assert http.post(played + "/Delete").json()["Played"] is False
        found = http.get(
            "/Items",
            params={"UserId": emby.alice.id, "Recursive": "true",
                    "AnyProviderIdEquals": "imdb.tt0959621,tmdb.603", "Fields": "ProviderIds"},
        ).json()  # fmt: skip
        assert {i["Name"] for i in found["Items"]} == {"Pilot", "The Matrix"}
        query = http.get("/Users/Query", params={"StartIndex": 1, "Limit": 1}).json()
        assert (query["TotalRecordCount"], len(query["Items"])) == (3, 1)


def test_jellyfin_routes_by_version() -> None:
    for version, new_routes in (("10.8.13", False), ("10.9.11", True), ("12.0.0", True)):
        fake = FakeJellyfin(version=version)
        alice = fake.add_user("alice")
        movie = fake.add_movie("Heat", 1995, {"Imdb": "tt0113277"})
        with httpx.Client(
            transport=_sync_asgi(create_app(fake)), base_url="http://jf", headers=_key(fake)
        ) as http:
            new = http.post(
                f"/UserPlayedItems/{movie.id}",
                params={"userId": alice.id, "datePlayed": "2024-01-02T03:04:05.000Z"},
            )
            assert new.status_code == (200 if new_routes else 404), version
            old = http.post(f"/Users/{alice.id}/PlayedItems/{movie.id}")
            assert old.status_code == 200, version  # still routed in 12.0
            views = http.get("/UserViews", params={"userId": alice.id})
            assert views.status_code == (200 if new_routes else 404)
            assert http.get("/Items", params={"userId": alice.id}).status_code == 200


def test_jellyfin_new_routes_take_the_user_from_the_query(jellyfin: World) -> None:
    fake, alice, pilot = jellyfin.fake, jellyfin.alice, jellyfin.pilot
    with jellyfin.http() as http:
        # an API key has no user: writes need userId
        assert http.post(f"/UserPlayedItems/{pilot.id}").status_code == 400
        dashed = str(uuid.UUID(alice.id))  # 8-4-4-4-12
        marked = http.post(
            f"/UserPlayedItems/{pilot.id}",
            params={"userId": dashed.upper(), "datePlayed": "2024-01-02T04:04:05+01:00"},
        )
        assert marked.json()["LastPlayedDate"] == "2024-01-02T03:04:05.0000000Z"
        item = http.get(f"/Items/{pilot.id}", params={"userId": alice.id}).json()
        assert item["UserData"]["Played"] is True and item["ProviderIds"]["Tvdb"] == "349232"
        assert (
            http.delete(f"/UserPlayedItems/{pilot.id}", params={"userId": alice.id}).json()[
                "Played"
            ]
            is False
        )
        assert http.get("/Users/Me").status_code == 400  # no user behind an API key
        assert http.get("/Items", params={"userId": "not-a-guid"}).status_code == 400
        assert http.get("/Items", params={"userId": "0" * 32}).status_code == 404
    assert [c.action for c in fake.changes] == ["played", "unplayed"]


# ---------------------------------------------------------------------- httpx: items query


def test_items_query_filters_fields_and_paging(world: World) -> None:
    fake = world.fake
    lib = build_library(fake, movies=50, episodes=40, users=[world.alice], seed=5, virtual=0.1)
    virtual = [e for e in lib.episodes if e.location_type == "Virtual"]
    assert virtual
    base = {"userId": world.alice.id, "Recursive": "true"}
    with world.http() as http:

        def items(**params: Any) -> dict[str, Any]:
            answer = http.get("/Items", params={**base, **params})
            assert answer.status_code == 200, answer.text
            return answer.json()  # type: ignore[no-any-return]

        no_fields = items(IncludeItemTypes="Movie", Limit=3)["Items"]
        assert all("ProviderIds" not in i and "UserData" in i for i in no_fields)
        assert all("UserData" not in i for i in items(Limit=3, EnableUserData="false")["Items"])
        movies = items(IncludeItemTypes="Movie")
        assert movies["TotalRecordCount"] == 51
        assert [i["Type"] for i in items(IncludeItemTypes="Series")["Items"]] == ["Series"] * 2
        # Recursive is needed: without it the user's root holds only the libraries
        flat = http.get("/Items", params={"userId": world.alice.id, "IncludeItemTypes": "Movie"})
        assert flat.json()["TotalRecordCount"] == 0
        roots = http.get("/Items", params={"userId": world.alice.id}).json()["Items"]
        assert [r["Type"] for r in roots] == ["CollectionFolder", "CollectionFolder"]
        # paging: pages join up, the count is the whole selection
        pages = [
            items(IncludeItemTypes="Movie,Episode", StartIndex=s, Limit=25)
            for s in range(0, 100, 25)
        ]
        joined = [i["Id"] for p in pages for i in p["Items"]]
        assert len(joined) == len(set(joined)) == 51 + 40 + 2
        assert {p["TotalRecordCount"] for p in pages} == {93}
        off = items(IncludeItemTypes="Movie", Limit=5, EnableTotalRecordCount="false")
        assert off["TotalRecordCount"] == 5  # QueryResult falls back to the page length
        # watched filters
        played = items(IncludeItemTypes="Movie,Episode", Filters="IsPlayed")["Items"]
        played_ids = {i["Id"] for i in played}
        assert played_ids == lib.played[world.alice.id]
        unplayed = items(IncludeItemTypes="Movie,Episode", Filters="IsUnplayed")
        assert unplayed["TotalRecordCount"] == 93 - len(played_ids)
        assert items(IncludeItemTypes="Movie", IsPlayed="true")["TotalRecordCount"] == len(
            [m for m in lib.movies if m.id in played_ids]
        )
        # virtual (missing) episodes are listed unless excluded
        kept = items(IncludeItemTypes="Episode", ExcludeLocationTypes="Virtual")
        assert kept["TotalRecordCount"] == 42 - len(virtual)
        # ids, parent, sort
        by_ids = items(Ids=f"{lib.movies[3].id},{lib.movies[1].id}")["Items"]
        assert {i["Id"] for i in by_ids} == {lib.movies[3].id, lib.movies[1].id}
        season = items(ParentId=lib.seasons[0].id, Fields="ProviderIds")["Items"]
        assert [i["IndexNumber"] for i in season] == list(range(1, 11))
        newest = items(IncludeItemTypes="Movie", SortBy="DateCreated", SortOrder="Descending")
        assert [i["Id"] for i in newest["Items"][:2]] == [world.matrix.id, lib.movies[-1].id]
        # filters on user data need a user
        no_user = http.get("/Items", params={"Recursive": "true", "Filters": "IsPlayed"})
        assert no_user.status_code == 400
        anonymous = http.get("/Items", params={"Recursive": "true", "Limit": 2}).json()
        assert all("UserData" not in i for i in anonymous["Items"])
        assert http.get("/Items", params={**base, "Limit": "x"}).status_code == 400
    assert not fake.writes


def test_built_library_has_case_variants_and_items_without_ids() -> None:
    fake = FakeJellyfin()
    lib = build_library(fake, movies=400, episodes=400, users=(), odd_case=0.2, no_ids=0.1)
    keys = {k for item in (*lib.movies, *lib.episodes) for k in item.provider_ids}
    assert {"Imdb", "Tmdb", "Tvdb"} <= keys
    assert keys & {"IMDB", "imdb", "TMDB", "tmdb", "TVDB", "tvdb"}
    assert lib.unmatched and all(
        not set(i.provider_ids) or set(i.provider_ids) == {"AniDB"} for i in lib.unmatched
    )
    assert not any("Tmdb" in e.provider_ids for e in lib.episodes)  # TMDb plugin habit


def test_series_user_data_and_marking_a_series(jellyfin: World) -> None:
    fake, alice, show = jellyfin.fake, jellyfin.alice, jellyfin.show
    missing = fake.add_episode(show, 1, 3, "Missing", virtual=True)
    with jellyfin.http() as http:
        answer = http.post(f"/Users/{alice.id}/PlayedItems/{show.id}").json()
        assert (answer["Played"], answer["UnplayedItemCount"]) == (True, 0)
        assert answer["PlayedPercentage"] == 100.0
    assert fake.user_data(alice, jellyfin.pilot).played
    assert fake.user_data(alice, jellyfin.episode2).played
    assert not fake.user_data(alice, missing).played  # placeholders are not marked
    assert not fake.user_data(jellyfin.bob, jellyfin.pilot).played


def test_mark_played_rules(jellyfin: World) -> None:
    fake, alice, movie = jellyfin.fake, jellyfin.alice, jellyfin.matrix
    fake.set_played(alice, movie, last_played=WHEN - 86400, play_count=2)
    path = f"/Users/{alice.id}/PlayedItems/{movie.id}"
    with jellyfin.http() as http:
        undated = http.post(path).json()  # no date: keeps the old date and count
        assert (undated["PlayCount"], undated["LastPlayedDate"]) == (
            2,
            "2024-01-01T03:04:05.0000000Z",
        )
        dated = http.post(path, params={"datePlayed": "20240102030405"}).json()
        assert (dated["PlayCount"], dated["LastPlayedDate"]) == (3, "2024-01-02T03:04:05.0000000Z")
        assert http.post(path, params={"datePlayed": "yesterday"}).status_code == 400
        cleared = http.delete(path).json()
        assert (cleared["Played"], cleared["PlayCount"], "LastPlayedDate" in cleared) == (
            False,
            0,
            False,
        )
    fresh = jellyfin.fake.user_data(jellyfin.bob, movie)
    assert (fresh.played, fresh.play_count, fresh.last_played) == (False, 0, None)


def test_user_tokens_act_for_their_user_only(world: World) -> None:
    fake = world.fake
    token = fake.issue_user_token(world.alice, device_id="alice-phone")
    header = (
        {"X-Emby-Token": token}
        if world.flavour == "emby"
        else {"Authorization": f'MediaBrowser DeviceId="alice-phone", Token="{token}"'}
    )
    with world.http(**header) as http:
        own = http.get(f"/Users/{world.alice.id}/Items", params={"Recursive": "true"})
        assert own.status_code == 200
        other = http.get(f"/Users/{world.bob.id}/Items", params={"Recursive": "true"})
        assert other.status_code == 403
        mark = http.post(f"/Users/{world.bob.id}/PlayedItems/{world.matrix.id}")
        assert mark.status_code == 403
        assert http.get("/Users").status_code == 200  # also on Emby: not an API key
    fake.start_playback(world.bob, world.matrix)
    fake.start_playback(world.alice, world.pilot, device_id="alice-phone")
    with world.http(**header) as http:
        assert [s["UserName"] for s in http.get("/Sessions").json()] == ["alice"]
    assert fake.writes and all(r.status == 403 for r in fake.writes)
    assert not fake.changes


def test_sessions_filters_and_playback_rules() -> None:
    for version, keeps_played in (("10.11.11", False), ("12.0.0", True)):
        clock = Clock(WHEN)
        fake = FakeJellyfin(version=version, clock=clock)
        alice = fake.add_user("alice")
        movie = fake.add_movie("Heat", 1995, runtime_minutes=170)
        song = fake.add_movie("Theme", None, runtime_minutes=1)
        fake.set_played(alice, movie, last_played=WHEN - 1000)
        session = fake.start_playback(alice, movie, position_ticks=0)
        data = fake.user_data(alice, movie)
        assert (data.played, data.play_count, data.last_played) == (keeps_played, 2, WHEN)
        fake.report_progress(session, movie.runtime_ticks // 2, paused=True)  # type: ignore[operator]
        assert fake.user_data(alice, movie).position_ticks == movie.runtime_ticks // 2  # type: ignore[operator]
        fake.stop_playback(session)  # no position: the whole runtime
        assert fake.user_data(alice, movie).played is True
        theme = fake.start_playback(alice, song, device_id="tv", theme_media=True)
        clock.now += 600
        fake.start_playback(alice, movie, device_id="fresh")
        with httpx.Client(
            transport=_sync_asgi(create_app(fake)), base_url="http://jf", headers=_key(fake)
        ) as http:
            listed = http.get("/Sessions").json()
            assert len(listed) == 3
            recent = http.get("/Sessions", params={"activeWithinSeconds": 60}).json()
            assert [s["DeviceId"] for s in recent] == ["fresh"]
            (tv,) = http.get("/Sessions", params={"deviceId": "tv"}).json()
            assert tv["NowPlayingItem"]["IsThemeMedia"] is True
            assert tv["Id"] == theme.id


# ---------------------------------------------------------------------- httpx: faults and log


def test_faults_and_the_request_log(world: World) -> None:
    fake = world.fake
    fake.fail_next(2, 503, method="GET", path="/Sessions")
    fake.fail_next(1, 401, path=f"/Users/{world.alice.id}")
    with world.http() as http:
        assert [http.get("/Sessions").status_code for _ in range(3)] == [503, 503, 200]
        assert http.get(f"/Users/{world.alice.id}").status_code == 401
        assert http.get(f"/Users/{world.alice.id}").status_code == 200
        fake.fail_next(1, "drop", path="/Users/{userId}/Items")
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(f"/Users/{world.alice.id}/Items")
        fake.hang_seconds = 1.5
        fake.fail_next(1, "hang")
        with pytest.raises(httpx.ReadTimeout):
            http.get("/System/Info", timeout=0.2)
    assert [r.status for r in fake.requests_to("/Sessions", "GET")] == [503, 503, 200]
    users = fake.requests_to("/Users/{userId}")
    assert [(r.status, r.user) for r in users] == [(401, world.alice.id), (200, world.alice.id)]
    assert all(r.caller == "api_key" for r in fake.requests if r.status == 200)
    assert not fake.writes
    fake.clear_log()
    assert fake.requests == [] and fake.changes == []

    world.live.stop()
    with pytest.raises(httpx.ConnectError), world.http() as http:
        http.get("/System/Info/Public")
    world.live.start()
    with world.http() as http:
        assert http.get("/System/Info/Public").status_code == 200


def test_revoked_key_is_refused(world: World) -> None:
    with world.http() as http:
        assert http.get("/System/Info").status_code == 200
        world.fake.revoke_api_key(world.fake.api_key)
        assert http.get("/System/Info").status_code == 401


# ---------------------------------------------------------------------- size


def test_a_large_library_pages_quickly() -> None:
    """20,000 movies + 100,000 episodes for one user, read in pages of 1,000 over a socket."""
    fake = FakeJellyfin()
    started = time.perf_counter()
    lib = build_library(fake, movies=20_000, episodes=100_000, users=("alice",), watched=0.4)
    built = time.perf_counter() - started
    alice = fake.user("alice")
    played: set[str] = set()
    total = 0
    with (
        serve_in_thread(fake) as live,
        httpx.Client(base_url=live.url, headers=_key(fake), timeout=10) as http,
    ):
        started = time.perf_counter()
        start = 0
        while True:
            page = http.get(
                "/Items",
                params={
                    "userId": alice.id,
                    "Recursive": "true",
                    "IncludeItemTypes": "Movie,Episode",
                    "Fields": "ProviderIds",
                    "StartIndex": start,
                    "Limit": 1000,
                },
            ).json()
            total += len(page["Items"])
            played.update(i["Id"] for i in page["Items"] if i["UserData"]["Played"])
            start += 1000
            if start >= page["TotalRecordCount"]:
                break
        paged = time.perf_counter() - started
    assert total == 120_000
    assert played == lib.played[alice.id]
    assert len(fake.requests) == 120
    print(f"built in {built:.2f} s, paged 120 x 1000 in {paged:.2f} s")
    assert built < 15 and paged < 45  # generous: a slow CI box, not a benchmark


# ---------------------------------------------------------------------- helpers


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


def _key(fake: FakeJellyfin) -> dict[str, str]:
    if fake.flavour == "emby":
        return {"X-Emby-Token": fake.api_key}
    return {"Authorization": f'MediaBrowser Token="{fake.api_key}"'}


def _key_header(world: World) -> dict[str, str]:
    return _key(world.fake)


def _sync_asgi(app: Any) -> httpx.BaseTransport:
    """A synchronous httpx transport over the ASGI app (in process, no socket)."""
    return _SyncASGI(app)


class _SyncASGI(httpx.BaseTransport):
    def __init__(self, app: Any) -> None:
        self._transport = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        async def run() -> httpx.Response:
            response = await self._transport.handle_async_request(request)
            body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        return asyncio.run(run())


# ---------------------------------------------------------------------- websocket


def test_real_client_websocket_receives_sessions(jellyfin: World) -> None:
    """jellyfin-apiclient-python's websocket (`/socket`, MediaBrowser header with the API key):
    ForceKeepAlive on connect, KeepAlive answered, Sessions pushed after SessionsStart."""
    fake = jellyfin.fake
    client = real_client(jellyfin, jellyfin.alice)
    received: list[tuple[str, Any]] = []
    arrived = threading.Condition()

    def callback(message: str, data: Any) -> None:
        with arrived:
            received.append((message, data))
            arrived.notify_all()

    def wait_for(predicate: Any) -> None:
        with arrived:
            assert arrived.wait_for(lambda: predicate(received), timeout=10), received

    client.callback = client.callback_ws = callback
    client.config.data["app.default"] = True  # what config.app() sets; on_message reads it
    client.start(websocket=True)
    try:
        wait_for(lambda got: ("WebSocketConnect", None) in got)
        client.wsc.send("SessionsStart", "0,100")
        playing = fake.start_playback(jellyfin.alice, jellyfin.matrix, position_ms=60_000)
        wait_for(lambda got: any(kind == "Sessions" for kind, _ in got))
        data = next(d for kind, d in received if kind == "Sessions")["value"]
        (session,) = [s for s in data if "NowPlayingItem" in s]
        assert session["Id"] == playing.id and session["UserName"] == "alice"
        assert session["NowPlayingItem"]["ProviderIds"] == {"Imdb": "tt0133093", "Tmdb": "603"}
        assert session["PlayState"]["PositionTicks"] == 60_000 * 10_000
    finally:
        client.stop()
    (handshake,) = fake.requests_to("websocket")
    assert (handshake.status, handshake.caller, handshake.auth_via) == (
        101,
        "api_key",
        "Authorization",
    )
    # the library answered ForceKeepAlive with KeepAlive (in its own thread, in any order)
    assert {"KeepAlive", "SessionsStart"} <= {kind for kind, _ in fake.socket_messages}


def test_emby_websocket_path_auth_and_refusal(emby: World) -> None:
    """Emby's `/embywebsocket?api_key=…&deviceId=…` (its JS client's form), with websocket-client;
    a wrong key, another path or `socket_refused` are refused at the handshake."""
    import websocket  # websocket-client, what jellyfin-apiclient-python uses

    fake = emby.fake
    root = emby.live.url.replace("http://", "ws://")
    ws = websocket.create_connection(
        f"{root}/embywebsocket?api_key={fake.api_key}&deviceId=tests", timeout=5
    )
    try:
        assert json.loads(ws.recv()) == {"MessageType": "ForceKeepAlive", "Data": 60}
        ws.send(json.dumps({"MessageType": "KeepAlive"}))
        assert json.loads(ws.recv()) == {"MessageType": "KeepAlive"}
        ws.send(json.dumps({"MessageType": "SessionsStart", "Data": "0,1500"}))
        fake.start_playback(emby.bob, emby.pilot)
        message = json.loads(ws.recv())
        while not message.get("Data"):  # a push may come before the playback is seen
            message = json.loads(ws.recv())
        assert message["MessageType"] == "Sessions" and message["MessageId"]
        (session,) = message["Data"]
        assert session["UserName"] == "bob" and session["NowPlayingItem"]["Id"] == emby.pilot.id
        assert fake.drop_sockets() == 1
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            while True:
                ws.recv()  # until the close frame (1001)
    finally:
        ws.close()
    for url, status in [
        (f"{root}/embywebsocket?api_key=wrong", 401),
        (f"{root}/socket?api_key={fake.api_key}", 404),
    ]:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(url, timeout=5)
        assert refused.value.status_code == status
    fake.socket_refused = True
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"{root}/embywebsocket?api_key={fake.api_key}", timeout=5)
    assert refused.value.status_code == 403
