"""Property tests: whatever arrives, parsing ends in an event, Ignored, BadPayload or 415."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trakt_plugin.events.model import (
    SOURCES,
    BadPayload,
    Ignored,
    PlaybackEvent,
    UnsupportedMediaType,
)
from trakt_plugin.events.parsers import parse_event, parse_payload

SAMPLES = Path(__file__).parent / "samples"
RECEIVED = datetime(2026, 11, 24, 20, 15, tzinfo=UTC)
BOUNDARY = "fuzzB0undary"
CONTENT_TYPES = [
    None,
    "",
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "application/vnd.x+json",
    "text/plain",
    "text/plain; charset=utf-16",
    "application/x-www-form-urlencoded",
    f"multipart/form-data; boundary={BOUNDARY}",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary="' + "b" * 200 + '"',
    "image/jpeg",
    ";;;",
    "multipart/form-data; boundary=\x00\xff",
]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,  # keep hypothesis from writing a .hypothesis directory into the repo
    suppress_health_check=[HealthCheck.too_slow],
)

SAMPLE_PAYLOADS: list[tuple[str, dict[str, Any]]] = [
    (p.parent.name, json.loads(p.read_text())) for p in sorted(SAMPLES.glob("*/*.json"))
]
SAMPLE_PAYLOADS.append(
    (
        "revenge",
        {
            "event": "stop",
            "user_id": "u1",
            "content_type": "episode",
            "progress": 50,
            "show": {"title": "S", "ids": {"tvdb": 1}},
            "episode": {"season": 1, "number": 2, "ids": {}},
        },
    )
)


def run(source: str, ctype: str | None, body: bytes) -> None:
    try:
        result = parse_event(source, ctype, body, RECEIVED)
    except (BadPayload, UnsupportedMediaType) as exc:
        assert len(str(exc)) <= 200
        return
    assert isinstance(result, PlaybackEvent | Ignored)
    if isinstance(result, PlaybackEvent):
        assert result.progress is None or 0.0 <= result.progress <= 100.0
        json.dumps(result.to_dict())


def wrap(ctype: str | None, payload: bytes) -> bytes:
    """Put ``payload`` where the content type expects the JSON document."""
    if ctype and ctype.startswith("multipart/form-data; boundary=" + BOUNDARY):
        out = b""
        for name in ("payload", "data"):
            out += (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                + payload
                + b"\r\n"
            )
        return out + f"--{BOUNDARY}--\r\n".encode()
    if ctype == "application/x-www-form-urlencoded":
        from urllib.parse import quote_from_bytes

        return b"data=" + quote_from_bytes(payload).encode()
    return payload


@FUZZ
@given(
    source=st.sampled_from(SOURCES),
    ctype=st.sampled_from(CONTENT_TYPES),
    body=st.binary(max_size=2048),
)
def test_arbitrary_bytes(source: str, ctype: str | None, body: bytes) -> None:
    run(source, ctype, body)


@FUZZ
@given(
    ctype=st.sampled_from(CONTENT_TYPES),
    data=st.data(),
)
def test_truncated_and_corrupted_samples(ctype: str | None, data: st.DataObject) -> None:
    source, payload = data.draw(st.sampled_from(SAMPLE_PAYLOADS))
    raw = wrap(ctype, json.dumps(payload).encode())
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    flip = data.draw(st.integers(min_value=0, max_value=max(0, len(raw) - 1)))
    corrupted = bytearray(raw[:cut])
    if corrupted and flip < len(corrupted):
        corrupted[flip] ^= data.draw(st.integers(min_value=1, max_value=255))
    run(source, ctype, bytes(corrupted))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(data=st.data())
def test_mistyped_fields_in_real_payloads(data: st.DataObject) -> None:
    """Replace random fields of real payloads (nested objects included) with any JSON value."""
    source, payload = data.draw(st.sampled_from(SAMPLE_PAYLOADS))
    payload = json.loads(json.dumps(payload))
    targets: list[dict[str, Any]] = [payload] + [v for v in payload.values() if isinstance(v, dict)]
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        target = data.draw(st.sampled_from(targets))
        keys = [*target, "Guid", "viewOffset", "IsPaused", "ProviderIds", "ids"]
        key = data.draw(st.sampled_from(keys))
        if data.draw(st.booleans()):
            target[key] = data.draw(JSON_VALUES)
        else:
            target.pop(key, None)
    try:
        result = parse_payload(source, payload, received_at=RECEIVED)
    except BadPayload:
        return
    assert isinstance(result, PlaybackEvent | Ignored)
    for ctype in ("application/json", f"multipart/form-data; boundary={BOUNDARY}"):
        run(source, ctype, wrap(ctype, json.dumps(payload).encode()))


@FUZZ
@given(source=st.sampled_from(SOURCES), value=JSON_VALUES)
def test_wrongly_typed_json_documents(source: str, value: Any) -> None:
    for ctype in ("application/json", "text/plain", f"multipart/form-data; boundary={BOUNDARY}"):
        run(source, ctype, wrap(ctype, json.dumps(value).encode()))


@settings(max_examples=10, deadline=None, database=None)
@given(source=st.sampled_from(SOURCES), filler=st.sampled_from([b"[", b'{"a":', b"\x00", b"9"]))
def test_huge_and_deep_bodies(source: str, filler: bytes) -> None:
    body = filler * (1024 * 1024 // len(filler))
    for ctype in ("application/json", f"multipart/form-data; boundary={BOUNDARY}"):
        run(source, ctype, wrap(ctype, body))


def test_huge_string_values_are_fine() -> None:
    payload = json.loads((SAMPLES / "plex/movie_play.json").read_text())
    payload["Metadata"]["title"] = "x" * 900_000
    payload["Account"]["title"] = "y" * 10_000
    ctype = f"multipart/form-data; boundary={BOUNDARY}"
    run("plex", ctype, wrap(ctype, json.dumps(payload).encode()))
