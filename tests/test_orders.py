"""Orders and payments through the API: idempotent records, transitions, exact aggregates."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from chatcrm.orders import new_order_doc, parse_order
from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.test_customer_query import customer

ORDER: dict[str, Any] = {
    "order_id": "A-1001",
    "customer": {"channel": "line", "platform_user_id": "U4af4980629"},
    "currency": "THB",
    "amount": 125000,
    "status": "paid",
    "paid_at": "2026-11-20T10:15:00+07:00",
    "items": [{"name": "เสื้อยืด", "quantity": 2, "unit_price": 62500}],
}


def placed(order_id: str, amount: int = 50000, **customer_ref: str) -> dict[str, Any]:
    ref = customer_ref or {"channel": "telegram", "platform_user_id": "777001"}
    return {
        "order_id": order_id,
        "customer": ref,
        "amount": amount,
        "status": "placed",
        "items": [{"name": "กระเป๋า", "quantity": 1, "unit_price": amount}],
    }


async def detail(client: TestClient, shop: ShopFixture, customer_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/customers/{customer_id}", headers=shop.auth())
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_create_is_idempotent_and_conflicts_on_other_content(
    client: TestClient, shop: ShopFixture
) -> None:
    first = await client.post("/api/v1/orders", json=ORDER, headers=shop.auth())
    assert first.status == 201, await first.text()
    created = await first.json()
    assert created["paid_at"] == "2026-11-20T03:15:00.000+00:00"
    assert created["items"] == ORDER["items"] and created["status"] == "paid"
    retry = await client.post("/api/v1/orders", json=ORDER, headers=shop.auth())
    assert retry.status == 200
    assert (await retry.json())["id"] == created["id"]
    other = await client.post(
        "/api/v1/orders", json={**ORDER, "amount": 62500, "items": None}, headers=shop.auth()
    )
    assert other.status == 409
    assert (await other.json())["error"]["field"] == "order_id"
    got = await client.get("/api/v1/orders/A-1001", headers=shop.auth("staff"))
    assert (await got.json())["id"] == created["id"]
    # the chat identity was unknown: a contact known only by its chat id was created
    stats = (await detail(client, shop, created["customer_id"]))["stats"]
    assert stats["paid_total"] == 125000 and stats["order_count"] == 1
    assert stats["average_order_value"] == 125000


async def test_concurrent_identical_creates_count_once(
    client: TestClient, shop: ShopFixture
) -> None:
    body = placed("B-1", 30000)
    answers = await asyncio.gather(
        *(client.post("/api/v1/orders", json=body, headers=shop.auth()) for _ in range(20))
    )
    statuses = sorted(r.status for r in answers)
    assert statuses == [200] * 19 + [201]
    customer_id = (await answers[0].json())["customer_id"]
    stats = (await detail(client, shop, customer_id))["stats"]
    assert stats["unpaid_total"] == 30000 and stats["paid_total"] == 0


async def test_transitions_apply_exactly_once_under_concurrency(
    client: TestClient, shop: ShopFixture
) -> None:
    resp = await client.post("/api/v1/orders", json=placed("C-1", 40000), headers=shop.auth())
    customer_id = (await resp.json())["customer_id"]
    await client.post("/api/v1/orders", json=placed("C-2", 10000), headers=shop.auth())
    before = await detail(client, shop, customer_id)
    assert before["stats"]["unpaid_total"] == 50000

    async def patch(status: str, order_id: str = "C-1") -> Any:
        return await client.patch(
            f"/api/v1/orders/{order_id}", json={"status": status}, headers=shop.auth("staff")
        )

    paid = await asyncio.gather(*(patch("paid") for _ in range(20)))
    assert {r.status for r in paid} == {200}
    after = await detail(client, shop, customer_id)
    stats = after["stats"]
    assert (stats["paid_total"], stats["order_count"], stats["unpaid_total"]) == (40000, 1, 10000)
    assert after["version"] == before["version"] + 1
    assert after["updated_at"] > before["updated_at"]
    assert (await patch("paid")).status == 200  # a retry changes nothing
    assert (await detail(client, shop, customer_id))["version"] == after["version"]

    refunded = await asyncio.gather(*(patch("refunded") for _ in range(20)))
    assert {r.status for r in refunded} == {200}
    stats = (await detail(client, shop, customer_id))["stats"]
    assert (stats["paid_total"], stats["order_count"], stats["refunded_total"]) == (0, 0, 40000)

    bad = await patch("paid")
    assert bad.status == 409 and (await bad.json())["error"]["field"] == "status"
    assert (await patch("cancelled", "C-2")).status == 200
    assert (await patch("paid", "C-2")).status == 409
    stats = (await detail(client, shop, customer_id))["stats"]
    assert stats["unpaid_total"] == 0 and stats["refunded_total"] == 40000


async def test_concurrent_orders_of_one_customer_all_count(
    client: TestClient, shop: ShopFixture
) -> None:
    bodies = [{**placed(f"D-{i}", 1000 * (i + 1)), "status": "paid"} for i in range(10)]
    for body in bodies:
        body["paid_at"] = "2026-11-01T09:00:00+07:00"
    answers = await asyncio.gather(
        *(client.post("/api/v1/orders", json=b, headers=shop.auth()) for b in bodies)
    )
    assert {r.status for r in answers} == {201}
    stats = (await detail(client, shop, (await answers[0].json())["customer_id"]))["stats"]
    assert stats["paid_total"] == 55000 and stats["order_count"] == 10
    assert stats["average_order_value"] == 5500


async def test_an_interrupted_change_is_finished_on_the_next_read(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    resp = await client.post("/api/v1/orders", json=placed("E-1", 20000), headers=shop.auth())
    customer_id = (await resp.json())["customer_id"]
    # what a process that crashed right after writing the order leaves behind
    order = parse_order(placed("E-2", 5000, id=customer_id), "THB")
    scoped = store.for_shop(shop.id)
    cust = await scoped.customers.get(customer_id)
    assert cust is not None
    assert await scoped.orders.insert(new_order_doc(order, cust, "x", "api"))
    stats = (await detail(client, shop, customer_id))["stats"]
    assert stats["unpaid_total"] == 25000
    again = await detail(client, shop, customer_id)
    assert again["stats"]["unpaid_total"] == 25000


async def test_customer_by_phone_or_email(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    await store.for_shop(shop.id).customers.insert_new(
        [
            customer(shop.id, 1, phone="0812345678", email="nok@example.co.th"),
            customer(shop.id, 2, phone="0899999999"),
            customer(shop.id, 3, phone="0899999999"),
        ]
    )
    by_phone = await client.post(
        "/api/v1/orders", json=placed("F-1", phone="+66 81-234-5678"), headers=shop.auth()
    )
    assert by_phone.status == 201
    assert (await by_phone.json())["customer_id"] == "cus_0001"
    by_email = await client.post(
        "/api/v1/orders", json=placed("F-2", email="Nok@Example.co.th"), headers=shop.auth()
    )
    assert (await by_email.json())["customer_id"] == "cus_0001"
    none = await client.post(
        "/api/v1/orders", json=placed("F-3", phone="0800000000"), headers=shop.auth()
    )
    assert none.status == 404 and (await none.json())["error"]["field"] == "customer"
    several = await client.post(
        "/api/v1/orders", json=placed("F-4", phone="089-999-9999"), headers=shop.auth()
    )
    assert several.status == 409
    error = (await several.json())["error"]
    assert error["field"] == "customer" and error["candidates"] == ["cus_0002", "cus_0003"]
    assert (await client.get("/api/v1/orders/F-4", headers=shop.auth())).status == 404


async def test_invalid_orders_name_the_field(client: TestClient, shop: ShopFixture) -> None:
    cases = [
        ({**ORDER, "amount": 1}, "amount"),
        ({**ORDER, "currency": "USD"}, "currency"),
        ({**ORDER, "paid_at": None}, "paid_at"),
        ({**ORDER, "paid_at": "2026-11-20T10:15:00"}, "paid_at"),
        ({**ORDER, "status": "shipped"}, "status"),
        ({**ORDER, "amount": "1250.00"}, "amount"),
        ({**ORDER, "order_id": ""}, "order_id"),
        ({**ORDER, "customer": {"channel": "fax", "platform_user_id": "1"}}, "customer.channel"),
        ({**ORDER, "items": [{"name": "x", "quantity": 0, "unit_price": 1}]}, "items[0].quantity"),
    ]
    for body, field in cases:
        resp = await client.post("/api/v1/orders", json=body, headers=shop.auth())
        assert resp.status == 422, (field, await resp.text())
        assert (await resp.json())["error"]["field"] == field
    bad = await client.patch("/api/v1/orders/A-1001", json={"status": "x"}, headers=shop.auth())
    assert bad.status == 422


async def test_orders_need_a_token_and_stay_in_their_shop(
    client: TestClient, shop: ShopFixture, other_shop: ShopFixture, store: Store
) -> None:
    assert (await client.post("/api/v1/orders", json=ORDER)).status == 401
    assert (await client.get("/api/v1/orders/A-1001")).status == 401
    assert (await client.patch("/api/v1/orders/A-1001", json={"status": "paid"})).status == 401
    staff = await client.post("/api/v1/orders", json=ORDER, headers=shop.auth("staff"))
    assert staff.status == 201
    customer_id = (await staff.json())["customer_id"]
    assert (await client.get("/api/v1/orders/A-1001", headers=other_shop.auth())).status == 404
    patch = await client.patch(
        "/api/v1/orders/A-1001", json={"status": "refunded"}, headers=other_shop.auth()
    )
    assert patch.status == 404
    foreign = await client.post(
        "/api/v1/orders", json=placed("G-1", id=customer_id), headers=other_shop.auth()
    )
    assert foreign.status == 404
    # the same order id is independent in another shop
    own = await client.post("/api/v1/orders", json=ORDER, headers=other_shop.auth())
    assert own.status == 201 and (await own.json())["customer_id"] != customer_id
    assert (await detail(client, shop, customer_id))["stats"]["paid_total"] == 125000
