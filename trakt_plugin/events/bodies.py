"""Turn a raw webhook body into the JSON object each source means (SPEC §5, docs §2.1/§3.1/§4.1).

| source   | accepted content types                                                        |
|----------|-------------------------------------------------------------------------------|
| plex     | multipart/form-data with a ``payload`` part (the ``thumb`` JPEG is ignored)   |
| jellyfin | application/json, text/plain (the plugin's default), or the GenericForm       |
|          | destination's application/x-www-form-urlencoded fields                        |
| emby     | application/json (raw), multipart/form-data or urlencoded with a ``data`` field|
| revenge  | application/json                                                              |

A missing content type is read as JSON for the JSON sources. Only :class:`BadPayload` and
:class:`UnsupportedMediaType` ever leave :func:`extract_payload`, whatever the bytes.
"""

from __future__ import annotations

import codecs
import json
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from trakt_plugin.events.model import (
    SOURCES,
    BadPayload,
    UnknownSource,
    UnsupportedMediaType,
)

__all__ = ["BadPayload", "UnsupportedMediaType", "extract_payload", "split_content_type"]

_JSON_TYPES = frozenset({"application/json", "text/json"})
_MULTIPART = "multipart/form-data"
_URLENCODED = "application/x-www-form-urlencoded"

_ACCEPTED: dict[str, frozenset[str]] = {
    "plex": frozenset({_MULTIPART}),
    "jellyfin": _JSON_TYPES | {"text/plain", _URLENCODED},
    "emby": _JSON_TYPES | {"text/plain", _MULTIPART, _URLENCODED},
    "revenge": _JSON_TYPES,
}
# Multipart/urlencoded field that holds the JSON document.
_FORM_FIELD = {"plex": "payload", "emby": "data"}

# Well past any real webhook (a Plex payload is a few KiB) but bounds the work a hostile body
# can cause; the route already refuses bodies over 1 MiB.
_MAX_PARTS = 32
_MAX_FORM_FIELDS = 500
# RFC 2046: a boundary is 1-70 characters.
_MAX_BOUNDARY = 70


def _fail(reason: str) -> NoReturn:
    raise BadPayload(reason)


def split_content_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    """``("type/subtype", {param: value})`` lower-cased; ``("", {})`` when absent."""
    if not content_type or not content_type.strip():
        return "", {}
    try:
        mime, params = parse_options_header(content_type)
        decoded = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in params.items()}
        return mime.decode("latin-1").strip().lower(), decoded
    except (ValueError, UnicodeError):
        raise UnsupportedMediaType("unreadable Content-Type header") from None


def _decode_text(raw: bytes, charset: str | None, what: str) -> str:
    encoding = "utf-8"
    if charset:
        try:
            encoding = codecs.lookup(charset.strip().strip('"')).name
        except LookupError:
            _fail(f"{what}: unknown charset {charset[:40]!r}")
    if encoding == "utf-8":
        encoding = "utf-8-sig"  # tolerate a byte-order mark
    try:
        return raw.decode(encoding)
    except (UnicodeError, ValueError):
        _fail(f"{what}: not valid {encoding.removesuffix('-sig')} text")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _load_object(text: str, what: str) -> dict[str, Any]:
    if not text.strip():
        _fail(f"{what}: empty")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        _fail(f"{what}: JSON nested too deeply")
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, over-long integers
        _fail(f"{what}: invalid JSON ({str(exc)[:80]})")
    if not isinstance(value, dict):
        _fail(f"{what}: expected a JSON object")
    # A NUL can only come from a \u0000 escape (strict JSON refuses a raw one); PostgreSQL's text
    # cannot hold it, so neither engine takes it: the body is refused and kept for diagnosis.
    if "\\u0000" in text and _holds_nul(value):
        _fail(f"{what}: a text or key holds a NUL character (\\u0000)")
    return value


