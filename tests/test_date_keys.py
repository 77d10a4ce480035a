"""The integer copies of the report's dates: kept by every customer writer, backfilled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chatcrm.store import Store
from chatcrm.store.customers import backfill_date_keys
from tests.conftest import ShopFixture
from tests.ingest_support import Ingest
from tests.test_customer_query import customer

LINE_USER = "Ua69f03e594eefbb87cde656abf334c1d"  # the sender of the "text_user" fixture
OLD = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)


async def report(ingest: Ingest, shop: ShopFixture, **params: Any) -> dict[str, Any]:
    resp = await ingest.client.get("/api/v1/customers", headers=shop.auth(), params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def updated_today(ingest: Ingest, shop: ShopFixture) -> list[str]:
    """Ids of today's (shop-local) updated customers, most recently updated first."""
    today = datetime.now(ZoneInfo("Asia/Bangkok")).date().isoformat()
    body = await report(
        ingest, shop, updated_from=today, updated_to=today, sort="updated_at", order="desc"
    )
    assert body["total"] == len(body["items"])
    summary = await ingest.client.get(
        "/api/v1/report/summary",
        headers=shop.auth(),
        params={"updated_from": today, "updated_to": today},
    )
    assert summary.status == 200
    assert (await summary.json())["customers"] == body["total"]
    return [row["id"] for row in body["items"]]


async def test_every_writer_keeps_the_date_filter_and_sorts_right(
    ingest: Ingest, store: Store, shop: ShopFixture
) -> None:
    line = {"channel": "line", "channel_id": ingest.channels["line"].id}
    docs = [customer(shop.id, i, updated_at=OLD, **line) for i in range(3)]
    docs.append(customer(shop.id, 3, updated_at=OLD, platform_user_id=LINE_USER, **line))
    await store.for_shop(shop.id).customers.insert_new(docs)
    assert await updated_today(ingest, shop) == []

    # an edit (PATCH)
    resp = await ingest.client.patch(
        "/api/v1/customers/cus_0001",
        headers={**shop.auth(), "If-Match": '"1"'},
        json={"notes": "ส่งด่วน"},
    )
    assert resp.status == 200, await resp.text()
    assert await updated_today(ingest, shop) == ["cus_0001"]

    # a new order
    order = {
        "order_id": "D-1",
        "customer": {"channel": "line", "platform_user_id": docs[2]["platform_user_id"]},
        "amount": 50000,
        "status": "placed",
        "items": [{"name": "กระเป๋า", "quantity": 1, "unit_price": 50000}],
    }
    resp = await ingest.client.post("/api/v1/orders", json=order, headers=shop.auth())
    assert resp.status in (200, 201), await resp.text()
    assert await updated_today(ingest, shop) == ["cus_0002", "cus_0001"]
    body = await report(ingest, shop, sort="last_order_at", order="desc", limit=1)
    assert body["items"][0]["id"] == "cus_0002" and body["next_cursor"] is not None
    after = await report(
        ingest, shop, sort="last_order_at", order="desc", cursor=body["next_cursor"]
    )
    assert {r["id"] for r in after["items"]} == {"cus_0000", "cus_0001", "cus_0003"}

    # a webhook contact
    assert (await ingest.line("text_user")).status == 200
    assert await ingest.drain() == 1
    assert await updated_today(ingest, shop) == ["cus_0003", "cus_0002", "cus_0001"]

    # the API still shows the dates themselves
    body = await report(ingest, shop, sort="updated_at", order="asc")
    assert [r["id"] for r in body["items"]][0] == "cus_0000"
    assert body["items"][0]["updated_at"] == OLD.isoformat(timespec="milliseconds")
    assert all("updated_ms" not in row for row in body["items"])


async def test_customers_written_before_the_copies_are_backfilled(
    ingest: Ingest, store: Store, shop: ShopFixture
) -> None:
    docs = [customer(shop.id, i, updated_at=OLD + timedelta(hours=i)) for i in range(3)]
    docs[1]["last_order_at"] = OLD
    for doc in docs:
        doc.pop("last_order_ms")
    await store.db.customers.insert_many(docs)  # as an earlier version wrote them
    await store.ensure_indexes()
    stored = await store.db.customers.find({"shop_id": shop.id}).sort("_id", 1).to_list(None)
    expected = [int((OLD + timedelta(hours=i)).timestamp() * 1000) for i in range(3)]
    assert [d["updated_ms"] for d in stored] == expected
    assert [d["last_order_ms"] for d in stored] == [None, expected[0], None]
    assert [d["version"] for d in stored] == [1, 1, 1]
    assert await backfill_date_keys(store.db.customers) == 0  # idempotent

    day = (OLD + timedelta(hours=7)).date().isoformat()  # OLD's Bangkok day
    body = await report(ingest, shop, updated_from=day, updated_to=day, sort="updated_at")
    assert [r["id"] for r in body["items"]] == [
        d["_id"] for d in docs if (d["updated_at"] + timedelta(hours=7)).date().isoformat() == day
    ]
