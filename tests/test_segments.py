"""Saved filters: /api/v1/segments, and segment=<id> on the report, the summary and exports."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from chatcrm.segments import MAX_SEGMENTS
from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.test_api_customers import get_json, seed_shop
from tests.test_exports import body_of, export, ids_of

VIP_BANGKOK = {
    "name": "VIP กรุงเทพ",
    "filters": {"tag": "VIP"},
    "sort": "paid_total",
    "order": "desc",
}


async def post_segment(
    client: TestClient, shop: ShopFixture, body: dict[str, Any], role: str = "owner"
) -> tuple[int, Any]:
    resp = await client.post("/api/v1/segments", json=body, headers=shop.auth(role))
    return resp.status, await resp.json()


async def report_ids(client: TestClient, shop: ShopFixture, **params: Any) -> tuple[int, Any]:
    status, body = await get_json(client, "/api/v1/customers", shop, **params)
    return status, [r["id"] for r in body["items"]] if status == 200 else body


async def test_segment_lifecycle_for_owner_and_staff(
    client: TestClient, store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    status, created = await post_segment(client, shop, VIP_BANGKOK, role="staff")
    assert status == 201, created
    assert created["name"] == "VIP กรุงเทพ" and created["filters"] == {"tag": "VIP"}
    assert (created["sort"], created["order"]) == ("paid_total", "desc")
    seg = created["id"]
    status, listed = await get_json(client, "/api/v1/segments", shop)
    assert [s["id"] for s in listed["items"]] == [seg]
    assert (await get_json(client, "/api/v1/segments", other_shop))[1]["items"] == []
    assert (await get_json(client, f"/api/v1/segments/{seg}", other_shop))[0] == 404

    resp = await client.patch(
        f"/api/v1/segments/{seg}", json={"name": "VIP ทั้งหมด"}, headers=shop.auth("staff")
    )
    assert resp.status == 200
    edited = await resp.json()
    assert edited["name"] == "VIP ทั้งหมด" and edited["filters"] == {"tag": "VIP"}
    assert edited["order"] == "desc"

    resp = await client.delete(f"/api/v1/segments/{seg}", headers=shop.auth())
    assert resp.status == 204
    status, body = await get_json(client, f"/api/v1/segments/{seg}", shop)
    assert status == 404 and body["error"]["field"] == "id"
    actions = [e["action"] for e in await store.for_shop(shop.id).audit.recent()]
    assert actions == ["segment.delete", "segment.update", "segment.create"]


async def test_names_are_unique_per_shop_whatever_the_case(
    client: TestClient, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    assert (await post_segment(client, shop, {"name": "Big Spenders"}))[0] == 201
    status, body = await post_segment(client, shop, {"name": "  big   SPENDERS "})
    assert status == 409 and body["error"]["code"] == "name_taken"
    assert body["error"]["field"] == "name"
    assert (await post_segment(client, other_shop, {"name": "Big Spenders"}))[0] == 201
    status, other = await post_segment(client, shop, {"name": "COD"})
    resp = await client.patch(
        f"/api/v1/segments/{other['id']}", json={"name": "big spenders"}, headers=shop.auth()
    )
    assert resp.status == 409


async def test_filters_are_checked_as_the_report_checks_them(
    client: TestClient, shop: ShopFixture
) -> None:
    cases = [
        ({"name": "x", "filters": {"province": "Atlantis"}}, "filters.province"),
        ({"name": "x", "filters": {"postal_code": "1011"}}, "filters.postal_code"),
        ({"name": "x", "filters": {"colour": "red"}}, "filters.colour"),
        ({"name": "x", "filters": {"segment": "seg_1"}}, "filters.segment"),
        ({"name": "x", "filters": ["tag"]}, "filters"),
        ({"name": "x", "sort": "shoe_size"}, "sort"),
        ({"name": ""}, "name"),
        ({"filters": {}}, "name"),
        ({"name": "x", "owner": "me"}, "owner"),
    ]
    for body, field in cases:
        status, answer = await post_segment(client, shop, body)
        assert status == 422, (body, answer)
        assert answer["error"]["field"] == field, (body, answer)


async def test_at_most_500_segments_per_shop(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    segments = store.for_shop(shop.id).segments
    for i in range(MAX_SEGMENTS - 1):
        await segments.create({"name": f"s{i}", "filters": {}, "sort": "name", "order": "asc"})
    assert (await post_segment(client, shop, {"name": "the last one"}))[0] == 201
    status, body = await post_segment(client, shop, {"name": "one too many"})
    assert status == 409 and body["error"]["code"] == "too_many"


async def test_segment_applies_to_report_summary_and_exports(
    client: TestClient, store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    await seed_shop(store, shop.id)
    await seed_shop(store, other_shop.id, start=100)
    _, seg = await post_segment(client, shop, VIP_BANGKOK)
    # the segment's filters and its sort (paid total, biggest first)
    assert await report_ids(client, shop, segment=seg["id"]) == (200, ["cus_0001", "cus_0002"])
    # other parameters narrow it; a sort given replaces the segment's
    assert await report_ids(client, shop, segment=seg["id"], channel="telegram") == (
        200,
        ["cus_0002"],
    )
    assert await report_ids(client, shop, segment=seg["id"], tag="COD") == (200, ["cus_0001"])
    assert await report_ids(client, shop, segment=seg["id"], order="asc") == (
        200,
        ["cus_0002", "cus_0001"],
    )
    status, summary = await get_json(client, "/api/v1/report/summary", shop, segment=seg["id"])
    assert status == 200 and summary["customers"] == 2
    assert summary["paid_total"] == 99000 + 12500
    rows = await body_of(
        await export(
            client, shop, {"mode": "filtered", "format": "csv", "filters": {"segment": seg["id"]}}
        ),
        "csv",
    )
    assert ids_of(rows) == ["cus_0001", "cus_0002"]
    # another shop's segment, or a deleted one, is a 404: never every customer
    status, body = await report_ids(client, other_shop, segment=seg["id"])
    assert status == 404 and body["error"]["field"] == "segment"
    await client.delete(f"/api/v1/segments/{seg['id']}", headers=shop.auth())
    for path in ("/api/v1/customers", "/api/v1/report/summary"):
        status, body = await get_json(client, path, shop, segment=seg["id"])
        assert status == 404 and body["error"]["code"] == "not_found", path
    resp = await export(
        client, shop, {"mode": "filtered", "format": "xlsx", "filters": {"segment": seg["id"]}}
    )
    assert resp.status == 404


async def test_segments_need_a_token(client: TestClient) -> None:
    assert (await client.get("/api/v1/segments")).status == 401
