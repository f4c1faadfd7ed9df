"""Writes to a Plex server (mark, unmark, rate) on the standard library's HTTP connections.

Reads go through python-plexapi (:mod:`.plex`). A write is one GET or PUT whose answer has no
body worth reading, and a watched sync may make tens of thousands of them: through plexapi's
funnel (requests, then an XML parse of the empty answer) one costs about 1 ms of CPU, on a
kept-alive ``http.client`` connection about 0.15 ms, which is what made 28,000 marks in
``bench/server_sync.py`` take a minute. The request is the same: plexapi's ``X-Plex-*``
identification headers, the token as a header (never in the URL), TLS checked against the
same CA bundle requests uses, no proxy (a LAN server is reached directly, as the reads are).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import certifi
import plexapi

from .base import CONNECT_TIMEOUT, ServerError, ServerUnauthorized, ServerUnreachable

# A connection idle this long is opened anew rather than reused: servers close idle ones (often
# after 5 s), and a write sent on one as it closes would be neither surely sent nor surely not.
IDLE_REUSE = 2.0


class PlexWrites:
    """Keep-alive connections to one server, one per calling thread."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self._scheme = parts.scheme
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def send(self, method: str, path: str, params: dict[str, Any], token: str) -> None:
        """One write; raises :class:`ServerError` (or a subclass) when Plex did not take it."""
        target = f"{self._prefix}{path}?{urlencode(params)}"
        headers = {**plexapi.BASE_HEADERS, "X-Plex-Token": token, "Accept": "*/*"}
        connection = self._connection()
        try:
            connection.request(method.upper(), target, headers=headers)
            answer = connection.getresponse()
            answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException) as exc:
            self._drop(connection)
            raise ServerUnreachable(f"cannot reach the Plex server: {_problem(exc)}") from None
        finally:
            self._local.used_at = time.monotonic()
        if answer.will_close:
            self._drop(connection)
        _check(status, path)

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
        except OSError as exc:
            connection.close()
            raise ServerUnreachable(f"cannot reach the Plex server: {_problem(exc)}") from None
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


def _closed_by_server(connection: http.client.HTTPConnection) -> bool:
    """An idle kept-alive socket that is readable has reached its end (the server closed it)."""
    if connection.sock is None:
        return True
    poll = select.poll()
    poll.register(connection.sock, select.POLLIN)
    return bool(poll.poll(0))


def _check(status: int, what: str) -> None:
    if 200 <= status < 300:
        return
    if status == 401:
        raise ServerUnauthorized(f"Plex refused the token ({what}: HTTP 401)", status=401)
    if status == 403:
        raise ServerUnauthorized(
            f"Plex does not allow this with the token ({what}: HTTP 403)", status=403
        )
    raise ServerError(f"Plex answered HTTP {status} ({what})", status=status)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "TLS handshake failed"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    return "no connection"
