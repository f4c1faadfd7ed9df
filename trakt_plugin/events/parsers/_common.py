"""Typed field access shared by the parsers.

Media servers are loose about types (Jellyfin templates render everything as strings, ``""`` for
missing keys, ``True``/``False`` booleans); the ``lenient`` readers here accept those renderings
and raise :class:`BadPayload` naming the field only for values that cannot mean anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from trakt_plugin.events.model import NUMERIC_ID_KINDS, BadPayload, Ids

# Jellyfin and Emby count time in .NET ticks of 100 ns (docs §6).
TICKS_PER_MS = 10_000

_IMDB_RE = re.compile(r"^tt\d{1,12}$", re.IGNORECASE)
_INT_RE = re.compile(r"^[+-]?\d{1,30}$")
_FLOAT_RE = re.compile(r"^[+-]?(\d{1,30}(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$")
_DATE_RE = re.compile(r"^(\d{4})-\d{2}-\d{2}")
_FRACTION_RE = re.compile(r"(\.\d{6})\d+")

# A 4-digit year outside this range is a placeholder (0001-01-01 is .NET's "no date").
MIN_YEAR, MAX_YEAR = 1870, 2200


def type_name(value: object) -> str:
    """JSON-ish name of a value's type for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def lower_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """Keys lower-cased; on a clash the first non-empty value wins (Jellyfin keys are case-free)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        low = key.lower()
        if low not in out or out[low] in (None, ""):
            out[low] = value
    return out


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def get_obj(data: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
    """An object field, or None when absent/null/empty string."""
    value = data.get(key)
    if _blank(value):
        return None
    if not isinstance(value, dict):
        raise BadPayload(f"{path}: expected an object, got {type_name(value)}")
    return value


def get_list(data: Mapping[str, Any], key: str, path: str) -> list[Any] | None:
    """An array field, or None when absent/null/empty string."""
    value = data.get(key)
    if _blank(value):
        return None
    if not isinstance(value, list):
        raise BadPayload(f"{path}: expected an array, got {type_name(value)}")
    return value


def get_str(data: Mapping[str, Any], key: str, path: str) -> str | None:
    """A text field (numbers are accepted and rendered), stripped; None when absent or blank."""
    value = data.get(key)
    if _blank(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    raise BadPayload(f"{path}: expected a string, got {type_name(value)}")


def as_int(value: object, path: str) -> int | None:
    """An integer from a JSON number or a digit string (template form); None when blank."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise BadPayload(f"{path}: expected a number, got boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise BadPayload(f"{path}: expected a whole number")
    if isinstance(value, str):
        text = value.strip()
        if _INT_RE.match(text):
            return int(text)
        if _FLOAT_RE.match(text):
            number = float(text)
            if math.isfinite(number) and number.is_integer():
                return int(number)
        raise BadPayload(f"{path}: expected a whole number")
    raise BadPayload(f"{path}: expected a number, got {type_name(value)}")


def get_int(data: Mapping[str, Any], key: str, path: str) -> int | None:
    """See :func:`as_int`."""
    return as_int(data.get(key), path)


def get_float(
    data: Mapping[str, Any], key: str, path: str, *, strict: bool = False
) -> float | None:
    """A finite number; with ``strict`` only JSON numbers are accepted (no strings)."""
    value = data.get(key)
    if value is None or (not strict and _blank(value)):
        return None
    if isinstance(value, bool):
        raise BadPayload(f"{path}: expected a number, got boolean")
    number: float
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and not strict and _FLOAT_RE.match(value.strip()):
        number = float(value.strip())
    else:
        raise BadPayload(f"{path}: expected a number, got {type_name(value)}")
    if not math.isfinite(number):
        raise BadPayload(f"{path}: expected a finite number")
    return number


def get_bool(data: Mapping[str, Any], key: str, path: str) -> bool | None:
    """A boolean from JSON, or .NET's ``True``/``False`` text; None when absent or blank."""
    value = data.get(key)
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
    raise BadPayload(f"{path}: expected a boolean, got {type_name(value)}")


def normalise_guid(value: str) -> str:
    """Jellyfin GUIDs: templates render them dashed, Send-All-Properties as 32 hex (docs §3.3)."""
    return value.strip().strip("{}").replace("-", "").lower()


def year_from(value: int | None) -> int | None:
    """Drop placeholder years."""
    if value is None or not MIN_YEAR <= value <= MAX_YEAR:
        return None
    return value


def year_from_date(value: object) -> int | None:
    """The year of a ``YYYY-MM-DD…`` string, or None."""
    if not isinstance(value, str):
        return None
    match = _DATE_RE.match(value.strip())
    return year_from(int(match.group(1))) if match else None


def progress_percent(position_ms: int | None, duration_ms: int | None) -> float | None:
    """Percent watched in [0, 100], rounded to 0.1 (docs §1); None when either value is unknown."""
    if position_ms is None or duration_ms is None or duration_ms <= 0:
        return None
    percent = max(0.0, min(100.0, position_ms * 100.0 / duration_ms))
    return round(percent, 1)


def parse_server_time(value: object) -> datetime | None:
    """A server timestamp for display; anything unparsable is simply dropped."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    # .NET writes 7 fractional digits; fromisoformat wants at most 6.
    text = _FRACTION_RE.sub(r"\1", value.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ensure_utc(parsed)


def ensure_utc(value: datetime) -> datetime:
    """Aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def clean_id(kind: str, value: object) -> int | str | None:
    """One id normalised for Trakt, or None when it is not a usable value of that kind."""
    if isinstance(value, bool) or value is None:
        return None
    if kind in NUMERIC_ID_KINDS:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 19:
            value = int(value.strip())
        if isinstance(value, int) and 0 < value < 2**63:
            return value
        return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if kind == "imdb":
        return text.lower() if _IMDB_RE.match(text) else None
    if kind == "slug":
        return text if text and len(text) <= 200 else None
    return None


def clean_ids(raw: Mapping[str, object], allowed: tuple[str, ...]) -> Ids:
    """Usable ids of the allowed kinds from a ``{kind: value}`` mapping; keys case-insensitive."""
    ids: Ids = {}
    for key, value in raw.items():
        kind = key.strip().lower()
        if kind not in allowed or kind in ids:
            continue
        cleaned = clean_id(kind, value)
        if cleaned is not None:
            ids[kind] = cleaned
    return ids


def key_part(value: object) -> str:
    """A session-key component: text without the ':' separator, capped in length."""
    text = "" if value is None else str(value)
    return text.replace(":", "_")[:80]
