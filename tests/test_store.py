"""The store: idempotent writes, tenant scoping, secrets encrypted at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatcrm.domain import CustomerFilters, new_customer_fields
from chatcrm.store import Store
from tests.conftest import ShopFixture

LINE_SECRETS = {"channel_secret": "line-secret-value", "access_token": "line-token-value"}


async def test_contact_upsert_is_idempotent(store: Store, shop: ShopFixture) -> None:
    customers = store.for_shop(shop.id).customers
    at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    first = await customers.upsert_contact(
        "line", "U1", channel_id="ch_1", at=at, set_fields={"name": "สมชาย"}
    )
    again = await customers.upsert_contact(
        "line", "U1", channel_id="ch_1", at=at, set_fields={"name": "สมชาย"}
    )
    assert first["_id"] == again["_id"]
    assert await customers.count() == 1
    assert again["name"] == "สมชาย" and again["phone"] is None and again["tags"] == []


async def test_contact_time_never_moves_back(store: Store, shop: ShopFixture) -> None:
    customers = store.for_shop(shop.id).customers
    late = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    await customers.upsert_contact("line", "U1", channel_id="c", at=late)
    doc = await customers.upsert_contact("line", "U1", channel_id="c", at=late - timedelta(hours=1))
    assert doc["last_contact_at"] == late
    assert doc["first_seen_at"] == late - timedelta(hours=1)


async def test_shop_never_sees_another_shops_documents(
    store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    a, b = store.for_shop(shop.id), store.for_shop(other_shop.id)
    at = datetime(2026, 11, 20, tzinfo=UTC)
    cus = await a.customers.upsert_contact("line", "U1", channel_id="c", at=at)
    channel = await a.channels.add("line", LINE_SECRETS)
    await a.messages.add(
        {"customer_id": cus["_id"], "channel": "line", "platform_message_id": "m1", "sent_at": at}
    )
    await a.audit.record("test", "customer.edit", customer_id=cus["_id"])

    assert await b.customers.get(cus["_id"]) is None
    assert await b.customers.find_identity("line", "U1") is None
    assert await b.customers.count() == 0
    assert await b.channels.get(channel.id) is None
    assert await b.channels.list() == []
    assert await b.channels.set_enabled(channel.id, False) is False
    assert await b.messages.page_for_customer(cus["_id"]) == ([], None)
    assert await b.audit.recent() == []
    # a query that names shop A explicitly is still confined to shop B
    assert await b.customers.count({"shop_id": shop.id}) == 0
    assert await a.customers.count() == 1


async def test_secrets_are_encrypted_at_rest(store: Store, shop: ShopFixture) -> None:
    channel = await store.for_shop(shop.id).channels.add("line", LINE_SECRETS)
    raw = await store.db["channels"].find_one({"_id": channel.id})
    assert raw is not None
    assert "line-secret-value" not in str(raw) and "line-token-value" not in str(raw)
    loaded = await store.channel_for_webhook("line", channel.id)
    assert loaded is not None and loaded.secrets == LINE_SECRETS
    assert "line-secret-value" not in repr(loaded)
    assert "line-secret-value" not in str(channel.public())


async def test_disabled_channel_is_not_served(store: Store, shop: ShopFixture) -> None:
    channels = store.for_shop(shop.id).channels
    channel = await channels.add("line", LINE_SECRETS)
    assert await store.channel_for_webhook("telegram", channel.id) is None
    await channels.set_enabled(channel.id, False)
    assert await store.channel_for_webhook("line", channel.id) is None


async def test_indexes_are_created_idempotently_and_led_by_shop(store: Store) -> None:
    await store.ensure_indexes()
    for name in ("customers", "messages", "orders", "inbox", "channels", "audit", "tokens"):
        info = await store.db[name].index_information()
        for index_name, spec in info.items():
            # the inbox workers' cross-shop claim queue is the one documented exception
            claim_queue = name == "inbox" and [k for k, _ in spec["key"]] == ["due_ms", "state"]
            if index_name != "_id_" and not claim_queue:
                assert spec["key"][0][0] == "shop_id", (name, index_name)


async def test_seed_insert_skips_existing(store: Store, shop: ShopFixture) -> None:
    customers = store.for_shop(shop.id).customers
    docs = [
        {"_id": f"cus_{i}", "shop_id": shop.id, "channel": "line", "platform_user_id": f"U{i}"}
        for i in range(5)
    ]
    assert await customers.insert_new(docs) == 5
    assert await customers.insert_new(docs) == 0
    assert await customers.count() == 5
    with pytest.raises(ValueError):
        await customers.insert_new([{**docs[0], "shop_id": "shop_other"}])


async def test_tokens_are_stored_as_digests(store: Store, shop: ShopFixture) -> None:
    who = await store.tokens.resolve(shop.owner)
    assert who is not None and who.shop_id == shop.id and who.role == "owner"
    assert await store.db["tokens"].count_documents({"_id": shop.owner}) == 0
    assert await store.tokens.resolve(shop.owner + "x") is None
    assert await store.tokens.resolve("garbage") is None


async def test_period_counts_keep_exact_bounds_within_a_second(
    store: Store, shop: ShopFixture
) -> None:
    """A customer first seen 125 ms into a second is in a period ending 334 ms into it, and not
    in one ending at 100 ms (nx-27017 compares dates in whole seconds)."""
    customers = store.for_shop(shop.id).customers
    second = datetime(2026, 12, 2, 9, 34, 8, tzinfo=UTC)
    await customers.upsert_contact("line", "U1", channel_id="c", at=second)
    await customers.upsert_contact(
        "telegram", "7", channel_id="c", at=second + timedelta(milliseconds=125)
    )
    period = store.for_shop(shop.id).period
    start = second - timedelta(hours=1)
    counts = await period.counts(start, second + timedelta(milliseconds=334), "THB")
    assert counts.new == {"line": 1, "telegram": 1}
    counts = await period.counts(start, second + timedelta(milliseconds=100), "THB")
    assert counts.new == {"line": 1}
    counts = await period.counts(
        second + timedelta(milliseconds=1), second + timedelta(seconds=1), "THB"
    )
    assert counts.new == {"telegram": 1}


async def test_period_counts_of_a_segment_check_every_batch_of_ids(
    store: Store, shop: ShopFixture
) -> None:
    """A segment's period counts check the customers who wrote or paid against the segment in
    batches of ids: 1,500 wrote, every third of them a VIP, across several batches."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    scoped = store.for_shop(shop.id)
    docs = [
        {
            **new_customer_fields(),
            "_id": f"cus_{i:05d}",
            "_key": f"cus_{i:05d}",
            "shop_id": shop.id,
            "channel": "line" if i % 2 else "telegram",
            "platform_user_id": f"U{i:05d}",
            "tags": ["VIP"] if i % 3 == 0 else [],
            "first_seen_at": at - timedelta(days=40),
        }
        for i in range(1500)
    ]
    await scoped.customers.insert_new(docs)
    await store.db["messages"].insert_many(
        {
            "_id": f"msg_{i:05d}",
            "shop_id": shop.id,
            "customer_id": f"cus_{i:05d}",
            "channel": docs[i]["channel"],
            "direction": "in",
            "sent_at": at,
        }
        for i in range(1500)
    )
    await store.db["orders"].insert_many(
        {
            "_id": f"ord_{n}",
            "shop_id": shop.id,
            "customer_id": f"cus_{i:05d}",
            "status": "paid",
            "paid_at": at,
            "amount": 100,
            "currency": "THB",
        }
        for n, i in enumerate((1, 3, 1200, 1203, 1203))
    )
    vip = CustomerFilters(tags=("VIP",))
    counts = await scoped.period.counts(
        at - timedelta(hours=1), at + timedelta(hours=1), "THB", vip
    )
    assert counts.new == {}
    assert counts.wrote == {"line": 250, "telegram": 250}
    assert counts.orders == {"line": 3, "telegram": 1}  # customer 1 is no VIP
    assert counts.paid == {"line": 300, "telegram": 100}
    everyone = await scoped.period.counts(at - timedelta(hours=1), at + timedelta(hours=1), "THB")
    assert sum(everyone.wrote.values()) == 1500 and sum(everyone.orders.values()) == 5
