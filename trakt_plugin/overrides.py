"""Item overrides (SPEC §10 Unmatched): a person's answer for an item that could not be identified.

An item is *unmatched* when nothing names it to Trakt: the webhook (or watch mode) reported no
external ids (its outbox rows are ``skipped`` with ``no ids``, its plays have no ids and the
history export marks them ``no_ids``), or Trakt answered "not matched" under every
identification (the row is ``dead`` with ``not matched``; the export marks plays ``not_found``).
Such items are grouped by their ``item_key`` (what the parsers give them: ``local:<source>:…``
or a title key), which is also the override's ``source_key``.

Pinning (:func:`pin`) stores ``source_key`` → the chosen Trakt item (§9.1 shape, with ids) and,
in the same write transaction under the recorder's write lock:

* rewrites the waiting outbox rows of that key (skipped for no ids, dead as not matched) with the
  pinned item and makes them pending again, due now (the caller wakes those users' drains; an old
  start/pause is then skipped as stale by the drain, a late completion goes in through the
  history at its own time);
* rewrites the key's ledger plays that have no Trakt history id, and clears their ``no_ids`` /
  ``not_found`` export state so the next history export sends them (a play whose completion row
  was re-queued belongs to the outbox until it is sent);
* rewrites open playback sessions of the key (what an idle finalise sends).

From then on the recorder applies the override to every new event with that key
(:meth:`OverrideCache.lookup`, one dict look-up per event: the table is read once per process and
read again after a pin), so the next webhook or watch-mode event goes out with the pinned ids.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from .scrobble.trakt_items import identifications
from .store.engine import begin_write, write_lock
from .store.models import ItemOverride, PlaybackSession, Scrobble, WebhookEvent, as_utc, utcnow

if TYPE_CHECKING:
    from .context import AppContext

OVERRIDE = ItemOverride.__table__  # type: ignore[attr-defined]
SCROBBLE = Scrobble.__table__  # type: ignore[attr-defined]
SESSION = PlaybackSession.__table__  # type: ignore[attr-defined]
EVENT = WebhookEvent.__table__  # type: ignore[attr-defined]
# The ledger as the sync sees it (with its export state; see sync.repo.PLAY): not imported from
# there, so the recorder can import this module without the sync package.
PLAY = sa.table(
    "play",
    sa.column("id", sa.Integer),
    sa.column("user_id", sa.String),
    sa.column("item", sa.Text),
    sa.column("item_key", sa.String),
    sa.column("watched_at", sa.DateTime),
    sa.column("source", sa.String),
    sa.column("trakt_history_id", sa.BigInteger),
    sa.column("sync_state", sa.String),
)
# Play export states (sync.repo): could not be identified, and those a pin leaves alone.
PLAY_NO_IDS, PLAY_NOT_FOUND = "no_ids", "not_found"

NO_IDS = "no ids"  # the recorder's reason on a row whose item has no ids
NOT_MATCHED = "not matched"  # the drain's reason when Trakt knew the item under no id
# Key prefixes the parsers give an item without external ids (events.model.make_item_key).
UNIDENTIFIED_PREFIXES = ("local:", "title:")
# Play export states that mean "could not be identified".
PLAY_UNMATCHED_STATES = (PLAY_NO_IDS, PLAY_NOT_FOUND)
# Play export states that a pin leaves alone (a person's or a run's decision).
PLAY_KEEP_STATES = ("discarded", "undone", "duplicate")
MAX_LISTED = 500


class PinError(ValueError):
    """The pin request cannot be stored (no such key, or an item Trakt cannot be named by)."""


# ------------------------------------------------------------------ the recorder's look-up


class OverrideCache:
    """All overrides of one store, in memory: ``source_key`` → item (read once, then per pin)."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def lookup(self, conn: Connection, source_key: str) -> dict[str, Any] | None:
        """The pinned item for ``source_key`` (a fresh copy), or None."""
        items = self._items
        if items is None:
            with self._lock:
                items = self._items
                if items is None:
                    items = self._items = load_overrides(conn)
        found = items.get(source_key)
        return json.loads(json.dumps(found)) if found is not None else None

    def invalidate(self) -> None:
        with self._lock:
            self._items = None


