"""Every sample payload and every row of the docs' parsing tables → the expected PlaybackEvent."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from trakt_plugin.events.bodies import extract_payload
from trakt_plugin.events.model import (
    BadPayload,
    Ignored,
    PlaybackEvent,
    UnknownSource,
    UnsupportedMediaType,
)
from trakt_plugin.events.parsers import parse_event, parse_payload
from trakt_plugin.events.parsers.plex import parse_legacy_guid

SAMPLES = Path(__file__).parent / "samples"
RECEIVED = datetime(2026, 11, 24, 20, 15, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


def parse(source: str, payload: dict[str, Any]) -> PlaybackEvent:
    result = parse_payload(source, payload, received_at=RECEIVED)
    assert isinstance(result, PlaybackEvent), result
    return result


def check(event: PlaybackEvent, expected: dict[str, Any]) -> None:
    for key, want in expected.items():
        if key.startswith("show."):
            assert event.show is not None
            got = getattr(event.show, key.removeprefix("show."))
        else:
            got = getattr(event, key)
        assert got == want, f"{key}: {got!r} != {want!r}"


MATRIX = {"imdb": "tt0133093", "tmdb": 603}
BB_PILOT = {"imdb": "tt0959621", "tmdb": 62085, "tvdb": 349232}
ALICE_JF = "4a1c2e3f5b6d7e8f9a0b1c2d3e4f5a6b"

SAMPLE_CASES: list[tuple[str, dict[str, Any]]] = [
    (
        "plex/movie_play.json",
        {
            "kind": "start",
            "media_type": "movie",
            "title": "The Matrix",
            "year": 1999,
            "ids": MATRIX,
            "progress": None,
            "completed": False,
            "paused": False,
            "user_external_ids": ("alice",),
            "raw_event": "media.play",
        },
    ),
    (
        "plex/movie_pause.json",
        {"kind": "pause", "progress": 40.0, "ids": MATRIX, "paused": True},
    ),
    (
        "plex/movie_stop_95.json",
        {"kind": "stop", "progress": 95.0, "ids": MATRIX, "completed": False},
    ),
    (
        "plex/episode_stop_92.json",
        {
            "kind": "stop",
            "media_type": "episode",
            "title": "Pilot",
            "episode_title": "Pilot",
            "year": 2008,
            "ids": BB_PILOT,
            "show.title": "Breaking Bad",
            "show.ids": {},
            "season": 1,
            "number": 1,
            "progress": 92.0,
            "user_external_ids": ("bob",),
        },
    ),
    (
        "jellyfin/movie_start.json",
        {
            "kind": "start",
            "media_type": "movie",
            "title": "The Matrix",
            "year": 1999,
            "ids": MATRIX,
            "progress": 0.0,
            "paused": False,
            "user_external_ids": (ALICE_JF, "alice"),
            "user_name": "alice",
        },
    ),
    (
        "jellyfin/movie_pause.json",
        {"kind": "pause", "progress": 40.0, "paused": True, "raw_event": "PlaybackProgress"},
    ),
    (
        "jellyfin/movie_stop_95.json",
        {"kind": "stop", "progress": 95.0, "completed": True, "ids": MATRIX},
    ),
    (
        "jellyfin/episode_start.json",
        {
            "kind": "start",
            "media_type": "episode",
            "title": "Pilot",
            "year": 2008,
            "ids": {"tvdb": 349232, "imdb": "tt0959621"},
            "show.title": "Breaking Bad",
            "show.year": 2008,
            "season": 1,
            "number": 1,
            "progress": 0.0,
            "user_external_ids": ("9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b", "bob"),
        },
    ),
    (
        "emby/movie_start.json",
        {
            "kind": "start",
            "media_type": "movie",
            "title": "The Dark Knight",
            "year": 2008,
            "ids": {"imdb": "tt0468569", "tmdb": 155},
            "progress": 0.0,
            "user_external_ids": ("5e7a9c1b3d5f7e9a1c3e5b7d9f1a3c5e", "alice"),
        },
    ),
    (
        "emby/movie_stop_30.json",
        {"kind": "stop", "progress": 30.0, "completed": False},
    ),
    (
        "emby/episode_stop_92.json",
        {
            "kind": "stop",
            "media_type": "episode",
            "title": "Pilot",
            "season": 1,
            "number": 1,
            "ids": {"tvdb": 349232, "imdb": "tt0959621"},
            "show.title": "Breaking Bad",
            "show.ids": {},
            "progress": 92.0,
            "completed": True,
            "user_external_ids": ("6f8b0d2c4e6a8f0b2d4c6e8a0f2b4d6c", "bob"),
        },
    ),
]


@pytest.mark.parametrize(("name", "expected"), SAMPLE_CASES, ids=[c[0] for c in SAMPLE_CASES])
def test_samples(name: str, expected: dict[str, Any]) -> None:
    source = name.split("/")[0]
    event = parse(source, sample(name))
    assert event.source == source
    assert event.occurred_at == RECEIVED  # media servers: always the receipt time
    check(event, expected)


def test_all_samples_are_covered() -> None:
    on_disk = {f"{p.parent.name}/{p.name}" for p in SAMPLES.glob("*/*.json")}
    assert on_disk == {name for name, _ in SAMPLE_CASES}


def test_session_key_is_stable_across_one_playback() -> None:
    for source, names in {
        "plex": ["plex/movie_play.json", "plex/movie_pause.json", "plex/movie_stop_95.json"],
        "jellyfin": [
            "jellyfin/movie_start.json",
            "jellyfin/movie_pause.json",
            "jellyfin/movie_stop_95.json",
        ],
    }.items():
        events = [parse(source, sample(n)) for n in names]
        assert len({e.session_key for e in events}) == 1
        assert len({e.item_key for e in events}) == 1


def test_same_item_gets_one_item_key_across_servers() -> None:
    plex = parse("plex", sample("plex/episode_stop_92.json"))
    jelly = parse("jellyfin", sample("jellyfin/episode_start.json"))
    emby = parse("emby", sample("emby/episode_stop_92.json"))
    assert plex.item_key == jelly.item_key == emby.item_key == "episode:tvdb:349232"
    assert parse("plex", sample("plex/movie_play.json")).item_key == "movie:imdb:tt0133093"


# --- Plex guid forms (docs §2.4) -------------------------------------------------------------


def plex_legacy(
    guid: str,
    media: str = "movie",
    *,
    grandparent: str | None = None,
    indexes: bool = True,
    event: str = "media.stop",
) -> dict[str, Any]:
    payload = sample("plex/movie_stop_95.json")
    meta = payload["Metadata"]
    del meta["Guid"]
    meta["guid"] = guid
    meta["type"] = media
    payload["event"] = event
    if media == "episode":
        meta.update(title="Pilot", grandparentTitle="Breaking Bad", year=2008)
        if indexes:
            meta.update(parentIndex=1, index=1)
        if grandparent:
            meta["grandparentGuid"] = grandparent
    return payload


PLEX_GUIDS: list[tuple[str, str, dict[str, Any]]] = [
    ("com.plexapp.agents.imdb://tt0133093?lang=en", "movie", {"ids": {"imdb": "tt0133093"}}),
    ("com.plexapp.agents.themoviedb://603?lang=en", "movie", {"ids": {"tmdb": 603}}),
    (
        "com.plexapp.agents.themoviedb://1396/1/1?lang=en",
        "episode",
        {"ids": {}, "show.ids": {"tmdb": 1396}, "season": 1, "number": 1},
    ),
    (
        "com.plexapp.agents.thetvdb://81189/1/1?lang=en",
        "episode",
        {"ids": {}, "show.ids": {"tvdb": 81189}, "season": 1, "number": 1},
    ),
    (
        "com.plexapp.agents.thetvdbdvdorder://81189/2/3?lang=en",
        "episode",
        {"ids": {}, "show.ids": {"tvdb": 81189}},
    ),
    (
        "com.plexapp.agents.hama://tvdb-81189/1/1?lang=en",
        "episode",
        {"ids": {}, "show.ids": {"tvdb": 81189}, "season": 1, "number": 1},
    ),
    (
        "com.plexapp.agents.hama://tvdb2-81189/1/1",
        "episode",
        {"ids": {}, "show.ids": {"tvdb": 81189}},
    ),
    ("com.plexapp.agents.hama://anidb-1234/1/2?lang=en", "episode", {"ids": {}, "show.ids": {}}),
    ("com.plexapp.agents.hama://tmdb-603?lang=en", "movie", {"ids": {"tmdb": 603}}),
    ("com.plexapp.agents.xbmcnfo://tt0133093?lang=en", "movie", {"ids": {"imdb": "tt0133093"}}),
    ("com.plexapp.agents.xbmcnfo://603?lang=en", "movie", {"ids": {"tmdb": 603}}),
    (
        "com.plexapp.agents.xbmcnfotv://81189/1/1?lang=en",
        "episode",
        {"ids": {}, "show.ids": {"tvdb": 81189}, "season": 1, "number": 1},
    ),
    ("tv.plex.agents.nfo.movie://movie/tmdb_383498", "movie", {"ids": {"tmdb": 383498}}),
    ("com.plexapp.agents.none://41523?lang=xn", "movie", {"ids": {}}),
    ("tv.plex.agents.none://41523", "movie", {"ids": {}}),
    ("local://41523", "movie", {"ids": {}}),
    ("plex://movie/5d7768ba96b655001fdc0408", "movie", {"ids": {}}),
    ("tv.plex.xmltv://abc", "movie", {"ids": {}}),
    ("com.plexapp.agents.youtube://xyz?lang=en", "movie", {"ids": {}}),
    ("tt0112253", "movie", {"ids": {"imdb": "tt0112253"}}),
]


@pytest.mark.parametrize(("guid", "media", "expected"), PLEX_GUIDS, ids=[g[0] for g in PLEX_GUIDS])
def test_plex_legacy_guid_forms(guid: str, media: str, expected: dict[str, Any]) -> None:
    check(parse("plex", plex_legacy(guid, media)), expected)


def test_plex_legacy_episode_uses_guid_parts_when_indexes_missing() -> None:
    payload = plex_legacy(
        "com.plexapp.agents.thetvdb://81189/3/7?lang=en", "episode", indexes=False
    )
    event = parse("plex", payload)
    check(event, {"season": 3, "number": 7, "show.ids": {"tvdb": 81189}})
    assert event.item_key == "show:tvdb:81189:s3e7"
    assert event.has_ids()


def test_plex_grandparent_guid_gives_show_ids() -> None:
    payload = plex_legacy(
        "com.plexapp.agents.none://x?lang=xn",
        "episode",
        grandparent="com.plexapp.agents.thetvdb://81189?lang=en",
    )
    check(parse("plex", payload), {"ids": {}, "show.ids": {"tvdb": 81189}, "season": 1})
    payload = plex_legacy(
        "x", "episode", grandparent="tv.plex.agents.nfo.series://show/tvdb_121361"
    )
    check(parse("plex", payload), {"show.ids": {"tvdb": 121361}})


def test_plex_guid_array_first_value_per_scheme_and_unknown_schemes() -> None:
    payload = sample("plex/movie_stop_95.json")
    payload["Metadata"]["Guid"] = [
        {"id": "imdb://tt0133093"},
        {"id": "imdb://tt9999999"},
        {"id": "tmdb://603"},
        {"id": "tvdb://123"},  # not a movie id kind on Trakt
        {"id": "plex://movie/5d77"},
        {"id": 7},
    ]
    check(parse("plex", payload), {"ids": {"imdb": "tt0133093", "tmdb": 603}})


def test_legacy_guid_helper() -> None:
    parsed = parse_legacy_guid("com.plexapp.agents.thetvdb://81189/1?lang=en")
    assert parsed.show == {"tvdb": "81189"}
    assert parse_legacy_guid("").own == {}
    assert parse_legacy_guid("://").own == {}


@pytest.mark.parametrize(
    ("event", "media", "reason_part"),
    [
        ("media.rate", "movie", "media.rate"),
        ("library.new", "movie", "library.new"),
        ("library.on.deck", "episode", "library.on.deck"),
        ("playback.started", "movie", "playback.started"),
        ("admin.database.backup", "movie", "admin"),
        ("media.play", "track", "track"),
        ("media.play", "clip", "clip"),
        ("media.stop", "photo", "photo"),
    ],
)
def test_plex_ignored(event: str, media: str, reason_part: str) -> None:
    payload = sample("plex/movie_play.json")
    payload["event"] = event
    payload["Metadata"]["type"] = media
    result = parse_payload("plex", payload, received_at=RECEIVED)
    assert isinstance(result, Ignored)
    assert reason_part in result.reason


def test_plex_ignores_admin_event_without_metadata() -> None:
    result = parse_payload("plex", {"event": "device.new"}, received_at=RECEIVED)
    assert isinstance(result, Ignored)


def test_plex_resume_and_scrobble() -> None:
    payload = sample("plex/movie_pause.json")
    payload["event"] = "media.resume"
    check(parse("plex", payload), {"kind": "resume", "paused": False, "progress": 40.0})
    payload["event"] = "media.scrobble"
    payload["Metadata"]["viewOffset"] = 7344000
    check(parse("plex", payload), {"kind": "progress", "completed": True, "progress": 90.0})
    del payload["Metadata"]["viewOffset"]
    event = parse("plex", payload)
    check(event, {"kind": "progress", "completed": True, "progress": None})
    assert event.position_known is False


def test_plex_stop_at_zero_is_no_position() -> None:
    payload = sample("plex/movie_stop_95.json")
    payload["Metadata"]["viewOffset"] = 0
    check(parse("plex", payload), {"progress": None, "position_known": False})


def test_plex_progress_capped_and_unknown_duration() -> None:
    payload = sample("plex/movie_stop_95.json")
    payload["Metadata"]["viewOffset"] = 9_000_000
    assert parse("plex", payload).progress == 100.0
    del payload["Metadata"]["duration"]
    assert parse("plex", payload).progress is None


def test_plex_shared_user_and_missing_account() -> None:
    payload = sample("plex/episode_stop_92.json")
    assert parse("plex", payload).user_external_ids == ("bob",)
    del payload["Account"]
    event = parse("plex", payload)
    assert event.user_external_ids == ()
    assert event.user_name is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.pop("event"), "event"),
        (lambda p: p.update(event=5), "event"),
        (lambda p: p.pop("Metadata"), "Metadata"),
        (lambda p: p.update(Metadata=[1]), "Metadata"),
        (lambda p: p["Metadata"].update(Guid="imdb://tt1"), "Metadata.Guid"),
        (lambda p: p["Metadata"].update(viewOffset="soon"), "Metadata.viewOffset"),
        (lambda p: p["Metadata"].update(viewOffset=-5), "Metadata.viewOffset"),
        (lambda p: p["Metadata"].pop("type"), "Metadata.type"),
        (lambda p: p.update(Account="alice"), "Account"),
        (lambda p: p["Metadata"].update(Guid=["imdb://tt1"]), "Metadata.Guid[0]"),
    ],
)
def test_plex_bad_payloads_name_the_field(mutate: Any, field: str) -> None:
    payload = sample("plex/movie_pause.json")
    mutate(payload)
    with pytest.raises(BadPayload) as info:
        parse_payload("plex", payload, received_at=RECEIVED)
    assert info.value.reason.startswith(field)


def multipart(parts: list[tuple[str, bytes, str | None]], boundary: str = "----plexB0und") -> bytes:
    out = b""
    for name, data, filename in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename:
            disposition += f'; filename="{filename}"'
            ctype = "image/jpeg"
        else:
            ctype = "application/json"
        out += f"Content-Disposition: {disposition}\r\nContent-Type: {ctype}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_plex_multipart_with_thumb() -> None:
    payload = (SAMPLES / "plex/movie_play.json").read_bytes()
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) + b"------plexB0und"
    body = multipart([("payload", payload, None), ("thumb", jpeg, "thumb.jpg")])
    ctype = "multipart/form-data; boundary=----plexB0und"
    event = parse_event("plex", ctype, body, RECEIVED)
    assert isinstance(event, PlaybackEvent)
    check(event, {"kind": "start", "title": "The Matrix", "ids": MATRIX})
    # thumb first, quoted boundary, upper-case type
    body = multipart([("thumb", jpeg, "thumb.jpg"), ("payload", payload, None)])
    event = parse_event("plex", 'Multipart/Form-Data; boundary="----plexB0und"', body, RECEIVED)
    assert isinstance(event, PlaybackEvent)


@pytest.mark.parametrize(
    ("source", "ctype", "body"),
    [
        ("plex", "application/json", b"{}"),
        ("plex", None, b"{}"),
        ("plex", "text/plain", b"{}"),
        ("revenge", "text/plain", b"{}"),
        ("revenge", "multipart/form-data; boundary=x", b""),
        ("jellyfin", "multipart/form-data; boundary=x", b""),
        ("emby", "image/jpeg", b""),
        ("jellyfin", "application/xml", b"<a/>"),
    ],
)
def test_unsupported_content_types(source: str, ctype: str | None, body: bytes) -> None:
    with pytest.raises(UnsupportedMediaType):
        parse_event(source, ctype, body, RECEIVED)


@pytest.mark.parametrize(
    ("source", "ctype", "body", "reason_part"),
    [
        ("plex", "multipart/form-data", b"--x\r\n", "boundary"),
        (
            "plex",
            "multipart/form-data; boundary=b",
            multipart([("data", b"{}", None)], "b"),
            "'payload'",
        ),
        (
            "plex",
            "multipart/form-data; boundary=b",
            multipart([("payload", b"{", None)], "b"),
            "invalid JSON",
        ),
        (
            "plex",
            "multipart/form-data; boundary=b",
            multipart([("payload", b"[]", None)], "b"),
            "JSON object",
        ),
        (
            "emby",
            "multipart/form-data; boundary=b",
            multipart([("payload", b"{}", None)], "b"),
            "'data'",
        ),
        ("jellyfin", "application/json", b"", "empty"),
        ("jellyfin", "text/plain", b'{"NotificationType": True}', "invalid JSON"),
        ("jellyfin", "application/json", b"\xff\xfe{", "utf-8"),
        ("revenge", "application/json", b'{"event": NaN}', "invalid JSON"),
        ("revenge", "application/json", b"[" * 100_000, "JSON"),
        ("emby", "application/json; charset=klingon", b"{}", "charset"),
        ("nope", "application/json", b"{}", "unknown source"),
        # PostgreSQL's text holds no U+0000: a NUL in a value or a key is refused on any engine
        ("revenge", "application/json", b'{"event": "start", "user_id": "a\\u0000b"}', "NUL"),
        ("jellyfin", "application/json", b'{"Name": {"x\\u0000": 1}}', "NUL"),
        (
            "plex",
            "multipart/form-data; boundary=b",
            multipart([("payload", b'{"event": ["\\u0000"]}', None)], "b"),
            "NUL",
        ),
        ("jellyfin", "application/x-www-form-urlencoded", b"Name=a%00b", "NUL"),
    ],
)
def test_bad_bodies(source: str, ctype: str, body: bytes, reason_part: str) -> None:
    with pytest.raises(BadPayload) as info:
        parse_event(source, ctype, body, RECEIVED)
    assert reason_part in info.value.reason
    assert len(info.value.reason) <= 200


def test_an_escaped_backslash_before_u0000_is_no_nul() -> None:
    """The JSON text ``"a\\\\u0000"`` is a backslash then "u0000": an ordinary string."""
    payload = extract_payload("revenge", "application/json", b'{"title": "a\\\\u0000"}')
    assert payload == {"title": "a\\u0000"}


def test_unknown_source_is_its_own_type() -> None:
    with pytest.raises(UnknownSource):
        parse_event("kodi", "application/json", b"{}", RECEIVED)


# --- Jellyfin: both renderings (docs §3.3) ---------------------------------------------------


def jellyfin_template(**overrides: str) -> dict[str, Any]:
    """The all-strings template recommended in docs §3.4, rendered for a movie stop."""
    rendered = {
        "NotificationType": "PlaybackStop",
        "ServerId": "8d3f1a2b4c5d6e7f8091a2b3c4d5e6f7",
        "ServerName": "jelly-home",
        "UserId": "4a1c2e3f-5b6d-7e8f-9a0b-1c2d3e4f5a6b",
        "NotificationUsername": "alice",
        "ItemId": "b1f0c9d8-e7a6-b5c4-d3e2-f1a0b9c8d7e6",
        "ItemType": "Movie",
        "Name": "Tom &amp; Jerry",
        "Year": "1999",
        "SeriesName": "",
        "SeasonNumber": "",
        "EpisodeNumber": "",
        "Provider_imdb": "tt0133093",
        "Provider_tmdb": "603",
        "Provider_tvdb": "",
        "Provider_tvrage": "",
        "RunTimeTicks": "81600000000",
        "PlaybackPositionTicks": "77520000000",
        "IsPaused": "False",
        "PlayedToCompletion": "True",
        "DeviceId": "dev1",
        "DeviceName": "Chrome",
        "ClientName": "Jellyfin Web",
        "SessionId": "f0e1d2c3b4a5968778695a4b3c2d1e0f",
    }
    rendered.update(overrides)
    return rendered


def test_jellyfin_template_strings_match_send_all_properties() -> None:
    template = parse("jellyfin", jellyfin_template())
    full = parse("jellyfin", sample("jellyfin/movie_stop_95.json"))
    check(
        template,
        {
            "kind": "stop",
            "media_type": "movie",
            "title": "Tom & Jerry",
            "year": 1999,
            "ids": MATRIX,
            "progress": 95.0,
            "completed": True,
            "user_external_ids": (ALICE_JF, "alice"),
        },
    )
    assert template.session_key == full.session_key
    assert template.item_key == full.item_key


def test_jellyfin_template_episode_and_pause() -> None:
    payload = jellyfin_template(
        NotificationType="PlaybackProgress",
        ItemType="Episode",
        Name="Pilot",
        Year="2008",
        SeriesName="Breaking Bad",
        SeasonNumber="1",
        EpisodeNumber="1",
        Provider_imdb="tt0959621",
        Provider_tmdb="",
        Provider_tvdb="349232",
        Provider_tvrage="637041",
        RunTimeTicks="34850000000",
        PlaybackPositionTicks="17425000000",
        IsPaused="True",
        PlayedToCompletion="",
    )
    check(
        parse("jellyfin", payload),
        {
            "kind": "pause",
            "paused": True,
            "media_type": "episode",
            "season": 1,
            "number": 1,
            "ids": {"imdb": "tt0959621", "tvdb": 349232},
            "show.title": "Breaking Bad",
            "show.year": 2008,
            "progress": 50.0,
            "completed": False,
        },
    )
    payload["IsPaused"] = "False"
    check(parse("jellyfin", payload), {"kind": "progress", "paused": False})
    payload["IsPaused"] = ""
    check(parse("jellyfin", payload), {"kind": "progress", "paused": None})


def test_jellyfin_progress_not_paused_is_a_heartbeat() -> None:
    payload = sample("jellyfin/movie_pause.json")
    payload["IsPaused"] = False
    check(parse("jellyfin", payload), {"kind": "progress", "paused": False, "progress": 40.0})


def test_jellyfin_keys_are_case_insensitive() -> None:
    payload = {k.lower(): v for k, v in sample("jellyfin/movie_stop_95.json").items()}
    check(parse("jellyfin", payload), {"kind": "stop", "ids": MATRIX, "progress": 95.0})


def test_jellyfin_stop_without_position() -> None:
    payload = sample("jellyfin/movie_stop_95.json")
    payload["PlaybackPositionTicks"] = 0
    check(parse("jellyfin", payload), {"progress": None, "completed": True})
    payload["PlayedToCompletion"] = False
    check(parse("jellyfin", payload), {"progress": None, "completed": False})


@pytest.mark.parametrize(
    ("reason", "played", "expected"),
    [("TogglePlayed", True, "watched"), ("TogglePlayed", "False", "unwatched")],
)
def test_jellyfin_user_data_saved_marks(reason: str, played: Any, expected: str) -> None:
    payload = sample("jellyfin/movie_start.json")
    payload.update(NotificationType="UserDataSaved", SaveReason=reason, Played=played)
    event = parse("jellyfin", payload)
    check(event, {"kind": expected, "progress": None, "ids": MATRIX})
    assert event.session_key.endswith(":userdata:b1f0c9d8e7a6b5c4d3e2f1a0b9c8d7e6")


@pytest.mark.parametrize(
    ("change", "reason_part"),
    [
        ({"NotificationType": "UserDataSaved", "SaveReason": "PlaybackProgress"}, "manual"),
        (
            {"NotificationType": "UserDataSaved", "SaveReason": "PlaybackFinished", "Played": True},
            "manual",
        ),
        ({"NotificationType": "ItemAdded"}, "ItemAdded"),
        ({"NotificationType": "SessionStart"}, "SessionStart"),
        ({"ItemType": "Audio"}, "Audio"),
        ({"ItemType": "Video"}, "Video"),
        ({"ItemType": "Series"}, "Series"),
    ],
)
def test_jellyfin_ignored(change: dict[str, Any], reason_part: str) -> None:
    payload = sample("jellyfin/movie_start.json")
    payload.update(change)
    result = parse_payload("jellyfin", payload, received_at=RECEIVED)
    assert isinstance(result, Ignored)
    assert reason_part in result.reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"NotificationType": None}, "NotificationType"),
        ({"NotificationType": ["PlaybackStart"]}, "NotificationType"),
        ({"ItemType": ""}, "ItemType"),
        ({"RunTimeTicks": "long"}, "RunTimeTicks"),
        ({"IsPaused": "maybe"}, "IsPaused"),
        ({"PlaybackPositionTicks": {"a": 1}}, "PlaybackPositionTicks"),
    ],
)
def test_jellyfin_bad_payloads(change: dict[str, Any], field: str) -> None:
    payload = sample("jellyfin/movie_start.json")
    payload.update(change)
    with pytest.raises(BadPayload) as info:
        parse_payload("jellyfin", payload, received_at=RECEIVED)
    assert info.value.reason.startswith(field)


@pytest.mark.parametrize("ctype", ["text/plain; charset=utf-8", "application/json", None])
def test_jellyfin_transports(ctype: str | None) -> None:
    body = b"\xef\xbb\xbf" + (SAMPLES / "jellyfin/movie_pause.json").read_bytes()
    event = parse_event("jellyfin", ctype, body, RECEIVED)
    assert isinstance(event, PlaybackEvent)
    assert event.kind == "pause"


def test_jellyfin_generic_form_destination() -> None:
    body = urlencode(jellyfin_template()).encode()
    event = parse_event("jellyfin", "application/x-www-form-urlencoded", body, RECEIVED)
    assert isinstance(event, PlaybackEvent)
    check(event, {"kind": "stop", "progress": 95.0, "completed": True, "ids": MATRIX})


def test_jellyfin_shemanaev_plugin_shape() -> None:
    payload = sample("emby/episode_stop_92.json")
    payload["Event"] = "Scrobble"
    payload["Series"] = {"Name": "Breaking Bad", "ProviderIds": {"Tvdb": "81189", "Imdb": ""}}
    payload["User"]["Id"] = "6F8B0D2C-4E6A-8F0B-2D4C-6E8A0F2B4D6C"
    event = parse("jellyfin", payload)
    check(
        event,
        {
            "source": "jellyfin",
            "kind": "progress",
            "completed": True,
            "show.ids": {"tvdb": 81189},
            "raw_event": "Scrobble",
            "user_external_ids": ("6f8b0d2c4e6a8f0b2d4c6e8a0f2b4d6c", "bob"),
        },
    )
    payload["Event"] = "Rate"
    assert isinstance(parse_payload("jellyfin", payload, received_at=RECEIVED), Ignored)


# --- Emby (docs §4) ---------------------------------------------------------------------------


def test_emby_multipart_and_urlencoded_data_field() -> None:
    raw = (SAMPLES / "emby/episode_stop_92.json").read_bytes()
    body = multipart([("data", raw, None)], "EmbyBoundary")
    event = parse_event("emby", "multipart/form-data; boundary=EmbyBoundary", body, RECEIVED)
    assert isinstance(event, PlaybackEvent)
    check(event, {"kind": "stop", "progress": 92.0, "completed": True})
    body = urlencode({"data": raw.decode()}).encode()
    event = parse_event("emby", "application/x-www-form-urlencoded", body, RECEIVED)
    assert isinstance(event, PlaybackEvent)
    assert event.progress == 92.0
    event = parse_event("emby", "application/json", raw, RECEIVED)
    assert isinstance(event, PlaybackEvent)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("playback.pause", {"kind": "pause", "paused": True}),
        ("playback.unpause", {"kind": "resume", "paused": False}),
        ("item.markplayed", {"kind": "watched", "progress": None}),
        ("item.markunplayed", {"kind": "unwatched"}),
        ("playback.scrobble", {"kind": "progress", "completed": True}),
        ("Playback.Start", {"kind": "start"}),
    ],
)
def test_emby_events(name: str, expected: dict[str, Any]) -> None:
    payload = sample("emby/movie_start.json")
    payload["Event"] = name
    payload["PlaybackInfo"]["PositionTicks"] = 45600000000
    check(parse("emby", payload), expected)


@pytest.mark.parametrize(
    "name", ["library.new", "item.rate", "system.notificationtest", "user.authenticated"]
)
def test_emby_ignored_events(name: str) -> None:
    payload = sample("emby/movie_start.json")
    payload["Event"] = name
    assert isinstance(parse_payload("emby", payload, received_at=RECEIVED), Ignored)


def test_emby_provider_ids_case_insensitive_and_empty() -> None:
    payload = sample("emby/movie_start.json")
    payload["Item"]["ProviderIds"] = {"IMDB": "tt0468569", "tmdb": 155, "Wikidata": "Q163872"}
    check(parse("emby", payload), {"ids": {"imdb": "tt0468569", "tmdb": 155}})
    payload["Item"]["ProviderIds"] = {}
    event = parse("emby", payload)
    assert event.ids == {}
    assert event.item_key == "local:emby:a2c4e6f8b1d3f5a7c9e1b3d5f7a9c1e3:31874"
    assert not event.has_ids()


def test_emby_without_user_or_session() -> None:
    payload = sample("emby/movie_stop_30.json")
    del payload["User"], payload["Session"]
    payload["PlaybackInfo"].pop("PlaySessionId")
    event = parse("emby", payload)
    assert event.user_external_ids == ()
    assert "nosession" in event.session_key


def test_emby_audio_is_ignored_and_missing_item_is_bad() -> None:
    payload = sample("emby/movie_start.json")
    payload["Item"]["Type"] = "Audio"
    assert isinstance(parse_payload("emby", payload, received_at=RECEIVED), Ignored)
    del payload["Item"]
    with pytest.raises(BadPayload, match="Item"):
        parse_payload("emby", payload, received_at=RECEIVED)
    with pytest.raises(BadPayload, match="Event"):
        parse_payload("emby", {"Title": "x"}, received_at=RECEIVED)


# --- Revenge (SPEC §5) ------------------------------------------------------------------------

REVENGE_MOVIE: dict[str, Any] = {
    "event": "start",
    "user_id": "0b9f7c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e",
    "session_id": "sess-1",
    "content_type": "movie",
    "content_id": "5e0c1d2e-3f4a-5b6c-7d8e-9f0a1b2c3d4e",
    "progress": 12.5,
    "occurred_at": "2026-11-24T20:15:00Z",
    "movie": {"title": "The Matrix", "year": 1999, "ids": {"imdb": "tt0133093", "tmdb": 603}},
    "show": None,
    "episode": None,
}
REVENGE_EPISODE: dict[str, Any] = {
    "event": "stop",
    "user_id": "0b9f7c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e",
    "content_type": "episode",
    "content_id": "aa",
    "progress": 91,
    "movie": None,
    "show": {"title": "Breaking Bad", "year": 2008, "ids": {"tvdb": 81189, "slug": "breaking-bad"}},
    "episode": {"season": 1, "number": 1, "title": "Pilot", "ids": {"tvdb": 349232, "tvrage": 1}},
}


def test_revenge_movie() -> None:
    event = parse("revenge", REVENGE_MOVIE)
    check(
        event,
        {
            "source": "revenge",
            "kind": "start",
            "media_type": "movie",
            "title": "The Matrix",
            "year": 1999,
            "ids": MATRIX,
            "progress": 12.5,
            "paused": False,
            "occurred_at": datetime(2026, 11, 24, 20, 15, tzinfo=UTC),
            "user_external_ids": ("0b9f7c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e",),
        },
    )
    assert "sess-1" in event.session_key
    item = event.trakt_item()
    assert item == {"type": "movie", "movie": {"title": "The Matrix", "year": 1999, "ids": MATRIX}}


def test_revenge_episode_and_default_occurred_at() -> None:
    event = parse("revenge", REVENGE_EPISODE)
    check(
        event,
        {
            "kind": "stop",
            "media_type": "episode",
            "title": "Pilot",
            "season": 1,
            "number": 1,
            "ids": {"tvdb": 349232},
            "show.ids": {"tvdb": 81189, "slug": "breaking-bad"},
            "show.title": "Breaking Bad",
            "show.year": 2008,
            "progress": 91.0,
            "occurred_at": RECEIVED,
        },
    )
    assert event.trakt_item()["episode"]["ids"] == {"tvdb": 349232}


@pytest.mark.parametrize("kind", ["pause", "resume", "progress", "watched", "unwatched"])
def test_revenge_all_event_kinds(kind: str) -> None:
    payload = dict(REVENGE_MOVIE, event=kind, progress=None)
    assert parse("revenge", payload).kind == kind


def test_revenge_music_is_ignored() -> None:
    payload = dict(REVENGE_MOVIE, content_type="track")
    assert isinstance(parse_payload("revenge", payload, received_at=RECEIVED), Ignored)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event": "play"}, "event"),
        ({"event": None}, "event"),
        ({"content_type": 3}, "content_type"),
        ({"user_id": None}, "user_id"),
        ({"user_id": 42}, "user_id"),
        ({"progress": "12"}, "progress"),
        ({"progress": True}, "progress"),
        ({"progress": -1}, "progress"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": 1700000000}, "occurred_at"),
        ({"movie": None}, "movie"),
        ({"movie": "The Matrix"}, "movie"),
        ({"movie": {"title": "x", "ids": {"tmdb": "abc"}}}, "movie.ids.tmdb"),
        ({"movie": {"title": "x", "ids": []}}, "movie.ids"),
        ({"movie": {"title": "x", "year": "nineteen"}}, "movie.year"),
    ],
)
def test_revenge_bad_payloads(change: dict[str, Any], field: str) -> None:
    payload = copy.deepcopy(REVENGE_MOVIE)
    payload.update(change)
    with pytest.raises(BadPayload) as info:
        parse_payload("revenge", payload, received_at=RECEIVED)
    assert info.value.reason.startswith(field)


def test_revenge_progress_capped_and_json_body() -> None:
    body = json.dumps(dict(REVENGE_MOVIE, progress=140)).encode()
    event = parse_event("revenge", "application/json; charset=utf-8", body, RECEIVED)
    assert isinstance(event, PlaybackEvent)
    assert event.progress == 100.0


def test_event_to_dict_is_json_serialisable() -> None:
    event = parse("plex", sample("plex/episode_stop_92.json"))
    data = json.loads(json.dumps(event.to_dict()))
    assert data["occurred_at"] == RECEIVED.isoformat()
    assert data["show"]["title"] == "Breaking Bad"


def test_bad_payload_reason_is_capped() -> None:
    assert len(BadPayload("x" * 10_000).reason) == 200


# --- Runtime: the item's length, kept as the play's runtime (SPEC §8 watch time) -------------


@pytest.mark.parametrize(
    ("source", "name", "minutes"),
    [
        ("plex", "plex/movie_stop_95.json", 136),  # Metadata.duration 8 160 000 ms
        ("plex", "plex/episode_stop_92.json", 58),  # 3 485 000 ms
        ("jellyfin", "jellyfin/movie_stop_95.json", 136),  # RunTimeTicks 81 600 000 000
        ("jellyfin", "jellyfin/episode_start.json", 58),
        ("emby", "emby/movie_stop_30.json", 152),  # Item.RunTimeTicks 91 200 000 000
        ("emby", "emby/episode_stop_92.json", 58),
    ],
)
def test_server_durations_give_the_runtime_in_minutes(source: str, name: str, minutes: int) -> None:
    assert parse(source, sample(name)).runtime == minutes


def test_runtime_unknown_or_implausible_is_none() -> None:
    payload = sample("plex/movie_stop_95.json")
    del payload["Metadata"]["duration"]
    assert parse("plex", payload).runtime is None
    payload["Metadata"]["duration"] = 10**15  # a placeholder, not a movie
    assert parse("plex", payload).runtime is None
    template = sample("jellyfin/movie_stop_95.json")
    template["RunTimeTicks"] = "-1"
    assert parse("jellyfin", template).runtime is None


@pytest.mark.parametrize(
    ("extra", "minutes"),
    [
        ({"runtime": 136}, 136),  # minutes
        ({"duration": 8160}, 136),  # seconds
        ({"duration": 8160.4}, 136),
        ({"runtime": 47, "duration": 8160}, 47),  # runtime wins
        ({"runtime": 0}, None),
        ({"runtime": None, "duration": None}, None),
        ({"duration": 10**12}, None),  # past a week: not a length
        ({}, None),
    ],
)
def test_revenge_runtime_or_duration(extra: dict[str, Any], minutes: int | None) -> None:
    event = parse("revenge", {**REVENGE_MOVIE, **extra})
    assert event.runtime == minutes


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"runtime": "136"}, "runtime"),
        ({"runtime": -5}, "runtime"),
        ({"runtime": True}, "runtime"),
        ({"duration": "2h"}, "duration"),
        ({"duration": -1}, "duration"),
    ],
)
def test_revenge_bad_runtime_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(BadPayload) as info:
        parse_payload("revenge", {**REVENGE_MOVIE, **change}, received_at=RECEIVED)
    assert info.value.reason.startswith(field)
