"""The service as the benchmarks run it: the real app plus two routes to measure it against.

- ``/webhooks/bench-bare``: reads the body and answers 202 the way the webhook route does (a
  JSONResponse), stores nothing. The baseline of webhook ingest.
- ``/webhooks/bench-floor``: durability alone. The body goes through the webhook route's own
  writer thread (:class:`IngestWriter`, group commit) and is committed, with one outbox row, to a
  SQLite file of its own through the ``sqlite3`` module, then 202. What the webhook route costs
  beyond this is the product's recording itself: parsing, the sender's user, the policy, the
  session state and the outbox rows it decides (``scrobble/outbox.py``).

Both are under /webhooks/, so they take the webhook route's path through the security gate and
the lean middleware stack (``machine_path.py``); they come before its catch-all for unknown
sources (``/webhooks/{source}``), so they match.
Run by ``_rig.bench_rig`` as ``python bench/_serve.py`` with the service's environment.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse
from nicegui import app

from trakt_plugin.app import serve
from trakt_plugin.config import load_settings
from trakt_plugin.events.routes import Handled, IngestWriter, Outcome, Received
from trakt_plugin.store.models import utcnow


async def bare(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"ok": True}, 202)


class Floor:
    """The writer thread's work for ``bench-floor``: each batch in one committed transaction."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # The store's own settings (store/engine.py): WAL, synchronous=NORMAL.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS event (id INTEGER PRIMARY KEY, received_at TEXT,"
            " source TEXT, body_hash TEXT, body BLOB)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, event_id INTEGER,"
            " status TEXT)"
        )
        self.writer = IngestWriter(self.work)

    def work(self, batch: Sequence[Received]) -> list[Outcome]:
        ids = []
        self.db.execute("BEGIN IMMEDIATE")
        for received in batch:
            digest = hashlib.sha256(received.body).hexdigest()
            row = (received.received_at.isoformat(), received.source, digest, received.body)
            cursor = self.db.execute(
                "INSERT INTO event (received_at, source, body_hash, body) VALUES (?, ?, ?, ?)", row
            )
            ids.append(cursor.lastrowid)
        self.db.executemany(
            "INSERT INTO outbox (event_id, status) VALUES (?, 'pending')", [(i,) for i in ids]
        )
        self.db.execute("COMMIT")
        return [Handled(JSONResponse({"event_id": i, "kind": "start"}, 202)) for i in ids]

    async def route(self, request: Request) -> JSONResponse:
        body = await request.body()
        received = Received("revenge", request.headers.get("content-type"), body, utcnow())
        return (await self.writer.submit(received)).response


if __name__ == "__main__":
    floor = Floor(Path(os.environ["TRAKT_PLUGIN_DATA_DIR"]).parent / "bench-floor.db")
    app.add_api_route("/webhooks/bench-bare", bare, methods=["POST"], status_code=202)
    app.add_api_route("/webhooks/bench-floor", floor.route, methods=["POST"], status_code=202)
    serve(load_settings(os.environ), os.environ)
