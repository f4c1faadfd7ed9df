"""Plays of a media-server account nobody was linked to become a person's history once linked,
whether the account is linked by its id or (for servers that also send a name) by its name."""

from __future__ import annotations

from .harness import Rig
from .payloads import Media, jellyfin

MATRIX = Media("movie", "The Matrix", 1999, imdb="tt0133093", tmdb=603)
JF_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_linking_by_name_adopts_the_unlinked_plays(rig: Rig) -> None:
    rig.deliver("jellyfin", jellyfin("start", JF_ID, "Nora", MATRIX, 1, paused=False))
    rig.deliver("jellyfin", jellyfin("stop", JF_ID, "Nora", MATRIX, 97))
    with rig.service.api() as api:
        unlinked = api.get("/api/v1/identities/unlinked").json()["items"]
        assert [(i["external_id"], i["name"]) for i in unlinked] == [(JF_ID, "Nora")]
        user = api.post("/api/v1/users", json={"display_name": "Nora"}).json()
        linked = api.post(
            f"/api/v1/users/{user['id']}/identities",
            json={"source": "jellyfin", "external_id": "nora"},
        )
        assert linked.status_code == 201
        assert api.get("/api/v1/identities/unlinked").json()["items"] == []
        history = api.get(f"/api/v1/users/{user['id']}/history").json()["items"]
        assert [play["movie"]["title"] for play in history] == ["The Matrix"]
    # Later events of that account now belong to Nora.
    answer = rig.deliver(
        "jellyfin", jellyfin("start", JF_ID, "Nora", MATRIX, 1, session="js2", paused=False)
    )
    assert answer["user_id"] == user["id"]
