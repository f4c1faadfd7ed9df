"""One attempt at one outbox row: talk to Trakt and sort the answer into an :class:`Outcome`.

| answer                                   | outcome                                            |
|------------------------------------------|----------------------------------------------------|
| 2xx                                      | sent (a stop's history id is kept)                 |
| completing stop answered ``pause``       | the play is added through /sync/history at once    |
| 409 on stop                              | sent: Trakt already has the play                   |
| 404 / history ``not_found``              | next identification at once; none left: dead       |
| 420, 422, 423, 426, 400, 405, 412        | dead with the reason                               |
| ReauthRequired (refresh refused)         | park until the user reconnects                     |
| 429                                      | retry after Retry-After                            |
| 5xx, 52x, timeout, dropped connection    | retry with backoff; ambiguous: check history first |
| unreachable, 401 after refresh, others   | retry with backoff                                 |

Before re-sending a completion whose earlier attempt may have reached Trakt, the user's history
for that item around the event is read; a play found there is taken as the sent one.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from ..trakt import errors
from ..trakt.client import TokenSource, TraktClient
from ..trakt.ratelimit import Priority
from .trakt_items import (
    Identification,
    Lookup,
    Named,
    history_body,
    identifications,
    in_history,
    resolved,
    scrobble_body,
)

log = logging.getLogger(__name__)

Status = Literal["sent", "dead", "retry", "park"]

# Backoff after a failure: base × 2^(n-1), jittered 50-150 %, capped; the base scales with the
# configured HTTP timeout (a slow link gets gentler retries).
RETRY_MAX = timedelta(minutes=15)
# A completion's history check looks this far around the event and the attempts: Trakt keeps
# watched_at to the minute and stamps a scrobble stop with its arrival time.
HISTORY_MARGIN = timedelta(minutes=2)
# The ``action`` of a /scrobble/stop answer that saved a resume point instead of adding a play.
TRAKT_PAUSED = "pause"
# Statuses that can never succeed by repeating the same request.
PERMANENT = (
    errors.AccountLimitExceeded,
    errors.ValidationFailed,
    errors.AccountLocked,
    errors.VipOnly,
    errors.BadRequest,
    errors.MethodNotFound,
    errors.PreconditionFailed,
)


@dataclass(frozen=True)
class Job:
    """What an attempt needs from a row (a detached snapshot)."""

    id: int
    action: str
    item: dict[str, Any]
    progress: float | None
    event_time: datetime
    watched_at: datetime | None
    completion: bool
    ambiguous: bool
    ident: int
    attempts: int
    # History ids already claimed by other plays of the item: never taken as this one.
    known_history_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Outcome:
    status: Status
    error: str | None = None
    retry_at: datetime | None = None
    history_id: int | None = None
    ident: int | None = None
    ambiguous: bool = False


class NotMatched(Exception):
    """Trakt could not match the item under any identification."""


def backoff(attempts: int, base: float, rng: random.Random) -> timedelta:
    seconds = min(RETRY_MAX.total_seconds(), base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * (0.5 + rng.random()))


class Attempt:
    """Sends one row through the client (its funnel applies the rate budget)."""

    def __init__(
        self,
        client: TraktClient,
        user: TokenSource,
        job: Job,
        *,
        now: datetime,
        retry_base: float,
        settle: timedelta,
        rng: random.Random,
    ) -> None:
        self.client = client
        self.user = user
        self.job = job
        self.now = now
        self.retry_base = retry_base
        self.settle = settle
        self.rng = rng
        self.ident = job.ident

    async def already_in_history(self) -> int | None:
        """The history id of this completion's play if Trakt already has it."""
        item = self.job.item
        kind: Literal["movies", "episodes"] = (
            "movies" if item.get("type") == "movie" else "episodes"
        )
        start = min(self.job.event_time, self.job.watched_at or self.job.event_time)
        entries = await self.client.get_history(
            self.user,
            kind,
            start_at=start - HISTORY_MARGIN,
            end_at=self.now + HISTORY_MARGIN,
        )
        for entry in entries:
            if entry.id not in self.job.known_history_ids and in_history(item, entry):
                return entry.id
        return None

    async def run(self, action: str) -> Outcome:
        """Send ``action`` (the row's, or history_add for a late completion)."""
        try:
            if self.job.completion and self.job.ambiguous:
                found = await self.already_in_history()
                if found is not None:
                    return Outcome("sent", "found in the Trakt history", history_id=found)
            history_id = await self._send_matched(action)
        except NotMatched:
            return Outcome("dead", "not matched", ident=self.ident)
        except errors.Conflict as exc:
            if action == "scrobble_stop":
                return Outcome("sent", "409: Trakt already has this play", ident=self.ident)
            return Outcome("dead", str(exc), ident=self.ident)
        except errors.ReauthRequired as exc:
            return Outcome("park", f"waiting for the user to reconnect Trakt ({exc.reason})")
        except PERMANENT as exc:
            return Outcome("dead", str(exc), ident=self.ident)
        except errors.RateLimited as exc:
            wait = timedelta(seconds=(exc.retry_after or 10.0) + self.rng.random())
            return self._retry(str(exc), wait)
        except errors.TraktError as exc:
            ambiguous = errors.is_ambiguous(exc)
            wait = backoff(self.job.attempts + 1, self.retry_base, self.rng)
            if ambiguous:
                wait = max(wait, self.settle)  # a request that hung may still be processed
            return self._retry(str(exc), wait, ambiguous=ambiguous)
        return Outcome("sent", None, history_id=history_id, ident=self.ident)

    def _retry(self, error: str, wait: timedelta, *, ambiguous: bool = False) -> Outcome:
        return Outcome(
            "retry", error, retry_at=self.now + wait, ident=self.ident, ambiguous=ambiguous
        )

    async def _send_matched(self, action: str) -> int | None:
        """Try identifications from the row's current one; 404 moves to the next."""
        options = identifications(self.job.item)
        while self.ident < len(options):
            part = await self._part(options[self.ident])
            if part is not None:
                try:
                    return await self._send(action, part)
                except errors.NotFound:
                    pass
            self.ident += 1
        raise NotMatched

    async def _part(self, option: Identification) -> dict[str, Any] | None:
        if isinstance(option, Named):
            return option.part
        assert isinstance(option, Lookup)
        results = await self.client.search_id(
            option.id_type, option.value, option.media, user=self.user
        )
        for result in results:
            found = result.movie if option.media == "movie" else result.episode
            if found is not None:
                named = resolved(option, found.ids.model_dump())
                if named is not None:
                    return named.part
        return None

    async def _send(self, action: str, part: dict[str, Any]) -> int | None:
        job = self.job
        if action in ("scrobble_start", "scrobble_pause", "scrobble_stop"):
            verb: Literal["start", "pause", "stop"] = action.removeprefix("scrobble_")  # type: ignore[assignment]
            answer = await self.client.scrobble(
                self.user, verb, scrobble_body(part, job.progress or 1.0)
            )
            if verb == "stop" and job.completion and answer.action == TRAKT_PAUSED:
                # Trakt kept it as a pause (its own line is "above 80 %", SPEC §6 says ≥ 80):
                # the play still goes in, through the history at the event's time.
                return await self._send("history_add", part)
            return answer.id if verb == "stop" and answer.id else None
        if action == "history_add":
            body = history_body(part, job.watched_at or job.event_time)
            reply = await self.client.add_history(self.user, body, priority=Priority.SCROBBLE)
            if _nothing_done(reply.added.model_dump(), reply.not_found.model_dump()):
                raise errors.NotFound(f"Trakt did not match {json.dumps(part)[:120]}", status=404)
            return None
        if action == "history_remove":
            await self.client.remove_history(self.user, history_body(part, None))
            return None
        raise ValueError(f"unknown outbox action {action!r}")


def _nothing_done(counts: dict[str, int], not_found: dict[str, list[Any]]) -> bool:
    return not any(counts.values()) and any(not_found.values())
