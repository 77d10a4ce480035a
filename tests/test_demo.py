"""The demo shop: populated, and seeding twice duplicates nothing."""

from __future__ import annotations

from chatcrm.demo import DEMO_SHOP_ID, seed_demo
from chatcrm.store import Store


async def test_demo_seed_is_populated_and_idempotent(store: Store) -> None:
    first = await seed_demo(store, customers=5000)
    assert first["customers"] == 5000
    demo = store.for_shop(DEMO_SHOP_ID)
    orders = await store.db["orders"].count_documents({"shop_id": DEMO_SHOP_ID})
    messages = await store.db["messages"].count_documents({"shop_id": DEMO_SHOP_ID})
    assert orders > 1000 and messages > 5000
    for channel in ("line", "telegram", "messenger"):
        assert await demo.customers.count({"channel": channel}) > 100
    assert await demo.customers.count({"name": {"$regex": "[ก-๙]"}}) > 1000

    second = await seed_demo(store, customers=5000)
    assert second["customers"] == 5000
    assert second["inserted"] == {"customers": 0, "orders": 0, "messages": 0}
    assert await store.db["orders"].count_documents({"shop_id": DEMO_SHOP_ID}) == orders
    assert len(await demo.channels.list()) == 3
    # only the newest demo token works
    assert await store.tokens.resolve(first["token"]) is None
    assert await store.tokens.resolve(second["token"]) is not None
