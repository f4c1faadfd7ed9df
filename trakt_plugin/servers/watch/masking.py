"""Keeping tokens out of the websocket library's own log.

The ``websockets`` client logs the handshake (request line and headers) at debug level. A
watcher hands it a :class:`MaskingLogger` so the server token (in a header, or in Emby's socket
URL) is masked in every line it writes.
"""

from __future__ import annotations

import logging
from typing import Any

from ..base import MASK


class MaskingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that replaces each of ``secrets`` with ``****`` before a line is written."""

    def __init__(self, logger: logging.Logger, secrets: tuple[str, ...]) -> None:
        super().__init__(logger, {})
        self._secrets = tuple(s for s in secrets if s)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        kwargs.pop("extra", None)
        self.logger.log(level, "%s", text, **kwargs)


def websockets_logger(secrets: tuple[str, ...]) -> MaskingLogger:
    """The ``websockets.client`` logger, masking ``secrets``."""
    return MaskingLogger(logging.getLogger("websockets.client"), secrets)
