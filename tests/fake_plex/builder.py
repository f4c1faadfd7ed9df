"""Generate a library of any size on a `FakePlex`, with ids and per-account watched state.

    fake = FakePlex()
    lib = build_library(fake, movies=20_000, shows=1_000, seasons=5, episodes=20)  # 100k episodes
    seed_watched(fake, lib.leaves, fake.add_account("kid"), watched=0.1, seed=2)

Ids are derived from each item's position, so a test can predict them: movie i has
`imdb=tt{1000000+i}` and `tmdb={100000+i}`; show s has `tvdb={300000+s}`, `tmdb={80000+s}`,
`imdb=tt{2000000+s}`; the e-th episode overall has `imdb=tt{3000000+e}`, `tmdb={5000000+e}`,
`tvdb={7000000+e}`. A share of items uses a legacy agent (`legacy`: movies
`com.plexapp.agents.imdb://…`/`…themoviedb://…`, shows and their episodes
`…thetvdb://<show>/<season>/<episode>`/`…themoviedb://…`, no Guid children) and a share has no
ids at all (`no_ids`: `local://…` or `com.plexapp.agents.none://…`). `PlexItem.ids` holds the ids
an item's own guid(s) carry; a legacy episode's are on its show.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .state import (
    Account,
    FakePlex,
    HistoryEntry,
    PlexItem,
    Section,
    UserState,
    episode_guids,
    movie_guids,
    season_guid,
    show_guids,
)

YEAR = 365 * 86400


@dataclass
class Library:
    movie_section: Section
    show_section: Section
    movies: list[PlexItem] = field(default_factory=list)
    shows: list[PlexItem] = field(default_factory=list)
    episodes: list[PlexItem] = field(default_factory=list)

    @property
    def leaves(self) -> list[PlexItem]:
        """Movies then episodes: what plays and watched state are about."""
        return self.movies + self.episodes


def movie_ids(i: int) -> dict[str, str]:
    return {"imdb": f"tt{1_000_000 + i:07d}", "tmdb": str(100_000 + i)}


def show_ids(s: int) -> dict[str, str]:
    return {"imdb": f"tt{2_000_000 + s:07d}", "tmdb": str(80_000 + s), "tvdb": str(300_000 + s)}


def episode_ids(e: int) -> dict[str, str]:
    return {
        "imdb": f"tt{3_000_000 + e:07d}",
        "tmdb": str(5_000_000 + e),
        "tvdb": str(7_000_000 + e),
    }


def _agent(rng: random.Random, legacy: float, no_ids: float, kinds: tuple[str, str]) -> str:
    roll = rng.random()
    if roll < no_ids:
        return rng.choice(("local", "none"))
    if roll < no_ids + legacy:
        return rng.choice(kinds)
    return "plex"


def build_library(
    fake: FakePlex,
    *,
    movies: int = 100,
    shows: int = 10,
    seasons: int = 2,
    episodes: int = 5,
    legacy: float = 0.1,
    no_ids: float = 0.05,
    accounts: tuple[Account | int | str, ...] | None = None,
    watched: float = 0.3,
    in_history: float = 0.5,
    rated: float = 0.1,
    in_progress: float = 0.02,
    seed: int = 0,
    now: int | None = None,
) -> Library:
    """Sections "Movies" and "TV Shows" with `movies` movies and `shows` × `seasons` ×
    `episodes` episodes; then `seed_watched` for each of `accounts` (default: the owner).
    Items are built directly (not through `add_movie` & co.): 120,000 in a few seconds."""
    rng = random.Random(seed)
    now = int(now if now is not None else fake.clock())
    with fake.lock:
        lib = Library(fake.add_section("Movies", "movie"), fake.add_section("TV Shows", "show"))
        movie_key, show_key = lib.movie_section.key, lib.show_section.key
        next_key, attach = fake.next_rating_key, fake.attach
        for i in range(movies):
            agent = _agent(rng, legacy, no_ids, ("imdb", "themoviedb"))
            rk = next_key()
            guid, tags, own = movie_guids(agent, rk, movie_ids(i))
            lib.movies.append(
                attach(
                    PlexItem(
                        rk,
                        "movie",
                        f"Movie {i}",
                        movie_key,
                        guid,
                        tags,
                        1950 + i % 75,
                        5_400_000 + (i % 60) * 60_000,
                        now - YEAR + i,
                        None,
                        agent,
                        ids=own,
                    )
                )
            )
        e = 0
        for s in range(shows):
            agent = _agent(rng, legacy, no_ids, ("thetvdb", "themoviedb"))
            rk = next_key()
            guid, tags, own = show_guids(agent, rk, show_ids(s))
            year = 1990 + s % 35
            show = attach(
                PlexItem(
                    rk,
                    "show",
                    f"Show {s}",
                    show_key,
                    guid,
                    tags,
                    year,
                    None,
                    now - YEAR + s,
                    None,
                    agent,
                    ids=own,
                )
            )
            lib.shows.append(show)
            for number in range(1, seasons + 1):
                rk = next_key()
                season = attach(
                    PlexItem(
                        rk,
                        "season",
                        f"Season {number}",
                        show_key,
                        season_guid(show, rk, number),
                        (),
                        year,
                        None,
                        now - YEAR + s,
                        number,
                        agent,
                        show,
                    )
                )
                for index in range(1, episodes + 1):
                    rk = next_key()
                    guid, tags, own = episode_guids(show, rk, number, index, episode_ids(e))
                    lib.episodes.append(
                        attach(
                            PlexItem(
                                rk,
                                "episode",
                                f"Show {s} S{number:02d}E{index:02d}",
                                show_key,
                                guid,
                                tags,
                                year,
                                2_700_000,
                                now - YEAR + e,
                                index,
                                agent,
                                season,
                                ids=own,
                            )
                        )
                    )
                    e += 1
        fake._bump()
        for n, account in enumerate(accounts if accounts is not None else (fake.owner,)):
            seed_watched(
                fake,
                lib.leaves,
                account,
                watched=watched,
                in_history=in_history,
                rated=rated,
                in_progress=in_progress,
                seed=seed + n + 1,
                now=now,
            )
    return lib


def seed_watched(
    fake: FakePlex,
    items: list[PlexItem],
    account: Account | int | str,
    *,
    watched: float = 0.3,
    in_history: float = 0.5,
    rated: float = 0.1,
    in_progress: float = 0.02,
    seed: int = 0,
    now: int | None = None,
) -> None:
    """Give `account` a watched share of `items` (each watched at a time within the last three
    years; `in_history` of them as a real play with a history row, the rest only marked:
    viewCount 1 + lastViewedAt), integer ratings on a share, resume points on a share."""
    rng = random.Random(seed)
    now = int(now if now is not None else fake.clock())
    roll, randrange = rng.random, rng.randrange
    with fake.lock:
        acc = fake.account(account)
        states = fake.user_state.setdefault(acc.id, {})
        plays: list[HistoryEntry] = []
        for item in items:
            state: UserState | None = None
            if roll() < watched:
                when = now - randrange(86400, 3 * YEAR)
                state = UserState(1, when)
                if roll() < in_history:
                    plays.append(HistoryEntry(0, acc.id, item, when))
            elif roll() < in_progress and item.duration:
                state = UserState(view_offset=item.duration // 3)
            if roll() < rated:
                state = state or UserState()
                state.user_rating, state.last_rated_at = float(rng.randint(1, 10)), now
            if state is not None:
                states[item.rating_key] = state
        plays.sort(key=lambda entry: entry.viewed_at)  # history ids grow with time
        for entry in plays:
            entry.id = fake.next_history_id()
        fake.history.extend(plays)
        fake.history.sort(key=lambda entry: entry.viewed_at)
        fake._bump()
