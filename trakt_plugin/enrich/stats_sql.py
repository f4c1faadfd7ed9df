"""The ledger's stats computed by the database: GROUP BY over ``play``, nothing summed in Python.

One range (``30d``, ``12m``, ``all``) picks the plays counted and the chart's bucket (day, week,
month) so a chart keeps about 30-60 bars. Days, hours and weekdays are UTC, weeks ISO weeks
(``2026-W47``, labelled from their Monday), months ``2026-11``.

A play's minutes are, in this order (SPEC §8): the play's own runtime; the runtime carried in its
item; the cached metadata of the item, or for an episode of its show, looked up by each of its ids
(``metadataalias`` → ``metadataitem``); else unknown, counted 0 minutes and counted apart.
``COALESCE`` stops at the first known value on both SQLite and PostgreSQL, so the JSON reads and
lookups only run for plays without a runtime of their own.

Dialects: the date and JSON functions differ, everything else is plain SQL. :class:`Dialect`
holds the few fragments, one instance per database: SQLite (``date``/``strftime``/
``json_extract``; SQLite before 3.46 has no ISO week, so it is derived from the week's Thursday)
and PostgreSQL (``to_char``/``extract``/``::json #>>``). Timestamps are stored naive UTC in both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import DateTime, bindparam, text
from sqlmodel import Session

from ..store.models import utcnow
from .ids import ID_TYPES

StatsRange = Literal["30d", "12m", "all"]
Bucket = Literal["day", "week", "month"]
RANGES: tuple[StatsRange, ...] = get_args(StatsRange)
# Each range's bucket, chosen so the chart stays readable (SPEC §10).
BUCKET_OF: dict[StatsRange, Bucket] = {"30d": "day", "12m": "week", "all": "month"}
RANGE_LABELS: dict[StatsRange, str] = {"30d": "30 days", "12m": "12 months", "all": "All time"}
TOP_SHOWS = 10
TOP_MOVIES = 10
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# The order the show ranking keys a show by (as the Python ranking did before).
SHOW_KEY_IDS = ("trakt", "tvdb", "tmdb", "imdb", "slug")
MOVIE_KEY_IDS = ("trakt", "tmdb", "imdb", "slug")
# PostgreSQL's memory for one stats statement's sorts and hashes (SET LOCAL, see LedgerStats).
PG_WORK_MEM = "64MB"


@dataclass(frozen=True)
class Dialect:
    """The SQL fragments that differ between SQLite and PostgreSQL (``col`` is an expression)."""

    name: str
    # PostgreSQL: the documents given are jsonb already (parsed once, read many times).
    jsonb: bool = False

    # SQLite keeps a timestamp as text, ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's format):
    # the day and the hour are read off the text, far cheaper per play than date()/strftime().

    def day(self, col: str) -> str:
        """``YYYY-MM-DD`` of a timestamp column."""
        if self.name == "postgresql":
            # A date's text is ISO (the default DateStyle); far cheaper than to_char per play.
            return f"CAST(CAST({col} AS date) AS text)"
        return f"substr({col}, 1, 10)"

    def hour(self, col: str) -> str:
        """0-23 of a timestamp column."""
        if self.name == "postgresql":
            return f"CAST(extract(hour FROM {col}) AS INTEGER)"
        return f"CAST(substr({col}, 12, 2) AS INTEGER)"

    def monday_of_day(self, day: str) -> str:
        """The ISO week's Monday (``YYYY-MM-DD``) of a ``YYYY-MM-DD`` text."""
        if self.name == "postgresql":
            return f"to_char(date_trunc('week', CAST({day} AS date)), 'YYYY-MM-DD')"
        return f"date({day}, '-' || {self.weekday_of_day(day)} || ' days')"

    def month_of_day(self, day: str) -> str:
        """``YYYY-MM`` of a ``YYYY-MM-DD`` text."""
        return f"substr({day}, 1, 7)"

    def weekday_of_day(self, day: str) -> str:
        """0 = Monday … 6 = Sunday of a ``YYYY-MM-DD`` text."""
        if self.name == "postgresql":
            return f"(CAST(extract(isodow FROM CAST({day} AS date)) AS INTEGER) - 1)"
        return f"((CAST(strftime('%w', {day}) AS INTEGER) + 6) % 7)"

    def json_text(self, doc: str, *path: str) -> str:
        """The value at ``path`` as text (numbers as their digits), NULL when absent."""
        if self.name == "postgresql":
            cast = doc if self.jsonb else f"CAST({doc} AS json)"
            return f"({cast} #>> '{{{','.join(path)}}}')"
        return f"CAST(json_extract({doc}, '$.{'.'.join(path)}') AS TEXT)"

    def json_positive_int(self, doc: str, *path: str) -> str:
        """The value at ``path`` when it is an integer above 0, else NULL."""
        if self.name == "postgresql":
            cast = doc if self.jsonb else f"CAST({doc} AS json)"
            value = f"({cast} #> '{{{','.join(path)}}}')"
            number = f"CAST({value} #>> '{{}}' AS numeric)"
            typeof = "jsonb_typeof" if self.jsonb else "json_typeof"
            return (
                f"CASE WHEN {typeof}({value}) = 'number' AND {number} > 0 "
                f"AND {number} = trunc({number}) THEN CAST({number} AS INTEGER) END"
            )
        where = f"'$.{'.'.join(path)}'"
        return (
            f"CASE WHEN json_type({doc}, {where}) = 'integer' AND json_extract({doc}, {where}) > 0 "
            f"THEN json_extract({doc}, {where}) END"
        )


