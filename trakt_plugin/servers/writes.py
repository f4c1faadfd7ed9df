"""Writes to a media server (mark, unmark, rate) on the standard library's HTTP connections.

Reads go through each kind's client (python-plexapi for Plex, httpx for Jellyfin/Emby). A write
is one small request whose answer has no body worth reading, and a watched sync may make tens
of thousands of them: through plexapi's funnel (requests, then an XML parse of the empty answer)
one costs about 1 ms of CPU, through httpx about 0.65 ms, on a kept-alive ``http.client``
connection about 0.15 ms, which is what made 28,000 marks in ``bench/server_sync.py`` take a
minute. The request is the same: the client's identification headers and token as headers
(never in the URL), TLS checked against the same CA bundle (certifi), no proxy (a LAN server is
reached directly, as the reads are).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import certifi

from .base import CONNECT_TIMEOUT, ServerError, ServerUnreachable, status_error

# A connection idle this long is opened anew rather than reused: servers close idle ones (often
# after 5 s), and a write sent on one as it closes would be neither surely sent nor surely not.
IDLE_REUSE = 2.0


class KeptAliveWrites:
    """Keep-alive connections to one server, one per calling thread. ``label`` names the server
    kind in errors; ``headers`` go with every request."""

    def __init__(self, url: str, timeout: float, label: str, headers: Mapping[str, str]) -> None:
        parts = urlsplit(url)
        self._label = label
        self._headers = {**headers, "Accept": "*/*"}
        self._scheme = parts.scheme
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """One write (``headers``: more for this one, e.g. an account's token); raises
        :class:`ServerError` (or a subclass) when the server did not take it."""
        query = urlencode(params)
        target = f"{self._prefix}{path}" + (f"?{query}" if query else "")
        headers = {**self._headers, **(headers or {})}
        connection = self._connection()
        try:
            connection.request(method.upper(), target, headers=headers)
            answer = connection.getresponse()
            answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException) as exc:
            self._drop(connection)
            raise self._unreachable(exc) from None
        finally:
            self._local.used_at = time.monotonic()
        if answer.will_close:
            self._drop(connection)
        if not 200 <= status < 300:
            raise status_error(self._label, status, f"{method.upper()} {path}")

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        idle = time.monotonic() - getattr(self._local, "used_at", 0.0)
        if connection is not None and (idle > IDLE_REUSE or _closed_by_server(connection)):
            self._drop(connection)
            connection = None
        if connection is None:
            connection = self._open()
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    def _open(self) -> http.client.HTTPConnection:
        if self._scheme not in ("http", "https") or not self._host:
            raise ServerError("the server URL must be http:// or https:// with a host")
        timeout = min(self._timeout, CONNECT_TIMEOUT)
        connection: http.client.HTTPConnection
        if self._https:
            context = ssl.create_default_context(cafile=certifi.where())
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        try:
            connection.connect()
        except (OSError, UnicodeError) as exc:  # UnicodeError: a host name IDNA refuses
            connection.close()
            raise self._unreachable(exc) from None
        if connection.sock is not None:
            connection.sock.settimeout(self._timeout)  # a connect fails fast, an answer may be slow
        return connection

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._lock:
            if connection in self._all:
                self._all.remove(connection)

    def _unreachable(self, exc: BaseException) -> ServerUnreachable:
        return ServerUnreachable(f"cannot reach the {self._label} server: {_problem(exc)}")


def _closed_by_server(connection: http.client.HTTPConnection) -> bool:
    """An idle kept-alive socket that is readable has reached its end (the server closed it)."""
    if connection.sock is None:
        return True
    poll = select.poll()
    poll.register(connection.sock, select.POLLIN)
    return bool(poll.poll(0))


def _problem(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "TLS handshake failed"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, UnicodeError):
        return "the URL cannot be used"
    return "no connection"
