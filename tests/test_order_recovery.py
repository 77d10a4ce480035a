"""A crash between an order write and its aggregate refresh is repaired without any read."""

from __future__ import annotations

import asyncio
from typing import Any

from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.orders import new_order_doc, parse_order, record_order, recover_aggregates_forever
from chatcrm.store import ShopStore, Store
from chatcrm.store.base import new_id, utcnow
from tests.conftest import ShopFixture, make_shop
from tests.test_customer_query import customer


def _order(order_id: str, amount: int, status: str, customer_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "customer": {"id": customer_id},
        "amount": amount,
        "status": status,
        "items": [{"name": "กระเป๋า", "quantity": 1, "unit_price": amount}],
    }
    if status == "paid":
        body["paid_at"] = "2026-11-20T10:15:00+07:00"
    return body


async def _crash_after_create(shop: ShopStore, body: dict[str, Any]) -> None:
    """What a process that died right after writing a new order leaves: a dirty order."""
    order = parse_order(body, "THB")
    cust = await shop.customers.get(body["customer"]["id"])
    assert cust is not None
    assert await shop.orders.insert(new_order_doc(order, cust, "crashed", "api"))


async def _crash_after_payment(shop: ShopStore, order_id: str) -> None:
    """What a process that died right after marking an order paid leaves (as change_status)."""
    doc = await shop.orders.get(order_id)
    assert doc is not None
    now = utcnow()
    fields = {"updated_at": now, "dirty": new_id("agg"), "paid_at": now}
    assert await shop.orders.transition(doc, "paid", fields)


async def _aggregates(store: Store, customer_id: str) -> dict[str, Any]:
    """The customer's aggregates as stored (read straight from the collection)."""
    doc = await store.db["customers"].find_one({"_id": customer_id})
    assert doc is not None
    return {k: doc.get(k) for k in ("paid_total", "order_count", "unpaid_total")}


async def _settled(store: Store, customer_id: str, expected: dict[str, int]) -> bool:
    for _ in range(200):
        if await _aggregates(store, customer_id) == expected:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_startup_recovers_aggregates_after_a_crash(
    aiohttp_client: Any, settings: Settings, store: Store, shop: ShopFixture
) -> None:
    other = await make_shop(store, "Shop B")
    a, b = store.for_shop(shop.id), store.for_shop(other.id)
    await a.customers.insert_new([customer(shop.id, 1)])
    await b.customers.insert_new([customer(other.id, 2)])
    # a placed order recorded fully, then a crash while marking it paid
    await record_order(a, parse_order(_order("A-1", 40000, "placed", "cus_0001"), "THB"), "THB")
    await _crash_after_payment(a, "A-1")
    # crashes right after creating orders, in both shops
    await _crash_after_create(a, _order("A-2", 2500, "placed", "cus_0001"))
    await _crash_after_create(b, _order("B-1", 9900, "paid", "cus_0002"))
    assert await _aggregates(store, "cus_0001") == {
        "paid_total": 0,
        "order_count": 0,
        "unpaid_total": 40000,
    }
    assert await _aggregates(store, "cus_0002") == {
        "paid_total": 0,
        "order_count": 0,
        "unpaid_total": 0,
    }

    await aiohttp_client(create_app(settings))  # start the service; no request is made

    assert await _settled(
        store, "cus_0001", {"paid_total": 40000, "order_count": 1, "unpaid_total": 2500}
    )
    assert await _settled(
        store, "cus_0002", {"paid_total": 9900, "order_count": 1, "unpaid_total": 0}
    )
    assert await store.db["orders"].count_documents({"dirty": {"$gt": ""}}) == 0


async def test_recovery_runs_again_periodically(store: Store, shop: ShopFixture) -> None:
    scoped = store.for_shop(shop.id)
    await scoped.customers.insert_new([customer(shop.id, 1)])
    task = asyncio.create_task(recover_aggregates_forever(store, interval=0.05))
    try:
        await asyncio.sleep(0.2)  # the first pass is over: nothing was pending
        await _crash_after_create(scoped, _order("C-1", 7000, "paid", "cus_0001"))
        assert await _settled(
            store, "cus_0001", {"paid_total": 7000, "order_count": 1, "unpaid_total": 0}
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