def dialect_of(session: Session) -> Dialect:
    return Dialect(session.get_bind().dialect.name)


def _cached_runtime(d: Dialect, doc: str, kind: str, path: str) -> list[str]:
    """One lookup per id type of the item at ``path`` in the metadata cache (SPEC §8)."""
    lookups = []
    for id_type in ID_TYPES:
        value = f"lower({d.json_text(doc, path, 'ids', id_type)})"
        lookups.append(
            "(SELECT m.runtime FROM metadataalias a JOIN metadataitem m ON m.key = a.item_key"
            f" WHERE a.kind = '{kind}' AND a.id_type = '{id_type}' AND a.value = {value}"
            " AND m.runtime > 0)"
        )
    return lookups


def minutes_expr(d: Dialect, play: str = "p") -> str:
    """A play's minutes (NULL when unknown); see the module docstring for the order."""
    doc = f"{play}.item"
    episode = ", ".join(
        [
            d.json_positive_int(doc, "episode", "runtime"),
            *_cached_runtime(d, doc, "episode", "episode"),
            *_cached_runtime(d, doc, "show", "show"),
        ]
    )
    movie = ", ".join(
        [d.json_positive_int(doc, "movie", "runtime"), *_cached_runtime(d, doc, "movie", "movie")]
    )
    is_episode = f"{d.json_text(doc, 'type')} = 'episode'"
    return (
        f"COALESCE(NULLIF({play}.runtime, 0), "
        f"CASE WHEN {is_episode} THEN COALESCE({episode}) ELSE COALESCE({movie}) END)"
    )


@dataclass(frozen=True)
class Window:
    """The plays a range counts (``start`` None: all) and how they are bucketed."""

    range: StatsRange
    bucket: Bucket
    start: datetime | None
    end: datetime


def window(stats_range: StatsRange, now: datetime | None = None) -> Window:
    """Whole buckets: 30 days ending today, 53 ISO weeks ending this week, or everything."""
    now = (now or utcnow()).astimezone(UTC)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    start: datetime | None = None
    if stats_range == "30d":
        start = today - timedelta(days=29)
    elif stats_range == "12m":
        start = today - timedelta(days=today.weekday()) - timedelta(weeks=52)
    return Window(stats_range, BUCKET_OF[stats_range], start, now)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


