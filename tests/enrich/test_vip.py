"""VIP features: lists and recommendations for VIP users, a reasoned 403 for others, and a VIP
change at Trakt picked up by the next check (SPEC §8)."""

from __future__ import annotations

from tests.enrich.conftest import Harness, HarnessFactory
from tests.fake_trakt.state import Item
from trakt_plugin.enrich import enrichment
from trakt_plugin.jobs.vip_features import refresh_vip_features


def _catalogue(h: Harness) -> dict[str, Item]:
    wanted = {"matrix": ("movie", 481), "inception": ("movie", 16662),
              "bb": ("show", 1388), "pilot": ("episode", 73482)}  # fmt: skip
    found = {k: h.fake.find(kind, {"trakt": t}, ("trakt",)) for k, (kind, t) in wanted.items()}
    assert all(found.values())
    return {k: v for k, v in found.items() if v is not None}


async def test_vip_user_gets_lists_with_items_and_recommendations(
    harness: HarnessFactory,
) -> None:
    async with harness() as h:
        items = _catalogue(h)
        user = h.connect("Gus", "gus_t", vip=True)
        h.fake.add_list("gus_t", "Favourites", [items["matrix"], items["pilot"]])
        h.fake.add_list("gus_t", "Later", [items["bb"]])
        h.fake.add_play("gus_t", items["inception"], h.fake.clock())

        lists = await h.api.get(f"/api/v1/users/{user}/lists")
        recs = await h.api.get(f"/api/v1/users/{user}/recommendations")
        since = h.requests()
        lists_again = await h.api.get(f"/api/v1/users/{user}/lists", params={"limit": 1})
        recs_again = await h.api.get(f"/api/v1/users/{user}/recommendations")
        assert h.requests() == since  # served from the store
        page2 = await h.api.get(
            f"/api/v1/users/{user}/lists",
            params={"limit": 1, "cursor": lists_again.json()["next_cursor"]},
        )

    assert lists.status_code == 200, lists.text
    body = lists.json()
    assert [(entry["name"], entry["item_count"]) for entry in body["items"]] == [
        ("Favourites", 2),
        ("Later", 1),
    ]
    assert body["next_cursor"] is None
    favourites = body["items"][0]["items"]
    assert favourites[0]["type"] == "movie"
    assert favourites[0]["movie"]["ids"]["imdb"] == "tt0133093"
    assert favourites[1]["type"] == "episode"
    assert favourites[1]["show"]["title"] == "Breaking Bad"
    assert favourites[1]["episode"]["season"] == 1 and favourites[1]["episode"]["number"] == 1
    assert body["items"][1]["items"][0]["show"]["ids"]["trakt"] == 1388
    assert isinstance(body["items"][0]["trakt_id"], int)

    assert [e["name"] for e in lists_again.json()["items"]] == ["Favourites"]
    assert [e["name"] for e in page2.json()["items"]] == ["Later"]
    assert page2.json()["next_cursor"] is None

    assert recs.status_code == 200, recs.text
    assert [m["title"] for m in recs.json()["movies"]] == ["The Matrix"]  # Inception watched
    assert [s["title"] for s in recs.json()["shows"]] == ["Breaking Bad"]
    assert recs_again.json() == recs.json()


async def test_non_vip_gets_403_with_reason_and_a_vip_change_is_picked_up(
    harness: HarnessFactory,
) -> None:
    async with harness() as h:
        items = _catalogue(h)
        user = h.connect("Hal", "hal_t", vip=False)
        h.fake.add_list("hal_t", "Mine", [items["matrix"]])
        refused = [
            await h.api.get(f"/api/v1/users/{user}/lists"),
            await h.api.get(f"/api/v1/users/{user}/recommendations"),
        ]
        assert not [r for r in h.fake.requests if "lists" in r.path or "recommend" in r.path]

        # Hal becomes VIP at Trakt; the next check (verify re-reads the profile) sees it.
        h.fake.set_vip("hal_t", True)
        checked = await h.api.post(f"/api/v1/users/{user}/trakt/verify")
        assert checked.json()["vip"] is True
        lists = await h.api.get(f"/api/v1/users/{user}/lists")
        recs = await h.api.get(f"/api/v1/users/{user}/recommendations")

        # VIP ends: the next check refuses again, and the periodic refresh drops the copies.
        h.fake.set_vip("hal_t", False)
        await h.api.post(f"/api/v1/users/{user}/trakt/verify")
        refused_again = await h.api.get(f"/api/v1/users/{user}/lists")
        await refresh_vip_features(h.ctx)
        stored = enrichment(h.ctx).vip.lists_page(user, limit=10)

    for response in refused:
        assert response.status_code == 403
        reason = response.json()["error"]
        assert "VIP" in reason and "design" in reason and "hal_t" in reason
    assert lists.status_code == 200
    assert [e["name"] for e in lists.json()["items"]] == ["Mine"]
    assert recs.status_code == 200 and recs.json()["movies"]
    assert refused_again.status_code == 403
    assert stored["items"] == []


async def test_periodic_refresh_picks_up_changed_lists(harness: HarnessFactory) -> None:
    async with harness() as h:
        items = _catalogue(h)
        user = h.connect("Ida", "ida_t", vip=True)
        first = await h.api.get(f"/api/v1/users/{user}/lists")
        h.fake.add_list("ida_t", "New", [items["inception"]])
        await refresh_vip_features(h.ctx)
        after = await h.api.get(f"/api/v1/users/{user}/lists")
    assert first.json()["items"] == []
    assert [e["name"] for e in after.json()["items"]] == ["New"]


async def test_switched_off_features_and_unconnected_users_get_403(
    harness: HarnessFactory,
) -> None:
    async with harness(
        TRAKT_PLUGIN_VIP__ENABLE_LISTS="false", TRAKT_PLUGIN_VIP__ENABLE_RECOMMENDATIONS="false"
    ) as h:
        vip = h.connect("Jo", "jo_t", vip=True)
        lists = await h.api.get(f"/api/v1/users/{vip}/lists")
        recs = await h.api.get(f"/api/v1/users/{vip}/recommendations")
    async with harness() as h2:
        lonely = h2.add_user("Kim")
        unconnected = await h2.api.get(f"/api/v1/users/{lonely}/lists")
        unknown = await h2.api.get("/api/v1/users/nobody/recommendations")
    assert lists.status_code == 403 and "vip.enable_lists" in lists.json()["error"]
    assert recs.status_code == 403 and "vip.enable_recommendations" in recs.json()["error"]
    assert unconnected.status_code == 403 and "connect" in unconnected.json()["error"]
    assert unknown.status_code == 404