_CACHES: weakref.WeakKeyDictionary[Engine, OverrideCache] = weakref.WeakKeyDictionary()
_CACHES_GUARD = threading.Lock()


def cache_for(engine: Engine) -> OverrideCache:
    with _CACHES_GUARD:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = OverrideCache()
        return cache


def load_overrides(conn: Connection) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, raw in conn.execute(sa.select(OVERRIDE.c.source_key, OVERRIDE.c.item)):
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict):
            out[str(key)] = item
    return out


def apply_override(
    conn: Connection, item_key: str, item: dict[str, Any], has_ids: bool
) -> tuple[dict[str, Any], bool]:
    """The recording path's one hook: the pinned item (and True) when ``item_key`` has an
    override, else ``item`` and ``has_ids`` unchanged."""
    pinned = cache_for(conn.engine).lookup(conn, item_key)
    if pinned is None:
        return item, has_ids
    return pinned, True


# ------------------------------------------------------------------ listing


@dataclass
class Unmatched:
    """One item that could not be identified, with what waits on it."""

    source_key: str
    type: str  # movie | episode
    title: str | None
    year: int | None
    show_title: str | None = None
    season: int | None = None
    number: int | None = None
    source: str | None = None
    reason: str = NO_IDS  # "no ids" or "not matched"
    calls: int = 0  # outbox rows waiting
    plays: int = 0  # ledger plays without a Trakt history id
    users: set[str] = field(default_factory=set)
    last_seen: datetime | None = None
    pinned: dict[str, Any] | None = None  # an override exists (Trakt still did not match it)

    @property
    def label(self) -> str:
        if self.type == "episode":
            show = self.show_title or "?"
            name = f"{show} S{self.season}E{self.number}"
            return f"{name} · {self.title}" if self.title else name
        return f"{self.title or '?'} ({self.year})" if self.year else (self.title or "?")

    @property
    def search_title(self) -> str:
        return (self.show_title if self.type == "episode" else self.title) or ""

    @property
    def search_type(self) -> str:
        return "show" if self.type == "episode" else "movie"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_key": self.source_key,
            "type": self.type,
            "title": self.title,
            "year": self.year,
            "show_title": self.show_title,
            "season": self.season,
            "number": self.number,
            "source": self.source,
            "reason": self.reason,
            "calls": self.calls,
            "plays": self.plays,
            "users": sorted(self.users),
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "pinned": self.pinned is not None,
        }


def _source_of(key: str) -> str | None:
    if key.startswith("local:"):
        part = key.split(":", 2)[1]
        return part or None
    return None


def _entry(found: dict[str, Unmatched], key: str, raw_item: str) -> Unmatched:
    entry = found.get(key)
    if entry is not None:
        return entry
    try:
        item = json.loads(raw_item)
    except ValueError:
        item = {}
    item = item if isinstance(item, dict) else {}
    kind = "episode" if item.get("type") == "episode" else "movie"
    if kind == "movie":
        movie = item.get("movie") or {}
        entry = Unmatched(key, kind, movie.get("title"), _int(movie.get("year")))
    else:
        show = item.get("show") or {}
        episode = item.get("episode") or {}
        entry = Unmatched(
            key,
            kind,
            episode.get("title"),
            _int(show.get("year")),
            show_title=show.get("title"),
            season=_int(episode.get("season")),
            number=_int(episode.get("number")),
        )
    entry.source = _source_of(key)
    found[key] = entry
    return entry


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    a, b = as_utc(a), as_utc(b)
    if a is None or b is None:
        return a or b
    return max(a, b)


