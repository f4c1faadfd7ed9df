"""The webhook endpoint over real HTTP: auth, limits, content types, answers (SPEC §5);
a hypothesis fuzz of each source's endpoint never gets a 5xx, and every refused
body lands in the rejected-deliveries log (GET /api/v1/webhooks/rejected)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import API_TOKEN, WEBHOOK_TOKEN, Service, start_service
from tests.webhooks.payloads import Media, plex, revenge

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
SOURCES = ("revenge", "plex", "jellyfin", "emby")
SAMPLES = Path(__file__).parents[1] / "events" / "samples"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("webhook-http") / "data"
    service = start_service(
        data, {"TRAKT_PLUGIN_API_TOKEN": API_TOKEN, "TRAKT_PLUGIN_WEBHOOK_TOKEN": WEBHOOK_TOKEN}
    )
    yield service
    service.stop()


def post(
    svc: Service, source: str, content: bytes, content_type: str | None, **kw: object
) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    headers.update(kw.pop("headers", {}))  # type: ignore[arg-type]
    params = kw.pop("params", {"token": WEBHOOK_TOKEN})
    return httpx.post(
        f"{svc.url}/webhooks/{source}",
        content=content,
        headers=headers,
        params=params,
        timeout=20,  # type: ignore[arg-type]
    )


def rejected(svc: Service) -> list[dict[str, object]]:
    with svc.api() as api:
        return list(api.get("/api/v1/webhooks/rejected", params={"limit": 1000}).json()["items"])


def test_token_by_query_or_header_and_401_otherwise(svc: Service) -> None:
    body = revenge("start", "tok", MATRIX, 5)
    assert post(svc, "revenge", body.content, body.content_type, params={}).status_code == 401
    wrong = post(svc, "revenge", body.content, body.content_type, params={"token": "nope"})
    assert wrong.status_code == 401 and wrong.json() == {"error": "missing or wrong webhook token"}
    by_header = post(
        svc,
        "revenge",
        body.content,
        body.content_type,
        params={},
        headers={"X-Webhook-Token": WEBHOOK_TOKEN},
    )
    assert by_header.status_code == 202
    assert set(by_header.json()) == {"event_id", "kind", "user_id"}


def test_answers_202_200_400_413_415_404(svc: Service) -> None:
    body = plex("start", "someone", MATRIX, 5)
    accepted = post(svc, "plex", body.content, body.content_type)
    assert accepted.status_code == 202 and accepted.json()["kind"] == "start"

    music = {"event": "media.play", "Account": {"title": "x"}, "Metadata": {"type": "track"}}
    ignored = post(svc, "emby", json.dumps({"Event": "library.new"}).encode(), "application/json")
    assert ignored.status_code == 200 and "ignored" in ignored.json()
    boundary = "b0"
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n\r\n'
        f"{json.dumps(music)}\r\n--{boundary}--\r\n"
    ).encode()
    track = post(svc, "plex", form, f"multipart/form-data; boundary={boundary}")
    assert track.status_code == 200 and "ignored" in track.json()

    bad = post(svc, "revenge", b'{"event": "start"', "application/json")
    assert bad.status_code == 400 and bad.json()["error"]
    assert rejected(svc)[0]["body"] == '{"event": "start"'

    huge = post(svc, "jellyfin", b"{" + b" " * (1024 * 1024 + 10) + b"}", "application/json")
    assert huge.status_code == 413
    assert rejected(svc)[0]["status"] == 413

    wrong_type = post(svc, "plex", b"{}", "application/json")
    assert wrong_type.status_code == 415 and wrong_type.json()["error"]
    assert rejected(svc)[0]["status"] == 415

    assert post(svc, "kodi", b"{}", "application/json").status_code == 404
    with svc.api() as api:
        spec = api.get("/api/v1/openapi.json").json()
        assert "/webhooks/rejected" in spec["paths"]
        assert "/scrobbles" in spec["paths"]


def _samples(source: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((SAMPLES / source).glob("*.json"))] or [b"{}"]


def _mutations(source: str) -> st.SearchStrategy[bytes]:
    base = st.sampled_from(
        _samples(source) if source != "revenge" else [revenge("stop", "f", MATRIX, 95).content]
    )
    truncated = st.tuples(base, st.integers(min_value=0, max_value=4000)).map(
        lambda t: t[0][: t[1]]
    )
    mistyped = st.tuples(
        base, st.sampled_from([b"null", b"[]", b'"x"', b"1e999", b"-1", b"true"])
    ).map(lambda t: t[0].replace(b": ", b": " + t[1] + b" ", 1))
    wrong_shape = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode())
    keyed = st.fixed_dictionaries(
        {
            "event": st.one_of(st.text(max_size=10), st.integers(), st.none()),
            "Event": st.one_of(st.text(max_size=10), st.integers()),
            "NotificationType": st.sampled_from(["PlaybackStart", "PlaybackStop", 7, None]),
            "ItemType": st.sampled_from(["Movie", "Episode", [], {}]),
            "content_type": st.sampled_from(["movie", "episode", 3]),
            "user_id": st.one_of(st.text(max_size=8), st.integers()),
            "progress": st.one_of(st.floats(allow_nan=False), st.text(max_size=5), st.none()),
            "Item": st.one_of(st.just({"Type": "Movie"}), st.integers()),
        }
    ).map(lambda v: json.dumps(v).encode())
    binary = st.binary(max_size=2000)
    huge_field = st.integers(min_value=1000, max_value=200_000).map(
        lambda n: json.dumps({"event": "start", "user_id": "x" * n}).encode()
    )
    return st.one_of(truncated, mistyped, wrong_shape, keyed, binary, huge_field)


CONTENT_TYPES = {
    "revenge": ["application/json", None, "text/plain"],
    "plex": ["multipart/form-data; boundary=fz", "application/json"],
    "jellyfin": ["application/json", "text/plain", "application/x-www-form-urlencoded"],
    "emby": ["application/json", "multipart/form-data; boundary=fz", "image/png"],
}


def _wrap(content: bytes, content_type: str | None) -> bytes:
    if content_type and content_type.startswith("multipart/"):
        return (
            b'--fz\r\nContent-Disposition: form-data; name="payload"\r\n\r\n'
            + content
            + b'\r\n--fz\r\nContent-Disposition: form-data; name="data"\r\n\r\n'
            + content
            + b"\r\n--fz--\r\n"
        )
    return content


@pytest.mark.parametrize("source", SOURCES)
def test_fuzzed_bodies_get_a_4xx_with_a_message_and_are_logged(svc: Service, source: str) -> None:
    seen: list[int] = []

    @FUZZ
    @given(content=_mutations(source), content_type=st.sampled_from(CONTENT_TYPES[source]))
    def check(content: bytes, content_type: str | None) -> None:
        body = _wrap(content, content_type)
        answer = post(svc, source, body, content_type)
        assert answer.status_code < 500, answer.text
        data = answer.json()
        if answer.status_code >= 400:
            assert answer.status_code in (400, 413, 415) and data["error"]
            seen.append(answer.status_code)
        elif answer.status_code == 202:  # stored: the event is named (SPEC §3)
            assert data["event_id"] and data["kind"], data
        else:  # not playback of a movie or episode: ignored with a reason
            assert answer.status_code == 200 and data["ignored"], data

    check()
    assert seen, "the fuzzer produced no refused body"
    logged = [r for r in rejected(svc) if r["source"] == source]
    assert logged and all(r["reason"] for r in logged)