def _holds_nul(value: object) -> bool:
    """Whether any key or string in the decoded JSON holds U+0000 (no recursion: bodies may be
    nested deep)."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            if "\x00" in current:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return False


def _multipart_fields(body: bytes, params: dict[str, str]) -> dict[str, tuple[bytes, str | None]]:
    """Complete non-file parts of a multipart body: ``{name: (bytes, charset)}``."""
    boundary = params.get("boundary", "").strip().strip('"')
    if not boundary or len(boundary) > _MAX_BOUNDARY:
        _fail("multipart body without a usable boundary")
    fields: dict[str, tuple[bytes, str | None]] = {}
    state: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "data": [], "count": 0}

    def on_part_begin() -> None:
        state["count"] += 1
        if state["count"] > _MAX_PARTS:
            _fail("multipart body has too many parts")
        state["headers"] = {}
        state["data"] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        name = state["field"].decode("latin-1").strip().lower()
        state["headers"][name] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"].append(data[start:end])

    def on_part_end() -> None:
        headers: dict[str, bytes] = state["headers"]
        disposition, options = parse_options_header(headers.get("content-disposition"))
        if disposition != b"form-data" or b"filename" in options:
            return  # the Plex thumb is a file part: never decoded
        name = options.get(b"name", b"").decode("latin-1")
        if not name or name in fields:
            return
        try:
            _, part_params = split_content_type(
                headers.get("content-type", b"").decode("latin-1") or None
            )
        except UnsupportedMediaType:
            part_params = {}  # a part's odd Content-Type is no reason to refuse the body
        fields[name] = (b"".join(state["data"]), part_params.get("charset"))

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError, UnicodeError, IndexError, KeyError):
        _fail("malformed multipart body")
    return fields


def _form_fields(body: bytes) -> dict[str, tuple[bytes, str | None]]:
    """``application/x-www-form-urlencoded`` fields (first value of each name)."""
    text = _decode_text(body, None, "form body")
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except (ValueError, UnicodeError):
        _fail("malformed form body")
    fields: dict[str, tuple[bytes, str | None]] = {}
    for name, value in pairs:
        fields.setdefault(name, (value.encode("utf-8"), "utf-8"))
    return fields


def extract_payload(source: str, content_type: str | None, body: bytes) -> dict[str, Any]:
    """The JSON object carried by a webhook body.

    Raises :class:`UnsupportedMediaType` for a content type the source never sends and
    :class:`BadPayload` for anything malformed (bad JSON, missing part, not an object, bad
    encoding…). Pure: no I/O; the caller enforces the body size limit.
    """
    if source not in SOURCES:
        raise UnknownSource(f"unknown source {source[:40]!r}")
    mime, params = split_content_type(content_type)
    if not mime:
        if source == "plex":
            raise UnsupportedMediaType("plex sends multipart/form-data; no Content-Type given")
        mime = "application/json"
    is_json = mime in _JSON_TYPES or (mime.startswith("application/") and mime.endswith("+json"))
    if not is_json and mime not in _ACCEPTED[source]:
        raise UnsupportedMediaType(f"{source} webhooks are not sent as {mime[:60]}")
    if is_json and not (_JSON_TYPES & _ACCEPTED[source]):
        raise UnsupportedMediaType(f"{source} webhooks are not sent as {mime[:60]}")

    if mime in (_MULTIPART, _URLENCODED):
        fields = _multipart_fields(body, params) if mime == _MULTIPART else _form_fields(body)
        field = _FORM_FIELD.get(source)
        if field is None:
            # Jellyfin's GenericForm destination sends the template's top-level keys as fields.
            form = {name: raw.decode("utf-8", "replace") for name, (raw, _) in fields.items()}
            if _holds_nul(form):
                _fail("a form field or name holds a NUL character")
            return form
        if field not in fields:
            _fail(f"form body has no {field!r} field")
        raw, charset = fields[field]
        return _load_object(_decode_text(raw, charset, f"{field} field"), f"{field} field")

    text = _decode_text(body, params.get("charset"), "body")
    return _load_object(text, "body")
