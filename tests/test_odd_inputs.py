"""Odd but well-formed inputs that once reached the database and broke there answer a 4xx."""

from __future__ import annotations

import httpx

from tests.conftest import WEBHOOK_TOKEN, Service


def test_odd_cursors_dates_and_times_answer_4xx(service: Service) -> None:
    with service.api() as api:
        user = api.post("/api/v1/users", json={"display_name": "Odd"}).json()
        for path in (
            "/api/v1/scrobbles",
            "/api/v1/webhooks/rejected",
            "/api/v1/identities/unlinked",
        ):
            for cursor in ("²", "9" * 30, "-1"):
                answer = api.get(path, params={"cursor": cursor})
                assert answer.status_code == 422, (path, cursor, answer.text)
                assert answer.json()["field"] == "cursor"
        year_one = "0001-01-01T00:00:00+01:00"
        since = api.get(f"/api/v1/users/{user['id']}/history", params={"since": year_one})
        assert since.status_code == 422 and since.json()["field"] == "since"
        play = {
            "type": "movie",
            "movie": {"title": "M", "year": 1999, "ids": {"imdb": "tt0133093"}},
            "watched_at": year_one,
        }
        added = api.post(f"/api/v1/users/{user['id']}/history", json={"plays": [play]})
        # a batch answers per play (SPEC §9.1): this one is rejected with its reason
        assert added.status_code == 200, added.text
        (rejected,) = added.json()["rejected"]
        assert rejected["index"] == 0 and "date out of range" in rejected["error"]
        assert added.json()["added"] == 0

    hook = f"{service.url}/webhooks/revenge?token={WEBHOOK_TOKEN}"
    body = {
        "event": "start",
        "user_id": "odd",
        "content_type": "movie",
        "progress": 5,
        "movie": {"title": "M", "year": 1999, "ids": {"imdb": "tt0133093"}},
    }
    assert (
        httpx.post(hook, json={**body, "occurred_at": "0001-01-01T00:00+05:00"}).status_code == 400
    )
    assert httpx.post(hook, json={**body, "occurred_at": "9999-12-31T23:59:00Z"}).status_code == 202


def test_ids_and_cursors_past_sqlite_integers_answer_422(service: Service) -> None:
    """Numbers too large for an SQLite INTEGER once reached the query and answered 500."""
    huge = "9" * 30
    with service.api() as api:
        user = api.post("/api/v1/users", json={"display_name": "Huge"}).json()["id"]
        for method, path, field in (
            ("POST", f"/api/v1/scrobbles/{huge}/retry", "scrobble_id"),
            ("DELETE", f"/api/v1/scrobbles/{huge}", "scrobble_id"),
            ("DELETE", f"/api/v1/users/{user}/watchlist/{huge}", "item_id"),
            ("GET", f"/api/v1/users/{user}/watchlist?cursor={huge}", "cursor"),
            ("GET", f"/api/v1/users/{user}/history?cursor=2024-01-01T00:00:00_{huge}", "cursor"),
            ("GET", f"/api/v1/sync/runs?cursor={huge}", "cursor"),
            ("GET", f"/api/v1/sync/runs/any?items_cursor={huge}", "items_cursor"),
            ("GET", f"/api/v1/users/{user}/lists?cursor={huge}", "cursor"),
            ("GET", f"/api/v1/users/{user}/ratings?cursor={huge}", "cursor"),
        ):
            answer = api.request(method, path)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["field"] == field, (path, answer.text)
        # Ordinary ids still answer 404, and a sync-run cursor that is no number names the field.
        assert api.delete("/api/v1/scrobbles/12345").status_code == 404
        other = api.get("/api/v1/sync/runs", params={"cursor": "x"})
        assert other.status_code == 422 and other.json()["field"] == "cursor", other.text


def test_a_nul_in_the_url_answers_400_before_any_route(service: Service) -> None:
    """PostgreSQL cannot compare text holding U+0000: ids and cursors with one never reach it."""
    with service.api() as api:
        for path in (
            "/api/v1/users/a%00b",
            "/api/v1/servers?cursor=a%00",
            "/api/v1/users?limit=1&x=%00",
        ):
            answer = api.get(path)
            assert answer.status_code == 400, (path, answer.text)
            assert "NUL" in answer.json()["error"]
    hook = httpx.post(f"{service.url}/webhooks/revenge?token={WEBHOOK_TOKEN}%00", json={})
    assert hook.status_code == 400 and "NUL" in hook.json()["error"]


def test_a_webhook_body_with_a_nul_is_refused_and_kept(service: Service) -> None:
    body = (
        b'{"event": "start", "user_id": "odd\\u0000", "content_type": "movie", "progress": 5,'
        b' "movie": {"title": "M", "year": 1999, "ids": {"imdb": "tt0133093"}}}'
    )
    hook = f"{service.url}/webhooks/revenge?token={WEBHOOK_TOKEN}"
    answer = httpx.post(hook, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and "NUL" in answer.json()["error"], answer.text
    with service.api() as api:
        (kept,) = api.get("/api/v1/webhooks/rejected").json()["items"]
    assert kept["status"] == 400 and "NUL" in kept["reason"]