def list_unmatched(conn: Connection) -> list[Unmatched]:
    """Every unmatched item, most recently seen first (at most :data:`MAX_LISTED`)."""
    overrides = load_overrides(conn)
    found: dict[str, Unmatched] = {}
    rows = conn.execute(
        sa.select(
            SCROBBLE.c.item_key,
            SCROBBLE.c.item,
            SCROBBLE.c.user_id,
            SCROBBLE.c.last_error,
            SCROBBLE.c.event_time,
            EVENT.c.source,
        )
        .select_from(SCROBBLE.outerjoin(EVENT, EVENT.c.id == SCROBBLE.c.event_id))
        .where(
            sa.or_(
                sa.and_(SCROBBLE.c.status == "skipped", SCROBBLE.c.last_error == NO_IDS),
                sa.and_(SCROBBLE.c.status == "dead", SCROBBLE.c.last_error == NOT_MATCHED),
            )
        )
        .order_by(SCROBBLE.c.id)
    )
    for key, raw, user_id, error, when, source in rows:
        key = str(key)
        if error == NO_IDS and key in overrides:
            continue  # rewritten by the pin already; a later one is recorded with the ids
        entry = _entry(found, key, raw)
        entry.calls += 1
        entry.users.add(str(user_id))
        entry.source = entry.source or source
        entry.last_seen = _later(entry.last_seen, when)
        if error == NOT_MATCHED:
            entry.reason = NOT_MATCHED
    unidentified = sa.or_(*(PLAY.c.item_key.startswith(p) for p in UNIDENTIFIED_PREFIXES))
    plays = conn.execute(
        sa.select(
            PLAY.c.item_key,
            PLAY.c.item,
            PLAY.c.user_id,
            PLAY.c.source,
            PLAY.c.watched_at,
            PLAY.c.sync_state,
        ).where(
            PLAY.c.trakt_history_id.is_(None),
            sa.or_(
                PLAY.c.sync_state.in_(PLAY_UNMATCHED_STATES),
                sa.and_(
                    unidentified,
                    sa.or_(
                        PLAY.c.sync_state.is_(None),
                        PLAY.c.sync_state.not_in(PLAY_KEEP_STATES),
                    ),
                ),
            ),
        )
    )
    for key, raw, user_id, source, when, state in plays:
        key = str(key)
        if key in overrides and state != PLAY_NOT_FOUND:
            continue
        entry = _entry(found, key, raw)
        entry.plays += 1
        if user_id is not None:
            entry.users.add(str(user_id))
        entry.source = entry.source or source
        entry.last_seen = _later(entry.last_seen, when)
        if state == PLAY_NOT_FOUND:
            entry.reason = NOT_MATCHED
    for key, entry in found.items():
        entry.pinned = overrides.get(key)
    ordered = sorted(
        found.values(),
        key=lambda e: (e.last_seen.timestamp() if e.last_seen else 0.0, e.source_key),
        reverse=True,
    )
    return ordered[:MAX_LISTED]


def find_unmatched(conn: Connection, source_key: str) -> Unmatched | None:
    for entry in list_unmatched(conn):
        if entry.source_key == source_key:
            return entry
    return None


# ------------------------------------------------------------------ candidates


def candidate_item(entry: Unmatched, result: dict[str, Any]) -> dict[str, Any] | None:
    """The §9.1 item a search hit pins for ``entry`` (a show hit: the entry's episode of it)."""
    if entry.type == "movie":
        movie = result.get("movie")
        if not isinstance(movie, dict) or not movie.get("ids"):
            return None
        return {
            "type": "movie",
            "movie": {"title": movie.get("title"), "year": movie.get("year"), "ids": movie["ids"]},
        }
    show = result.get("show")
    if not isinstance(show, dict) or not show.get("ids"):
        return None
    if entry.season is None or entry.number is None:
        return None
    return {
        "type": "episode",
        "show": {"title": show.get("title"), "year": show.get("year"), "ids": show["ids"]},
        "episode": {"season": entry.season, "number": entry.number, "title": entry.title},
    }


# ------------------------------------------------------------------ pinning


