"""Access logs drop query strings (SPEC §11): a media server that sends its webhook token as
``?token=`` must never find that token in the service's log, while the request itself is logged."""

from __future__ import annotations

import re

import httpx

from tests.conftest import WEBHOOK_TOKEN, Service, wait_until
from tests.webhooks.payloads import Media, plex

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
# A token a client got wrong: as secret as the right one (it may be another install's).
WRONG_TOKEN = "someone-elses-webhook-token-0123456789"


def _access_lines(service: Service, method: str, path: str) -> list[str]:
    """uvicorn's access lines for ``method path`` (``... "POST /path[?query] HTTP/1.1" 202``)."""
    start = f'"{method} {path}'
    return [
        line for line in service.log().splitlines() if start + " " in line or start + "?" in line
    ]


def test_a_webhook_token_in_the_url_never_reaches_the_log(service: Service) -> None:
    body = plex("start", "someone", MATRIX, 5)
    for token, status in ((WEBHOOK_TOKEN, 202), (WRONG_TOKEN, 401)):
        answer = httpx.post(
            f"{service.url}/webhooks/plex?token={token}",
            content=body.content,
            headers={"Content-Type": body.content_type},
            timeout=20,
        )
        assert answer.status_code == status, answer.text
    with service.api() as api:
        assert api.get("/api/v1/users", params={"limit": 5}).status_code == 200

    # The requests were logged (so the log is where a token would be), each without its query.
    delivered = wait_until(
        lambda: (
            (lines := _access_lines(service, "POST", "/webhooks/plex"))
            and len(lines) == 2
            and lines
        ),
        what="access lines of both deliveries",
    )
    listed = wait_until(lambda: _access_lines(service, "GET", "/api/v1/users"), what="API line")
    for line in [*delivered, *listed]:
        assert re.search(
            r'"(POST /webhooks/plex|GET /api/v1/users) HTTP/1\.1" (202|401|200)', line
        ), f"access line with its query: {line}"
    log = service.log()
    assert WEBHOOK_TOKEN not in log
    assert WRONG_TOKEN not in log
    assert "token=" not in log
    assert "limit=5" not in log
