"""The demo shop: populated, and seeding twice duplicates nothing."""

from __future__ import annotations

import inspect

from chatcrm.cli import build_parser
from chatcrm.demo import DEMO_SHOP_ID, seed_demo
from chatcrm.demo_data import generate
from chatcrm.store import Store

N = 300
"""Customers seeded here: the default 5,000 in proportion, for 6 % of the writes."""


async def test_demo_seed_is_populated_and_idempotent(store: Store) -> None:
    first = await seed_demo(store, customers=N)
    assert first["customers"] == first["inserted"]["customers"] == N
    demo = store.for_shop(DEMO_SHOP_ID)
    orders = await store.db["orders"].count_documents({"shop_id": DEMO_SHOP_ID})
    messages = await store.db["messages"].count_documents({"shop_id": DEMO_SHOP_ID})
    assert orders == first["inserted"]["orders"] and messages == first["inserted"]["messages"]
    assert orders > N // 5 and messages > N
    for channel in ("line", "telegram", "messenger"):
        assert await demo.customers.count({"channel": channel}) > N // 50
    assert await demo.customers.count({"name": {"$regex": "[ก-๙]"}}) > N // 5

    second = await seed_demo(store, customers=N)
    assert second["customers"] == N
    assert second["inserted"] == {"customers": 0, "orders": 0, "messages": 0}
    assert await store.db["orders"].count_documents({"shop_id": DEMO_SHOP_ID}) == orders
    assert len(await demo.channels.list()) == 3
    # only the newest demo token works
    assert await store.tokens.resolve(first["token"]) is None
    assert await store.tokens.resolve(second["token"]) is not None


def test_the_demo_has_5000_customers_by_default() -> None:
    """`chatcrm demo`, `serve --demo` and the generator agree on 5,000, none written here."""
    assert build_parser().parse_args(["demo"]).customers == 5000
    assert inspect.signature(seed_demo).parameters["customers"].default == 5000
    assert inspect.signature(generate).parameters["customers"].default == 5000
