"""The rows one write transaction adds, written together (a few statements per batch).

Recording an event adds a stored event, its session's state, maybe a ledger play and outbox
rows, and marks the session's unsent start/pause calls superseded. Issued one statement per
row, those statements were most of an event's cost (each also hands the interpreter lock to
the web server's thread and waits to get it back). :class:`Writes` keeps them until
:meth:`Writes.flush`: then each table gets one statement for the whole batch.

Ids are needed before the rows exist (an outbox row names its event and play), so they are
:class:`Ref` objects filled in at the flush. The caller flushes before it reads anything the
pending rows would change (the recorder does before looking up a recent play) and before it
commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ..store import scrobble_repo

LIVE_ACTIONS = ("scrobble_start", "scrobble_pause")


class Ref:
    """The id of a row written at the next flush (or an existing row's id)."""

    __slots__ = ("id",)

    def __init__(self, row_id: int | None = None) -> None:
        self.id = row_id

    def get(self) -> int:
        if self.id is None:
            raise RuntimeError("a row id was read before its batch was written")
        return self.id


@dataclass
class Writes:
    """Pending rows of one transaction, in the order they were added."""

    events: list[tuple[Ref, dict[str, Any]]] = field(default_factory=list)
    # (owner, session key) → [whether the row exists in the store, the values to write]
    sessions: dict[tuple[str, str], tuple[bool, dict[str, Any]]] = field(default_factory=dict)
    plays: list[tuple[Ref, Ref | None, dict[str, Any]]] = field(default_factory=list)
    scrobbles: list[tuple[Ref | None, Ref | None, dict[str, Any]]] = field(default_factory=list)
    superseded: dict[tuple[str, str], str] = field(default_factory=dict)

    def add_event(self, values: dict[str, Any]) -> Ref:
        ref = Ref()
        self.events.append((ref, values))
        return ref

    def save_session(
        self, owner: str, session_key: str, *, exists: bool, values: dict[str, Any]
    ) -> None:
        """Write the session's row: later values of one batch replace earlier ones."""
        pending = self.sessions.get((owner, session_key))
        if pending is None:
            self.sessions[(owner, session_key)] = (exists, dict(values))
        else:
            pending[1].update(values)

    def add_play(self, values: dict[str, Any], event: Ref | None) -> Ref:
        ref = Ref()
        self.plays.append((ref, event, values))
        return ref

    def add_scrobble(self, values: dict[str, Any], event: Ref | None, play: Ref | None) -> None:
        self.scrobbles.append((event, play, values))

    def supersede_live(self, user_id: str, session_key: str, note: str) -> None:
        """Mark the session's unsent start/pause calls skipped: the stored ones at the flush
        (before this batch's rows go in), this batch's own ones now."""
        self.superseded.setdefault((user_id, session_key), note)
        for _, _, row in self.scrobbles:
            if (
                row["status"] == "pending"
                and not row["completion"]
                and row["action"] in LIVE_ACTIONS
                and row["user_id"] == user_id
                and row["session_key"] == session_key
            ):
                row.update(status="skipped", last_error=note, next_attempt_at=None)

    def flush(self, conn: Connection) -> None:
        """Write everything pending (events first: plays and outbox rows name them)."""
        if self.events:
            ids = scrobble_repo.insert_events(conn, [values for _, values in self.events])
            for (ref, _), row_id in zip(self.events, ids, strict=True):
                ref.id = row_id
        if self.sessions:
            scrobble_repo.save_sessions(
                conn,
                inserts=[
                    {"owner": owner, "session_key": key, **values}
                    for (owner, key), (exists, values) in self.sessions.items()
                    if not exists
                ],
                updates=[
                    {"b_owner": owner, "b_session_key": key, **values}
                    for (owner, key), (exists, values) in self.sessions.items()
                    if exists
                ],
            )
        if self.plays:
            rows = [_with_id(values, "event_id", event) for _, event, values in self.plays]
            ids = scrobble_repo.insert_plays(conn, rows)
            for (ref, _, _), row_id in zip(self.plays, ids, strict=True):
                ref.id = row_id
        if self.superseded:
            scrobble_repo.supersede_live(conn, self.superseded)
        if self.scrobbles:
            scrobble_repo.insert_scrobbles(
                conn,
                [
                    _with_id(_with_id(values, "event_id", event), "play_id", play)
                    for event, play, values in self.scrobbles
                ],
            )
        self.events, self.sessions, self.plays = [], {}, []
        self.scrobbles, self.superseded = [], {}


def _with_id(values: dict[str, Any], key: str, ref: Ref | None) -> dict[str, Any]:
    return {**values, key: ref.get() if ref is not None else values.get(key)}
