"""A raw asyncio HTTP/1.1 load generator: keep-alive connections, hand-written request bytes,
responses read by their status line and ``Content-Length`` (no pipelining).

An HTTP client library costs about as much CPU per request as the service it measures; on two
cores it then measures itself. This one does only the bytes, so its ceiling is several times the
service's. :func:`ceiling` shows that ceiling against :func:`serve_trivial` (a raw asyncio
server in another process that reads each body and answers 202).

Run alone: `.venv/bin/python bench/loadgen.py` prints the generator's ceiling.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvloop  # the service's own loop (uvicorn[standard]): a cheaper loop leaves it more CPU

T = TypeVar("T")

CRLF2 = b"\r\n\r\n"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a uvloop loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def post_request(host: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """The bytes of one keep-alive ``POST`` with a JSON body."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One keep-alive connection: send a request, wait for its whole response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:  # small requests go out at once, not after a delayed ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send ``raw``; returns the status and the body of the answer."""
        self.writer.write(raw)
        head = await self.reader.readuntil(CRLF2)
        status = int(head[9:12])
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:  # not what the service sends for JSON, but read it right if it does
            return status, await self._read_chunked()
        return status, (await self.reader.readexactly(length)) if length else b""

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append((await self.reader.readexactly(size + 2))[:-2])

    def close(self) -> None:
        self.writer.close()


@dataclass
class Run:
    """What a run measured: requests per second, each latency (s), statuses seen."""

    rate: float
    latencies: list[float]
    statuses: dict[int, int] = field(default_factory=dict)

    def pct(self, q: float) -> float:
        """The ``q`` quantile of the latencies, in ms."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _count(statuses: dict[int, int], status: int) -> None:
    statuses[status] = statuses.get(status, 0) + 1


async def closed_loop(
    host: str, port: int, make: Callable[[int], bytes], total: int, concurrency: int
) -> Run:
    """``concurrency`` connections, each sending its next request when the last one answered,
    until ``total`` requests were answered. ``make(i)`` builds request ``i``."""
    requests = [make(i) for i in range(total)]  # built before the clock starts
    counter = iter(range(total))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connections = [await Connection.open(host, port) for _ in range(concurrency)]

    async def worker(conn: Connection) -> None:
        for index in counter:
            started = time.perf_counter()
            status, _ = await conn.request(requests[index])
            latencies.append(time.perf_counter() - started)
            _count(statuses, status)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(conn) for conn in connections))
    finally:
        for conn in connections:
            conn.close()
    return Run(total / (time.perf_counter() - started), latencies, statuses)


async def open_loop(
    host: str, port: int, make: Callable[[int], bytes], rate: float, seconds: float
) -> Run:
    """Requests at a steady ``rate`` for ``seconds``, whatever the answers' pace (a request
    that finds no idle connection opens one, so a slow answer never delays the next send).
    Latency counts from the scheduled send time."""
    total = int(rate * seconds)
    requests = [make(i) for i in range(total)]
    idle = [await Connection.open(host, port) for _ in range(8)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(index: int, due: float) -> None:
        conn = idle.pop() if idle else await Connection.open(host, port)
        status, _ = await conn.request(requests[index])
        latencies.append(time.perf_counter() - due)
        _count(statuses, status)
        idle.append(conn)

    tasks = []
    start = time.perf_counter()
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for conn in idle:
        conn.close()
    return Run(total / elapsed, latencies, statuses)


# ---------------------------------------------------------------- the trivial server

TRIVIAL_ANSWER = (
    b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n"
    b'{"ok":true}'
)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(CRLF2)
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            writer.write(TRIVIAL_ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _serve_forever(sock: socket.socket) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_handle, sock=sock)
        await server.serve_forever()

    run(main())


@contextmanager
def serve_trivial() -> Iterator[int]:
    """A raw asyncio server that reads each request's body and answers 202, in another
    process; yields its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    process = multiprocessing.get_context("fork").Process(
        target=_serve_forever, args=(sock,), daemon=True
    )
    process.start()
    sock.close()
    try:
        yield port
    finally:
        process.terminate()
        process.join(5)


def ceiling(body: bytes, total: int = 20000, concurrency: int = 16) -> Run:
    """The generator's own rate: ``total`` POSTs of ``body`` against :func:`serve_trivial`."""
    with serve_trivial() as port:
        raw = post_request("127.0.0.1", "/bare", body)
        return run(closed_loop("127.0.0.1", port, lambda _: raw, total, concurrency))


if __name__ == "__main__":
    alone = ceiling(b'{"event": "start"}' * 10)
    print(
        f"load generator ceiling: {alone.rate:.0f} requests/s at c=16, p99 {alone.pct(0.99):.2f} ms"
    )
