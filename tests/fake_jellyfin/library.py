"""Generate a library of N movies and episodes with external ids and per-user watched state.

Deterministic for a seed. Ids follow the real servers' habits (docs §3.3, webhooks §3.5, §4.3):
movies carry `Imdb` + `Tmdb`; series `Tvdb` + `Tmdb` + `Imdb`; episodes their own `Tvdb` and
every other one an `Imdb` (no episode `Tmdb`, as with Jellyfin's TMDb plugin). A share has
keys in another case (`IMDB`, `tmdb`, …: match case-insensitively), and a share has none of the
three (`{}` or only `AniDB`): those are unmatched.

    lib = build_library(fake, movies=20_000, episodes=100_000, users=("alice", "bob"))
    lib.movies[0].provider_ids, fake.user_data("alice", lib.movies[0]).played
"""

from __future__ import annotations

import gc
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .state import FakeJellyfin, Item, User

START = 1_600_000_000.0  # 2020-09-13: library dates count from here
YEAR = 365 * 86400
ODD_CASES = {"Imdb": ("IMDB", "imdb"), "Tmdb": ("TMDB", "tmdb"), "Tvdb": ("TVDB", "tvdb")}


def movie_ids(i: int) -> dict[str, str]:
    return {"Imdb": f"tt{10_000_000 + i}", "Tmdb": str(100_000 + i)}


def series_ids(i: int) -> dict[str, str]:
    return {"Tvdb": str(300_000 + i), "Tmdb": str(200_000 + i), "Imdb": f"tt{20_000_000 + i}"}


def episode_ids(i: int) -> dict[str, str]:
    ids = {"Tvdb": str(5_000_000 + i)}
    if i % 2 == 0:
        ids["Imdb"] = f"tt{30_000_000 + i}"
    return ids


@dataclass
class Library:
    users: list[User]
    movies: list[Item] = field(default_factory=list)
    series: list[Item] = field(default_factory=list)
    seasons: list[Item] = field(default_factory=list)
    episodes: list[Item] = field(default_factory=list)
    unmatched: list[Item] = field(default_factory=list)  # no Imdb/Tmdb/Tvdb at all
    played: dict[str, set[str]] = field(default_factory=dict)  # user id → played item ids


def build_library(
    fake: FakeJellyfin,
    *,
    movies: int = 100,
    episodes: int = 0,
    episodes_per_series: int = 50,
    episodes_per_season: int = 10,
    users: Iterable[str | User] = ("alice",),
    watched: float | Mapping[str, float] = 0.3,
    no_ids: float = 0.02,
    odd_case: float = 0.05,
    undated: float = 0.02,
    in_progress: float = 0.02,
    virtual: float = 0.0,
    seed: int = 0,
    start: float = START,
) -> Library:
    """Add `movies` movies and `episodes` episodes (in series of `episodes_per_series`, seasons
    of `episodes_per_season`) to `fake`, and watched state for `users` (names are created).

    `watched`: share of items each user has played (or {user name: share}); of those, `undated`
    have no LastPlayedDate. `in_progress`: share with a resume position, unplayed. `virtual`:
    share of episodes that are missing-episode placeholders (never watched)."""
    collecting = gc.isenabled()
    gc.disable()  # ~130k new objects: the collector would walk them over and over
    try:
        return _build(
            fake, movies, episodes, episodes_per_series, episodes_per_season, users, watched,
            no_ids, odd_case, undated, in_progress, virtual, seed, start,
        )  # fmt: skip
    finally:
        if collecting:
            gc.enable()


def _build(
    fake: FakeJellyfin,
    movies: int,
    episodes: int,
    episodes_per_series: int,
    episodes_per_season: int,
    users: Iterable[str | User],
    watched: float | Mapping[str, float],
    no_ids: float,
    odd_case: float,
    undated: float,
    in_progress: float,
    virtual: float,
    seed: int,
    start: float,
) -> Library:
    rng = random.Random(seed)
    lib = Library(users=[u if isinstance(u, User) else _user(fake, u) for u in users])
    for user in lib.users:
        lib.played[user.id] = set()

    def ids(base: dict[str, str]) -> dict[str, str]:
        roll = rng.random()
        if roll < no_ids:
            return {} if rng.random() < 0.5 else {"AniDB": str(rng.randrange(1, 20_000))}
        if roll < no_ids + odd_case:
            return {rng.choice(ODD_CASES.get(k, (k,))): v for k, v in base.items()}
        return base

    moment = start
    for i in range(movies):
        item = fake.add_movie(
            f"Movie {i}",
            1950 + i % 75,
            ids(movie_ids(i)),
            runtime_minutes=80 + i % 70,
            date_created=moment,
        )
        moment += 60
        lib.movies.append(item)
    series_count = -(-episodes // episodes_per_series) if episodes else 0
    made = 0
    for s in range(series_count):
        show = fake.add_series(f"Show {s}", 1990 + s % 35, ids(series_ids(s)), date_created=moment)
        lib.series.append(show)
        season_item: Item | None = None
        for n in range(min(episodes_per_series, episodes - made)):
            season, number = 1 + n // episodes_per_season, 1 + n % episodes_per_season
            if number == 1:
                season_item = fake.add_season(show, season, date_created=moment)
                lib.seasons.append(season_item)
            episode = fake.add_episode(
                show,
                season,
                number,
                f"Show {s} S{season:02d}E{number:02d}",
                ids(episode_ids(made)),
                runtime_minutes=20 + made % 40,
                virtual=rng.random() < virtual,
                date_created=moment,
                season_item=season_item,
            )
            moment += 60
            made += 1
            lib.episodes.append(episode)
    for item in (*lib.movies, *lib.series, *lib.episodes):
        if not {k.lower() for k in item.provider_ids} & {"imdb", "tmdb", "tvdb"}:
            lib.unmatched.append(item)
    _watch(fake, lib, rng, watched, undated, in_progress, start)
    return lib


def _user(fake: FakeJellyfin, name: str) -> User:
    try:
        return fake.user(name)
    except KeyError:
        return fake.add_user(name)


def _watch(
    fake: FakeJellyfin,
    lib: Library,
    rng: random.Random,
    watched: float | Mapping[str, float],
    undated: float,
    in_progress: float,
    start: float,
) -> None:
    playable = [*lib.movies, *(e for e in lib.episodes if e.location_type != "Virtual")]
    for user in lib.users:
        share = watched.get(user.name, 0.0) if isinstance(watched, Mapping) else watched
        for item in playable:
            roll = rng.random()
            if roll < share:
                last = None if rng.random() < undated else start + rng.random() * 3 * YEAR
                fake.set_user_data(
                    user, item, played=True, play_count=rng.randint(1, 3), last_played=last
                )
                lib.played[user.id].add(item.id)
            elif roll < share + in_progress and item.runtime_ticks:
                fake.set_user_data(
                    user,
                    item,
                    position_ticks=item.runtime_ticks // 3,
                    play_count=1,
                    last_played=start + rng.random() * 3 * YEAR,
                )
