"""A fake plex.tv (ASGI) for one fake Plex server: the owner's view of who may use the server and
with which token (docs/media-server-apis.md §2.5).

It hands out the tokens the fake Plex server accepts, so a token fetched here really acts for
its account there::

    fake = FakePlex(); friend = fake.add_account("friend", kind="shared")
    kid = fake.add_account("kid")                            # kind "home": a Plex Home user
    tv = FakePlexTv(fake)
    with PlexTvThread(tv) as url: ...                         # uvicorn on 127.0.0.1

Routes (plex.tv's, answered from the fake server's accounts; the owner's token is the fake
server's owner token):

* ``GET /api/servers/{machineIdentifier}/shared_servers`` (owner token) → XML, one
  ``SharedServer`` (``userID``, ``accessToken``, ``username``, ``Section`` children) per
  ``kind="shared"`` account (and per Home account too with ``home_in_shared_servers``);
* ``GET /api/v2/home/users`` (owner token) → JSON ``{"users": [...]}``: the admin (``admin``,
  plex.tv id :data:`OWNER_PLEX_ID`) and every ``kind="home"`` account (``protected`` when listed
  in ``protected``);
* ``POST /api/v2/home/users/{uuid}/switch`` (owner token; a ``pin`` for a protected user) → 201
  JSON with a temporary ``authToken`` of that user;
* ``GET /api/v2/resources`` (such a temporary token) → JSON list with the server
  (``clientIdentifier`` = its machineIdentifier, ``provides: server``, the user's
  ``accessToken``).

Steering: ``hidden`` (account ids plex.tv does not list), ``token_override`` (account id → the
token plex.tv gives instead of the real one: a stale token), ``protected`` ({account id: pin}),
``fail_next(n, status, path=)``; log: ``requests`` (method, path, token, headers).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .render import Node, to_xml
from .server import STARTUP_TIMEOUT, free_port
from .state import Account, FakePlex

# The owner's plex.tv user id (on the server the owner is account 1).
OWNER_PLEX_ID = 10_000_001


@dataclass
class TvRequest:
    method: str
    path: str
    token: str | None
    headers: dict[str, str]
    status: int | None = None


@dataclass
class FakePlexTv:
    fake: FakePlex
    home_in_shared_servers: bool = False
    hidden: set[int] = field(default_factory=set)
    token_override: dict[int, str] = field(default_factory=dict)
    protected: dict[int, str] = field(default_factory=dict)  # account id → PIN
    requests: list[TvRequest] = field(default_factory=list)
    _faults: list[tuple[int, str | None]] = field(default_factory=list)
    _temporary: dict[str, int] = field(default_factory=dict)  # switch token → account id
    _share_ids: Iterator[int] = field(default_factory=lambda: itertools.count(7_000_001))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, n: int = 1, status: int = 503, *, path: str | None = None) -> None:
        with self.lock:
            self._faults.extend((status, path) for _ in range(n))

    def take_fault(self, path: str) -> int | None:
        with self.lock:
            for fault in self._faults:
                if fault[1] is None or fault[1] == path:
                    self._faults.remove(fault)
                    return fault[0]
        return None

    def uuid_of(self, account: Account) -> str:
        return uuid.uuid5(uuid.NAMESPACE_OID, f"plex-user-{account.id}").hex

    def listed(self, kind: str) -> list[Account]:
        return [
            account
            for account in self.fake.accounts.values()
            if account.kind == kind and account.id not in self.hidden and account.token
        ]

    def token_for(self, account: Account) -> str | None:
        return self.token_override.get(account.id, account.token)

    def tokens_sent(self) -> set[str]:
        return {entry.token for entry in self.requests if entry.token}


def _reply(status: int, body: Any = None, media_type: str = "application/json") -> Response:
    if body is None:
        return Response(status_code=status)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(content, status_code=status, media_type=media_type)


def _shared_servers(tv: FakePlexTv, machine: str) -> Response:
    fake = tv.fake
    if machine != fake.machine_identifier:
        return _reply(404, {"errors": [{"code": 1020, "message": "Resource not found"}]})
    accounts = tv.listed("shared") + (tv.listed("home") if tv.home_in_shared_servers else [])
    shares = []
    for account in accounts:
        sections = [
            Node(
                "Section",
                {
                    "id": section.key + 900,
                    "key": section.key,
                    "title": section.title,
                    "type": section.type,
                    "shared": account.sections is None or section.key in account.sections,
                },
            )
            for section in fake.sections.values()
        ]
        shares.append(
            Node(
                "SharedServer",
                {
                    "id": next(tv._share_ids),
                    "username": account.name,
                    "email": f"{account.name}@example.com",
                    "userID": account.id,
                    "accessToken": tv.token_for(account),
                    "name": fake.friendly_name,
                    "acceptedAt": 1_700_000_000,
                    "invitedAt": 1_699_000_000,
                    "allowSync": False,
                    "owned": False,
                    "allLibraries": account.sections is None,
                },
                sections,
            )
        )
    root = Node(
        "MediaContainer",
        {"friendlyName": "myPlex", "identifier": "com.plexapp.plugins.myplex",
         "machineIdentifier": machine, "size": len(shares)},
        shares,
    )  # fmt: skip
    return _reply(200, to_xml(root), "text/xml")


def _home_users(tv: FakePlexTv) -> Response:
    owner = tv.fake.owner
    users = [
        {"id": OWNER_PLEX_ID, "uuid": "owner-uuid", "title": owner.name, "admin": True,
         "guest": False, "restricted": False, "protected": False}
    ]  # fmt: skip
    for account in tv.listed("home"):
        users.append(
            {"id": account.id, "uuid": tv.uuid_of(account), "title": account.name,
             "admin": False, "guest": False, "restricted": True,
             "protected": account.id in tv.protected}
        )  # fmt: skip
    return _reply(200, {"id": 42, "name": "Home", "users": users})


def _switch(tv: FakePlexTv, request: Request, user_uuid: str) -> Response:
    for account in tv.listed("home"):
        if tv.uuid_of(account) == user_uuid:
            pin = tv.protected.get(account.id)
            if pin is not None and request.query_params.get("pin") != pin:
                return _reply(403, {"errors": [{"code": 1041, "message": "Invalid PIN"}]})
            temporary = f"fake-plextv-switch-{account.id}-{uuid.uuid4().hex[:12]}"
            with tv.lock:
                tv._temporary[temporary] = account.id
            return _reply(201, {"id": account.id, "uuid": user_uuid, "authToken": temporary})
    return _reply(404, {"errors": [{"code": 1020, "message": "User not found"}]})


def _resources(tv: FakePlexTv, account_id: int) -> Response:
    fake = tv.fake
    account = fake.accounts.get(account_id)
    if account is None:
        return _reply(401)
    return _reply(
        200,
        [
            {"name": "Phone", "product": "Plex for iOS", "provides": "client,player",
             "clientIdentifier": "phone-" + str(account_id), "accessToken": "client-token"},
            {"name": fake.friendly_name, "product": "Plex Media Server",
             "provides": "server", "clientIdentifier": fake.machine_identifier,
             "owned": False, "accessToken": tv.token_for(account),
             "connections": [{"uri": "http://127.0.0.1:32400", "local": True}]},
        ],
    )  # fmt: skip


def create_plextv_app(tv: FakePlexTv) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = _handle(tv, request)
        await response(scope, receive, send)

    return app


def _handle(tv: FakePlexTv, request: Request) -> Response:
    path = request.url.path.rstrip("/") or "/"
    token = request.headers.get("X-Plex-Token") or request.query_params.get("X-Plex-Token")
    entry = TvRequest(
        request.method, path, token, {k.lower(): v for k, v in request.headers.items()}
    )
    tv.requests.append(entry)
    response = _route(tv, request, path, token)
    entry.status = response.status_code
    return response


def _route(tv: FakePlexTv, request: Request, path: str, token: str | None) -> Response:
    status = tv.take_fault(path)
    if status is not None:
        return _reply(status, {"errors": [{"code": status, "message": "injected"}]})
    parts = path.strip("/").split("/")
    if request.method == "GET" and path == "/api/v2/resources":
        with tv.lock:
            account_id = tv._temporary.get(token or "")
        return _reply(401) if account_id is None else _resources(tv, account_id)
    if token != tv.fake.owner_token:
        return _reply(401, {"errors": [{"code": 1001, "message": "Not authenticated"}]})
    if (
        request.method == "GET"
        and parts[:2] == ["api", "servers"]
        and parts[3:] == ["shared_servers"]
    ):
        return _shared_servers(tv, parts[2])
    if request.method == "GET" and path == "/api/v2/home/users":
        return _home_users(tv)
    if (
        request.method == "POST"
        and parts[:4] == ["api", "v2", "home", "users"]
        and (len(parts) == 6 and parts[5] == "switch")
    ):
        return _switch(tv, request, parts[4])
    return _reply(404, {"errors": [{"code": 1020, "message": "Not found"}]})


class PlexTvThread:
    """The fake plex.tv served by uvicorn in a daemon thread; ``stop()`` makes it unreachable."""

    def __init__(self, tv: FakePlexTv, host: str = "127.0.0.1", port: int | None = None):
        self.tv = tv
        self.host = host
        self.port = port or free_port(host)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        if self._thread is not None and self._thread.is_alive():
            return self.url
        config = uvicorn.Config(
            create_plextv_app(self.tv),
            host=self.host,
            port=self.port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"fake-plextv-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fake plex.tv did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self.url

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT)
        self._server, self._thread = None, None

    def __enter__(self) -> PlexTvThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
