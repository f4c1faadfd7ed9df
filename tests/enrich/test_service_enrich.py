"""The running service: enrichment routes are mounted and documented, a VIP user connected by
the device flow gets lists imported at connect, stats read the ledger, VIP loss is honoured."""

from __future__ import annotations

from tests.conftest import FakeTraktServer, Service, connect_user, wait_until
from tests.enrich.ledger import seed_plays


def test_enrichment_through_the_running_service(
    service_factory,
    fake_trakt: FakeTraktServer,  # type: ignore[no-untyped-def]
) -> None:
    fake = fake_trakt.state
    matrix = fake.find("movie", {"trakt": 481}, ("trakt",))
    assert matrix is not None
    fake.add_list("lea_t", "Weekend", [matrix])
    service: Service = service_factory(fake_trakt.service_env())
    user = connect_user(service, fake_trakt, "Lea", "lea_t", vip=True)
    # Connecting reads the profile (VIP) and imports the VIP features right away.
    wait_until(lambda: fake.requests_to("/recommendations/shows"), what="features imported")
    seed_plays(service, user["id"])
    with service.api() as api:
        lists = wait_until(
            lambda: (
                (r := api.get(f"/api/v1/users/{user['id']}/lists")).status_code == 200
                and r.json()["items"]
                and r
            ),
            what="lists served",
        )
        stats = api.get(f"/api/v1/users/{user['id']}/stats").json()
        movie = api.get("/api/v1/metadata/movie", params={"imdb": "tt0133093"})
        schema = api.get("/api/v1/openapi.json").json()

        fake.set_vip("lea_t", False)
        assert api.post(f"/api/v1/users/{user['id']}/trakt/verify").json()["vip"] is False
        refused = api.get(f"/api/v1/users/{user['id']}/recommendations")

    assert [e["name"] for e in lists.json()["items"]] == ["Weekend"]
    assert lists.json()["items"][0]["items"][0]["movie"]["title"] == "The Matrix"
    assert stats["trakt"] is not None and "movies" in stats["trakt"]
    assert [d["date"] for d in stats["local"]["plays_per_day"]] == [
        "2026-11-23", "2026-11-24", "2026-12-01",
    ]  # fmt: skip
    assert stats["local"]["minutes_per_week"] == [
        {"week": "2026-W48", "minutes": 183, "plays": 2},
        {"week": "2026-W49", "minutes": 48, "plays": 1},
    ]
    assert stats["local"]["top_shows"][0]["show"] == "Breaking Bad"
    assert movie.status_code == 200 and movie.json()["ratings"]["imdb"]["rating"] == 7.5
    assert refused.status_code == 403 and "VIP" in refused.json()["error"]
    for path in (
        "/metadata/{kind}",
        "/metadata/batch",
        "/users/{user_id}/stats",
        "/users/{user_id}/lists",
        "/users/{user_id}/recommendations",
    ):
        assert path in schema["paths"], path
    assert "MetadataOut" in schema["components"]["schemas"]
    service.stop()
    assert fake.client_secret not in service.log()
