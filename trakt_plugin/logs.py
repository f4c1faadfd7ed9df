"""Logging setup: one format, access logs without query strings (they can carry tokens)."""

from __future__ import annotations

import logging
import re

_QUERY = re.compile(r"\?\S*")


class DropQueryStrings(logging.Filter):
    """Removes ``?...`` from uvicorn access-log records (Plex sends the token in the URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY.sub("", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        record.msg = _QUERY.sub("", str(record.msg)) if isinstance(record.msg, str) else record.msg
        return True


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # uvicorn logs HTTP requests on "uvicorn.access" and WebSocket handshakes on "uvicorn.error".
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(DropQueryStrings())
    # httpx logs full request URLs at INFO; keep it quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)
