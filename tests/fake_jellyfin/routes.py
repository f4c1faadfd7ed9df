"""The fake's endpoints and the DTOs they answer (field names from BaseItemDto, UserItemDataDto,
UserDto, SessionInfoDto, QueryResult; Jellyfin omits nulls, and so does the fake).

Served (J = Jellyfin, J10.9 = Jellyfin 10.9+, E = Emby):

| route | flavours |
|---|---|
| `GET /System/Info/Public` (no auth), `GET /System/Info`, `GET/POST /System/Ping` | J, E |
| `GET /Users`, `GET /Users/{userId}`, `POST /Users/AuthenticateByName` | J, E |
| `GET /Users/Me` | J |
| `GET /Users/Query` (admin) | E |
| `GET /Items`, `GET /Users/{userId}/Items`, `GET /Users/{userId}/Items/{itemId}` | J, E |
| `GET /Items/{itemId}?userId=` | J10.9 |
| `GET /Users/{userId}/Views` | J, E; `GET /UserViews?userId=` J10.9 |
| `POST/DELETE /Users/{userId}/PlayedItems/{itemId}` | J, E (+ E `POST …/Delete`) |
| `POST/DELETE /UserPlayedItems/{itemId}?userId=` | J10.9 |
| `GET/POST /UserItems/{itemId}/UserData?userId=` | J10.9 |
| `POST /Users/{userId}/Items/{itemId}/UserData` | E |
| `POST/DELETE /Users/{userId}/FavoriteItems/{itemId}` | J, E; `/UserFavoriteItems/{itemId}` J10.9 |
| `GET /Sessions`, `POST /Sessions/Playing`, `…/Playing/Progress`, `…/Playing/Stopped` | J, E |
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from .app import Ctx, HTTPError, json_response, route
from .query import ItemQuery
from .state import (
    SORT_KEYS,
    FakeJellyfin,
    Item,
    Session,
    User,
    dotnet_iso,
    parse_date_played,
)

J109 = (10, 9)
HEX32 = re.compile(r"^[0-9a-f]{32}$")
ITEM_KINDS = {
    k.lower(): k
    for k in (
        "AggregateFolder", "Audio", "AudioBook", "BasePluginFolder", "Book", "BoxSet",
        "Channel", "ChannelFolderItem", "CollectionFolder", "Episode", "Folder", "Genre",
        "ManualPlaylistsFolder", "Movie", "LiveTvChannel", "LiveTvProgram", "MusicAlbum",
        "MusicArtist", "MusicGenre", "MusicVideo", "Person", "Photo", "PhotoAlbum", "Playlist",
        "PlaylistsFolder", "Program", "Recording", "Season", "Series", "Studio", "Trailer",
        "TvChannel", "TvProgram", "UserRootFolder", "UserView", "Video", "Year",
    )
}  # fmt: skip
FILTERS = {
    k.lower(): k
    for k in (
        "IsFolder", "IsNotFolder", "IsUnplayed", "IsPlayed", "IsFavorite", "IsResumable",
        "Likes", "Dislikes", "IsFavoriteOrLikes",
    )
}  # fmt: skip
SORTS = {k.lower(): k for k in SORT_KEYS}
LOCATION_TYPES = {k.lower(): k for k in ("FileSystem", "Remote", "Virtual", "Offline")}
ALL_FIELDS = frozenset(
    {"providerids", "datecreated", "path", "sortname", "parentid", "mediasources",
     "recursiveitemcount", "childcount", "overview", "genres"}
)  # fmt: skip


# ---------------------------------------------------------------------- helpers


def _known(values: list[str], table: dict[str, str]) -> tuple[str, ...]:
    """Enum list values as the servers bind them: case-insensitive, unknown ones skipped."""
    return tuple(table[v.lower()] for v in values if v.lower() in table)


def _user(ctx: Ctx, raw: str | None, *, required: bool) -> User | None:
    """The user a request acts for: `raw` (path or query userId), else the token's user.

    A user token may act only for itself unless its user is an administrator (403)."""
    fake = ctx.fake
    caller = ctx.caller
    assert caller is not None
    if raw:
        key = fake.normalize_id(raw)
        if fake.flavour == "jellyfin" and not HEX32.match(key):
            raise HTTPError(400, f"The value '{raw}' is not valid.")
        user = fake.users.get(key)
        if user is None:
            raise HTTPError(404, "User not found")
        if caller.kind == "user" and not caller.is_admin and user is not caller.user:
            raise HTTPError(403, "Forbidden")
    else:
        user = caller.user
        if user is None and required:
            raise HTTPError(400, "userId is required when using an API key")
    if user is not None:
        ctx.entry.user = user.id
    return user


def _path_or_query_user(ctx: Ctx, *, required: bool) -> User | None:
    return _user(ctx, ctx.params.get("userId") or ctx.q("userId"), required=required)


def _item(ctx: Ctx, raw: str) -> Item:
    fake = ctx.fake
    key = fake.normalize_id(raw) if fake.flavour == "jellyfin" else raw
    if fake.flavour == "jellyfin" and not HEX32.match(key):
        raise HTTPError(400, f"The value '{raw}' is not valid.")
    item = fake.items.get(key)
    if item is None:
        raise HTTPError(404, "Item not found")
    return item


def user_data_dto(fake: FakeJellyfin, user: User, item: Item) -> dict[str, Any]:
    data = fake.user_data(user, item)
    dto: dict[str, Any] = {
        "PlaybackPositionTicks": data.position_ticks,
        "PlayCount": data.play_count,
        "IsFavorite": data.is_favorite,
        "Played": data.played,
        "Key": item.id,
        "ItemId": item.id,
    }
    if data.last_played is not None:
        dto["LastPlayedDate"] = dotnet_iso(data.last_played)
    if data.rating is not None:
        dto["Rating"] = data.rating
    if data.likes is not None:
        dto["Likes"] = data.likes
    if item.type in ("Series", "Season"):
        total, unplayed = fake.episode_counts(user, item)
        dto["UnplayedItemCount"] = unplayed
        if fake.flavour == "jellyfin" and total:
            dto["PlayedPercentage"] = 100.0 * (total - unplayed) / total
    elif fake.flavour == "jellyfin" and data.position_ticks and item.runtime_ticks:
        dto["PlayedPercentage"] = 100.0 * data.position_ticks / item.runtime_ticks
    return dto


def item_dto(
    fake: FakeJellyfin,
    item: Item,
    user: User | None,
    fields: frozenset[str],
    *,
    user_data: bool = True,
) -> dict[str, Any]:
    dto: dict[str, Any] = {
        "Name": item.name,
        "ServerId": fake.server_id,
        "Id": item.id,
        "Type": item.type,
        "IsFolder": item.is_folder,
        "LocationType": item.location_type,
    }
    if item.year is not None:
        dto["ProductionYear"] = item.year
    if item.runtime_ticks is not None:
        dto["RunTimeTicks"] = item.runtime_ticks
    if item.type in ("Movie", "Episode"):
        dto["MediaType"] = "Video"
    if item.type == "Episode":
        dto.update(
            SeriesName=item.series_name,
            SeriesId=item.series_id,
            SeasonId=item.season_id,
            SeasonName=item.season_name,
            ParentIndexNumber=item.season,
            IndexNumber=item.number,
        )
    elif item.type == "Season":
        dto.update(SeriesName=item.series_name, SeriesId=item.series_id, IndexNumber=item.number)
    elif item.type == "CollectionFolder":
        dto["CollectionType"] = item.collection_type
    if "providerids" in fields:
        dto["ProviderIds"] = dict(item.provider_ids)
    if "datecreated" in fields:
        dto["DateCreated"] = dotnet_iso(item.date_created)
    if "path" in fields and item.path:
        dto["Path"] = item.path
    if "sortname" in fields:
        dto["SortName"] = item.sort_name
    if "parentid" in fields and item.parent_id:
        dto["ParentId"] = item.parent_id
    if "overview" in fields:
        dto["Overview"] = ""
    if "genres" in fields:
        dto["Genres"] = []
    if "mediasources" in fields and item.type in ("Movie", "Episode") and item.path:
        dto["MediaSources"] = [
            {"Id": item.id, "Path": item.path, "Protocol": "File", "Type": "Default",
             "Container": "mkv", "RunTimeTicks": item.runtime_ticks}
        ]  # fmt: skip
    if item.type in ("Series", "Season") and fields & {"recursiveitemcount", "childcount"}:
        episodes = [e for e in fake._descendant_episodes(item) if e.location_type != "Virtual"]
        if "recursiveitemcount" in fields:
            dto["RecursiveItemCount"] = len(episodes)
        if "childcount" in fields:
            dto["ChildCount"] = len(fake.children(item))
    if user is not None and user_data:
        dto["UserData"] = user_data_dto(fake, user, item)
    return dto


def user_dto(fake: FakeJellyfin, user: User) -> dict[str, Any]:
    dto: dict[str, Any] = {
        "Name": user.name,
        "ServerId": fake.server_id,
        "Id": user.id,
        "HasPassword": bool(user.password),
        "HasConfiguredPassword": bool(user.password),
        "HasConfiguredEasyPassword": False,
        "EnableAutoLogin": False,
        "Configuration": {"PlayDefaultAudioTrack": True, "HidePlayedInLatest": True},
        "Policy": {
            "IsAdministrator": user.is_admin,
            "IsHidden": user.is_hidden,
            "IsDisabled": user.is_disabled,
            "EnableAllFolders": True,
            "EnableRemoteControlOfOtherUsers": user.is_admin,
            "EnableSharedDeviceControl": True,
        },
    }
    if user.last_activity is not None:
        dto["LastActivityDate"] = dotnet_iso(user.last_activity)
    return dto


def session_dto(fake: FakeJellyfin, session: Session) -> dict[str, Any]:
    user = fake.users.get(session.user_id)
    play_state: dict[str, Any] = {
        "CanSeek": session.item is not None,
        "IsPaused": session.is_paused,
        "IsMuted": False,
        "RepeatMode": "RepeatNone",
    }
    dto: dict[str, Any] = {
        "PlayState": play_state,
        "AdditionalUsers": [
            {"UserId": uid, "UserName": fake.users[uid].name}
            for uid in session.additional_user_ids
            if uid in fake.users
        ],
        "RemoteEndPoint": "127.0.0.1",
        "PlayableMediaTypes": ["Audio", "Video"],
        "Id": session.id,
        "ServerId": fake.server_id,
        "UserId": session.user_id,
        "UserName": user.name if user else "",
        "Client": session.client,
        "LastActivityDate": dotnet_iso(session.last_activity),
        "DeviceName": session.device_name,
        "DeviceId": session.device_id,
        "ApplicationVersion": session.app_version,
        "SupportsRemoteControl": session.supports_remote_control,
        "IsActive": True,
    }
    if session.last_playback_check_in is not None:
        dto["LastPlaybackCheckIn"] = dotnet_iso(session.last_playback_check_in)
    if session.item is not None:
        play_state.update(
            PositionTicks=session.position_ticks,
            PlayMethod=session.play_method,
            MediaSourceId=session.item.id,
        )
        now_playing = item_dto(fake, session.item, None, frozenset({"providerids"}))
        if session.is_theme_media:
            now_playing["IsThemeMedia"] = True
        dto["NowPlayingItem"] = now_playing
    return dto


def _query_result(ctx: Ctx, items: list[dict[str, Any]], total: int, start: int) -> Response:
    body: dict[str, Any] = {"Items": items, "TotalRecordCount": total}
    if ctx.fake.flavour == "jellyfin":
        body["StartIndex"] = start
    return json_response(body)


# ---------------------------------------------------------------------- system


def _base_url(ctx: Ctx) -> str:
    url = ctx.request.url
    return f"{url.scheme}://{url.netloc}"


def _public_info(ctx: Ctx) -> dict[str, Any]:
    fake = ctx.fake
    return {
        "LocalAddress": _base_url(ctx),
        "ServerName": fake.server_name,
        "Version": fake.version,
        "ProductName": fake.product_name,
        "OperatingSystem": "Linux" if fake.flavour == "emby" else "",
        "Id": fake.server_id,
        "StartupWizardCompleted": True,
    }


@route("GET", "/System/Info/Public", auth="none")
async def system_info_public(ctx: Ctx) -> Response:
    return json_response(_public_info(ctx))


@route("GET", "/System/Info")
async def system_info(ctx: Ctx) -> Response:
    info = _public_info(ctx)
    info.update(
        OperatingSystemDisplayName="Linux",
        HasPendingRestart=False,
        IsShuttingDown=False,
        SupportsLibraryMonitor=True,
        WebSocketPortNumber=ctx.request.url.port or 80,
        CanSelfRestart=True,
        HasUpdateAvailable=False,
    )
    if ctx.fake.flavour == "emby":
        info["WanAddress"] = _base_url(ctx)
    return json_response(info)


@route("GET", "/System/Ping", auth="none")
@route("POST", "/System/Ping", auth="none")
async def ping(ctx: Ctx) -> Response:
    return json_response(ctx.fake.product_name)


# ---------------------------------------------------------------------- users


def _listed_users(ctx: Ctx) -> list[User]:
    users = list(ctx.fake.users.values())
    hidden, disabled = ctx.q_bool("isHidden"), ctx.q_bool("isDisabled")
    if hidden is not None:
        users = [u for u in users if u.is_hidden == hidden]
    if disabled is not None:
        users = [u for u in users if u.is_disabled == disabled]
    caller = ctx.caller
    if caller is not None and not caller.is_admin:
        users = [u for u in users if u is caller.user or not u.is_hidden]
    return users


@route("GET", "/Users")
async def users(ctx: Ctx) -> Response:
    fake = ctx.fake
    assert ctx.caller is not None
    if fake.users_forbidden_for_api_keys and ctx.caller.kind == "api_key":
        raise HTTPError(403, "Access denied")  # ask /Users/Query (docs §4)
    return json_response([user_dto(fake, u) for u in _listed_users(ctx)])


@route("GET", "/Users/Query", auth="admin", flavours=("emby",))
async def users_query(ctx: Ctx) -> Response:
    listed = _listed_users(ctx)
    start = ctx.q_int("startIndex", 0) or 0
    limit = ctx.q_int("limit")
    page = listed[start : None if limit is None else start + limit]
    return json_response(
        {"Items": [user_dto(ctx.fake, u) for u in page], "TotalRecordCount": len(listed)}
    )


@route("GET", "/Users/Me", flavours=("jellyfin",))
async def users_me(ctx: Ctx) -> Response:
    assert ctx.caller is not None
    if ctx.caller.user is None:
        raise HTTPError(400, "No user for this token")
    return json_response(user_dto(ctx.fake, ctx.caller.user))


@route("GET", "/Users/{userId}")
async def user_by_id(ctx: Ctx) -> Response:
    user = _user(ctx, ctx.params["userId"], required=True)
    assert user is not None
    return json_response(user_dto(ctx.fake, user))


@route("POST", "/Users/AuthenticateByName", auth="none")
async def authenticate_by_name(ctx: Ctx) -> Response:
    fake = ctx.fake
    body = {k.lower(): v for k, v in ctx.body.items()} if isinstance(ctx.body, dict) else {}
    name, password = str(body.get("username") or ""), str(body.get("pw") or "")
    found = next((u for u in fake.users.values() if u.name.lower() == name.lower()), None)
    if found is None or found.is_disabled or found.password != password:
        raise HTTPError(401, "Invalid username or password entered.")
    device_id = ctx.auth_params.get("deviceid") or f"device-{found.name}"
    token = fake.issue_user_token(found, device_id)
    session = fake.session_for(found, device_id)
    if session is None:
        session = Session(
            id=fake._hex_id(),
            user_id=found.id,
            device_id=device_id,
            device_name=ctx.auth_params.get("device", "Unknown"),
            client=ctx.auth_params.get("client", "Unknown"),
            app_version=ctx.auth_params.get("version", ""),
            last_activity=fake.clock(),
        )
        fake.sessions.append(session)
    found.last_activity = fake.clock()
    ctx.entry.user = found.id
    return json_response(
        {
            "User": user_dto(fake, found),
            "SessionInfo": session_dto(fake, session),
            "AccessToken": token,
            "ServerId": fake.server_id,
        }
    )


# ---------------------------------------------------------------------- views and items


async def _views(ctx: Ctx) -> Response:
    user = _path_or_query_user(ctx, required=True)
    fields = frozenset(f.lower() for f in ctx.q_list("fields"))
    items = [item_dto(ctx.fake, lib, user, fields) for lib in ctx.fake.libraries]
    return _query_result(ctx, items, len(items), 0)


route("GET", "/Users/{userId}/Views")(_views)
route("GET", "/UserViews", flavours=("jellyfin",), since=J109)(_views)


def _item_query(ctx: Ctx) -> ItemQuery:
    fake = ctx.fake
    ids = ctx.q_list("ids")
    parent = ctx.q("parentId")
    has_ids = tuple(
        (name, flag)
        for name in ("imdb", "tmdb", "tvdb")
        if (flag := ctx.q_bool(f"has{name}Id")) is not None
    )
    any_ids: tuple[tuple[str, str], ...] = ()
    if fake.flavour == "emby":
        pairs = [p.partition(".") for p in ctx.q_list("AnyProviderIdEquals")]
        any_ids = tuple((n.lower(), v.lower()) for n, _, v in pairs if v)
    sort_order = (ctx.q_list("sortOrder") or ["Ascending"])[0]
    return ItemQuery(
        parent_id=(fake.normalize_id(parent) if fake.flavour == "jellyfin" else parent)
        if parent
        else None,
        recursive=bool(ctx.q_bool("recursive", False)),
        include_types=_known(ctx.q_list("includeItemTypes"), ITEM_KINDS),
        exclude_types=_known(ctx.q_list("excludeItemTypes"), ITEM_KINDS),
        ids=tuple(fake.normalize_id(i) if fake.flavour == "jellyfin" else i for i in ids)
        if ids
        else None,
        filters=_known(ctx.q_list("filters"), FILTERS),
        is_played=ctx.q_bool("isPlayed"),
        is_favorite=ctx.q_bool("isFavorite"),
        location_types=_known(ctx.q_list("locationTypes"), LOCATION_TYPES),
        exclude_location_types=_known(ctx.q_list("excludeLocationTypes"), LOCATION_TYPES)
        + (("Virtual",) if ctx.q_bool("isMissing") is False else ()),
        has_ids=has_ids,
        any_provider_id=any_ids,
        search=ctx.q("searchTerm") or None,
        sort_by=_known(ctx.q_list("sortBy"), SORTS),
        descending=sort_order.lower() == "descending",
    )


async def _items(ctx: Ctx) -> Response:
    fake = ctx.fake
    user = _path_or_query_user(ctx, required=False)
    query = _item_query(ctx)
    if user is None and query.needs_user_data:
        # The real server would answer as if no filter were set; the fake refuses instead.
        raise HTTPError(400, "userId is required to filter or sort by a user's data")
    start = ctx.q_int("startIndex", 0) or 0
    limit = ctx.q_int("limit")
    if start < 0 or (limit is not None and limit < 0):
        raise HTTPError(400, "startIndex and limit must not be negative")
    selected = fake.query(user, query)
    page = selected[start : None if limit is None else start + limit]
    fields = frozenset(f.lower() for f in ctx.q_list("fields"))
    with_data = bool(ctx.q_bool("enableUserData", True))
    dtos = [item_dto(fake, item, user, fields, user_data=with_data) for item in page]
    # With EnableTotalRecordCount=false the count is the page's length (QueryResult default).
    total = len(selected) if ctx.q_bool("enableTotalRecordCount", True) else len(page)
    return _query_result(ctx, dtos, total, start)


route("GET", "/Items")(_items)
route("GET", "/Users/{userId}/Items")(_items)


async def _single_item(ctx: Ctx) -> Response:
    user = _path_or_query_user(ctx, required=False)
    item = _item(ctx, ctx.params["itemId"])
    return json_response(item_dto(ctx.fake, item, user, ALL_FIELDS))


route("GET", "/Users/{userId}/Items/{itemId}")(_single_item)
route("GET", "/Items/{itemId}", flavours=("jellyfin",), since=J109)(_single_item)


# ---------------------------------------------------------------------- watched state


async def _mark_played(ctx: Ctx) -> Response:
    fake = ctx.fake
    user = _path_or_query_user(ctx, required=True)
    assert user is not None
    item = _item(ctx, ctx.params["itemId"])
    raw = ctx.q("datePlayed")
    date = None
    if raw:
        try:
            date = parse_date_played(raw, flavour=fake.flavour)
        except ValueError:
            raise HTTPError(400, f"The value '{raw}' is not valid for datePlayed.") from None
    fake.mark_played(user, item, date)
    return json_response(user_data_dto(fake, user, item))


async def _mark_unplayed(ctx: Ctx) -> Response:
    fake = ctx.fake
    user = _path_or_query_user(ctx, required=True)
    assert user is not None
    item = _item(ctx, ctx.params["itemId"])
    fake.mark_unplayed(user, item)
    return json_response(user_data_dto(fake, user, item))


route("POST", "/Users/{userId}/PlayedItems/{itemId}")(_mark_played)
route("DELETE", "/Users/{userId}/PlayedItems/{itemId}")(_mark_unplayed)
route("POST", "/Users/{userId}/PlayedItems/{itemId}/Delete", flavours=("emby",))(_mark_unplayed)
route("POST", "/UserPlayedItems/{itemId}", flavours=("jellyfin",), since=J109)(_mark_played)
route("DELETE", "/UserPlayedItems/{itemId}", flavours=("jellyfin",), since=J109)(_mark_unplayed)


async def _get_user_data(ctx: Ctx) -> Response:
    user = _path_or_query_user(ctx, required=True)
    assert user is not None
    item = _item(ctx, ctx.params["itemId"])
    return json_response(user_data_dto(ctx.fake, user, item))


async def _post_user_data(ctx: Ctx) -> Response:
    fake = ctx.fake
    user = _path_or_query_user(ctx, required=True)
    assert user is not None
    item = _item(ctx, ctx.params["itemId"])
    if not isinstance(ctx.body, dict):
        raise HTTPError(400, "A JSON body (UpdateUserItemDataDto) is required")
    values = {k.lower(): v for k, v in ctx.body.items() if v is not None}
    if "lastplayeddate" in values:
        try:
            values["lastplayeddate"] = parse_date_played(
                str(values["lastplayeddate"]), flavour="jellyfin"
            )
        except ValueError:
            raise HTTPError(400, "LastPlayedDate is not a date") from None
    fake.update_user_data(user, item, values)
    return json_response(user_data_dto(fake, user, item))


route("GET", "/UserItems/{itemId}/UserData", flavours=("jellyfin",), since=J109)(_get_user_data)
route("POST", "/UserItems/{itemId}/UserData", flavours=("jellyfin",), since=J109)(_post_user_data)
route("POST", "/Users/{userId}/Items/{itemId}/UserData", flavours=("emby",))(_post_user_data)


async def _favorite(ctx: Ctx) -> Response:
    fake = ctx.fake
    user = _path_or_query_user(ctx, required=True)
    assert user is not None
    item = _item(ctx, ctx.params["itemId"])
    fake.set_favorite(user, item, ctx.request.method == "POST")
    return json_response(user_data_dto(fake, user, item))


for _method in ("POST", "DELETE"):
    route(_method, "/Users/{userId}/FavoriteItems/{itemId}")(_favorite)
    route(_method, "/UserFavoriteItems/{itemId}", flavours=("jellyfin",), since=J109)(_favorite)


# ---------------------------------------------------------------------- sessions


@route("GET", "/Sessions")
async def sessions(ctx: Ctx) -> Response:
    fake = ctx.fake
    caller = ctx.caller
    assert caller is not None
    listed = list(fake.sessions)
    if not caller.is_admin:  # a plain user sees only its own sessions (10.9+)
        listed = [s for s in listed if caller.user is not None and s.user_id == caller.user.id]
    controllable = ctx.q("controllableByUserId")
    if controllable:
        controller = fake.users.get(fake.normalize_id(controllable))
        if controller is None:
            raise HTTPError(404, "User not found")
        listed = [
            s
            for s in listed
            if s.supports_remote_control and (controller.is_admin or s.user_id == controller.id)
        ]
    device_id = ctx.q("deviceId")
    if device_id:
        listed = [s for s in listed if s.device_id == device_id]
    active_within = ctx.q_int("activeWithinSeconds")
    if active_within is not None:
        since = fake.clock() - active_within
        listed = [s for s in listed if s.last_activity >= since]
    return json_response([session_dto(fake, s) for s in listed])


def _reporting_session(ctx: Ctx) -> tuple[User, Item | None, dict[str, Any]]:
    caller = ctx.caller
    assert caller is not None
    if caller.user is None:
        raise HTTPError(400, "Playback reports need a user's access token (the fake's rule)")
    body = {k.lower(): v for k, v in ctx.body.items()} if isinstance(ctx.body, dict) else {}
    raw = body.get("itemid")
    return caller.user, _item(ctx, str(raw)) if raw else None, body


def _device(ctx: Ctx) -> str:
    assert ctx.caller is not None and ctx.caller.user is not None
    return ctx.caller.device_id or f"device-{ctx.caller.user.name}"


@route("POST", "/Sessions/Playing")
async def playing(ctx: Ctx) -> Response:
    user, item, body = _reporting_session(ctx)
    if item is None:
        raise HTTPError(400, "ItemId is required")
    ctx.entry.user = user.id
    ctx.fake.start_playback(
        user,
        item,
        position_ticks=int(body.get("positionticks") or 0),
        paused=bool(body.get("ispaused")),
        device_id=_device(ctx),
        device_name=(ctx.caller.device_name if ctx.caller else None) or "Unknown",
        client=ctx.caller.client if ctx.caller else None,
    )
    return Response(status_code=204)


@route("POST", "/Sessions/Playing/Progress")
async def playing_progress(ctx: Ctx) -> Response:
    user, _item_given, body = _reporting_session(ctx)
    ctx.entry.user = user.id
    session = ctx.fake.session_for(user, _device(ctx))
    if session is not None and session.item is not None:
        position = body.get("positionticks")
        paused = body.get("ispaused")
        ctx.fake.report_progress(
            session,
            int(position) if position is not None else None,
            paused=bool(paused) if paused is not None else None,
        )
    return Response(status_code=204)


@route("POST", "/Sessions/Playing/Stopped")
async def playing_stopped(ctx: Ctx) -> Response:
    user, _item_given, body = _reporting_session(ctx)
    ctx.entry.user = user.id
    session = ctx.fake.session_for(user, _device(ctx))
    if session is not None and session.item is not None:
        position = body.get("positionticks")
        ctx.fake.stop_playback(session, int(position) if position is not None else None)
    return Response(status_code=204)
