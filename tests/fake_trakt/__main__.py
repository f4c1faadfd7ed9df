"""`python -m tests.fake_trakt --port N`: a fake Trakt on 127.0.0.1 for manual poking (API at
http://127.0.0.1:N, OAuth at http://localhost:N)."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .state import FakeTrakt


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake Trakt server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--user", default="alice", help="a user to create, with a token pair")
    args = parser.parse_args()
    fake = FakeTrakt()
    fake.api_hostnames.add(args.host)
    # OAuth answers only on the auth host, as Trakt documents: point TRAKT_AUTH_URL at
    # http://localhost:<port> and TRAKT_API_URL at http://<host>:<port>.
    fake.auth_hostnames.add("localhost")
    token = fake.issue_tokens(args.user)
    print(f"client_id={fake.client_id}")
    print(f"client_secret={fake.client_secret}")
    print(
        f"user {args.user}: access_token={token.access_token} refresh_token={token.refresh_token}"
    )
    uvicorn.run(create_app(fake), host=args.host, port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
