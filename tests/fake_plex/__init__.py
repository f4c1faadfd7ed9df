"""A fake Plex Media Server (ASGI) with a controllable state, for tests (SPEC §12).

Build state, then serve it on loopback::

    fake = FakePlex(friendly_name="Home", clock=clock)       # owner: account 1, fake.owner_token
    kid = fake.add_account("kid")                            # own server token: kid.token
    lib = build_library(fake, movies=200, shows=10)          # or add_section/add_movie/…
    with serve_in_thread(fake) as url:                       # uvicorn on 127.0.0.1, free port
        plex = plexapi.server.PlexServer(url, fake.owner_token)

`PlexServerThread(fake)` gives `start()` / `stop()` (unreachable) / `start()` again on one URL.
In process: `httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(fake)))`.

Steering it (all on `FakePlex`):

* accounts and tokens: `owner`, `owner_token`, `add_account(name, token=, kind=, sections=)`,
  `account(id | name)`, `set_token`, `add_token` (a second valid token), `revoke_token`;
* library: `add_section(title, "movie" | "show")`, `add_movie(section, title, ids=, agent=)`,
  `add_show`, `add_episode(show, season, number, ids=)`, `remove_item`, `item(rating_key)`;
  agents "plex" (Guid children), legacy "imdb"/"themoviedb"/"thetvdb", "none", "local";
  `builder.build_library` / `seed_watched` for big generated libraries;
* per-account state: `state(account, item)`, `set_state(…)`, `add_play` (a real play: history row
  + viewCount), `mark_watched` / `mark_unwatched` / `rate` (what the HTTP writes do),
  `watched_keys(account)`, `history_of(account)`;
* live: `start_session(account, item, offset=)`, `update_session`, `pause`, `resume`,
  `progress(session, offset)`, `stop_session(session, offset=)` (a play past
  `watched_threshold`, 90 %, is recorded once), `end_session` (gone without a notification);
  offsets in ms, sessions by object or sessionKey;
* notifications websocket (`socket.py`, `/:/websockets/notifications`, owner token as header or
  query): a `playing` notification (`PlaySessionStateNotification`) at every session change,
  `push_notification(container)` for any other, `drop_sockets()` (a restart), `sockets`,
  `notifications` (every container pushed); handshakes are logged in `requests`;
* behaviour: `latency`, `page_cap` (answer fewer than asked), `hang_seconds`,
  `list_account_zero`, `fail_next(n, 500 | 401 | "hang", method=, path=, prefix=)`,
  `release_hangs()`, `clear_faults()`;
* log: `requests` (LoggedRequest: t, method, path, query, raw_query, headers, token,
  account_id, status, json, is_write), `requests_to(path, method, prefix=)`, `writes()`,
  `clear_log()`.

plex.tv for it (the shared servers' and Home users' tokens): `FakePlexTv(fake)` served by
`PlexTvThread` (see `plextv.py`).
"""

from .app import ROUTES, HTTPError, create_app, item_node, route
from .builder import Library, build_library, episode_ids, movie_ids, seed_watched, show_ids
from .plextv import OWNER_PLEX_ID, FakePlexTv, PlexTvThread, create_plextv_app
from .server import PlexServerThread, free_port, serve_in_thread
from .state import (
    LIBRARY_IDENTIFIER,
    OWNER_ID,
    Account,
    FakePlex,
    HistoryEntry,
    LoggedRequest,
    PlaySession,
    PlexItem,
    Section,
    UserState,
)

__all__ = [
    "LIBRARY_IDENTIFIER",
    "OWNER_ID",
    "OWNER_PLEX_ID",
    "ROUTES",
    "Account",
    "FakePlex",
    "FakePlexTv",
    "HTTPError",
    "HistoryEntry",
    "Library",
    "LoggedRequest",
    "PlaySession",
    "PlexItem",
    "PlexServerThread",
    "PlexTvThread",
    "Section",
    "UserState",
    "build_library",
    "create_app",
    "create_plextv_app",
    "episode_ids",
    "free_port",
    "item_node",
    "movie_ids",
    "route",
    "seed_watched",
    "serve_in_thread",
    "show_ids",
]
