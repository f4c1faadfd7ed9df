"""A tiny recording SOCKS5 proxy (no auth, CONNECT only) for proxy tests.

It logs each CONNECT's address type (1 IPv4, 3 domain name, 4 IPv6) and address, resolves
names only from its own table (so a name that reaches it unresolved is proof of remote DNS),
and pipes bytes both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field

ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 1, 3, 4
REPLY_OK, REPLY_HOST_UNREACHABLE, REPLY_REFUSED = 0, 4, 5


@dataclass
class Connect:
    atyp: int
    host: str
    port: int


@dataclass
class RecordingSocks5:
    """`async with RecordingSocks5({"api.trakt.test": "127.0.0.1"}) as proxy: proxy.url`."""

    names: dict[str, str] = field(default_factory=dict)
    connects: list[Connect] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"socks5h://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RecordingSocks5:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, count = await reader.readexactly(2)
        await reader.readexactly(count)
        writer.write(b"\x05\x00")  # no authentication
        _version, _command, _reserved, atyp = await reader.readexactly(4)
        if atyp == ATYP_IPV4:
            host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
        elif atyp == ATYP_IPV6:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        else:
            length = (await reader.readexactly(1))[0]
            host = (await reader.readexactly(length)).decode()
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.connects.append(Connect(atyp, host, port))
        target = self.names.get(host) if atyp == ATYP_DOMAIN else host
        if target is None:
            writer.write(self._reply(REPLY_HOST_UNREACHABLE))
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(target, port)
        except OSError:
            writer.write(self._reply(REPLY_REFUSED))
            return
        writer.write(self._reply(REPLY_OK))
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()

    @staticmethod
    def _reply(code: int) -> bytes:
        return bytes([5, code, 0, ATYP_IPV4]) + socket.inet_aton("127.0.0.1") + b"\x00\x00"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()
