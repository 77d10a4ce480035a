"""GET /api/v1/customers/{id}: profile, channels, stats (incl. last 3 months) and orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient

from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.test_customer_query import customer


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


async def test_detail_shows_profile_stats_and_timeline(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    await store.for_shop(shop.id).customers.insert_new(
        [
            customer(
                shop.id,
                11,
                name="มานี",
                phone="0811111111",
                tags=["VIP"],
                notes="โทรก่อนส่ง",
                province="Chiang Mai",
                status="following",
            ),
            customer(shop.id, 12, channel="telegram", platform_user_id="42", phone="0811111111"),
        ]
    )
    now = datetime.now(UTC)
    orders = [
        ("M-1", "paid", now - timedelta(days=100), 100000),  # older than 3 months
        ("M-2", "paid", now - timedelta(days=10), 30000),
        ("M-3", "paid", now - timedelta(days=1), 20000),
        ("M-4", "placed", None, 7000),
    ]
    for order_id, status, paid_at, amount in orders:
        body = {
            "order_id": order_id,
            "customer": {"id": "cus_0011"},
            "amount": amount,
            "status": status,
            "items": [{"name": f"สินค้า {order_id}", "quantity": 1, "unit_price": amount}],
            "created_at": iso(paid_at - timedelta(hours=1)) if paid_at else iso(now),
        }
        if paid_at:
            body["paid_at"] = iso(paid_at)
        resp = await client.post("/api/v1/orders", json=body, headers=shop.auth())
        assert resp.status == 201, await resp.text()

    resp = await client.get("/api/v1/customers/cus_0011", headers=shop.auth("staff"))
    assert resp.status == 200
    got = await resp.json()
    assert got["name"] == "มานี" and got["tags"] == ["VIP"] and got["notes"] == "โทรก่อนส่ง"
    assert got["province"] == "Chiang Mai" and got["status"] == "following"
    assert [c["customer_id"] for c in got["channels"]] == ["cus_0011", "cus_0012"]
    stats = got["stats"]
    assert stats["paid_total"] == 150000 and stats["order_count"] == 3
    assert stats["average_order_value"] == 50000 and stats["unpaid_total"] == 7000
    assert stats["last_3_months"]["paid_total"] == 50000
    assert [o["order_id"] for o in got["orders"]] == ["M-4", "M-3", "M-2", "M-1"]
    assert got["orders"][1]["items"] == [{"name": "สินค้า M-3", "quantity": 1, "unit_price": 20000}]


async def test_chat_only_customer_and_access(
    client: TestClient, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    body = {
        "order_id": "T-1",
        "customer": {"channel": "messenger", "platform_user_id": "psid-only"},
        "amount": 9900,
    }
    created = await client.post("/api/v1/orders", json=body, headers=shop.auth())
    customer_id = (await created.json())["customer_id"]
    got = await (await client.get(f"/api/v1/customers/{customer_id}", headers=shop.auth())).json()
    assert got["phone"] is None and got["email"] is None and got["name"] is None
    assert got["channels"] == [
        {
            "customer_id": customer_id,
            "channel": "messenger",
            "channel_id": None,
            "platform_user_id": "psid-only",
            "name": None,
        }
    ]
    assert got["stats"]["unpaid_total"] == 9900 and got["stats"]["average_order_value"] is None
    url = f"/api/v1/customers/{customer_id}"
    assert (await client.get(url)).status == 401
    other = await client.get(url, headers=other_shop.auth())
    assert other.status == 404 and "psid-only" not in await other.text()
    assert (await client.get("/api/v1/customers/cus_nope", headers=shop.auth())).status == 404


def test_every_route_is_described_in_openapi() -> None:
    from chatcrm.api import customer_detail, imports, orders

    for module in (orders, customer_detail, imports):
        for route in module.routes:
            path = route.path  # type: ignore[attr-defined]
            assert route.method.lower() in module.OPENAPI_PATHS[path], (path, route.method)
            for answer in module.OPENAPI_PATHS[path][route.method.lower()]["responses"].values():
                assert answer["description"]


async def test_detail_etag_is_the_version_patch_expects(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    await store.for_shop(shop.id).customers.insert_new([customer(shop.id, 21, name="Ploy")])
    url = "/api/v1/customers/cus_0021"
    got = await client.get(url, headers=shop.auth("staff"))
    assert got.status == 200 and got.headers["ETag"] == '"1"'
    assert (await got.json())["version"] == 1
    edit = {**shop.auth("staff"), "If-Match": got.headers["ETag"]}
    patched = await client.patch(url, json={"notes": "ส่งไว"}, headers=edit)
    assert patched.status == 200 and patched.headers["ETag"] == '"2"'
    again = await client.get(url, headers=shop.auth("staff"))
    assert again.headers["ETag"] == '"2"' and (await again.json())["notes"] == "ส่งไว"
    stale = await client.patch(url, json={"notes": "x"}, headers=edit)  # the first ETag
    assert stale.status == 409
