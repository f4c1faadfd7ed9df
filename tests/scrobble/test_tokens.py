"""An expiring token is refreshed without loss; a refused refresh parks the
user's rows, which go out after the user reconnects."""

from __future__ import annotations

from tests.conftest import wait_until
from tests.webhooks.harness import Rig
from tests.webhooks.payloads import Media, revenge

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
INCEPTION = Media("movie", "Inception", 2010, imdb="tt1375666", tmdb=27205)


def test_a_token_expiring_mid_run_is_refreshed_without_loss(rig: Rig) -> None:
    ada = rig.user("Ada", {"revenge": "ada"}, "ada_t")
    rig.deliver("revenge", revenge("start", "ada", MATRIX, 5))
    rig.settled(ada)
    rig.fake.state.expire_tokens("ada_t")
    rig.deliver("revenge", revenge("pause", "ada", MATRIX, 40))
    rig.deliver("revenge", revenge("stop", "ada", MATRIX, 95))
    rig.settled(ada)
    assert rig.fake.state.refreshes == 1
    assert rig.paths("ada_t") == ["/scrobble/start", "/scrobble/pause", "/scrobble/stop"]
    assert {r["status"] for r in rig.rows(ada)} == {"sent"}
    assert len(rig.plays("ada_t")) == 1


def test_a_refused_refresh_parks_rows_until_reconnect(rig: Rig) -> None:
    bo = rig.user("Bo", {"revenge": "bo"}, "bo_t")
    rig.deliver("revenge", revenge("start", "bo", INCEPTION, 5))
    rig.settled(bo)
    for token in rig.fake.state.tokens.values():
        if token.username == "bo_t":
            token.revoked = True  # the access token and its refresh token both stop working
    rig.deliver("revenge", revenge("stop", "bo", INCEPTION, 95))
    with rig.service.api() as api:
        wait_until(
            lambda: api.get(f"/api/v1/users/{bo}").json()["trakt"]["state"] == "reauth_required",
            what="re-auth required",
        )
        parked = wait_until(
            lambda: [r for r in rig.rows(bo, "pending") if r["parked"]], what="the row parked"
        )
        assert parked[0]["action"] == "scrobble_stop"
        assert api.get("/api/v1/health").json()["outbox_depth"] == 1
        assert rig.plays("bo_t") == []

        code = api.post(f"/api/v1/users/{bo}/trakt/device").json()
        rig.fake.state.approve(code["user_code"], "bo_t")
    rig.settled(bo)
    stop = next(
        r
        for r in rig.rows(bo)
        if r["item"]["movie"]["title"] == "Inception"
        and r["action"] in ("scrobble_stop", "history_add")
    )
    assert stop["status"] == "sent"
    assert len(rig.plays("bo_t")) == 1
