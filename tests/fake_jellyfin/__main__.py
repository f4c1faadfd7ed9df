"""`python -m tests.fake_jellyfin --flavour emby --port N`: a fake on 127.0.0.1 to poke at."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .library import build_library
from .state import FakeJellyfin


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake Jellyfin/Emby server")
    parser.add_argument("--flavour", choices=("jellyfin", "emby"), default="jellyfin")
    parser.add_argument("--version", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8096)
    parser.add_argument("--movies", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--user", action="append", default=None, help="user names (repeat)")
    args = parser.parse_args()
    fake = FakeJellyfin(args.flavour, version=args.version)
    build_library(fake, movies=args.movies, episodes=args.episodes, users=args.user or ["alice"])
    print(f"{fake.product_name} {fake.version} api_key={fake.api_key}")
    for user in fake.users.values():
        print(f"user {user.name}: {user.id}")
    uvicorn.run(create_app(fake), host=args.host, port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
