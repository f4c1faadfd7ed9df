"""Stats at 100,000 plays (issue 14, acceptance 5): `/api/v1/users/{id}/stats` per range and the
stats page's render time in a real browser.

One person's ledger gets 100,000 plays straight into the service's SQLite store (one bulk insert):
five years of evenings-heavy viewing, 80 % episodes of 150 shows, 20 % of 2,500 movies, from Plex,
Jellyfin, Emby and revenge, 5 % of them without a runtime (so the metadata fallbacks run). Then,
against the running service:

- the API, each range (default, 30d, 12m, all) 5 times: median and worst (goal: worst < 1 s);
- the page in Chromium, each range: navigation start → every chart drawn (SVG present), read from
  the page's own clock (`performance.now()`), 3 loads each (goal: worst < 2 s).

Prints both with the goals and exits 1 on a missed goal. Run: `.venv/bin/python bench/stats.py`.
On PostgreSQL (SPEC §13): `--postgres` starts a throwaway cluster (tests/pg.py) for the run,
`--database-url postgresql+psycopg://…` uses a given empty database; `--api-only` skips the page.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rig import bench_rig
from goals import Goals

from tests.browser import chromium, click, type_into, wait_for_path

PLAYS = 100_000
YEARS = 5
SHOWS = 150
MOVIES = 2_500
API_GOAL = 1.0
PAGE_GOAL = 2.0
API_RUNS = 5
PAGE_RUNS = 3
PASSWORD = "a-long-admin-password"
SOURCES = (("plex", 5), ("jellyfin", 3), ("emby", 1), ("revenge", 1))
# Evenings-heavy: weight of each UTC hour.
HOUR_WEIGHTS = [1, 1, 0.5, 0.2, 0.1, 0.1, 0.2, 0.5, 0.6, 0.6, 0.8, 1, 1.2, 1.2, 1.2, 1.5, 2, 3,
                4, 6, 7, 6, 4, 2]  # fmt: skip
CHARTS = ("chart-plays", "chart-weekday", "chart-hour")
STAMP = "%Y-%m-%d %H:%M:%S.%f"


def _catalogue(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shows = [
        {
            "title": f"Show {n}",
            "year": 1990 + n % 35,
            "ids": {"trakt": 10_000 + n, "tvdb": 70_000 + n},
        }
        for n in range(SHOWS)
    ]
    movies = [
        {
            "type": "movie",
            "movie": {
                "title": f"Movie {n}",
                "year": 1950 + n % 75,
                "ids": {"trakt": 500_000 + n, "imdb": f"tt{9_000_000 + n}"},
                "runtime": 90 + n % 60,
            },
        }
        for n in range(MOVIES)
    ]
    return shows, movies


def seed(db_path: Path | str, user_id: str, now: datetime) -> float:
    """Insert the plays in one transaction; the seconds it took."""
    rng = random.Random(14)
    shows, movies = _catalogue(rng)
    show_weights = [1 / (n + 1) for n in range(SHOWS)]  # a few favourites, a long tail
    sources, source_weights = zip(*SOURCES, strict=True)
    span = YEARS * 365
    rows = []
    for n in range(PLAYS):
        day = now - timedelta(days=int(span * rng.random() ** 0.8))  # more plays lately
        at = day.replace(
            hour=rng.choices(range(24), HOUR_WEIGHTS)[0],
            minute=rng.randrange(60),
            second=rng.randrange(60),
            microsecond=0,
        )
        if rng.random() < 0.8:
            show = rng.choices(shows, show_weights)[0]
            season, number = rng.randrange(1, 9), rng.randrange(1, 13)
            item: dict[str, Any] = {
                "type": "episode",
                "show": show,
                "episode": {
                    "season": season,
                    "number": number,
                    "title": f"Episode {number}",
                    "ids": {"trakt": show["ids"]["trakt"] * 1000 + season * 20 + number},
                },
            }
            key = f"episode:trakt:{item['episode']['ids']['trakt']}"
            runtime: int | None = 42 + number % 20
        else:
            item = rng.choice(movies)
            key = f"movie:trakt:{item['movie']['ids']['trakt']}"
            runtime = item["movie"]["runtime"]
        if rng.random() < 0.05:
            runtime = None  # the runtime comes from the item or the metadata cache, or is unknown
        stamp = at.astimezone(UTC).strftime(STAMP)
        source = rng.choices(sources, source_weights)[0]
        rows.append((user_id, json.dumps(item), key, stamp, source, runtime, stamp, n))
    if isinstance(db_path, str):
        return _seed_url(db_path, rows)
    started = time.perf_counter()
    with sqlite3.connect(db_path, timeout=30) as db:
        db.executemany(
            "INSERT INTO play (user_id, item, item_key, watched_at, source, runtime, created_at,"
            " event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    with sqlite3.connect(db_path, timeout=30) as db:
        db.execute("ANALYZE")
    return time.perf_counter() - started


def _seed_url(url: str, rows: list[tuple[Any, ...]]) -> float:
    """The same rows into the database at ``url`` (PostgreSQL), in one transaction."""
    import sqlalchemy as sa

    names = ("user_id", "item", "item_key", "watched_at", "source", "runtime", "created_at")
    values = [
        {
            **dict(zip(names, row[:7], strict=True)),
            "watched_at": datetime.strptime(row[3], STAMP),
            "created_at": datetime.strptime(row[6], STAMP),
            "event_id": row[7],
        }
        for row in rows
    ]
    engine = sa.create_engine(url)
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO play (user_id, item, item_key, watched_at, source, runtime,"
                    " created_at, event_id) VALUES (:user_id, :item, :item_key, :watched_at,"
                    " :source, :runtime, :created_at, :event_id)"
                ),
                values,
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE play")
    finally:
        engine.dispose()
    return time.perf_counter() - started


def measure_api(rig: Any, user_id: str) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    with rig.api() as api:
        for name, params in (
            ("default", {}),
            ("30d", {"range": "30d"}),
            ("12m", {"range": "12m"}),
            ("all", {"range": "all"}),
        ):
            times[name] = []
            for _ in range(API_RUNS):
                started = time.perf_counter()
                answer = api.get(f"/api/v1/users/{user_id}/stats", params=params)
                times[name].append(time.perf_counter() - started)
                answer.raise_for_status()
            local = answer.json()["local"]
            print(
                f"  api {name:>7}: {local['totals']['plays']:>6} plays, "
                f"{len(local['buckets'])} {local['bucket']} buckets, "
                f"{len(local['plays_per_day'])} days, {len(local['minutes_per_week'])} weeks"
            )
    return times


# Resolves with performance.now() (ms since navigation start) once every chart has drawn its SVG.
CHARTS_DRAWN = """
const done = arguments[arguments.length - 1];
const ids = arguments[0];
(function poll() {
  const drawn = ids.every(id => document.querySelector(`[data-test=${id}] svg path`));
  const nav = performance.getEntriesByType("navigation")[0];
  if (drawn) done([performance.now(), nav.responseEnd, nav.domContentLoadedEventEnd]);
  else requestAnimationFrame(poll);
})();
"""


def measure_page(url: str, user_id: str) -> dict[str, list[float]]:
    """Seconds from navigation start to every chart drawn; prints where the time went."""
    times: dict[str, list[float]] = {}
    with chromium() as driver:
        driver.set_script_timeout(30)
        driver.get(url + "/login")
        type_into(driver, "login-password", PASSWORD)
        click(driver, "login-submit")
        wait_for_path(driver, "/")
        for stats_range in ("30d", "12m", "all"):
            times[stats_range] = []
            for _ in range(PAGE_RUNS):
                driver.get(f"{url}/stats?user={user_id}&range={stats_range}")
                drawn, html, ready = driver.execute_async_script(CHARTS_DRAWN, list(CHARTS))
                times[stats_range].append(float(drawn) / 1000)
                print(
                    f"  page {stats_range:>4}: page from the server {html:5.0f} ms, "
                    f"DOM ready {ready:5.0f} ms, charts drawn {drawn:5.0f} ms"
                )
    return times


def report(kind: str, times: dict[str, list[float]], goal: float, goals: Goals) -> None:
    for name, values in times.items():
        worst = max(values)
        ok = worst < goal
        goals.add(f"{kind.strip()}_{name}_worst", f"{worst * 1000:.0f}ms", f"<{goal:g}s", ok)
        print(
            f"{kind} {name:>7}: median {statistics.median(values) * 1000:6.0f} ms, "
            f"worst {worst * 1000:6.0f} ms (goal < {goal:.0f} s) {'ok' if ok else 'MISSED'}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster")
    parser.add_argument("--api-only", action="store_true", help="skip the browser page timings")
    args = parser.parse_args()
    cluster = None
    url: str | None = args.database_url
    if args.postgres and url is None:
        from tests import pg

        cluster = pg.start_cluster(pg_port())
        url = cluster.new_database(migrated=False)
    engine_name = "postgresql" if url else "sqlite"
    env = {"TRAKT_PLUGIN_DATABASE_URL": url} if url else {}
    try:
        with bench_rig(TRAKT_PLUGIN_ADMIN_PASSWORD=PASSWORD, **env) as rig:
            user_id = rig.connected_user("Bench", "bench-1")
            # The rig runs the service in its temporary directory, data in ./data.
            db_path = Path(f"/proc/{rig.process.pid}/cwd").resolve() / "data" / "trakt-plugin.db"
            seconds = seed(url or db_path, user_id, datetime.now(UTC))
            print(f"seeded {PLAYS:,} plays over {YEARS} years in {seconds:.1f} s ({engine_name})")
            api = measure_api(rig, user_id)
            page = {} if args.api_only else measure_page(rig.url, user_id)
    finally:
        if cluster is not None:
            from tests import pg

            pg.remove_cluster(cluster)
    print(f"stats at {PLAYS:,} plays on {engine_name}")
    goals = Goals("stats" if engine_name == "sqlite" else "stats_postgresql")
    report("api ", api, API_GOAL, goals)
    report("page", page, PAGE_GOAL, goals)
    print()
    return goals.finish()


def pg_port() -> int:
    from tests.conftest import free_port

    return free_port()


if __name__ == "__main__":
    sys.exit(main())