@dataclass(frozen=True)
class PinResult:
    source_key: str
    calls: int  # outbox rows made pending again
    plays: int  # ledger plays rewritten
    users: tuple[str, ...]  # whose drains to wake


def _clean_item(item: dict[str, Any]) -> dict[str, Any]:
    """The item as stored: only the §9.1 fields, with ids Trakt can be named by."""
    if not isinstance(item, dict) or item.get("type") not in ("movie", "episode"):
        raise PinError("the item must be a movie or an episode in Trakt's shape")
    if item["type"] == "movie":
        movie = item.get("movie")
        if not isinstance(movie, dict):
            raise PinError("a movie item needs 'movie'")
        clean: dict[str, Any] = {
            "type": "movie",
            "movie": {
                "title": _text(movie.get("title")),
                "year": _int(movie.get("year")),
                "ids": _ids(movie.get("ids")),
            },
        }
    else:
        show, episode = item.get("show"), item.get("episode")
        if not isinstance(show, dict) or not isinstance(episode, dict):
            raise PinError("an episode item needs 'show' and 'episode'")
        clean = {
            "type": "episode",
            "show": {
                "title": _text(show.get("title")),
                "year": _int(show.get("year")),
                "ids": _ids(show.get("ids")),
            },
            "episode": {
                "season": _int(episode.get("season")),
                "number": _int(episode.get("number")),
                "title": _text(episode.get("title")),
                "ids": _ids(episode.get("ids")),
            },
        }
    if not identifications(clean):
        raise PinError("the item has no ids Trakt can be named by")
    return clean


def _text(value: object) -> str | None:
    return value[:400] if isinstance(value, str) else None


def _ids(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, Any] = {}
    for kind in ("trakt", "slug", "imdb", "tmdb", "tvdb"):
        raw = value.get(kind)
        if kind in ("trakt", "tmdb", "tvdb"):
            if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 2**53:
                out[kind] = raw
        elif isinstance(raw, str) and raw.strip() and len(raw) <= 200:
            out[kind] = raw.strip()
    return out


def pin(engine: Engine, source_key: str, item: dict[str, Any]) -> PinResult:
    """Store the override and re-queue what waited on ``source_key`` (see the module doc).

    Raises :class:`PinError` for an item without usable ids or an empty key. Blocking: call
    from a worker thread; then wake the drains of :attr:`PinResult.users`.
    """
    if not isinstance(source_key, str) or not source_key.strip() or len(source_key) > 400:
        raise PinError("source_key must be a non-empty string of at most 400 characters")
    clean = _clean_item(item)
    dumped = json.dumps(clean, separators=(",", ":"))
    now = utcnow()
    cache = cache_for(engine)
    with write_lock(engine), engine.connect() as conn:
        begin_write(conn)
        exists = conn.execute(
            sa.select(OVERRIDE.c.id).where(OVERRIDE.c.source_key == source_key)
        ).first()
        if exists is None:
            conn.execute(
                OVERRIDE.insert().values(source_key=source_key, item=dumped, created_at=now)
            )
        else:
            conn.execute(
                OVERRIDE.update()
                .where(OVERRIDE.c.source_key == source_key)
                .values(item=dumped, created_at=now)
            )
        waiting = sa.and_(
            SCROBBLE.c.item_key == source_key,
            sa.or_(
                sa.and_(SCROBBLE.c.status == "skipped", SCROBBLE.c.last_error == NO_IDS),
                sa.and_(SCROBBLE.c.status == "dead", SCROBBLE.c.last_error == NOT_MATCHED),
            ),
        )
        users = sorted(
            {str(r[0]) for r in conn.execute(sa.select(SCROBBLE.c.user_id).where(waiting))}
        )
        calls = conn.execute(
            SCROBBLE.update()
            .where(waiting)
            .values(
                item=dumped,
                status="pending",
                last_error=None,
                next_attempt_at=now,
                first_failed_at=None,
                parked_at=None,
                ident=0,
                ambiguous=False,
            )
        ).rowcount
        plays = conn.execute(
            PLAY.update()
            .where(PLAY.c.item_key == source_key, PLAY.c.trakt_history_id.is_(None))
            .values(item=dumped)
        ).rowcount
        conn.execute(
            PLAY.update()
            .where(
                PLAY.c.item_key == source_key,
                PLAY.c.trakt_history_id.is_(None),
                PLAY.c.sync_state.in_(PLAY_UNMATCHED_STATES),
            )
            .values(sync_state=None)
        )
        conn.execute(SESSION.update().where(SESSION.c.item_key == source_key).values(item=dumped))
        conn.commit()
        cache.invalidate()  # still under the write lock: the next event reads the new table
    return PinResult(source_key, int(calls or 0), int(plays or 0), tuple(users))


