"""Phones and e-mails, one rule everywhere: what an edit stores, orders and the search find."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from chatcrm.store import Store, terms
from chatcrm.store.customers import backfill_phone_keys
from tests.conftest import ShopFixture
from tests.test_customer_query import customer
from tests.test_orders import placed


async def found(client: TestClient, shop: ShopFixture, q: str) -> set[str]:
    resp = await client.get("/api/v1/customers", params={"q": q}, headers=shop.auth())
    assert resp.status == 200, await resp.text()
    return {row["id"] for row in (await resp.json())["items"]}


async def order_for(client: TestClient, shop: ShopFixture, order_id: str, **ref: str) -> Any:
    resp = await client.post("/api/v1/orders", json=placed(order_id, **ref), headers=shop.auth())
    return resp.status, await resp.json()


async def test_an_edited_phone_and_email_find_the_customer_like_imported_ones(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    await store.for_shop(shop.id).customers.insert_new([customer(shop.id, 1, name="Ploy")])
    resp = await client.patch(
        "/api/v1/customers/cus_0001",
        json={"phone": "+66 81-234-5678", "email": " Test@Example.COM ", "version": 1},
        headers=shop.auth(),
    )
    assert resp.status == 200, await resp.text()
    edited = await resp.json()
    assert (edited["phone"], edited["email"]) == ("0812345678", "test@example.com")

    status, body = await order_for(client, shop, "P-1", phone="0812345678")
    assert status == 201 and body["customer_id"] == "cus_0001"
    status, body = await order_for(client, shop, "P-2", email="test@example.com")
    assert status == 201 and body["customer_id"] == "cus_0001"
    for q in ("0812345678", "+66 81-234-5678", "081 234 5678", "๐๘๑๒๓๔๕๖๗๘", "Test@Example.com"):
        assert await found(client, shop, q) == {"cus_0001"}, q


async def test_bad_phones_are_refused_by_every_writer_alike(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    await store.for_shop(shop.id).customers.insert_new([customer(shop.id, 1)])
    for phone in ("call 0812345678", "12345", "+66 81 234 5678 ext 9"):
        resp = await client.patch(
            "/api/v1/customers/cus_0001",
            json={"phone": phone, "version": 1},
            headers=shop.auth(),
        )
        assert resp.status == 422 and (await resp.json())["error"]["field"] == "phone", phone
        status, body = await order_for(client, shop, "B-1", phone=phone)
        assert status == 422 and body["error"]["field"] == "customer.phone", phone


PHONES = {
    "cus_0001": "0812345678",
    "cus_0002": "0891234567",
    "cus_0003": "021234567",  # a Bangkok landline
    "cus_0004": "0861231234",
}


async def test_q_finds_phones_by_their_start_or_end_not_by_digits_inside(
    client: TestClient, shop: ShopFixture, other_shop: ShopFixture, store: Store
) -> None:
    for owner in (shop, other_shop):
        await store.for_shop(owner.id).customers.insert_new(
            [
                customer(owner.id, int(cid[-4:]), name="Ann", phone=phone)
                for cid, phone in PHONES.items()
            ]
        )
    assert await found(client, shop, "Unewcontact123") == set()  # not a phone number
    assert await found(client, shop, "1234") == {"cus_0004"}  # ends so; others only contain it
    assert await found(client, shop, "5678") == {"cus_0001"}
    assert await found(client, shop, "081-234") == {"cus_0001"}
    assert await found(client, shop, "+66 81") == {"cus_0001"}
    assert await found(client, shop, "08") == set()  # too few digits for a phone
    assert await found(client, shop, "089") == {"cus_0002"}
    assert await found(client, shop, "(02) 123-4567") == {"cus_0003"}
    assert await found(client, shop, "+66 2 123 4567") == {"cus_0003"}
    assert await found(client, shop, "๕๖๗๘") == {"cus_0001"}  # Thai digits


async def test_phones_stored_as_typed_before_are_normalised_at_start_up(
    client: TestClient, shop: ShopFixture, store: Store
) -> None:
    docs = [
        customer(shop.id, 1, phone="+66812345678"),
        customer(shop.id, 2, phone="0899999999"),
        customer(shop.id, 3, phone="12345"),  # once allowed: kept as typed
        customer(shop.id, 4),
    ]
    await store.db.customers.insert_many(docs)  # as an earlier version wrote them
    await store.db[terms.STATE].delete_many({})  # which kept no search terms
    await store.ensure_indexes()
    stored = await store.db.customers.find({"shop_id": shop.id}).sort("_id", 1).to_list(None)
    assert [d["phone"] for d in stored] == ["0812345678", "0899999999", "12345", None]
    assert [d["version"] for d in stored] == [2, 1, 1, 1]  # changed: a new version
    assert await backfill_phone_keys(store.db.customers) == 0  # idempotent

    status, body = await order_for(client, shop, "O-1", phone="+66 81 234 5678")
    assert status == 201 and body["customer_id"] == "cus_0001"
    assert await found(client, shop, "5678") == {"cus_0001"}
    assert await found(client, shop, "9999") == {"cus_0002"}