class LedgerStats:
    """The statements of one user's stats over one window.

    Three statements, each one pass over the person's plays in the window:

    - the timeline: plays, minutes and unknown runtimes per day, kept as a materialized CTE and
      rolled up in the same statement into ISO weeks and months (GROUP BY over at most a few
      thousand days), with plays per weekday and hour from the timestamps alone;
    - plays per source;
    - the rankings: plays per item first (one JSON read per item, not per play), then top shows
      (by the show's first id) and top movies.
    """

    def __init__(self, session: Session, user_id: str, win: Window) -> None:
        self.session = session
        self.d = dialect_of(session)
        self.win = win
        self.params: dict[str, Any] = {"user_id": user_id}
        self.per_type: dict[str, int] = {}
        self._tuned = False
        self.where = "p.user_id = :user_id"
        if win.start is not None:
            self.where += " AND p.watched_at >= :start"
            self.params["start"] = _naive(win.start)

    def _rows(self, sql: str) -> Sequence[Any]:
        if self.d.name == "postgresql" and not self._tuned:
            # Group a person's whole ledger in memory (the 4 MB default spills the per-day sort
            # to disk), in this transaction only.
            self.session.execute(text(f"SET LOCAL work_mem = '{PG_WORK_MEM}'"))
            self._tuned = True
        statement = text(sql)
        if "start" in self.params:
            statement = statement.bindparams(bindparam("start", type_=DateTime()))
        return self.session.execute(statement, self.params).all()

    def timeline(self) -> dict[str, list[tuple[Any, ...]]]:
        """``{"day"|"week"|"month": [(bucket, plays, minutes, unknown)], "weekday_hour":
        [(weekday, hour, plays)]}``; weeks are keyed by their Monday."""
        d = self.d
        # Plays, minutes and unknown runtimes per day: the one pass that needs the minutes.
        plays = f"SELECT p.watched_at, {minutes_expr(d)} AS m FROM play p WHERE {self.where}"
        prefix = ""
        if d.name == "postgresql":
            # The fallbacks (JSON reads, cache lookups) once per item rather than per play:
            # PostgreSQL parses the JSON text again at every read.
            unknown = "(p.runtime IS NULL OR p.runtime = 0)"
            prefix = (
                "fallback AS MATERIALIZED (SELECT q.item_key, "
                f"{minutes_expr(Dialect(d.name, jsonb=True), 'q')} AS m FROM (SELECT p.item_key,"
                " CAST(MIN(p.item) AS jsonb) AS item,"
                f" CAST(NULL AS INTEGER) AS runtime FROM play p WHERE {self.where} AND {unknown}"
                " GROUP BY p.item_key) q), "
            )
            plays = (
                "SELECT p.watched_at, COALESCE(NULLIF(p.runtime, 0), f.m) AS m FROM play p"
                f" LEFT JOIN fallback f ON {unknown} AND f.item_key = p.item_key"
                f" WHERE {self.where}"
            )
        days = (
            f"SELECT {d.day('p.watched_at')} AS day, COUNT(*) AS n, COALESCE(SUM(m), 0) AS mins,"
            " SUM(CASE WHEN m IS NULL THEN 1 ELSE 0 END) AS unknown"
            f" FROM ({plays}) p GROUP BY 1"
        )
        # Plays per weekday and hour: timestamps only (read from the index alone).
        weekday = d.weekday_of_day(d.day("p.watched_at"))
        heat = (
            f"SELECT {weekday} AS wd, {d.hour('p.watched_at')} AS hr, COUNT(*) AS n"
            f" FROM play p WHERE {self.where} GROUP BY 1, 2"
        )
        rows = self._rows(
            f"WITH {prefix}days AS MATERIALIZED ({days})"
            " SELECT 'day', day, 0, n, mins, unknown FROM days"
            f" UNION ALL SELECT 'week', {d.monday_of_day('day')}, 0, SUM(n), SUM(mins),"
            " SUM(unknown) FROM days GROUP BY 2"
            f" UNION ALL SELECT 'month', {d.month_of_day('day')}, 0, SUM(n), SUM(mins),"
            " SUM(unknown) FROM days GROUP BY 2"
            f" UNION ALL SELECT 'weekday_hour', CAST(wd AS TEXT), hr, n, 0, 0 FROM ({heat}) h"
            " ORDER BY 1, 2, 3"
        )
        out: dict[str, list[tuple[Any, ...]]] = {
            "day": [], "week": [], "month": [], "weekday_hour": []
        }  # fmt: skip
        for kind, key, hour, n, mins, unknown in rows:
            if kind == "weekday_hour":
                out[kind].append((int(key), int(hour), int(n)))
            else:
                out[kind].append((str(key), int(n), int(mins), int(unknown)))
        return out

    def per_source(self) -> dict[str, int]:
        rows = self._rows(
            f"SELECT p.source, COUNT(*) FROM play p WHERE {self.where}"
            " GROUP BY p.source ORDER BY p.source"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def rankings(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Top shows and top movies, in one statement (plays per item type kept in
        :attr:`per_type`)."""
        d = self.d
        # PostgreSQL reads each item's JSON parsed once (jsonb), not re-parsed at every read.
        pg = d.name == "postgresql"
        dj = Dialect(d.name, jsonb=True) if pg else d
        item = "CAST(p.item AS jsonb)" if pg else "p.item"
        item_text = "CAST(i.item AS text)" if pg else "i.item"
        # Plays per item; the item's JSON is read from its latest play, once per item.
        per_item = (
            f"SELECT MAX(p.id) AS id, COUNT(*) AS n FROM play p WHERE {self.where}"
            " GROUP BY p.item_key"
        )
        items = (
            f"SELECT {d.json_text('p.item', 'type')} AS kind, {item} AS item, c.n AS n"
            f" FROM ({per_item}) c JOIN play p ON p.id = c.id"
        )
        show_key = ", ".join(
            f"'{t}:' || NULLIF({dj.json_text('i.item', 'show', 'ids', t)}, '')"
            for t in SHOW_KEY_IDS
        )
        show_title = f"COALESCE({dj.json_text('i.item', 'show', 'title')}, '?')"
        shows = (
            f"SELECT COALESCE({show_key}, 'title:' || lower({show_title})) AS k,"
            f" MIN({show_title}) AS title, SUM(i.n) AS n,"
            f" MIN({dj.json_text('i.item', 'show', 'ids')}) AS ids"
            " FROM items i WHERE i.kind = 'episode' GROUP BY 1"
        )
        # A movie is keyed like a show (its first id, else its title): plays of one film under
        # two item keys (one source knew fewer ids) still add up.
        movie_key = ", ".join(
            f"'{t}:' || NULLIF({dj.json_text('i.item', 'movie', 'ids', t)}, '')"
            for t in MOVIE_KEY_IDS
        )
        movie_title = f"COALESCE({dj.json_text('i.item', 'movie', 'title')}, '?')"
        movies = (
            f"SELECT MIN({item_text}) AS k, MIN({movie_title}) AS title, SUM(i.n) AS n,"
            f" MIN({dj.json_text('i.item', 'movie', 'ids')}) AS ids FROM items i"
            f" WHERE i.kind = 'movie'"
            f" GROUP BY COALESCE({movie_key}, 'title:' || lower({movie_title}))"
        )
        rows = self._rows(
            f"WITH items AS MATERIALIZED ({items})"
            f" SELECT * FROM (SELECT 'show' AS what, title, n, ids, NULL AS year FROM ({shows}) s"
            f" ORDER BY n DESC, title LIMIT {TOP_SHOWS}) a"
            f" UNION ALL SELECT * FROM (SELECT 'movie' AS what, title, n, ids,"
            f" {d.json_text('k', 'movie', 'year')} AS year FROM ({movies}) m"
            f" ORDER BY n DESC, title LIMIT {TOP_MOVIES}) b"
            " UNION ALL SELECT 'kind', kind, SUM(n), NULL, NULL FROM items GROUP BY kind"
        )
        self.per_type = {str(r[1]): int(r[2]) for r in rows if r[0] == "kind" and r[1]}
        top_shows = [
            {"show": str(r[1]), "plays": int(r[2]), "ids": _ids(r[3])}
            for r in rows
            if r[0] == "show"
        ]
        top_movies = [
            {
                "movie": str(r[1]),
                "year": int(r[4]) if r[4] not in (None, "") else None,
                "plays": int(r[2]),
                "ids": _ids(r[3]),
            }
            for r in rows
            if r[0] == "movie"
        ]
        return top_shows, top_movies


def _ids(raw: object) -> dict[str, Any]:
    if not isinstance(raw, str):
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def iso_week(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def _bucket_labels(win: Window, first: str | None) -> list[str]:
    """Every bucket of the window in order (empty ones too, so the chart's axis is even)."""
    end = win.end.date()
    if win.bucket == "day":
        assert win.start is not None
        start = win.start.date()
        return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    if win.bucket == "week":
        assert win.start is not None
        start = win.start.date()
        weeks = (end - start).days // 7 + 1
        return [(start + timedelta(weeks=i)).isoformat() for i in range(weeks)]
    if first is None:
        return []
    year, month = int(first[:4]), int(first[5:7])
    labels = []
    while (year, month) <= (end.year, end.month):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return labels


def ledger_stats(session: Session, user_id: str, stats_range: StatsRange = "all") -> dict[str, Any]:
    """The §9.1 ``local`` object for one range; see the module docstring.

    Python only reshapes the statements' rows: empty buckets are listed with 0 (an even chart
    axis), and the weekday × hour cells are added up into the weekday and hour lists.
    """
    win = window(stats_range)
    q = LedgerStats(session, user_id, win)
    timeline = q.timeline()
    days, weeks = timeline["day"], timeline["week"]
    grouped = {b: (n, m) for b, n, m, _ in timeline[win.bucket]}
    labels = _bucket_labels(win, min(grouped) if grouped else None)
    # A play stamped in the future (clock skew) still counts: its bucket is kept at the end.
    labels += sorted(set(grouped) - set(labels))
    buckets = [
        {
            "bucket": iso_week(b) if win.bucket == "week" else b,
            "start": b if win.bucket != "month" else f"{b}-01",
            "plays": grouped.get(b, (0, 0))[0],
            "minutes": grouped.get(b, (0, 0))[1],
        }
        for b in labels
    ]
    heat = timeline["weekday_hour"]
    hours = [0] * 24
    weekdays = [0] * 7
    for wd, hr, n in heat:
        hours[hr] += n
        weekdays[wd] += n
    plays = sum(n for _, n, _, _ in days)
    minutes = sum(m for _, _, m, _ in days)
    unknown = sum(u for _, _, _, u in days)
    top_shows, top_movies = q.rankings()
    return {
        "range": stats_range,
        "bucket": win.bucket,
        "since": win.start,
        "plays_per_day": [{"date": b, "plays": n, "minutes": m} for b, n, m, _ in days],
        "minutes_per_week": [
            {"week": iso_week(monday), "minutes": m, "plays": n} for monday, n, m, _ in weeks
        ],
        "buckets": buckets,
        "by_weekday": [{"weekday": WEEKDAYS[i], "plays": weekdays[i]} for i in range(7)],
        "by_hour": [{"hour": h, "plays": hours[h]} for h in range(24)],
        "by_weekday_hour": [{"weekday": wd, "hour": hr, "plays": n} for wd, hr, n in heat],
        "top_shows": top_shows,
        "top_movies": top_movies,
        "plays_by_type": {
            "movie": q.per_type.get("movie", 0),
            "episode": q.per_type.get("episode", 0),
        },
        "per_source": q.per_source(),
        "watch_minutes": minutes,
        "totals": {"plays": plays, "minutes": minutes, "unknown_runtime": unknown},
    }
