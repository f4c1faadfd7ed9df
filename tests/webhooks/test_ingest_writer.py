"""The webhook writer's batching (events/routes.py IngestWriter): a lone delivery is written at
once; a burst pauses for the rest of the burst, which then shares its transaction.

The writer runs in its own thread here with a recording ``work``; its pause is injected, so
the test decides what arrives during it instead of racing a clock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from fastapi.responses import JSONResponse

from trakt_plugin.events.routes import BURST_WAIT, Handled, IngestWriter, Outcome, Received
from trakt_plugin.store.models import utcnow


def _received(body: bytes) -> Received:
    return Received("revenge", "application/json", body, utcnow())


class Recorder:
    """A ``work`` that records each batch's bodies; a batch starting with ``gate`` blocks
    until the test opens it."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.in_gate = threading.Event()
        self.gate_open = threading.Event()

    def __call__(self, batch: Sequence[Received]) -> list[Outcome]:
        self.batches.append([received.body for received in batch])
        if batch[0].body == b"gate":
            self.in_gate.set()
            self.gate_open.wait(10)
        return [Handled(JSONResponse({}, 202)) for _ in batch]


async def test_a_lone_delivery_is_written_without_the_burst_pause() -> None:
    work, pauses = Recorder(), []
    writer = IngestWriter(work, pause=pauses.append)

    handled = await writer.submit(_received(b"alone"))

    assert handled.response.status_code == 202
    assert work.batches == [[b"alone"]]
    assert pauses == []


async def test_a_burst_pauses_and_what_arrives_meanwhile_shares_its_batch() -> None:
    loop = asyncio.get_running_loop()
    work, pauses = Recorder(), []
    late: list[asyncio.Task[Handled]] = []

    async def send_late() -> None:
        late.append(asyncio.create_task(writer.submit(_received(b"late"))))
        await asyncio.sleep(0)  # the task runs up to its await: its delivery is queued

    def pause(seconds: float) -> None:
        # In the writer thread: a request of the burst arrives while the writer pauses.
        pauses.append(seconds)
        asyncio.run_coroutine_threadsafe(send_late(), loop).result(10)

    writer = IngestWriter(work, pause=pause)
    gate = asyncio.create_task(writer.submit(_received(b"gate")))
    assert await asyncio.to_thread(work.in_gate.wait, 10)
    # Two deliveries wait while the writer is busy: the next batch finds a burst.
    burst = [asyncio.create_task(writer.submit(_received(body))) for body in (b"a", b"b")]
    await asyncio.sleep(0)
    work.gate_open.set()
    answers = await asyncio.gather(gate, *burst)
    answers += await asyncio.gather(*late)

    assert work.batches == [[b"gate"], [b"a", b"b", b"late"]]
    assert pauses == [BURST_WAIT]
    assert [handled.response.status_code for handled in answers] == [202] * 4
