"""The product's wall clock: real time plus an offset that only tests can move.

Every wall-time read of the product goes through here: stored timestamps (``store.models.utcnow``),
token expiry, due times of retries, cache ages, OAuth ``state`` expiry, and the scheduler's periodic
jobs (``jobs/scheduler.py`` moves their next runs when the clock moves). Durations and pacing
(``time.monotonic``: rate budgets, timeouts, poll loops) stay on the real clock, so moving this one
never makes a rate window pass or a request time out.

The offset starts at zero and only moves in a process started with ``TRAKT_PLUGIN_TEST_CLOCK=1``
(read once by ``serve`` before anything is built). That flag is deliberately not a setting: it is
not in the YAML, ``plugin.json``, the dashboard or the settings API, and without it the endpoint
that moves the clock does not exist. The clock only moves forward: the scheduler and every "due"
comparison assume time never runs backwards.
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Mapping
from datetime import UTC, datetime

FLAG = "TRAKT_PLUGIN_TEST_CLOCK"

_lock = threading.Lock()
_offset = 0.0
_adjustable = False


class ClockFixedError(RuntimeError):
    """The clock was asked to move in a process not started with the test flag."""


def enable_from(environ: Mapping[str, str]) -> bool:
    """Read the test flag (once, at start); True when the clock may be moved."""
    global _adjustable
    _adjustable = environ.get(FLAG) == "1"
    return _adjustable


def adjustable() -> bool:
    return _adjustable


def time() -> float:
    """Epoch seconds (the product's ``time.time()``)."""
    return _time.time() + _offset


def now() -> datetime:
    """Aware UTC now."""
    return datetime.fromtimestamp(time(), UTC)


def offset() -> float:
    """Seconds this clock runs ahead of the real one."""
    return _offset


def advance(seconds: float) -> datetime:
    """Move the clock forward by ``seconds``; returns the new now."""
    global _offset
    if not _adjustable:
        raise ClockFixedError(f"the clock moves only in a process started with {FLAG}=1")
    if not seconds >= 0:  # also refuses NaN
        raise ValueError("the clock only moves forward")
    with _lock:
        _offset += seconds
    return now()
