"""A fake Jellyfin server with an Emby flavour (ASGI), with a controllable state, for tests.

Facts it follows: docs/media-server-apis.md §3 (Jellyfin), §4 (Emby), §6 (pitfalls).

Build a state::

    fake = FakeJellyfin()                         # or FakeJellyfin("emby"), version="10.8.13"…
    key = fake.api_key                            # the admin API key (add_api_key for more)
    alice = fake.add_user("alice")                # 32-hex ids; admin=, hidden=, password=
    movie = fake.add_movie("The Matrix", 1999, {"Imdb": "tt0133093", "Tmdb": "603"})
    show = fake.add_series("Breaking Bad", 2008, {"Tvdb": "81189"})
    pilot = fake.add_episode(show, 1, 1, "Pilot", {"Tvdb": "349232"})
    fake.set_played(alice, movie, last_played=1_700_000_000)   # setup, no journal
    lib = build_library(fake, movies=20_000, episodes=100_000, users=("alice", "bob"))

Serve it::

    with serve_in_thread(fake) as live:           # uvicorn on 127.0.0.1, free port
        live.url, live.api_url                    # api_url ends in /emby for Emby
        live.stop(); live.start()                 # unreachable, then back on the same port

or in process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(fake)))``;
``python -m tests.fake_jellyfin --flavour emby --movies 100`` for manual poking.

Steer and inspect it (all on `FakeJellyfin`):

* identity: `flavour`, `version` (Jellyfin below 10.9 lacks the `userId`-in-query routes),
  `server_name`, `server_id`, `product_name`; `legacy_auth` (Jellyfin's
  EnableLegacyAuthorization, off from 12.0), `users_forbidden_for_api_keys` (Emby: `/Users`
  answers 403 to API keys; use `/Users/Query`);
* keys and users: `add_api_key`, `revoke_api_key`, `add_user`, `user(name_or_id)`,
  `issue_user_token(user, device_id)` (or `POST /Users/AuthenticateByName` with a password);
* library: `add_movie`, `add_series`, `add_season`, `add_episode(virtual=)`, `add_library`,
  `item(id)`, `children`, `episodes_of`; `build_library` (library.py);
* watched state: `user_data(user, item)` (as served; folders derived), `stored_user_data`,
  `set_user_data`, `set_played`, `played_items(user)`; the server's own rules in `mark_played`,
  `mark_unplayed`, `update_user_data`, `set_favorite`; `changes` journals every change made
  through the API (user, item, action, date);
* sessions: `start_playback(user, item, position_ticks= | position_ms=, paused=, device_id=,
  theme_media=)`, `report_progress(session, ticks, paused=)`, `progress(session, ms)`,
  `pause(session, ms=)`, `resume(session, ms=)`, `stop_playback(session, ticks | position_ms=)`
  (the playback leaves the list; the session stays idle), `end_session` (the session is gone),
  `sessions` (also driven over HTTP by `POST /Sessions/Playing…` with a user token);
* websocket (socket.py): Jellyfin on any path (`/socket`), Emby on `/embywebsocket`;
  `SessionsStart` → `Sessions` pushes on every change and at the interval; `ForceKeepAlive` /
  `KeepAlive`; `socket_refused` (every handshake 403: clients poll), `socket_periodic`,
  `keepalive_seconds`, `drop_sockets()` (a restart), `sockets`, `socket_messages`; a handshake
  is logged in `requests` with route `"websocket"`;
* faults: `fail_next(n, 500 | 401 | 503 | "hang" | "drop", method=, path=)`, `clear_faults`,
  `hang_seconds`, `latency`; a stopped `LiveServer` refuses connections;
* log: `requests` (LoggedRequest: t, wall, method, path, local_path, query, headers, body,
  route, caller, auth_via, user, status), `requests_to(path_or_route, method)`, `writes`,
  `clear_log()`.

Where the fake differs from the real servers (on purpose or not yet modelled):

* websocket: see socket.py for what it leaves out; no `/Shows/…`,
  `…/Items/Resume|Latest`, ActivityLog, Quick Connect, `/Users/Public`;
* items query: the parameters above (`Recursive`, `ParentId`, `Include/ExcludeItemTypes`,
  `Ids`, `Filters`, `IsPlayed`, `IsFavorite`, `(Exclude)LocationTypes`, `IsMissing`,
  `Has{Imdb,Tmdb,Tvdb}Id`, `SearchTerm`, Emby `AnyProviderIdEquals`, `SortBy` (a subset; other
  keys skipped), `SortOrder`, `StartIndex`, `Limit`, `Fields` (a subset), `EnableUserData`,
  `EnableTotalRecordCount`); any other parameter is ignored where a real server would filter;
* an API key without `userId`: filtering or sorting by user data, and every write, answer 400
  (real servers ignore the filter / answer "user not found");
* `UserData.Key` is the item id; Series/Season user data is derived from the episodes only;
  every user sees every library; marks never spread to a session's `AdditionalUsers`;
* Emby: user-data rules copied from Jellyfin (its source is closed), `DatePlayed` only as
  `yyyyMMddHHmmss`, read as UTC (docs §7.11 leaves local time open); `X-MediaBrowser-Token`
  and `?ApiKey=` refused; `ProductName` sent (4.8+ does, the 4.1 OpenAPI lacks it);
* playback reports over HTTP (`/Sessions/Playing…`) need a user token; an API-key caller
  registers no session of its own; errors are plain text (Jellyfin sends ProblemDetails JSON);
* the "drop" fault: over a socket the client sees a broken answer (uvicorn logs it); in
  process `DroppedConnection` reaches the caller.
"""

from .app import ROUTES, DroppedConnection, HTTPError, create_app, route
from .library import Library, build_library, episode_ids, movie_ids, series_ids
from .query import ItemQuery
from .server import LiveServer, free_port, serve_in_thread
from .state import (
    TICKS_PER_SECOND,
    Caller,
    Change,
    FakeJellyfin,
    Flavour,
    Item,
    LoggedRequest,
    Session,
    User,
    UserData,
    dotnet_iso,
    parse_date_played,
)

__all__ = [
    "ROUTES",
    "TICKS_PER_SECOND",
    "Caller",
    "Change",
    "DroppedConnection",
    "FakeJellyfin",
    "Flavour",
    "HTTPError",
    "Item",
    "ItemQuery",
    "Library",
    "LiveServer",
    "LoggedRequest",
    "Session",
    "User",
    "UserData",
    "build_library",
    "create_app",
    "dotnet_iso",
    "episode_ids",
    "free_port",
    "movie_ids",
    "parse_date_played",
    "route",
    "series_ids",
    "serve_in_thread",
]