def unpin(engine: Engine, source_key: str) -> bool:
    """Forget an override (new events of the key are unidentified again); True if one existed."""
    with write_lock(engine), engine.connect() as conn:
        begin_write(conn)
        gone = conn.execute(OVERRIDE.delete().where(OVERRIDE.c.source_key == source_key)).rowcount
        conn.commit()
        cache_for(engine).invalidate()
    return bool(gone)


def pinned_keys(conn: Connection, keys: Iterable[str]) -> set[str]:
    wanted = list(keys)
    if not wanted:
        return set()
    rows = conn.execute(sa.select(OVERRIDE.c.source_key).where(OVERRIDE.c.source_key.in_(wanted)))
    return {str(r[0]) for r in rows}


# ------------------------------------------------------------------ what pages and the API call


@dataclass(frozen=True)
class Candidate:
    """A Trakt search hit, as the item a pin would store."""

    item: dict[str, Any]
    label: str
    score: float | None
    item_key: str  # the ledger's key of the pinned item (its poster's name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "label": self.label,
            "score": self.score,
            "item_key": self.item_key,
        }


def _candidate_label(item: dict[str, Any]) -> str:
    part = item.get("movie") or item.get("show") or {}
    title = part.get("title") or "?"
    year = part.get("year")
    ids = part.get("ids") or {}
    extra = ids.get("imdb") or (f"tmdb {ids['tmdb']}" if ids.get("tmdb") else None)
    text = f"{title} ({year})" if year else str(title)
    return f"{text} · {extra}" if extra else text


async def search_candidates(
    ctx: AppContext, entry: Unmatched, query: str | None = None, year: int | None = None
) -> list[Candidate]:
    """Trakt search by title (+ year) for ``entry``: movies for a movie, shows for an episode.

    Needs only the app's client id (no user). Raises ``connections.NotConfigured`` without app
    credentials and ``trakt.errors.TraktError`` when Trakt fails."""
    from .sync.items import item_key as ledger_key  # the sync package imports the scrobbler

    text = (query if query is not None else entry.search_title).strip()
    if not text:
        return []
    gateway = ctx.services["trakt"]
    client = gateway.client()
    kind: Literal["movie", "show"] = "show" if entry.type == "episode" else "movie"
    wanted_year = year if query is not None else (year or entry.year)
    results = await client.search_text(text[:200], (kind,), year=wanted_year)
    if not results and wanted_year is not None and query is None:
        results = await client.search_text(text[:200], (kind,))  # the year may be the show's
    out: list[Candidate] = []
    for result in results:
        item = candidate_item(entry, result.model_dump(mode="json"))
        if item is None:
            continue
        try:
            key = ledger_key(item)
        except Exception:
            key = entry.source_key
        out.append(Candidate(item, _candidate_label(item), result.score, key))
    return out


async def pin_and_wake(ctx: AppContext, source_key: str, item: dict[str, Any]) -> PinResult:
    """:func:`pin` in a worker thread, then wake the drains of the users whose calls waited."""
    result = await asyncio.to_thread(pin, ctx.engine, source_key, item)
    scrobbling = ctx.services.get("scrobbling")
    if scrobbling is not None:
        for user_id in result.users:
            scrobbling.drain.wake(user_id)
    return result
